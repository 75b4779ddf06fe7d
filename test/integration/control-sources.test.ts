/**
 * Source ranges through the control-plane API, on SQLite and PostgreSQL: no
 * customer can make the network an open proxy (the breadth floor, the tighter
 * self-service bound, unspecified/multicast/broadcast refused), two source-auth
 * customers' ranges never overlap (a customer learns the range, not who holds
 * it), and data stored before these rules cannot keep the proxy open: the
 * renderer drops what breaks them (issue 18).
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startControlPlane, type ControlPlane } from '../../src/control/control-plane.js';
import { IngressConfigSchema } from '../../src/shared/schema/ingress-config.js';
import { dialects, tempDir, TEST_COST, type TestDb } from '../helpers/control-fixtures.js';

const cases = await dialects();

type Cred = { bearer: string } | { basic: [string, string] };

function client(base: string) {
  return async function call(method: string, path: string, cred: Cred, body?: unknown): Promise<{ status: number; body: any; headers: Headers }> {
    const h: Record<string, string> = {};
    h.authorization = 'bearer' in cred ? `Bearer ${cred.bearer}` : `Basic ${Buffer.from(cred.basic.join(':')).toString('base64')}`;
    if (body !== undefined) h['content-type'] = 'application/json';
    const res = await fetch(base + path, { method, headers: h, ...(body !== undefined ? { body: JSON.stringify(body) } : {}) });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : undefined, headers: res.headers };
  };
}

for (const dc of cases) {
  describe(`source ranges on ${dc.name}`, { skip: dc.skip }, () => {
    let tdb: TestDb;
    let state: ReturnType<typeof tempDir>;
    let cp: ControlPlane;
    let call: ReturnType<typeof client>;
    let op: Cred;
    const start = async (extra = {}) => {
      cp = await startControlPlane({ db: tdb.spec, stateDir: state.path, port: 0, passwordCost: TEST_COST, ...extra });
      call = client(cp.url);
      op = { bearer: cp.token.token };
    };
    const customer = async (login: string, body: Record<string, unknown> = {}): Promise<{ id: string; cred: Cred }> => {
      const r = await call('POST', '/v1/customers', op, { login, ...body });
      assert.equal(r.status, 201, JSON.stringify(r.body));
      return { id: r.body.customer.id, cred: { basic: [login, r.body.password] } };
    };

    before(async () => {
      tdb = await dc.make();
      state = tempDir();
      await start();
    });
    after(async () => {
      await cp?.close();
      await tdb?.cleanup();
      state?.remove();
    });

    it('a customer cannot open its source-auth account to the world', async () => {
      const m = await customer('mallory', { sources: ['192.0.2.10'], sourceAuth: true });
      for (const [sources, field, why] of [
        [['0.0.0.0/0', '::/0'], 'body.sources.0', /too broad: IPv4 source ranges may be \/24 at the broadest/],
        [['192.0.2.10', '::/0'], 'body.sources.1', /too broad/],
        [['198.51.100.0/23'], 'body.sources.0', /\/24 at the broadest/],
        [['2001:db8::/47'], 'body.sources.0', /\/48 at the broadest/],
        [['::ffff:0.0.0.0/96'], 'body.sources.0', /too broad/],
        [['224.0.0.1'], 'body.sources.0', /multicast/],
        [['0.0.0.0'], 'body.sources.0', /unspecified/],
        [['255.255.255.255'], 'body.sources.0', /broadcast/],
      ] as const) {
        const r = await call('PUT', '/v1/me/sources', m.cred, { sources });
        assert.equal(r.status, 400, `${sources.join(',')}: ${JSON.stringify(r.body)}`);
        assert.equal(r.body.error.field, field);
        assert.match(r.body.error.message, why);
      }
      assert.deepEqual((await call('GET', '/v1/me', m.cred)).body.sources, ['192.0.2.10'], 'unchanged');
      const ok = await call('PUT', '/v1/me/sources', m.cred, { sources: ['198.51.100.0/24', '2001:db8:1::/48'] });
      assert.equal(ok.status, 200, JSON.stringify(ok.body));
    });

    it('operators have a hard floor too, on create and on patch', async () => {
      const r = await call('POST', '/v1/customers', op, { login: 'wide', sources: ['0.0.0.0/0'], sourceAuth: true });
      assert.equal(r.status, 400);
      assert.equal(r.body.error.field, 'body.sources.0');
      assert.match(r.body.error.message, /IPv4 source ranges may be \/8 at the broadest/);
      const w = await customer('wide', { sources: ['10.0.0.0/8', '2001:db8::/16'] });
      const p = await call('PATCH', `/v1/customers/${w.id}`, op, { sources: ['::/0'] });
      assert.equal(p.status, 400);
      assert.match(p.body.error.message, /IPv6 source ranges may be \/16 at the broadest/);
      // The CLI goes through the same API: `hopgate user add --source 0.0.0.0/0` gets this 400.
    });

    it("overlapping source-auth ranges are refused, naming the other range but not its customer's login", async () => {
      await customer('office', { sources: ['203.0.113.0/24'], sourceAuth: true });
      const eve = await customer('eve', { sources: ['192.0.2.77'], sourceAuth: true });
      const r = await call('PUT', '/v1/me/sources', eve.cred, { sources: ['203.0.113.9'] });
      assert.equal(r.status, 400);
      assert.equal(r.body.error.code, 'source_conflict');
      assert.equal(r.body.error.field, 'body.sources.0');
      assert.match(r.body.error.message, /203\.0\.113\.9 overlaps 203\.0\.113\.0\/24/);
      assert.doesNotMatch(JSON.stringify(r.body), /office/);
      // Operators are told who holds it.
      const p = await call('PATCH', `/v1/customers/${eve.id}`, op, { sources: ['203.0.0.0/16'] });
      assert.equal(p.status, 400);
      assert.match(p.body.error.message, /203\.0\.0\.0\/16 overlaps 203\.0\.113\.0\/24 of customer 'office'/);
      // Turning source auth on checks the ranges already stored.
      const pw = await customer('shared_nat', { sources: ['203.0.113.9'] }); // a password customer may share an address
      const on = await call('PATCH', `/v1/customers/${pw.id}`, op, { sourceAuth: true });
      assert.equal(on.status, 400);
      assert.match(on.body.error.message, /overlaps 203\.0\.113\.0\/24/);
      const create = await call('POST', '/v1/customers', op, { login: 'twin', sources: ['203.0.113.0/24'], sourceAuth: true });
      assert.equal(create.status, 400);
      assert.equal(create.body.error.code, 'source_conflict');
    });

    it('the self-service bound is an operator setting, within the floor', async () => {
      await cp.close();
      await assert.rejects(start({ selfServiceSourcePrefix: { ipv4: 4, ipv6: 48 } }), /\/8/);
      await start({ selfServiceSourcePrefix: { ipv4: 16, ipv6: 32 } });
      const m = (await call('GET', '/v1/customers?login=mallory', op)).body.customers[0];
      const cred = (await call('POST', `/v1/customers/${m.id}/credentials/rotate`, op)).body.password;
      const ok = await call('PUT', '/v1/me/sources', { basic: ['mallory', cred] }, { sources: ['198.51.0.0/16', '2001:db9::/32'] });
      assert.equal(ok.status, 200, JSON.stringify(ok.body));
      assert.equal((await call('PUT', '/v1/me/sources', { basic: ['mallory', cred] }, { sources: ['198.0.0.0/15'] })).status, 400);
    });

    it('ranges stored before the rules do not keep the proxy open: the renderer drops them and says so', async () => {
      // A state directory from before the fix: write the rows the old API accepted.
      await tdb.write(`UPDATE customers SET sources = $1, source_auth = 1 WHERE login = 'mallory'`, [JSON.stringify(['0.0.0.0/0', '::/0'])]);
      await tdb.write(`UPDATE customers SET sources = $1, source_auth = 1 WHERE login = 'eve'`, [JSON.stringify(['203.0.113.0/25', '192.0.2.77'])]);
      await tdb.write(`UPDATE customers SET sources = $1 WHERE login = 'shared_nat'`, [JSON.stringify(['224.0.0.1'])]);
      await cp.close();
      await start();
      const r = await call('GET', '/v1/ingress-config?format=json', op);
      assert.equal(r.status, 200);
      const cfg = IngressConfigSchema.parse(r.body);
      const u = (login: string) => cfg.users.find((x) => x.login === login)!;
      assert.deepEqual([u('mallory').sources, u('mallory').sourceAuth], [[], false]);
      assert.deepEqual([u('eve').sources, u('eve').sourceAuth], [['203.0.113.0/25', '192.0.2.77'], false]);
      assert.deepEqual([u('office').sources, u('office').sourceAuth], [['203.0.113.0/24'], false]);
      assert.equal(u('shared_nat').status, 'suspended', 'its only range matched nobody: not widened to anywhere');
      const warnings = r.headers.get('x-hopgate-warnings') ?? '';
      assert.match(warnings, /customer 'mallory': source 0\.0\.0\.0\/0 dropped/);
      assert.match(warnings, /customer 'eve': source 203\.0\.113\.0\/25 overlaps 203\.0\.113\.0\/24 of customer 'office'/);
      // The config stream renders the same.
      const snap = cp.hub.snapshotLine();
      const streamed = IngressConfigSchema.parse(JSON.parse(snap).config);
      assert.equal(streamed.users.find((x) => x.login === 'mallory')!.sourceAuth, false);
      assert.equal(streamed.users.find((x) => x.login === 'office')!.sourceAuth, false);
      // Fixing one side through the API gives the other its source auth back, in a delta.
      const eveId = (await call('GET', '/v1/customers?login=eve', op)).body.customers[0].id;
      assert.equal((await call('PATCH', `/v1/customers/${eveId}`, op, { sources: ['192.0.2.77'] })).status, 200);
      await cp.hub.sync();
      const after = IngressConfigSchema.parse(JSON.parse(cp.hub.snapshotLine()).config);
      assert.equal(after.users.find((x) => x.login === 'office')!.sourceAuth, true);
      assert.equal(after.users.find((x) => x.login === 'eve')!.sourceAuth, true);
    });
  });
}
