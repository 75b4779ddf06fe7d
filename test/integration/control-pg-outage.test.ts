/**
 * PostgreSQL goes away and comes back (simulated by a test-owned TCP forwarder
 * between two control-plane replicas — A a real `hopgate control` process, B
 * in this process — and the machine's PostgreSQL: every connection reset, new
 * ones refused, for a few seconds). Neither replica crashes; during the outage
 * the API and /healthz answer 503 database_unavailable with Retry-After,
 * quickly; afterwards everything works again without a restart — including
 * LISTEN/NOTIFY between the replicas (B's safety poll is off, so only a
 * notification can carry A's change to B's ingress) and the config streams to
 * real ingresses.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { PG_URL, dialects, tempDir, type TestDb } from '../helpers/control-fixtures.js';
import { TEST_SETTINGS, makeNode, startLinkedIngress, startTestControl, type Api } from '../helpers/control-link-fixtures.js';
import { assertUnavailable, call, changeReaches, startControlProcess, type Answer, type ControlProcess } from '../helpers/control-outage-fixtures.js';
import { startTcpForwarder, type TcpForwarder } from '../helpers/tcp-forwarder.js';
import type { ControlledIngress } from '../../src/processes/controlled-ingress.js';
import type { ControlPlane } from '../../src/control/control-plane.js';
import { eventually } from '../helpers/eventually.js';
import { teardown } from '../helpers/teardown.js';

const pgCase = (await dialects()).find((d) => d.name === 'postgres')!;
const WAIT_MS = 1000;
const OUTAGE_MS = 3000;

describe('control-plane replicas through a PostgreSQL outage', { skip: pgCase.skip }, () => {
  let tdb: TestDb;
  let fwd: TcpForwarder;
  const dirs: Array<ReturnType<typeof tempDir>> = [];
  let a: ControlProcess;
  let b: ControlPlane & { api: Api };
  const ings: ControlledIngress[] = [];
  let bobId: string;

  before(async () => {
    tdb = await pgCase.make();
    const pg = new URL(PG_URL);
    fwd = await startTcpForwarder(pg.hostname, Number(pg.port || 5432));
    const spec = new URL(tdb.spec);
    spec.hostname = '127.0.0.1';
    spec.port = String(fwd.port);
    for (let i = 0; i < 4; i++) dirs.push(tempDir('hopgate-pg-outage-'));
    a = await startControlProcess(spec.toString(), dirs[0]!.path, WAIT_MS);
    // B polls no revision: only NOTIFY tells it of A's changes.
    b = await startTestControl(spec.toString(), dirs[1]!.path, { revisionPollMs: 3_600_000, dbWaitMs: WAIT_MS });
    await a.api('PATCH', '/v1/settings', TEST_SETTINGS);
    const r = await a.api('POST', '/v1/customers', { login: 'bob' });
    bobId = r.body.customer.id;
    // edge-1 listens to replica B, edge-2 to replica A.
    ings.push(await startLinkedIngress(b.url, await makeNode(a.api, 'edge-1'), dirs[2]!.path));
    ings.push(await startLinkedIngress(a.url, await makeNode(b.api, 'edge-2'), dirs[3]!.path));
  });
  // Each step bounded and named (it once sat 398 s here with nothing to wait for).
  after(() =>
    teardown([
      ...ings.map((i, n) => [`ingress ${n + 1} stop`, () => i.stop()] as const),
      ['replica A (process) stop', () => a?.stop()],
      ['replica B close', () => b?.close()],
      ['forwarder close', () => fwd?.close()],
      ['test schema cleanup', () => tdb?.cleanup()],
      ['temp dirs', () => dirs.forEach((d) => d.remove())],
    ]),
  );

  it('before: a change through one replica reaches an ingress on the other', async () => {
    await changeReaches(a, ings[0]!, bobId, 11);
    await changeReaches(b, ings[1]!, bobId, 12);
  });

  it('during the outage: no crash, 503 + Retry-After everywhere, quickly; after it: everything resumes', { timeout: 90_000 }, async () => {
    const acceptedBefore = fwd.accepted;
    await fwd.cut();
    const cutAt = performance.now();
    const during: Answer[] = [];
    // Bounded: a few rounds over both replicas while the database is away.
    for (let round = 0; round < 20 && performance.now() - cutAt < OUTAGE_MS; round++) {
      for (const cp of [a, b]) {
        const h = await call(`${cp.url}/healthz`, 'GET');
        assertUnavailable(h, 'healthz', WAIT_MS + 1500);
        const w = await call(`${cp.url}/v1/customers/${bobId}`, 'PATCH', { maxConnections: 99 });
        assertUnavailable(w, 'write', WAIT_MS + 1500);
        const g = await call(`${cp.url}/v1/customers`, 'GET');
        assertUnavailable(g, 'read', WAIT_MS + 1500);
        during.push(h, w, g);
      }
      await new Promise((r) => setTimeout(r, 200));
    }
    assert.ok(during.length >= 6);
    // Neither replica died; the streams to the ingresses do not need the database: still held.
    assert.ok(a.proc.alive(), a.stderr());
    assert.ok(b.hub.isSubscribed('edge-1'));
    // A stream lost during the outage: edge-1's reconnects are refused (its token is checked in the database) until it is back.
    for (const sub of [...b.hub.subscribers]) sub.close();
    await new Promise((r) => setTimeout(r, 1000));
    assert.equal(b.hub.isSubscribed('edge-1'), false);

    await fwd.restore();
    const restoredAt = performance.now();
    for (const cp of [a, b]) await eventually('healthz 200 again', async () => (await call(`${cp.url}/healthz`, 'GET')).status === 200, { timeoutMs: 10_000, everyMs: 100 });
    const healthyAfterMs = performance.now() - restoredAt;
    await eventually('edge-1 subscribed again', () => b.hub.isSubscribed('edge-1'), { timeoutMs: 35_000, everyMs: 100 });
    const resubscribedMs = performance.now() - restoredAt;
    // New connections were made through the forwarder: the pools and listeners reconnected by themselves.
    assert.ok(fwd.accepted > acceptedBefore);
    // Both streams, both directions: NOTIFY between the replicas works again.
    const l1 = await changeReaches(a, ings[0]!, bobId, 21);
    const l2 = await changeReaches(b, ings[1]!, bobId, 22);
    const maxDuring = Math.max(...during.map((r) => r.ms));
    process.stdout.write(
      `# pg outage ${OUTAGE_MS} ms: ${during.length} requests answered 503 (max ${maxDuring.toFixed(0)} ms); healthy ${healthyAfterMs.toFixed(0)} ms after restore, edge-1 stream back after ${resubscribedMs.toFixed(0)} ms; change → other replica's ingress ${l1.toFixed(0)} / ${l2.toFixed(0)} ms\n`,
    );
    // Nothing attempted during the outage was written.
    assert.equal((await a.api('GET', `/v1/customers/${bobId}`)).body.maxConnections, 22);
    assert.ok(b.hub.isSubscribed('edge-1'));
    assert.ok(a.proc.alive(), a.stderr());
    assert.match(a.stderr(), /database unavailable/); // the outage was logged as such
  });
});
