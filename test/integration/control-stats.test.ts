/**
 * Statistics, on SQLite and PostgreSQL: the ingress counts per minute per
 * (customer, exit) and the control plane pulls and stores it. Nothing is
 * counted twice (a pull stored twice, repeated rounds) and nothing is lost
 * (a failed write, the control plane killed between pulls, the ingress
 * restarted). The usage API and `hopgate usage` read it back.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { dialects, tempDir, type TestDb } from '../helpers/control-fixtures.js';
import { TEST_SETTINGS, connectTunnel, drain, makeNode, startBlobServer, startLinkedIngress, startTestControl, type Api } from '../helpers/control-link-fixtures.js';
import type { ControlledIngress } from '../../src/processes/controlled-ingress.js';
import type { ControlPlane } from '../../src/control/control-plane.js';
import type { StatsPull } from '../../src/shared/control-protocol.js';
import { hopgateOk } from '../helpers/cli-in-process.js';
import { eventually, sleep } from '../helpers/eventually.js';
import { killHard, readyJson, startProc, type Proc } from '../helpers/procs.js';

const cases = await dialects();
const BLOB = 10_000;

for (const dc of cases) {
  describe(`statistics on ${dc.name}`, { skip: dc.skip }, () => {
    let tdb: TestDb;
    let cpState: ReturnType<typeof tempDir>;
    let ingState: ReturnType<typeof tempDir>;
    let cp: ControlPlane & { api: Api };
    let call: Api;
    let blob: Awaited<ReturnType<typeof startBlobServer>>;
    let ing: ControlledIngress | undefined;
    let token: string;
    let password: string;
    let aliceId: string;
    let offset = 0;
    const clock = (): number => Date.now() + offset;
    /** What went through so far: the truth the stored usage must match. */
    const sent = { down: 0, connections: 0, failures: 0 };

    async function traffic(n: number, failing = 0): Promise<void> {
      for (let i = 0; i < n; i++) {
        const t = await connectTunnel(ing!.ports[0], 'alice', password, blob.port);
        assert.equal(t.status, 200);
        assert.equal(await drain(t), BLOB);
        sent.down += BLOB;
        sent.connections++;
      }
      for (let i = 0; i < failing; i++) {
        const t = await connectTunnel(ing!.ports[0], 'alice', password, 1); // nothing listens on port 1
        assert.equal(t.status, 502);
        sent.connections++;
        sent.failures++;
      }
      // Every session closed and counted by the ingress.
      await eventually('sessions closed', () => ing!.ingress!.runtime.sessions.size === 0);
    }

    /**
     * Close the minute on the ingress: its clock moves a minute and a second on. A minute closes once it
     * ended more than the ledger's grace (200 ms here) ago; traffic in a minute's first 200 ms, moved on by
     * exactly 60 s and counted into the ledger only at the pull (the meter's 1 s flush not yet run), was
     * still open then — the pull found nothing (seen once in a whole-suite run).
     */
    const nextMinute = (): void => {
      offset += 61_000;
    };

    async function stored(live = false): Promise<{ bytesDown: number; connections: number; failures: number }> {
      const r = await call('GET', `/v1/usage?customer=alice&by=month&live=${live}`);
      assert.equal(r.status, 200);
      return r.body.totals;
    }

    async function pullRound(): Promise<void> {
      await eventually('the ingress subscribed with its admin address', () => [...cp.hub.subscribers].some((s) => s.adminUrl));
      await cp.collector.round();
    }

    before(async () => {
      tdb = await dc.make();
      cpState = tempDir();
      ingState = tempDir('hopgate-ingress-state-');
      cp = await startTestControl(tdb.spec, cpState.path);
      call = cp.api;
      blob = await startBlobServer(BLOB);
      await call('PATCH', '/v1/settings', TEST_SETTINGS);
      const r = await call('POST', '/v1/customers', { login: 'alice' });
      password = r.body.password;
      aliceId = r.body.customer.id;
      token = await makeNode(call, 'edge-1');
      ing = await startLinkedIngress(cp.url, token, ingState.path, { now: clock });
    });
    after(async () => {
      await ing?.stop();
      await cp?.close();
      await blob?.close();
      await tdb?.cleanup();
      cpState?.remove();
      ingState?.remove();
    });

    it('shows the open minute at once and stores it once it closes, per customer and exit', async () => {
      await traffic(3, 1);
      await pullRound();
      assert.deepEqual(await stored(false), { bytesUp: 0, bytesDown: 0, connections: 0, failures: 0 } as never, 'nothing final yet');
      const live = await stored(true);
      assert.equal(live.bytesDown, sent.down);
      assert.equal(live.connections, sent.connections);
      assert.equal(live.failures, sent.failures);

      nextMinute();
      await pullRound();
      const fin = await stored(false);
      assert.deepEqual([fin.bytesDown, fin.connections, fin.failures], [sent.down, sent.connections, sent.failures]);
      assert.deepEqual(await stored(true), fin, 'the open minute is replaced by the final one, not added to it');

      const rows = (await call('GET', '/v1/usage?by=minute&customer=alice&live=false')).body.rows;
      assert.equal(rows.length, 1);
      assert.match(rows[0].period, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}$/);
      assert.equal(rows[0].exitId, '', 'direct egress (no exits configured)');
      const node = (await call('GET', '/v1/ingress-nodes/edge-1')).body;
      assert.ok(node.statsPulledAt);
    });

    it('never counts twice: repeated rounds, and the same pull stored twice', async () => {
      await pullRound();
      await pullRound();
      let fin = await stored(false);
      assert.equal(fin.bytesDown, sent.down);

      await traffic(2);
      nextMinute();
      // Take a pull by hand (as a control plane that dies before recording it would), store it twice.
      const sub = [...cp.hub.subscribers][0]!;
      const cursor = await cp.store.statsCursor('edge-1');
      const res = await fetch(`${sub.adminUrl}/v1/stats?after=${cursor}`, { headers: { authorization: `Bearer ${sub.pullToken}` } });
      const pull = (await res.json()) as StatsPull;
      assert.ok(pull.records.length >= 1);
      const first = await cp.store.ingestStats('edge-1', pull);
      const again = await cp.store.ingestStats('edge-1', pull);
      assert.equal(first.stored, pull.records.length);
      assert.deepEqual([again.stored, again.skipped], [0, pull.records.length]);
      // The ingress still has them (not acknowledged yet): the next round skips them too.
      await pullRound();
      fin = await stored(false);
      assert.equal(fin.bytesDown, sent.down);
      assert.equal(fin.connections, sent.connections);

      // A pull without the token is refused.
      assert.equal((await fetch(`${sub.adminUrl}/v1/stats`)).status, 401);
    });

    it('loses nothing when a write fails', async () => {
      await traffic(2, 1);
      nextMinute();
      cp.collector.failNextWrites = 1;
      await pullRound();
      assert.equal(cp.collector.lastPulls[0]?.ok, false);
      assert.equal((await stored(false)).bytesDown, sent.down - 2 * BLOB, 'not stored yet');
      await pullRound();
      const fin = await stored(false);
      assert.deepEqual([fin.bytesDown, fin.connections, fin.failures], [sent.down, sent.connections, sent.failures]);
    });

    it('loses nothing when the control plane is killed between pulls', async () => {
      await traffic(3);
      nextMinute();
      const port = Number(new URL(cp.url).port);
      await cp.close(); // no pull happened for this minute
      await traffic(1); // the ingress keeps serving and counting while it is away
      nextMinute();
      cp = await startTestControl(tdb.spec, cpState.path, { port });
      call = cp.api;
      await pullRound();
      const fin = await stored(false);
      assert.deepEqual([fin.bytesDown, fin.connections, fin.failures], [sent.down, sent.connections, sent.failures]);
    });

    it('loses nothing when the ingress restarts (unsent records kept in its state dir)', async () => {
      await traffic(2); // still in the open minute when it stops
      await ing!.stop();
      ing = await startLinkedIngress(cp.url, token, ingState.path, { now: clock });
      await eventually('the new stream', () => [...cp.hub.subscribers].some((s) => s.adminUrl));
      await pullRound();
      const fin = await stored(false);
      assert.deepEqual([fin.bytesDown, fin.connections, fin.failures], [sent.down, sent.connections, sent.failures]);
    });

    it('counts exactly once while the control plane process is SIGKILLed during pulls and restarted', async () => {
      const port = Number(new URL(cp.url).port);
      await cp.close();
      const spawnControl = async (): Promise<Proc> => {
        const argv = [process.execPath, 'dist/src/cli/main.js', 'control', '--db', tdb.spec, '--listen', `127.0.0.1:${port}`, '--state-dir', cpState.path, '--json', '--log-level', 'silent', '--stats-interval-ms', '100'];
        const child = await startProc('hopgate control', argv, { env: { HOPGATE_ADMIN_TOKEN: 'test-operator-token-0123456789' }, ready: /^\{/ });
        assert.equal(readyJson<{ url: string }>(child).url, `http://127.0.0.1:${port}`);
        return child;
      };
      /** When the node's last pull was recorded, as the spawned control plane answers. */
      const pulledAt = async (): Promise<number> => {
        const r = await fetch(`http://127.0.0.1:${port}/v1/ingress-nodes/edge-1`, { headers: { authorization: 'Bearer test-operator-token-0123456789' } });
        return Date.parse(((await r.json()) as { statsPulledAt: string | null }).statsPulledAt ?? '') || 0;
      };
      // 3 kill points, 80, 153 and 226 ms in: 80, 53 and 26 ms into a 100 ms pull cycle (the shortest `hopgate control` takes).
      for (let round = 0; round < 3; round++) {
        const spawnedAt = Date.now();
        const child = await spawnControl();
        // Its first pull done, the ingress is subscribed and pulled every 100 ms. Without this wait every kill
        // came before the ingress was back (its last pull was the previous control plane's in all 8 rounds).
        await eventually('a pull by the spawned control plane', async () => (await pulledAt()) >= spawnedAt, { timeoutMs: 10_000 });
        await traffic(2, 1);
        nextMinute();
        // Kill it at some point while it pulls every 100 ms (mid-write or between writes): a jitter, not a wait for a condition.
        await sleep(80 + round * 73);
        await killHard(child);
      }
      cp = await startTestControl(tdb.spec, cpState.path, { port });
      call = cp.api;
      await pullRound();
      await pullRound();
      const fin = await stored(false);
      assert.deepEqual([fin.bytesDown, fin.connections, fin.failures], [sent.down, sent.connections, sent.failures]);
    });

    it('answers per exit, per node and per period, and through `hopgate usage`', async () => {
      const byDay = (await call('GET', '/v1/usage?by=day&live=false')).body;
      assert.equal(byDay.rows.length, Math.max(1, new Set(byDay.rows.map((r: any) => r.period)).size));
      assert.equal(byDay.totals.bytesDown, sent.down);
      const byNode = (await call('GET', '/v1/usage?by=month&node=edge-1&live=false')).body;
      assert.equal(byNode.totals.bytesDown, sent.down);
      const none = (await call('GET', '/v1/usage?by=month&node=edge-2')).body;
      assert.equal(none.rows.length, 0);
      const direct = (await call('GET', '/v1/usage?by=hour&exit=direct&live=false')).body;
      assert.equal(direct.totals.bytesDown, sent.down);
      assert.equal((await call('GET', '/v1/usage?by=week')).status, 400);
      // A long range by a short step is refused before any usage is read, with the reason.
      for (const q of ['by=minute&from=2000-01-01', 'by=minute&from=2026-01-01T00:00&to=9999-12-31', 'by=hour&from=2026-02-01&to=2026-01-01']) {
        const r = await call('GET', `/v1/usage?${q}`);
        assert.equal(r.status, 400, q);
        assert.match(r.body.error.message, /^query\.(from|to): /, q);
      }
      const mine = await call('GET', `/v1/customers/${aliceId}/usage?by=minute&from=2000-01-01`);
      assert.equal(mine.status, 400);
      assert.equal((await call('GET', '/v1/usage?by=month&from=2000-01&live=false')).body.totals.bytesDown, sent.down, 'years by month stay allowed');

      const cli = await hopgateOk(['usage', 'alice', '--by', 'month', '--final', '--json', '--control', cp.url, '--token', cp.token.token]);
      assert.equal(JSON.parse(cli.stdout).totals.bytesDown, sent.down);
      const table = await hopgateOk(['usage', '--by', 'day', '--control', cp.url, '--token', cp.token.token]);
      assert.match(table.stdout, /PERIOD \(UTC\)\s+LOGIN\s+EXIT/);
      // No exit carried these (this ingress has none): not an exit called "direct", and the table says what it means.
      assert.match(table.stdout, /alice\s+\(none\)\s/);
      assert.doesNotMatch(table.stdout, /\bdirect\b(?! egress)/);
      assert.match(table.stdout, /^\(none\): no exit carried these connections: refused before an exit was chosen \(counted in FAILED\), or sent straight to the target by an ingress that has no exits$/m);
      const noExit = await hopgateOk(['usage', '--exit', '(none)', '--by', 'day', '--json', '--control', cp.url, '--token', cp.token.token]);
      assert.equal(JSON.parse(noExit.stdout).totals.bytesDown, sent.down, '--exit (none): the rows no exit carried');
    });
  });
}
