/**
 * The control-plane REST API, the same suite on SQLite and on PostgreSQL:
 * auth, errors, credentials, revision, cross-customer isolation, OpenAPI,
 * and the rendered ingress configuration.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { statSync } from 'node:fs';
import { startControlPlane, type ControlPlane } from '../../src/control/control-plane.js';
import { verifyPassword } from '../../src/shared/auth/password-hash.js';
import { parseIngressYaml } from '../../src/ingress/config/from-yaml.js';
import { IngressConfigSchema } from '../../src/shared/schema/ingress-config.js';
import { dialects, tempDir, TEST_COST, type TestDb } from '../helpers/control-fixtures.js';

const cases = await dialects();

interface Answer<T = any> {
  status: number;
  body: T;
  headers: Headers;
  text: string;
}

type Cred = { bearer: string } | { basic: [string, string] } | undefined;

function client(base: string) {
  return async function call<T = any>(method: string, path: string, cred: Cred, body?: unknown, headers: Record<string, string> = {}): Promise<Answer<T>> {
    const h: Record<string, string> = { ...headers };
    if (cred && 'bearer' in cred) h.authorization = `Bearer ${cred.bearer}`;
    if (cred && 'basic' in cred) h.authorization = `Basic ${Buffer.from(cred.basic.join(':')).toString('base64')}`;
    if (body !== undefined) h['content-type'] = 'application/json';
    const res = await fetch(base + path, { method, headers: h, ...(body !== undefined ? { body: JSON.stringify(body) } : {}) });
    const text = await res.text();
    let parsed: unknown;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      parsed = undefined;
    }
    return { status: res.status, body: parsed as T, headers: res.headers, text };
  };
}

for (const dc of cases) {
  describe(`control API on ${dc.name}`, { skip: dc.skip }, () => {
    let tdb: TestDb;
    let state: ReturnType<typeof tempDir>;
    let cp: ControlPlane;
    let call: ReturnType<typeof client>;
    let op: Cred;
    const ids: Record<string, string> = {};
    const passwords: Record<string, string> = {};

    before(async () => {
      tdb = await dc.make();
      state = tempDir();
      cp = await startControlPlane({ db: tdb.spec, stateDir: state.path, port: 0, passwordCost: TEST_COST });
      call = client(cp.url);
      op = { bearer: cp.token.token };
    });
    after(async () => {
      await cp?.close();
      await tdb?.cleanup();
      state?.remove();
    });

    it('keeps a generated operator token in a 0600 file', () => {
      assert.equal(cp.token.source, 'generated');
      assert.equal(statSync(cp.token.file!).mode & 0o777, 0o600);
      assert.match(cp.token.token, /^hgop_[A-Za-z0-9_-]{40,}$/);
    });

    it('serves an OpenAPI 3.1 document with a path for every route', async () => {
      const res = await call('GET', '/openapi.json', undefined);
      assert.equal(res.status, 200);
      const doc = JSON.parse(res.text);
      assert.equal(doc.openapi, '3.1.0');
      for (const r of cp.server.routes) {
        const path = r.path.replace(/:([A-Za-z_]+)/g, '{$1}');
        const opDoc = doc.paths[path]?.[r.method.toLowerCase()];
        assert.ok(opDoc, `${r.method} ${path} is documented`);
        assert.ok(opDoc.responses[String(r.status)], `${r.method} ${path} documents ${r.status}`);
        if (r.auth !== 'public') assert.ok(opDoc.responses['401'] && opDoc.responses['403']);
        for (const m of path.matchAll(/\{(\w+)\}/g)) assert.ok(opDoc.parameters.some((p: any) => p.in === 'path' && p.name === m[1]));
      }
      assert.ok(cp.server.routes.length >= 25);
      const create = doc.paths['/v1/customers'].post.requestBody.content['application/json'].schema;
      assert.equal(create.properties.login.type, 'string');
      assert.deepEqual(create.required, ['login']);
    });

    it('answers 401 without or with wrong credentials, as JSON errors', async () => {
      for (const cred of [undefined, { bearer: 'hgop_wrong-token-xxxxxxxxxxxxxxxx' }, { basic: ['nobody', 'x'] as [string, string] }]) {
        const res = await call('GET', '/v1/customers', cred);
        assert.equal(res.status, 401);
        assert.equal(res.body.error.code, 'unauthorized');
        assert.match(res.headers.get('www-authenticate') ?? '', /Bearer/);
      }
      const nf = await call('GET', '/v1/nothing-here', op);
      assert.equal(nf.status, 404);
      assert.equal(nf.body.error.code, 'not_found');
    });

    it('validates requests, naming the field (400), and refuses duplicates (409)', async () => {
      const bad = await call('POST', '/v1/customers', op, { login: 'has space' });
      assert.equal(bad.status, 400);
      assert.equal(bad.body.error.code, 'invalid_request');
      assert.equal(bad.body.error.field, 'body.login');
      const extra = await call('POST', '/v1/customers', op, { login: 'ok', color: 'red' });
      assert.equal(extra.status, 400);
      assert.equal(extra.body.error.field, 'body.color');
      const badPort = await call('POST', '/v1/exits', op, { id: 'x', host: 'h', port: 70000 });
      assert.equal(badPort.body.error.field, 'body.port');
      const badCidr = await call('POST', '/v1/customers', op, { login: 'ok', sources: ['10.0.0.0/8', 'nope'] });
      assert.equal(badCidr.body.error.field, 'body.sources.1');
      const badJson = await fetch(cp.url + '/v1/customers', { method: 'POST', headers: { authorization: `Bearer ${cp.token.token}`, 'content-type': 'application/json' }, body: '{"login":' });
      assert.equal(badJson.status, 400);
      assert.equal(((await badJson.json()) as any).error.code, 'invalid_request');
      const badSetting = await call('PATCH', '/v1/settings', op, { listen: { ports: [9000, 8000] } });
      assert.equal(badSetting.status, 400);
      assert.match(badSetting.body.error.field, /^body\.listen/);

      const ex = await call('POST', '/v1/exits', op, { id: 'us-1', kind: 'hopgate', host: '127.0.0.2', port: 7001, country: 'us', password: 'relay-secret', tags: ['dc'] });
      assert.equal(ex.status, 201);
      assert.equal(ex.body.passwordSet, true);
      assert.equal('password' in ex.body, false, 'upstream password is write-only');
      assert.equal((await call('POST', '/v1/exits', op, { id: 'us-1', host: '127.0.0.2', port: 7001 })).status, 409);

      const a = await call('POST', '/v1/customers', op, { login: 'alice', exits: ['us-1'] });
      assert.equal(a.status, 201);
      ids.alice = a.body.customer.id;
      passwords.alice = a.body.password;
      const dup = await call('POST', '/v1/customers', op, { login: 'alice' });
      assert.equal(dup.status, 409);
      assert.equal(dup.body.error.code, 'conflict');
      const unknownExit = await call('POST', '/v1/customers', op, { login: 'carol', exits: ['us-1', 'zz-9'] });
      assert.equal(unknownExit.status, 400);
      assert.equal(unknownExit.body.error.field, 'body.exits.1');
      assert.equal((await call('GET', '/v1/customers/cus_doesnotexist', op)).status, 404);
    });

    it('shows a generated password once and stores only its scrypt hash', async () => {
      const b = await call('POST', '/v1/customers', op, { login: 'bob', sources: ['203.0.113.0/24'], maxConnections: 3 });
      assert.equal(b.status, 201);
      ids.bob = b.body.customer.id;
      passwords.bob = b.body.password;
      assert.match(passwords.bob!, /^[A-Za-z0-9_-]{24}$/);
      for (const path of [`/v1/customers/${ids.bob}`, '/v1/customers', '/v1/customers?login=bob']) {
        const res = await call('GET', path, op);
        assert.equal(res.status, 200);
        assert.ok(!res.text.includes(passwords.bob!), `${path} never shows the password`);
        assert.ok(!res.text.includes('$scrypt$'), `${path} never shows the hash`);
      }
      const [row] = await tdb.query<{ password_hash: string }>('SELECT password_hash FROM customers WHERE id = $1', [ids.bob]);
      assert.match(row!.password_hash, /^\$scrypt\$ln=\d+,r=\d+,p=\d+\$/);
      assert.ok(!row!.password_hash.includes(passwords.bob!));
      assert.equal(await verifyPassword(passwords.bob!, row!.password_hash), true);

      const me = await call('GET', '/v1/me', { basic: ['bob', passwords.bob!] });
      assert.equal(me.status, 200);
      const rotated = await call('POST', `/v1/customers/${ids.bob}/credentials/rotate`, op);
      assert.equal(rotated.status, 200);
      assert.notEqual(rotated.body.password, passwords.bob);
      assert.equal((await call('GET', '/v1/me', { basic: ['bob', passwords.bob!] })).status, 401, 'old password stops working');
      passwords.bob = rotated.body.password;
      assert.equal((await call('GET', '/v1/me', { basic: ['bob', passwords.bob!] })).status, 200);
    });

    it('bumps the revision with every change made through the API', async () => {
      const rev = async (): Promise<number> => (await call('GET', '/v1/revision', op)).body.revision;
      let r = await rev();
      const changes: Array<[string, string, unknown?]> = [
        ['PATCH', `/v1/customers/${ids.bob}`, { maxConnections: 4 }],
        ['PATCH', `/v1/customers/${ids.bob}`, { status: 'suspended' }],
        ['PATCH', `/v1/customers/${ids.bob}`, { status: 'active', maxConnections: null }],
        ['PUT', `/v1/customers/${ids.alice}/assignment`, { exits: ['us-1'], pools: [{ country: 'us' }] }],
        ['PATCH', '/v1/exits/us-1', { tags: ['dc', 'fast'] }],
        ['POST', '/v1/ingress-nodes', { id: 'edge-1', name: 'edge one' }],
        ['PATCH', '/v1/ingress-nodes/edge-1', { name: 'edge 1' }],
        ['PATCH', '/v1/settings', { limits: { maxConnections: 500 } }],
      ];
      for (const [method, path, body] of changes) {
        const res = await call(method, path, op, body);
        assert.ok(res.status < 300, `${method} ${path}: ${res.text}`);
        const now = await rev();
        assert.equal(now, r + 1, `${method} ${path}`);
        r = now;
      }
      // Refused requests change nothing.
      await call('POST', '/v1/customers', op, { login: 'alice' });
      await call('PATCH', `/v1/customers/${ids.bob}`, op, { status: 'gone' });
      await call('DELETE', '/v1/exits/us-1', op);
      assert.equal(await rev(), r);
      const log = await call('GET', `/v1/changes?since=${r - 2}`, op);
      assert.deepEqual(log.body.changes.map((c: any) => `${c.entity}:${c.op}`), ['ingress_node:update', 'setting:create']);
      assert.equal(log.body.revision, r);
      const nodes = await call('GET', '/v1/ingress-nodes', op);
      assert.deepEqual(nodes.body.nodes.map((n: any) => [n.id, n.name, n.ackedRevision]), [['edge-1', 'edge 1', null]]);
    });

    it('keeps each customer to their own data', async () => {
      const alice = { basic: ['alice', passwords.alice!] as [string, string] };
      const bobBefore = (await call('GET', `/v1/customers/${ids.bob}`, op)).body;

      // Every operator endpoint, with bob's id where there is one: 403 for alice.
      for (const r of cp.server.routes.filter((x) => x.auth === 'operator')) {
        const path = r.path.replace(':id', r.path.startsWith('/v1/exits') ? 'us-1' : r.path.startsWith('/v1/ingress-nodes') ? 'edge-1' : ids.bob!);
        const body = r.method === 'GET' || r.method === 'DELETE' ? undefined : {};
        const res = await call(r.method, path, alice, body);
        assert.equal(res.status, 403, `alice on ${r.method} ${path}: ${res.status}`);
        assert.equal(res.body.error.code, 'forbidden');
      }
      // Her own id through the operator API is no different.
      assert.equal((await call('GET', `/v1/customers/${ids.alice}`, alice)).status, 403);
      // Another customer's password under her login, or hers under another login: 401.
      assert.equal((await call('GET', '/v1/me', { basic: ['alice', passwords.bob!] })).status, 401);
      assert.equal((await call('GET', '/v1/me', { basic: ['bob', passwords.alice!] })).status, 401);

      // Self-service sees and changes only her.
      const me = await call('GET', '/v1/me', alice);
      assert.equal(me.body.id, ids.alice);
      assert.ok(!me.text.includes(ids.bob!));
      const usage = await call('GET', '/v1/me/usage', alice);
      assert.equal(usage.status, 200);
      assert.equal(usage.body.customerId, ids.alice);
      const src = await call('PUT', '/v1/me/sources', alice, { sources: ['198.51.100.7', '2001:db8::/48'] });
      assert.equal(src.status, 200);
      assert.deepEqual(src.body.sources, ['198.51.100.7', '2001:db8::/48']);
      assert.equal((await call('PUT', '/v1/me/sources', alice, { sources: ['not-an-ip'] })).body.error.field, 'body.sources.0');
      // Body fields naming someone else are refused, not obeyed.
      assert.equal((await call('PUT', '/v1/me/sources', alice, { sources: [], id: ids.bob })).status, 400);
      const rot = await call('POST', '/v1/me/credentials/rotate', alice);
      assert.equal(rot.status, 200);
      assert.equal((await call('GET', '/v1/me', alice)).status, 401);
      passwords.alice = rot.body.password;

      const bobAfter = (await call('GET', `/v1/customers/${ids.bob}`, op)).body;
      assert.deepEqual(bobAfter, bobBefore, "bob's record is untouched");
      const [bobRow] = await tdb.query<{ password_hash: string }>('SELECT password_hash FROM customers WHERE id = $1', [ids.bob]);
      assert.equal(await verifyPassword(passwords.bob!, bobRow!.password_hash), true, "bob's password still works");

      // The operator token is not a customer.
      assert.equal((await call('GET', '/v1/me', op)).status, 403);
      const log = await call('GET', '/v1/changes?since=0&limit=1000', op);
      assert.ok(log.body.changes.some((c: any) => c.actor === `customer:${ids.alice}` && c.entityId === ids.alice));
      assert.ok(!log.body.changes.some((c: any) => c.actor === `customer:${ids.alice}` && c.entityId !== ids.alice));
    });

    it('renders the ingress configuration as YAML and JSON that the ingress accepts', async () => {
      await call('POST', '/v1/exits', op, { id: 'de-1', kind: 'http', host: '127.0.0.3', port: 3128, username: 'u', password: 'p', country: 'de', city: 'Berlin', asn: 3320 });
      await call('POST', '/v1/exits', op, { id: 'gb-1', host: '127.0.0.4', port: 1080, country: 'gb', via: [{ kind: 'socks5', host: '127.0.0.5', port: 1080 }] });
      const dave = await call('POST', '/v1/customers', op, { login: 'dave', exits: ['gb-1'], quota: { bytes: 10_000_000, period: 'day' }, bandwidth: { downBytesPerSec: 100000 } });
      assert.equal(dave.status, 201);
      assert.equal((await call('PUT', `/v1/customers/${ids.bob}/assignment`, op, { exits: ['de-1', 'us-1'], pools: [] })).status, 200);
      await call('PATCH', '/v1/settings', op, { listen: { host: '127.0.0.1', ports: [8000, 8010] }, targetPolicy: { allow: ['127.0.0.0/8'] } });
      await call('PATCH', '/v1/exits/gb-1', op, { drain: true });

      const y = await call('GET', '/v1/ingress-config', op);
      assert.equal(y.status, 200);
      assert.match(y.headers.get('content-type') ?? '', /yaml/);
      const revision = Number(y.headers.get('x-hopgate-revision'));
      assert.equal(revision, (await call('GET', '/v1/revision', op)).body.revision);
      const cfg = parseIngressYaml(y.text, 'rendered.yaml');
      assert.deepEqual(cfg.listen, { host: '127.0.0.1', ports: [8000, 8010] });
      assert.equal(cfg.limits.maxConnections, 500);
      // drained gb-1 stays (marked), so the ports of customers listing it keep their meaning
      assert.deepEqual(cfg.exits.map((e) => [e.id, e.drain ?? false]), [['de-1', false], ['gb-1', true], ['us-1', false]]);
      assert.equal(cfg.exits[0]!.password, 'p');
      const users = new Map(cfg.users.map((u) => [u.login, u]));
      assert.deepEqual(users.get('bob')!.exits, ['de-1', 'us-1']);
      assert.deepEqual(users.get('alice')!.pools, [{ country: 'us' }]);
      assert.deepEqual(users.get('alice')!.sources, ['198.51.100.7', '2001:db8::/48']);
      assert.equal(users.get('dave')!.status, 'suspended', 'only exit drained: suspended, not widened to every exit');
      assert.deepEqual(users.get('dave')!.exits, ['gb-1'], 'the drained exit stays in the list');
      assert.match(y.headers.get('x-hopgate-warnings') ?? '', /dave/);
      const [aliceRow] = await tdb.query<{ password_hash: string }>('SELECT password_hash FROM customers WHERE id = $1', [ids.alice]);
      assert.equal(users.get('alice')!.passwordHash, aliceRow!.password_hash);

      const j = await call('GET', '/v1/ingress-config', op, undefined, { accept: 'application/json' });
      assert.match(j.headers.get('content-type') ?? '', /json/);
      const parsed = IngressConfigSchema.parse(j.body);
      assert.deepEqual(parsed, cfg);

      await call('PATCH', '/v1/exits/gb-1', op, { drain: false });
      const again = parseIngressYaml((await call('GET', '/v1/ingress-config?format=yaml', op)).text);
      assert.equal(again.users.find((u) => u.login === 'dave')!.status, 'active');
      assert.deepEqual(again.exits.find((e) => e.id === 'gb-1')!.via, [{ kind: 'socks5', host: '127.0.0.5', port: 1080 }]);
    });

    it('deletes: exits in use need force; customers and nodes go', async () => {
      const inUse = await call('DELETE', '/v1/exits/de-1', op);
      assert.equal(inUse.status, 409);
      assert.equal(inUse.body.error.code, 'exit_in_use');
      assert.match(inUse.body.error.message, /bob/);
      assert.equal((await call('DELETE', '/v1/exits/de-1?force=true', op)).status, 204);
      assert.deepEqual((await call('GET', `/v1/customers/${ids.bob}/assignment`, op)).body.exits, ['us-1']);
      assert.equal((await call('DELETE', `/v1/customers/${ids.bob}`, op)).status, 204);
      assert.equal((await call('GET', `/v1/customers/${ids.bob}`, op)).status, 404);
      assert.equal((await call('GET', '/v1/me', { basic: ['bob', passwords.bob!] })).status, 401);
      assert.equal((await call('DELETE', '/v1/ingress-nodes/edge-1', op)).status, 204);
      assert.equal((await call('DELETE', '/v1/ingress-nodes/edge-1', op)).status, 404);
      const rows = await tdb.query('SELECT * FROM customer_exits WHERE customer_id = $1', [ids.bob]);
      assert.equal(rows.length, 0);
    });

    it('answers quickly (measured)', async (t) => {
      const time = async (n: number, fn: () => Promise<unknown>): Promise<number[]> => {
        const ms: number[] = [];
        for (let i = 0; i < n; i++) {
          const s = performance.now();
          await fn();
          ms.push(performance.now() - s);
        }
        return ms.sort((a, b) => a - b);
      };
      const pct = (xs: number[], p: number): string => xs[Math.min(xs.length - 1, Math.floor(xs.length * p))]!.toFixed(2);
      const cpu0 = process.cpuUsage();
      // Counts sized for a p99 that means something, not more: every request costs ~5 ms of CPU in every npm test.
      const reads = await time(100, () => call('GET', `/v1/customers/${ids.alice}`, op));
      const cpu = process.cpuUsage(cpu0);
      // CPU, not wall time: at load 17-20 on 2 cores the p50 of these reads reached 44-52 ms with no change to the code.
      const cpuPerReadMs = (cpu.user + cpu.system) / 1000 / reads.length;
      const writes = await time(50, () => call('PATCH', `/v1/customers/${ids.alice}`, op, { maxConnections: 5 }));
      const self = await time(50, () => call('GET', '/v1/me', { basic: ['alice', passwords.alice!] }));
      const render = await time(20, () => call('GET', '/v1/ingress-config', op));
      t.diagnostic(
        `${dc.name}: GET customer p50 ${pct(reads, 0.5)} ms p99 ${pct(reads, 0.99)} ms; PATCH customer (revision bump) p50 ${pct(writes, 0.5)} p99 ${pct(writes, 0.99)} ms; ` +
          `GET /v1/me (Basic, cached) p50 ${pct(self, 0.5)} ms; render p50 ${pct(render, 0.5)} ms; CPU per GET customer (API and client) ${cpuPerReadMs.toFixed(2)} ms`,
      );
      assert.ok(cpuPerReadMs < 20, `a customer read cost ${cpuPerReadMs.toFixed(2)} ms of CPU (bound 20; 4-5 measured on this machine)`);
    });
  });
}
