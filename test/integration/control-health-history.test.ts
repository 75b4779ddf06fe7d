/**
 * Exit health history (issue 16), on SQLite and PostgreSQL, with a real ingress fed by the
 * config stream, probing real hopgate exits: an exit whose process stops and comes back shows
 * both transitions with their times and reasons, the probes per minute (ok, failed, latency)
 * and the node's latest probe in GET /v1/exits/{id}/health-history and `hopgate exits health`;
 * a hostile pull report is refused or bounded; bad windows are 400; old history is pruned.
 * On SQLite the ingress runs two workers (each probes; the primary sums their minutes), on
 * PostgreSQL one process: both paths of the report.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer as createHttpServer } from 'node:http';
import { dialects, tempDir, type TestDb } from '../helpers/control-fixtures.js';
import { TEST_SETTINGS, makeNode, startLinkedIngress, startTestControl, type Api } from '../helpers/control-link-fixtures.js';
import { eventually } from '../helpers/eventually.js';
// The command's output is what is tested here, through the CLI's own dispatch; the spawned binary has its
// smoke cases in control-cli.test.ts (a Node start is ~0.4 s of CPU).
import { hopgateInProcess as hopgate } from '../helpers/cli-in-process.js';
import { exitEntry, startTestExit, type TestExit } from '../helpers/exits.js';
import { listen0 } from '../helpers/net.js';
import { startReverseExit, tunnelCert } from '../helpers/reverse.js';
import type { ReverseExitClient } from '../../src/exit/reverse-client.js';
import type { ControlledIngress } from '../../src/processes/controlled-ingress.js';
import type { ControlPlane } from '../../src/control/control-plane.js';

interface History {
  exit: string;
  health: string;
  from: string;
  to: string;
  nodes: Array<{ node: string; state: string; reportedAt: string; fresh: boolean; lastProbe: { at: string; ok: boolean; latencyMs: number | null; error: string | null } | null }>;
  transitions: Array<{ node: string; from: string; to: string; at: string; reason: string }>;
  truncated: boolean;
  series: Array<{ minute: string; ok: number; failed: number; latencyMs: number | null }>;
}

for (const d of await dialects()) {
  const workers = d.name === 'sqlite' ? 2 : 1;
  describe(`exit health history (${d.name}, ${workers} ingress worker(s))`, { skip: d.skip }, () => {
    let tdb: TestDb;
    let cpState: ReturnType<typeof tempDir>;
    let ingState: ReturnType<typeof tempDir>;
    let cp: ControlPlane & { api: Api };
    let call: Api;
    let ing: ControlledIngress;
    const exits = new Map<string, TestExit>();

    const history = async (id: string, q = ''): Promise<History> => {
      const r = await call<History>('GET', `/v1/exits/${id}/health-history${q}`);
      assert.equal(r.status, 200, JSON.stringify(r.body));
      return r.body;
    };

    before(async () => {
      tdb = await d.make();
      cpState = tempDir();
      ingState = tempDir('hopgate-ingress-state-');
      exits.set('us-1', await startTestExit('us-1', '127.0.0.2'));
      exits.set('de-1', await startTestExit('de-1', '127.0.0.4'));
      cp = await startTestControl(tdb.spec, cpState.path, { statsIntervalMs: 200, healthHistoryDays: 30 });
      call = cp.api;
      assert.equal((await call('PATCH', '/v1/settings', { ...TEST_SETTINGS, limits: { exitProbeIntervalMs: 200 } })).status, 200);
      for (const [id, x] of exits) assert.equal((await call('POST', '/v1/exits', exitEntry(x, id.slice(0, 2)))).status, 201);
      ing = await startLinkedIngress(cp.url, await makeNode(call, 'edge-1'), ingState.path, { workers });
      const rev = (await call('GET', '/v1/revision')).body.revision;
      await eventually(`revision ${rev} in force`, () => ing.revision === rev);
      assert.equal(ing.workers, workers);
    });
    after(async () => {
      await ing?.stop();
      await cp?.close();
      await Promise.all([...exits.values()].map((e) => e.node.shutdown(100)));
      await tdb?.cleanup();
      cpState?.remove();
      ingState?.remove();
    });

    it('probes arrive per minute with their latency, and the node latest probe; no transition while the exit is up', async () => {
      const h = await eventually('probes of de-1 stored', async () => {
        const x = await history('de-1');
        return x.series.some((p) => p.ok >= 2) && x.nodes.some((n) => n.lastProbe?.ok) ? x : undefined;
      }, { timeoutMs: 15_000 });
      assert.equal(h.exit, 'de-1');
      assert.equal(h.health, 'up');
      assert.deepEqual(h.transitions, []);
      const p = h.series.at(-1)!;
      assert.match(p.minute, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}$/);
      assert.equal(p.failed, 0);
      assert.ok(p.latencyMs !== null && p.latencyMs >= 0 && p.latencyMs < 2000, `mean latency ${p.latencyMs}`);
      const node = h.nodes.find((n) => n.node === 'edge-1')!;
      assert.deepEqual([node.state, node.fresh, node.lastProbe?.ok, node.lastProbe?.error], ['up', true, true, null]);
      // Stored once per node, exit and minute however many pulls reported it.
      const rows = await tdb.query<{ n: number | string }>("select count(*) as n from exit_probe_minutes where exit_id = 'de-1' group by minute, node_id");
      assert.ok(rows.every((r) => Number(r.n) === 1), JSON.stringify(rows));
    });

    it('an exit whose process stops and comes back: both transitions with their times and reasons, failed probes in the series', async () => {
      const de = exits.get('de-1')!;
      const port = de.port;
      const stoppedAt = new Date().toISOString();
      await de.node.shutdown(100);
      const down = await eventually('de-1 down in the history', async () => {
        const x = await history('de-1');
        return x.transitions.length >= 1 ? x : undefined;
      }, { timeoutMs: 15_000 });
      assert.deepEqual(down.transitions.map((t) => [t.node, t.from, t.to]), [['edge-1', 'up', 'down']]);
      const wentDown = down.transitions[0]!;
      assert.ok(wentDown.at >= stoppedAt, `${wentDown.at} after the stop at ${stoppedAt}`);
      assert.match(wentDown.reason, /^probe failed: (EXIT_UNREACHABLE|CONN_REFUSED|TIMEOUT)$/);
      assert.equal(down.health, 'down');
      const node = down.nodes.find((n) => n.node === 'edge-1')!;
      assert.deepEqual([node.state, node.lastProbe?.ok], ['down', false]);
      assert.match(node.lastProbe?.error ?? '', /^[A-Z_]+$/);
      assert.ok(down.series.some((p) => p.failed > 0), JSON.stringify(down.series));
      // us-1 kept answering: nothing in its history.
      assert.deepEqual((await history('us-1')).transitions, []);

      const restartedAt = new Date().toISOString();
      exits.set('de-1', await startTestExit('de-1', '127.0.0.4', ['127.0.0.1/32'], port));
      const back = await eventually('de-1 up again in the history', async () => {
        const x = await history('de-1');
        return x.transitions.length >= 2 ? x : undefined;
      }, { timeoutMs: 15_000 });
      assert.deepEqual(back.transitions.map((t) => [t.node, t.from, t.to]), [['edge-1', 'up', 'down'], ['edge-1', 'down', 'up']]);
      const cameBack = back.transitions[1]!;
      assert.ok(cameBack.at >= restartedAt && cameBack.at > wentDown.at, `${cameBack.at} after the restart at ${restartedAt}`);
      assert.match(cameBack.reason, /^probe ok \([\d.]+ ms\)$/);
      assert.equal(back.health, 'up');
      // A window that ends before the exit went down shows neither.
      const before = await history('de-1', `?from=${stoppedAt.slice(0, 16)}&to=${stoppedAt.slice(0, 16)}`);
      assert.deepEqual(before.transitions, []);
      // The same transitions, once, however many more reports come in.
      await cp.collector.round();
      await cp.collector.round();
      assert.equal((await history('de-1')).transitions.length, 2);
    });

    it('hopgate exits health ID: the transitions, the node and the probes as text', { skip: d.name === 'postgres' ? 'the CLI is the same on both; one run is enough' : false }, async () => {
      const env = { HOPGATE_CONTROL_URL: cp.url, HOPGATE_ADMIN_TOKEN: cp.token.token };
      const r = await hopgate(['exits', 'health', 'de-1', '--since', '2h', '--state-dir', cpState.path], env);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /^exit de-1: up now/);
      assert.match(r.stdout, /edge-1 +up +\S+ +ok [\d.]+ ms at /);
      assert.match(r.stdout, /transitions \(2\):/);
      assert.match(r.stdout, /edge-1 +up -> down +probe failed: [A-Z_]+/);
      assert.match(r.stdout, /edge-1 +down -> up +probe ok/);
      assert.match(r.stdout, /probes: \d+ ok, [1-9]\d* failed \([\d.]+% ok\), per minute/);
      const bad = await hopgate(['exits', 'health', 'de-1', '--since', 'yesterday', '--state-dir', cpState.path], env);
      assert.equal(bad.code, 1);
      assert.match(bad.stderr, /range/);
    });

    it('bad windows and unknown exits are refused before anything is read; operator only', async () => {
      for (const q of ['?range=abc', '?range=8d', '?from=2026-13-01', '?from=2026-12-06T10:00&to=2026-12-06T09:00', '?range=1h&from=2026-12-06', '?limit=5', '?to=yesterday']) {
        const r = await call('GET', `/v1/exits/de-1/health-history${q}`);
        assert.equal(r.status, 400, `${q}: ${JSON.stringify(r.body)}`);
        assert.equal(r.body.error.code, 'invalid_request', q);
      }
      assert.equal((await call('GET', '/v1/exits/nope/health-history')).status, 404);
      assert.equal((await call('GET', `/v1/exits/${'x'.repeat(129)}/health-history`)).status, 414, 'an id longer than any exit id (the server bounds path parameters)');
      assert.equal((await fetch(`${cp.url}/v1/exits/de-1/health-history`)).status, 401);
      const spec = (await call('GET', '/openapi.json')).body;
      assert.ok(spec.paths['/v1/exits/{id}/health-history']?.get, 'in the OpenAPI document');
    });

    it('a hostile pull report: a malformed one is refused whole; unknown exits and far-off minutes are dropped', async () => {
      assert.equal((await call('POST', '/v1/ingress-nodes', { id: 'edge-bad', name: 'edge-bad' })).status, 201);
      const minute = new Date().toISOString().slice(0, 16);
      const base = { epoch: 'e1', records: [], next: 'e1:0', more: false, live: [], exitsDown: [] as string[] };
      let answer: unknown;
      const fake = createHttpServer((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(answer)));
      const port = await listen0(fake);
      const sub = { nodeId: 'edge-bad', pullToken: 't', adminUrl: `http://127.0.0.1:${port}` } as never;
      const probe = (o: Record<string, unknown>) => ({ id: 'us-1', minutes: [{ minute, ok: 1, failed: 0, latencyMsSum: 5 }], last: null, ...o });
      try {
        for (const bad of [
          [probe({ minutes: [{ minute, ok: -1, failed: 0, latencyMsSum: 0 }] })],
          [probe({ minutes: [{ minute: 'soon', ok: 1, failed: 0, latencyMsSum: 0 }] })],
          [probe({ minutes: [1, 2, 3].map(() => ({ minute, ok: 1, failed: 0, latencyMsSum: 0 })) })],
          [probe({ last: { at: new Date().toISOString(), ok: false, latencyMs: null, error: '<script>' } })],
          [probe({ extra: 1 })],
          'not a list',
        ]) {
          answer = { ...base, exitProbes: bad };
          const r = await cp.collector.pull(sub);
          assert.equal(r.ok, false, JSON.stringify(bad));
          assert.match(r.error ?? '', /malformed exitProbes/);
        }
        assert.deepEqual(await tdb.query("select * from exit_probe_minutes where node_id = 'edge-bad'"), [], 'nothing of a refused report is stored');
        const old = new Date(Date.now() - 3 * 3_600_000).toISOString().slice(0, 16);
        answer = {
          ...base,
          exitsDown: ['ghost', 'us-1'],
          exitProbes: [
            probe({ id: 'ghost' }),
            probe({ minutes: [{ minute: old, ok: 9, failed: 9, latencyMsSum: 9 }, { minute, ok: 3, failed: 1, latencyMsSum: 30 }], last: { at: new Date().toISOString(), ok: false, latencyMs: null, error: 'TIMEOUT' } }),
          ],
        };
        assert.equal((await cp.collector.pull(sub)).ok, true);
        const rows = await tdb.query<{ exit_id: string; minute: string; probes_ok: number }>("select exit_id, minute, probes_ok from exit_probe_minutes where node_id = 'edge-bad'");
        assert.deepEqual(rows.map((r) => [r.exit_id, r.minute, Number(r.probes_ok)]), [['us-1', minute, 3]], 'no row for an unknown exit or a minute hours away');
        const t = await tdb.query<{ exit_id: string; reason: string }>("select exit_id, reason from exit_health_transitions where node_id = 'edge-bad'");
        assert.deepEqual(t.map((r) => [r.exit_id, r.reason]), [['us-1', 'probe failed: TIMEOUT']]);
        // A later report of the same minute carries the node's running totals: it replaces the row, and the same report again changes nothing.
        answer = { ...base, exitsDown: ['ghost', 'us-1'], exitProbes: [probe({ minutes: [{ minute, ok: 5, failed: 2, latencyMsSum: 50 }] })] };
        for (let i = 0; i < 2; i++) assert.equal((await cp.collector.pull(sub)).ok, true);
        const again = await tdb.query<{ probes_ok: number; probes_failed: number; latency_ms_sum: number }>("select probes_ok, probes_failed, latency_ms_sum from exit_probe_minutes where node_id = 'edge-bad'");
        assert.deepEqual(again.map((r) => [Number(r.probes_ok), Number(r.probes_failed), Number(r.latency_ms_sum)]), [[5, 2, 50]], 'replaced, not added up');
      } finally {
        fake.close();
        await cp.store.recordExitHealth('edge-bad', [], new Date().toISOString());
      }
    });

    it('a down exit that is drained leaves the report: its transition says why, not "probe ok"', async () => {
      await cp.store.recordExitHealth('edge-drain', ['us-1'], new Date().toISOString());
      assert.equal((await call('PATCH', '/v1/exits/us-1', { drain: true })).status, 200);
      try {
        await cp.store.recordExitHealth('edge-drain', [], new Date().toISOString());
        const t = (await history('us-1')).transitions.filter((x) => x.node === 'edge-drain');
        assert.deepEqual(t.map((x) => [x.from, x.to, x.reason]), [['up', 'down', 'reported down (no probe: a reverse exit not connected, or real connections failing)'], ['down', 'up', 'drained: no longer watched by the ingress']]);
      } finally {
        assert.equal((await call('PATCH', '/v1/exits/us-1', { drain: false })).status, 200);
      }
    });

    it('a reverse exit (never probed: connected or not): down until it dials in, then up; no probe series', async () => {
      const cert = tunnelCert();
      assert.equal((await call('PATCH', '/v1/settings', { tls: { cert: cert.cert, key: cert.key }, reverse: { listen: { host: '127.0.0.1', port: 0 } } })).status, 200);
      const r = await call('POST', '/v1/exits', { id: 'rv-1', kind: 'reverse', egressIp: '127.0.0.7', country: 'nl', from: ['127.0.0.0/8'] });
      assert.equal(r.status, 201, JSON.stringify(r.body));
      const down = await eventually('rv-1 down (not connected)', async () => {
        const x = await history('rv-1');
        return x.transitions.length >= 1 ? x : undefined;
      }, { timeoutMs: 15_000 });
      assert.deepEqual(down.transitions.map((t) => [t.node, t.from, t.to, t.reason]), [['edge-1', 'up', 'down', 'reported down (no probe: a reverse exit not connected, or real connections failing)']]);
      const tunnelPort = await eventually('the tunnel port', () => ing.tunnelPort);
      let client: ReverseExitClient | undefined;
      try {
        client = startReverseExit(tunnelPort, 'rv-1', '127.0.0.7', { pool: 1, token: r.body.token });
        const up = await eventually('rv-1 up once it dialled in', async () => {
          const x = await history('rv-1');
          return x.transitions.length >= 2 ? x : undefined;
        }, { timeoutMs: 15_000 });
        assert.deepEqual(up.transitions.map((t) => [t.from, t.to, t.reason]).slice(1), [['down', 'up', 'reported up']]);
        assert.deepEqual(up.series, [], 'a reverse exit is not probed');
        assert.equal(up.nodes.find((n) => n.node === 'edge-1')?.lastProbe, null);
      } finally {
        await client?.stop(0);
        assert.equal((await call('DELETE', '/v1/exits/rv-1')).status, 204);
      }
    });

    it('history older than the retention is pruned; newer stays', async () => {
      const longAgo = new Date(Date.now() - 31 * 86_400_000).toISOString();
      const recent = new Date(Date.now() - 29 * 86_400_000).toISOString();
      for (const [at, id] of [[longAgo, 'eht_old'], [recent, 'eht_recent']] as const) {
        await tdb.write('insert into exit_health_transitions (id, exit_id, node_id, from_state, to_state, at, reason) values ($1, $2, $3, $4, $5, $6, $7)', [id, 'us-1', 'edge-old', 'up', 'down', at, 'test']);
        await tdb.write('insert into exit_probe_minutes (exit_id, node_id, minute, probes_ok, probes_failed, latency_ms_sum) values ($1, $2, $3, $4, $5, $6)', ['us-1', 'edge-old', at.slice(0, 16), 1, 0, 1]);
      }
      const n = await cp.collector.pruneHealthHistory(true);
      assert.equal(n, 2);
      assert.deepEqual((await tdb.query<{ id: string }>("select id from exit_health_transitions where node_id = 'edge-old'")).map((r) => r.id), ['eht_recent']);
      assert.deepEqual((await tdb.query<{ minute: string }>("select minute from exit_probe_minutes where node_id = 'edge-old'")).map((r) => r.minute), [recent.slice(0, 16)]);
      assert.equal(await cp.collector.pruneHealthHistory(), 0, 'not again within ten minutes');
    });
  });
}
