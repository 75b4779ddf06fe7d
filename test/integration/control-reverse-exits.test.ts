/**
 * Reverse-connected exits managed by the control plane, on SQLite and
 * PostgreSQL: the API issues the exit's token once and keeps only its scrypt
 * hash, refuses fields the kind does not have and settings that would make an
 * invalid ingress configuration, renders the exit for the ingresses, and a
 * real ingress fed by the stream lets the exit register with that token and
 * carries a customer through it; a new token locks the old one out.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startControlPlane, type ControlPlane } from '../../src/control/control-plane.js';
import { verifyPassword } from '../../src/shared/auth/password-hash.js';
import { IngressConfigSchema } from '../../src/shared/schema/ingress-config.js';
import type { ReverseExitClient } from '../../src/exit/reverse-client.js';
import type { ControlledIngress } from '../../src/processes/controlled-ingress.js';
import { dialects, tempDir, TEST_COST, type TestDb } from '../helpers/control-fixtures.js';
import { TEST_SETTINGS, api, connectTunnel, echoThrough, makeNode, startLinkedIngress, type Api } from '../helpers/control-link-fixtures.js';
import { startEchoServer } from '../helpers/net.js';
import { startReverseExit, tunnelCert } from '../helpers/reverse.js';
import { eventually } from '../helpers/eventually.js';
import { createLinkIdentity } from '../../src/link/identity.js';

const cases = await dialects();

for (const dc of cases) {
  describe(`reverse exits through the control plane on ${dc.name}`, { skip: dc.skip }, () => {
    let tdb: TestDb;
    const dirs: Array<ReturnType<typeof tempDir>> = [];
    let cp: ControlPlane;
    let call: Api;
    let token: string;
    const clients: ReverseExitClient[] = [];
    let ing: ControlledIngress | undefined;
    let echo: Awaited<ReturnType<typeof startEchoServer>>;

    before(async () => {
      tdb = await dc.make();
      for (let i = 0; i < 2; i++) dirs.push(tempDir('hopgate-revctl-'));
      cp = await startControlPlane({ db: tdb.spec, stateDir: dirs[0]!.path, port: 0, passwordCost: TEST_COST, statsIntervalMs: 60_000 });
      call = api(cp.url, cp.token.token);
      echo = await startEchoServer();
    });
    after(async () => {
      for (const c of clients) await c.stop(0);
      await ing?.stop();
      await cp?.close();
      await echo?.close();
      await tdb?.cleanup();
      for (const d of dirs) d.remove();
    });

    it('refuses a reverse exit while no certificate is set for the tunnel port, naming why', async () => {
      const r = await call('POST', '/v1/exits', { id: 'office-1', kind: 'reverse', egressIp: '127.0.0.7', country: 'de' });
      assert.equal(r.status, 400);
      assert.equal(r.body.error.code, 'invalid_configuration');
      assert.match(r.body.error.message, /certificate for the tunnel port/);
      assert.equal((await call('GET', '/v1/exits/office-1')).status, 404, 'nothing was stored');
    });

    it('issues the token once, stores only its scrypt hash, and renders the exit for the ingresses', async () => {
      const cert = tunnelCert();
      const s = await call('PATCH', '/v1/settings', { ...TEST_SETTINGS, tls: { cert: cert.cert, key: cert.key }, reverse: { listen: { host: '127.0.0.1', port: 0 }, heartbeatMs: 1000, waitMs: 2000 } });
      assert.equal(s.status, 200, JSON.stringify(s.body));
      const r = await call('POST', '/v1/exits', { id: 'office-1', kind: 'reverse', egressIp: '127.0.0.7', country: 'de', from: ['127.0.0.0/8'], targets: { deny: ['10.0.0.0/8'] } });
      assert.equal(r.status, 201, JSON.stringify(r.body));
      token = r.body.token;
      assert.match(token, /^hgex_[A-Za-z0-9_-]{32}$/);
      assert.equal(r.body.host, null);
      assert.equal(r.body.port, null);
      assert.deepEqual(r.body.reverse.from, ['127.0.0.0/8']);
      assert.equal(r.body.reverse.maxConnections, 4096);
      assert.equal(r.body.reverse.tokenSet, true);
      assert.equal(r.body.tokenHash, undefined, 'the hash is not shown');

      const shown = await call('GET', '/v1/exits/office-1');
      assert.equal(shown.body.token, undefined, 'the token is shown only when issued');
      const [row] = await tdb.query<{ token_hash: string }>('select token_hash from exits where id = $1', ['office-1']);
      assert.match(row!.token_hash, /^\$scrypt\$/);
      assert.ok(!JSON.stringify(await tdb.query('select * from exits')).includes(token), 'the token itself is stored nowhere');
      assert.ok(await verifyPassword(token, row!.token_hash));

      const rendered = await fetch(`${cp.url}/v1/ingress-config?format=json`, { headers: { authorization: `Bearer ${cp.token.token}` } });
      const config = IngressConfigSchema.parse(await rendered.json());
      const e = config.exits.find((x) => x.id === 'office-1');
      assert.ok(e && e.kind === 'reverse');
      assert.equal(e.tokenHash, row!.token_hash);
      assert.deepEqual(e.from, ['127.0.0.0/8']);
      assert.deepEqual(e.targets?.deny, ['10.0.0.0/8']);
      assert.equal(e.egressIp, '127.0.0.7');
    });

    it('refuses fields a kind does not have, and a kind change across forward and reverse', async () => {
      for (const [body, field] of [
        [{ host: '10.0.0.1' }, 'body.host'],
        [{ via: [] }, 'body.via'],
        [{ kind: 'socks5' }, 'body.kind'],
      ] as const) {
        const r = await call('PATCH', '/v1/exits/office-1', body);
        assert.equal(r.status, 400, JSON.stringify(body));
        assert.equal(r.body.error.field, field);
      }
      const fwd = await call('POST', '/v1/exits', { id: 'fwd-1', kind: 'socks5', host: '127.0.0.1', port: 1 });
      assert.equal(fwd.status, 201);
      assert.equal(fwd.body.token, undefined);
      assert.equal(fwd.body.reverse, null);
      const r = await call('PATCH', '/v1/exits/fwd-1', { from: ['10.0.0.0/8'] });
      assert.equal(r.status, 400);
      assert.equal(r.body.error.field, 'body.from');
      const bad = await call('POST', '/v1/exits', { id: 'office-x', kind: 'reverse', host: '10.0.0.1' });
      assert.equal(bad.status, 400);
      assert.match(bad.body.error.message, /no host/);
      assert.equal((await call('POST', '/v1/exits/fwd-1/token')).status, 400, 'only reverse exits have a token');
      assert.equal((await call('POST', '/v1/exits/nope/token')).status, 404);

      const p = await call('PATCH', '/v1/exits/office-1', { maxConnections: 64, targets: null });
      assert.equal(p.status, 200);
      assert.equal(p.body.reverse.maxConnections, 64);
      assert.equal(p.body.reverse.targets, null);
    });

    it('refuses settings that name a non-reverse exit for a published site, and deleting the exit a site uses', async () => {
      const listen = { host: '127.0.0.1', port: 0 };
      const bad = await call('PATCH', '/v1/settings', { reverse: { listen, publishListen: listen, publish: [{ host: 'wiki.internal', exit: 'fwd-1', target: '10.1.2.3:80' }] } });
      assert.equal(bad.status, 400);
      assert.match(bad.body.error.message, /not a reverse exit/);
      const ok = await call('PATCH', '/v1/settings', { reverse: { listen, heartbeatMs: 1000, waitMs: 2000, publishListen: listen, publish: [{ host: 'wiki.internal', exit: 'office-1', target: '10.1.2.3:80' }] } });
      assert.equal(ok.status, 200, JSON.stringify(ok.body));
      const del = await call('DELETE', '/v1/exits/office-1');
      assert.equal(del.status, 400);
      assert.match(del.body.error.message, /wiki\.internal/);
      const drain = await call('PATCH', '/v1/exits/office-1', { drain: true });
      assert.equal(drain.status, 400);
      assert.match(drain.body.error.message, /site wiki\.internal names exit 'office-1', which is drained/);
      assert.equal((await call('DELETE', '/v1/exits/fwd-1')).status, 204);
      assert.equal((await call('PATCH', '/v1/settings', { reverse: { listen, heartbeatMs: 1000, waitMs: 2000 } })).status, 200);
    });

    it('refuses an egress address two live exits would share (every ingress would refuse that configuration)', async () => {
      const a = await call('POST', '/v1/exits', { id: 'dup-a', kind: 'socks5', host: '127.0.0.1', port: 1, egressIp: '198.51.100.1' });
      assert.equal(a.status, 201);
      const b = await call('POST', '/v1/exits', { id: 'dup-b', kind: 'socks5', host: '127.0.0.1', port: 2, egressIp: '198.51.100.1' });
      assert.equal(b.status, 400);
      assert.match(b.body.error.message, /egressIp 198\.51\.100\.1 appears twice \('dup-a', 'dup-b'\)/);
      const moved = await call('PATCH', '/v1/exits/office-1', { egressIp: '198.51.100.1' });
      assert.equal(moved.status, 400, 'a reverse exit may not take it either');
      // A drained exit has left the configuration: its address is free for another.
      assert.equal((await call('PATCH', '/v1/exits/dup-a', { drain: true })).status, 200);
      assert.equal((await call('POST', '/v1/exits', { id: 'dup-b', kind: 'socks5', host: '127.0.0.1', port: 2, egressIp: '198.51.100.1' })).status, 201);
      assert.equal((await call('PATCH', '/v1/exits/dup-a', { drain: false })).status, 400, 'undraining would share it again');
      for (const id of ['dup-a', 'dup-b']) assert.equal((await call('DELETE', `/v1/exits/${id}`)).status, 204);
    });

    it('a real ingress fed by the stream lets the exit register with its token and carries a customer through it; a new token locks the old one out', async () => {
      const c = await call('POST', '/v1/customers', { login: 'carol', exits: ['office-1'] });
      assert.equal(c.status, 201);
      ing = await startLinkedIngress(cp.url, await makeNode(call, 'edge-r'), dirs[1]!.path);
      const tunnelPort = ing.ingress!.runtime.reverse?.tunnelPort;
      assert.ok(tunnelPort, 'the ingress opened its tunnel port');
      /** carol's CONNECT through the ingress: the echo comes back, from the exit's egress address. */
      const carried = async (text: string): Promise<void> => {
        const t = await connectTunnel(ing!.ports[0], 'carol', c.body.password, echo.port);
        assert.equal(t.status, 200);
        assert.equal(await echoThrough(t, text), text);
        t.socket.destroy();
        assert.equal(echo.sources.at(-1), '127.0.0.7', 'the target saw the exit\'s egress address');
      };
      const exit = startReverseExit(tunnelPort, 'office-1', '127.0.0.7', { pool: 2, token });
      clients.push(exit);
      await exit.ready;
      await carried('through the reverse exit');

      const rotated = await call('POST', '/v1/exits/office-1/token');
      assert.equal(rotated.status, 200);
      assert.notEqual(rotated.body.token, token);
      // The ingress drops the old token's idle connections; the exit's new registrations are refused.
      await eventually('the old token to be refused', () => exit.lastRefusal !== undefined && exit.idle === 0 ? true : undefined, { timeoutMs: 5000, everyMs: 25 });
      assert.match(exit.lastRefusal!, /AUTH_FAILED: exit 'office-1': unknown exit or wrong token/);
      const denied = await connectTunnel(ing.ports[0], 'carol', c.body.password, echo.port);
      assert.equal(denied.status, 502);
      assert.equal(denied.code, 'EXIT_UNREACHABLE');

      const fresh = startReverseExit(tunnelPort, 'office-1', '127.0.0.7', { pool: 2, token: rotated.body.token });
      clients.push(fresh);
      await fresh.ready;
      await carried('with the new token');
    });

    it("pins a reverse exit's link key and rotates it: next beside the current, then retired; a link token is only for hopgate exits", async () => {
      const [cur, next] = [createLinkIdentity('rev cur').fingerprint, createLinkIdentity('rev next').fingerprint];
      const rendered = async (): Promise<Record<string, unknown>> => (await call('GET', '/v1/ingress-config?format=json')).body.exits.find((x: { id: string }) => x.id === 'office-1');
      assert.equal((await call('PATCH', '/v1/exits/office-1', { link: { port: 7002, fingerprint: cur } })).status, 400, 'a reverse exit has no link port');
      const p = await call('PATCH', '/v1/exits/office-1', { linkFingerprint: cur });
      assert.equal(p.status, 200, JSON.stringify(p.body));
      assert.deepEqual(p.body.link, { port: null, fingerprint: cur, nextFingerprint: null, tokenSet: false });
      assert.equal((await call('POST', '/v1/exits/office-1/link-key', { fingerprint: next })).status, 200);
      const during = await rendered();
      assert.equal(during.linkFingerprint, cur);
      assert.equal(during.nextLinkFingerprint, next);
      assert.equal((await call('POST', '/v1/exits/office-1/link-key/retire')).status, 200);
      const done = await rendered();
      assert.equal(done.linkFingerprint, next);
      assert.equal(done.nextLinkFingerprint, undefined);
      assert.equal((await call('POST', '/v1/exits/office-1/link-token')).status, 400);
    });
  });
}
