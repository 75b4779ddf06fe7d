/**
 * Customer self-service through the control plane (issue 16), on SQLite and PostgreSQL,
 * with a real ingress fed by the config stream and real hopgate exits:
 * - /v1/me/ports: the ingress's own port table, health as the control plane knows it;
 * - failover notices: a drain writes one in its own transaction, an exit that goes down
 *   (the ingress reports it with its statistics) writes one, and its return another;
 * - X-Hopgate-Exit on HTTP forward answers and the CONNECT 200 (username hdr-1 / setting), curl;
 * - /v1/me/connect snippets (the password only when asked for), run through curl for real;
 * - /v1/me/usage series with quota % and reset time;
 * - PUT /v1/me/exits within the operator's grant, 403 outside it.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer as createHttpServer, type Server } from 'node:http';
import { dialects, tempDir, type TestDb } from '../helpers/control-fixtures.js';
import { TEST_SETTINGS, makeNode, startLinkedIngress, startTestControl, type Api } from '../helpers/control-link-fixtures.js';
import { eventually } from '../helpers/eventually.js';
import { exitEntry, startTestExit, type TestExit } from '../helpers/exits.js';
import { curl } from '../helpers/curl.js';
import { startWhoami } from '../../src/cli/demo-target.js';
import type { ControlledIngress } from '../../src/processes/controlled-ingress.js';
import type { ControlPlane } from '../../src/control/control-plane.js';
import { freePortRange } from '../helpers/ports.js';

const EXITS = [
  ['us-1', '127.0.0.2', 'us'],
  ['us-2', '127.0.0.3', 'us'],
  ['de-1', '127.0.0.4', 'de'],
  ['gb-1', '127.0.0.5', 'gb'],
] as const;
const PORTS = 6;

for (const d of await dialects()) {
  describe(`self-service (${d.name})`, { skip: d.skip }, () => {
    let tdb: TestDb;
    let cpState: ReturnType<typeof tempDir>;
    let ingState: ReturnType<typeof tempDir>;
    let cp: ControlPlane & { api: Api };
    let call: Api;
    let ing: ControlledIngress;
    const exits = new Map<string, TestExit>();
    let whoami: Server;
    let target: string;
    let base: number;
    let password: string;
    let bobPassword: string;

    const me = async <T = any>(method: string, path: string, body?: unknown, cred = `alice:${password}`): Promise<{ status: number; body: T; headers: Headers }> => {
      const res = await fetch(cp.url + path, {
        method,
        headers: { authorization: `Basic ${Buffer.from(cred).toString('base64')}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      });
      const text = await res.text();
      return { status: res.status, body: text ? JSON.parse(text) : undefined, headers: res.headers };
    };

    before(async () => {
      tdb = await d.make();
      cpState = tempDir();
      ingState = tempDir('hopgate-ingress-state-');
      whoami = await startWhoami('127.0.0.1', 0);
      target = `http://127.0.0.1:${(whoami.address() as { port: number }).port}/`;
      for (const [id, ip] of EXITS) exits.set(id, await startTestExit(id, ip));
      cp = await startTestControl(tdb.spec, cpState.path, { statsIntervalMs: 200 });
      call = cp.api;
      base = await freePortRange(PORTS);
      const settings = { ...TEST_SETTINGS, listen: { host: '127.0.0.1', ports: [base, base + PORTS - 1] }, limits: { exitProbeIntervalMs: 200 } };
      assert.equal((await call('PATCH', '/v1/settings', settings)).status, 200);
      for (const [id, , country] of EXITS) assert.equal((await call('POST', '/v1/exits', exitEntry(exits.get(id)!, country))).status, 201);
      const c = await call('POST', '/v1/customers', { login: 'alice', exits: ['us-1', 'de-1'], quota: { bytes: 10_000_000, period: 'day' } });
      assert.equal(c.status, 201, JSON.stringify(c.body));
      password = c.body.password;
      assert.equal((await call('PUT', `/v1/customers/${c.body.customer.id}/assignment`, { exits: ['us-1', 'de-1'], pools: [], grant: ['us-2'] })).status, 200);
      const b = await call('POST', '/v1/customers', { login: 'bob', exits: ['gb-1'] });
      bobPassword = b.body.password;
      ing = await startLinkedIngress(cp.url, await makeNode(call, 'edge-1'), ingState.path);
      const rev = (await call('GET', '/v1/revision')).body.revision;
      await eventually(`revision ${rev} in force`, () => ing.ingress!.runtime.snapshot.revision === rev);
    });
    after(async () => {
      await ing?.stop();
      await cp?.close();
      await Promise.all([...exits.values()].map((e) => e.node.shutdown(100)));
      whoami?.close();
      await tdb?.cleanup();
      cpState?.remove();
      ingState?.remove();
    });

    async function inForce(): Promise<void> {
      const rev = (await call('GET', '/v1/revision')).body.revision;
      await eventually(`revision ${rev} in force`, () => ing.ingress!.runtime.snapshot.revision === rev);
    }

    /** `X-Hopgate-Exit` (and the egress the target saw) through one port, HTTP forward; CONNECT with `connect`. */
    async function exitHeader(port: number, user: string, connect = false): Promise<{ header: string | undefined; from: string | undefined; out: string }> {
      const args = ['-s', '-i', '-x', `http://${user}:${encodeURIComponent(password)}@127.0.0.1:${port}`, target];
      const r = await curl(connect ? ['-v', '-p', ...args] : args, 8000);
      const all = `${r.stdout}\n${r.stderr}`;
      return { header: /X-Hopgate-Exit: ([^\r\n]+)/i.exec(all)?.[1], from: /"youCameFrom":"([^"]+)"/.exec(r.stdout)?.[1], out: all };
    }

    it('GET /v1/me/ports: the ingress port table, health up, no replacement; operator credentials are refused', async () => {
      const r = await me('GET', '/v1/me/ports');
      assert.equal(r.status, 200, JSON.stringify(r.body));
      assert.equal(r.body.portBase, base);
      const rows = r.body.rows as any[];
      assert.equal(rows[0].port, base);
      assert.equal(rows[0].meaning, 'random');
      assert.deepEqual(rows.slice(1).map((x) => [x.port, x.exit.id, x.exit.egressIp, x.exit.country, x.health, x.replacement, x.servedBy.id]), [
        [base + 1, 'us-1', '127.0.0.2', 'us', 'up', false, 'us-1'],
        [base + 2, 'de-1', '127.0.0.4', 'de', 'up', false, 'de-1'],
      ]);
      const op = await fetch(`${cp.url}/v1/me/ports`, { headers: { authorization: `Bearer ${cp.token.token}` } });
      assert.equal(op.status, 403);
      assert.equal((await me('GET', '/v1/me/ports', undefined, 'alice:wrong')).status, 401);
    });

    it('X-Hopgate-Exit: only when asked (hdr-1, or the customer setting), on HTTP forward and the CONNECT 200', async () => {
      assert.equal((await exitHeader(base + 1, 'alice')).header, undefined, 'not opted in: no header');
      const fwd = await exitHeader(base + 1, 'alice-hdr-1');
      assert.equal(fwd.header, 'us-1; replacement=0', fwd.out);
      assert.equal(fwd.from, '127.0.0.2');
      const tunnel = await exitHeader(base + 2, 'alice-hdr-1', true);
      assert.equal(tunnel.header, 'de-1; replacement=0', tunnel.out);
      // The customer's own setting, and hdr-0 overriding it.
      assert.equal((await me('PATCH', '/v1/me', { exitHeader: true })).body.exitHeader, true);
      await inForce();
      assert.equal((await exitHeader(base + 2, 'alice')).header, 'de-1; replacement=0');
      assert.equal((await exitHeader(base + 2, 'alice-hdr-0')).header, undefined);
      assert.equal((await me('PATCH', '/v1/me', { exitHeader: true, status: 'active' })).status, 400, 'a customer sets nothing else through PATCH /v1/me');
      assert.equal((await me('PATCH', '/v1/me', { exitHeader: false })).status, 200);
      await inForce();
      // A target cannot speak for the proxy: its own X-Hopgate-Exit is dropped from answers that carry ours.
      const forger = createHttpServer((_req, res) => res.writeHead(200, { 'X-Hopgate-Exit': 'forged; replacement=0', 'content-length': '2' }).end('ok'));
      await new Promise<void>((resolve) => forger.listen(0, '127.0.0.1', resolve));
      try {
        const url = `http://127.0.0.1:${(forger.address() as { port: number }).port}/`;
        const ours = await curl(['-s', '-i', '-x', `http://alice-hdr-1:${encodeURIComponent(password)}@127.0.0.1:${base + 1}`, url], 8000);
        assert.deepEqual(ours.stdout.match(/X-Hopgate-Exit: [^\r\n]+/gi), ['X-Hopgate-Exit: us-1; replacement=0'], ours.stdout);
        const theirs = await curl(['-s', '-i', '-x', `http://alice:${encodeURIComponent(password)}@127.0.0.1:${base + 1}`, url], 8000);
        assert.deepEqual(theirs.stdout.match(/X-Hopgate-Exit: [^\r\n]+/gi), ['X-Hopgate-Exit: forged; replacement=0'], 'not opted in: the answer is untouched');
      } finally {
        forger.close();
      }
    });

    it('a drain writes a failover notice in its own transaction; the port is served by the replacement (header says so); undrain writes its end', async () => {
      assert.deepEqual((await me('GET', '/v1/me/notices')).body, { notices: [], unread: 0 });
      assert.equal((await call('PATCH', '/v1/exits/us-1', { drain: true })).status, 200);
      // Written with the drain, not by a later round: it is there at once.
      const n = await me('GET', '/v1/me/notices');
      assert.equal(n.body.unread, 1, JSON.stringify(n.body));
      const f = n.body.notices[0];
      assert.deepEqual([f.kind, f.port, f.exitId, f.replacementId, f.reason], ['failover', base + 1, 'us-1', 'de-1', 'drained']);
      assert.match(f.message, new RegExp(`port ${base + 1}: exit us-1 is drained .*served by exit de-1`));
      const ports = await me('GET', '/v1/me/ports');
      const row = ports.body.rows.find((x: any) => x.port === base + 1);
      assert.deepEqual([row.state, row.health, row.replacement, row.servedBy.id], ['drained', 'draining', true, 'de-1']);
      await inForce();
      const h = await exitHeader(base + 1, 'alice-hdr-1');
      assert.equal(h.header, 'de-1; replacement=1', h.out);
      assert.equal(h.from, '127.0.0.4');
      const t = await exitHeader(base + 1, 'alice-hdr-1', true);
      assert.equal(t.header, 'de-1; replacement=1', t.out);
      // bob has nothing to do with it.
      assert.equal((await me('GET', '/v1/me/notices', undefined, `bob:${bobPassword}`)).body.notices.length, 0);

      assert.equal((await call('PATCH', '/v1/exits/us-1', { drain: false })).status, 200);
      const back = await me('GET', '/v1/me/notices');
      assert.equal(back.body.notices.length, 2, JSON.stringify(back.body));
      assert.deepEqual([back.body.notices[0].kind, back.body.notices[0].exitId, back.body.notices[0].port], ['restored', 'us-1', base + 1]);
      assert.match(back.body.notices[0].message, /is back/);
      // Mark read: one by id, then all; another customer's id is ignored.
      assert.deepEqual((await me('POST', '/v1/me/notices/read', { ids: [back.body.notices[1].id] })).body, { marked: 1 });
      assert.deepEqual((await me('POST', '/v1/me/notices/read', { ids: [back.body.notices[1].id] }, `bob:${bobPassword}`)).body, { marked: 0 });
      assert.equal((await me('GET', '/v1/me/notices?unread=true')).body.notices.length, 1);
      assert.deepEqual((await me('POST', '/v1/me/notices/read', { all: true })).body, { marked: 1 });
      assert.equal((await me('GET', '/v1/me/notices')).body.unread, 0);
      assert.equal((await me('POST', '/v1/me/notices/read', { ids: [] })).status, 400);
      await inForce();
    });

    it('an exit that goes down: the ingress reports it, the customer gets a notice and the ports table shows the replacement; its return too', async () => {
      const de = exits.get('de-1')!;
      const port = de.port;
      await de.node.shutdown(100);
      const down = await eventually('a failover notice for de-1', async () => {
        const n = (await me('GET', '/v1/me/notices?unread=true')).body.notices as any[];
        return n.find((x) => x.kind === 'failover' && x.exitId === 'de-1');
      }, { timeoutMs: 15_000 });
      assert.deepEqual([down.port, down.reason, down.replacementId], [base + 2, 'down', 'us-1']);
      const row = (await me('GET', '/v1/me/ports')).body.rows.find((x: any) => x.port === base + 2);
      assert.deepEqual([row.state, row.health, row.replacement, row.servedBy.id], ['replaced', 'down', true, 'us-1']);
      const h = await exitHeader(base + 2, 'alice-hdr-1');
      assert.equal(h.header, 'us-1; replacement=1', h.out);

      exits.set('de-1', await startTestExit('de-1', '127.0.0.4', ['127.0.0.1/32'], port));
      const up = await eventually('a restored notice for de-1', async () => {
        const n = (await me('GET', '/v1/me/notices?unread=true')).body.notices as any[];
        return n.find((x) => x.kind === 'restored' && x.exitId === 'de-1');
      }, { timeoutMs: 15_000 });
      assert.equal(up.port, base + 2);
      const notices = (await me('GET', '/v1/me/notices')).body.notices as any[];
      assert.equal(notices.filter((x) => x.exitId === 'de-1').length, 2, 'one notice per transition');
      await eventually('port back to de-1', async () => (await exitHeader(base + 2, 'alice-hdr-1')).header === 'de-1; replacement=0');

      // Outbox: exactly one exit.down then one exit.up for de-1, however often the health is checked again.
      const exitEvents = async (): Promise<any[]> => ((await call('GET', '/v1/events?limit=1000')).body.events as any[]).filter((e) => (e.kind === 'exit.down' || e.kind === 'exit.up') && e.data.exit.id === 'de-1');
      const evs = await eventually('exit.up for de-1', async () => {
        const e = await exitEvents();
        return e.some((x) => x.kind === 'exit.up') ? e : undefined;
      });
      assert.deepEqual(evs.map((e) => e.kind), ['exit.down', 'exit.up'], JSON.stringify(evs));
      await Promise.all([cp.store.syncFailovers(), cp.store.syncFailovers()]);
      assert.equal((await exitEvents()).length, 2, 'a repeated check writes no event');
    });

    it('a flapping exit cannot fill the notices: past a failover and its end, transitions fold into the last notice', async () => {
      const before = ((await me('GET', '/v1/me/notices')).body.notices as any[]).length;
      // Health reports as an ingress makes them (the node's report replaced each time), then the check.
      for (let i = 0; i < 6; i++) {
        await cp.store.recordExitHealth('edge-flap', i % 2 === 0 ? ['us-1'] : [], new Date().toISOString());
        await cp.store.syncFailovers();
      }
      const after = (await me('GET', '/v1/me/notices')).body.notices as any[];
      const flaps = after.filter((x) => x.exitId === 'us-1' && x.port === base + 1 && x.kind !== 'exit_removed');
      // us-1 on base+1 already had two notices (drain, undrain) within the window: every flap folds into the last.
      assert.equal(after.length, before, JSON.stringify(after));
      const last = flaps[0];
      assert.equal(last.repeats, 6);
      assert.equal(last.kind, 'restored');
      assert.equal(last.readAt, null, 'a folded notice is unread again');
      await cp.store.recordExitHealth('edge-flap', [], new Date().toISOString());
    });

    it('GET /v1/me/connect: snippets with the PASSWORD placeholder unless withPassword=1; the URL works through curl', async () => {
      const r = await me('GET', '/v1/me/connect');
      assert.equal(r.status, 200, JSON.stringify(r.body));
      assert.equal(r.headers.get('cache-control'), 'no-store');
      const text = JSON.stringify(r.body);
      assert.ok(!text.includes(password), 'no password by default');
      assert.equal(r.body.proxies.http, `http://alice:PASSWORD@127.0.0.1:${base}`);
      assert.equal(r.body.snippets.curlSocks5h, `curl -x 'socks5h://alice:PASSWORD@127.0.0.1:${base}' 'https://example.com/'`);
      assert.match(r.body.snippets.pythonRequests, /requests\.get/);
      assert.match(r.body.snippets.nodeUndici, /new ProxyAgent\("http:\/\/alice:PASSWORD@/);
      assert.match(r.body.snippets.playwright, /password: "PASSWORD"/);
      assert.equal(r.body.snippets.curlHttps, null, 'no certificate: no https:// proxy');
      const w = await me('GET', `/v1/me/connect?withPassword=1&port=${base + 2}`);
      assert.equal(w.body.passwordShown, true);
      for (const url of [w.body.proxies.http, w.body.proxies.socks5h]) {
        const c = await curl(['-s', '-x', url, target], 8000);
        assert.equal(/"youCameFrom":"([^"]+)"/.exec(c.stdout)?.[1], '127.0.0.4', `${url}: ${c.stdout} ${c.stderr}`);
      }
      assert.equal((await me('GET', '/v1/me/connect?withPassword=yes')).status, 400);
    });

    it('GET /v1/me/usage?range&step: a filled series, quota % used and the reset time', async () => {
      await eventually('usage stored', async () => {
        const u = await me('GET', '/v1/me/usage?range=2h&step=hour');
        return u.body.series.some((p: any) => p.bytesDown > 0) && u.body;
      });
      const u = await me('GET', '/v1/me/usage?range=30m&step=minute');
      assert.equal(u.status, 200);
      assert.ok(u.body.series.length >= 30 && u.body.series.length <= 32, `${u.body.series.length} points`);
      const sum = u.body.series.reduce((a: number, p: any) => a + p.bytesUp + p.bytesDown, 0);
      assert.ok(sum > 0);
      const q = u.body.quotaPeriod;
      assert.equal(q.percentUsed, Math.round((q.used / 10_000_000) * 1000) / 10);
      const tomorrow = new Date();
      tomorrow.setUTCHours(24, 0, 0, 0);
      assert.equal(q.resetsAt, tomorrow.toISOString());
      assert.equal((await me('GET', '/v1/me/usage?range=9999d')).status, 400);
      assert.equal((await me('GET', '/v1/me/usage?range=1h&from=2025-01-01')).status, 400);
      assert.equal((await me('GET', '/v1/me/usage?range=48h&step=minute')).status, 200, '2,881 points are within bounds');
      assert.equal((await me('GET', '/v1/me/usage?range=400d&step=minute')).status, 400);
    });

    it('PUT /v1/me/exits: reorder within the grant; 403 exit_not_granted outside it; the ports follow', async () => {
      const g = await me('GET', '/v1/me/exits');
      assert.deepEqual(g.body, { exits: ['us-1', 'de-1'], granted: ['de-1', 'us-1', 'us-2'] });
      const r = await me('PUT', '/v1/me/exits', { exits: ['us-2', 'de-1'] });
      assert.equal(r.status, 200, JSON.stringify(r.body));
      assert.deepEqual(r.body.granted, ['de-1', 'us-1', 'us-2'], 'what was listed stays granted');
      for (const [bad, code] of [[['gb-1'], 403], [['nope'], 403], [['us-1', 'us-1'], 400], [[], 400]] as const) {
        const x = await me('PUT', '/v1/me/exits', { exits: bad });
        assert.equal(x.status, code, `${JSON.stringify(bad)}: ${JSON.stringify(x.body)}`);
        if (code === 403) assert.equal(x.body.error.code, 'exit_not_granted');
      }
      assert.deepEqual((await me('GET', '/v1/me')).body.exits, ['us-2', 'de-1'], 'refusals changed nothing');
      await inForce();
      const h = await exitHeader(base + 1, 'alice-hdr-1');
      assert.equal(h.from, '127.0.0.3', h.out);
      assert.deepEqual((await me('GET', '/v1/me/ports')).body.rows.slice(1).map((x: any) => x.exit.id), ['us-2', 'de-1']);
      // The operator takes the extra grant back.
      const id = (await me('GET', '/v1/me')).body.id;
      assert.equal((await call('PUT', `/v1/customers/${id}/assignment`, { exits: ['us-2', 'de-1'], pools: [], grant: [] })).status, 200);
      assert.equal((await me('PUT', '/v1/me/exits', { exits: ['us-1'] })).status, 403);
      assert.equal((await me('PUT', '/v1/me/exits', { exits: ['de-1', 'us-2'] })).status, 200);
    });

    it('a malformed exitsDown in a pull is refused: nothing stored, the pull counts as failed', async () => {
      assert.equal((await call('POST', '/v1/ingress-nodes', { id: 'edge-bad', name: 'edge-bad' })).status, 201);
      let answer: unknown = { epoch: 'e1', records: [], next: 'e1:0', more: false, live: [], exitsDown: [{ not: 'an id' }] };
      const fake = createHttpServer((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(answer)));
      await new Promise<void>((resolve) => fake.listen(0, '127.0.0.1', resolve));
      try {
        const sub = { nodeId: 'edge-bad', pullToken: 't', adminUrl: `http://127.0.0.1:${(fake.address() as { port: number }).port}` } as never;
        const r = await cp.collector.pull(sub);
        assert.equal(r.ok, false);
        assert.match(r.error ?? '', /malformed exitsDown/);
        assert.deepEqual(await tdb.query("select * from node_exit_health where node_id = 'edge-bad'"), []);
        answer = { epoch: 'e1', records: [], next: 'e1:0', more: false, live: [], exitsDown: ['x'.repeat(129)] };
        assert.equal((await cp.collector.pull(sub)).ok, false, 'an id longer than any exit id');
        answer = { epoch: 'e1', records: [], next: 'e1:0', more: false, live: [], exitsDown: ['us-2'] };
        assert.equal((await cp.collector.pull(sub)).ok, true);
        assert.equal((await tdb.query<{ down: string }>("select down from node_exit_health where node_id = 'edge-bad'"))[0]?.down, '["us-2"]');
      } finally {
        fake.close();
        await cp.store.recordExitHealth('edge-bad', [], new Date().toISOString());
      }
    });

    it('a forced delete tells the customers whose list it was on', async () => {
      const b = await call('GET', '/v1/customers?login=bob');
      assert.equal((await call('PUT', `/v1/customers/${b.body.customers[0].id}/assignment`, { exits: ['gb-1', 'us-2'], pools: [] })).status, 200);
      assert.equal((await call('DELETE', '/v1/exits/gb-1?force=true')).status, 204);
      const n = (await me('GET', '/v1/me/notices', undefined, `bob:${bobPassword}`)).body.notices as any[];
      assert.deepEqual(n.map((x) => [x.kind, x.exitId, x.port]), [['exit_removed', 'gb-1', base + 1]]);
    });
  });
}
