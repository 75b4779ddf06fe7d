/**
 * PostgreSQL goes away and comes back (simulated by a test-owned TCP forwarder
 * between two control-plane replicas — A a real `hopgate control` process, B
 * in this process — and the machine's PostgreSQL: every
 * connection reset, new ones refused, for a few seconds). Neither replica
 * crashes; during the outage the API and /healthz answer 503 database_unavailable
 * with Retry-After, quickly; afterwards everything works again without a
 * restart — including LISTEN/NOTIFY between the replicas (B's safety poll is
 * off, so only a notification can carry A's change to B's ingress)
 * and the config streams to real ingresses.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { PG_URL, dialects, tempDir, type TestDb } from './control-fixtures.js';
import { TEST_SETTINGS, api, makeNode, startLinkedIngress, until, type Api } from './control-link-fixtures.js';
import { startTestControl } from './control-link-fixtures.js';
import { startTcpForwarder, type TcpForwarder } from '../helpers/tcp-forwarder.js';
import type { ControlledIngress } from '../../src/ingress/control-link/controlled.js';
import type { ControlPlane } from '../../src/control/control-plane.js';

const pgCase = (await dialects()).find((d) => d.name === 'postgres')!;
const TOKEN = 'test-operator-token-0123456789';
const WAIT_MS = 1000;
const OUTAGE_MS = 3000;

async function call(url: string, method: string, body?: unknown): Promise<{ status: number; ms: number; retryAfter: string | null; body: any }> {
  const t0 = performance.now();
  const res = await fetch(url, {
    method,
    headers: { authorization: `Bearer ${TOKEN}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  return { status: res.status, ms: performance.now() - t0, retryAfter: res.headers.get('retry-after'), body: text ? JSON.parse(text) : undefined };
}

interface Replica {
  readonly url: string;
  readonly api: Api;
}

/** Replica A: `hopgate control` as its own process, so a crash would show as its exit. */
async function startControlProcess(db: string, stateDir: string): Promise<Replica & { proc: ChildProcess; stderr(): string }> {
  const proc = spawn(process.execPath, ['dist/src/cli/main.js', 'control', '--db', db, '--listen', '127.0.0.1:0', '--state-dir', stateDir, '--json', '--log-level', 'warn', '--db-wait-ms', String(WAIT_MS)], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, HOPGATE_ADMIN_TOKEN: TOKEN },
  });
  let stderr = '';
  proc.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const lines = createInterface({ input: proc.stdout! });
  const timer = setTimeout(() => proc.kill('SIGKILL'), 15_000);
  const [line] = (await Promise.race([once(lines, 'line'), once(proc, 'exit').then(() => [undefined])])) as [string | undefined];
  clearTimeout(timer);
  if (line === undefined) throw new Error(`hopgate control exited: ${stderr}`);
  const url = (JSON.parse(line) as { url: string }).url;
  return { url, api: api(url, TOKEN), proc, stderr: () => stderr };
}

function assertUnavailable(r: Awaited<ReturnType<typeof call>>, what: string): void {
  assert.equal(r.status, 503, `${what}: ${r.status} ${JSON.stringify(r.body)}`);
  assert.equal(r.body?.error?.code, 'database_unavailable', what);
  assert.match(r.retryAfter ?? '', /^[1-9][0-9]*$/, what);
  assert.ok(r.ms < WAIT_MS + 1500, `${what} took ${r.ms} ms`);
}

describe('control-plane replicas through a PostgreSQL outage', { skip: pgCase.skip }, () => {
  let tdb: TestDb;
  let fwd: TcpForwarder;
  const dirs: Array<ReturnType<typeof tempDir>> = [];
  let a: Awaited<ReturnType<typeof startControlProcess>>;
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
    // B polls no revision: only NOTIFY tells it of A's changes.
    a = await startControlProcess(spec.toString(), dirs[0]!.path);
    b = await startTestControl(spec.toString(), dirs[1]!.path, { revisionPollMs: 3_600_000, dbWaitMs: WAIT_MS });
    await a.api('PATCH', '/v1/settings', TEST_SETTINGS);
    const r = await a.api('POST', '/v1/customers', { login: 'bob' });
    bobId = r.body.customer.id;
    // edge-1 listens to replica B, edge-2 to replica A.
    ings.push(await startLinkedIngress(b.url, await makeNode(a.api, 'edge-1'), dirs[2]!.path));
    ings.push(await startLinkedIngress(a.url, await makeNode(b.api, 'edge-2'), dirs[3]!.path));
  });
  after(async () => {
    for (const i of ings) await i.stop();
    if (a && a.proc.exitCode === null) {
      a.proc.kill('SIGTERM');
      await once(a.proc, 'exit');
    }
    await b?.close();
    await fwd?.close();
    await tdb?.cleanup();
    for (const d of dirs) d.remove();
  });

  /** A change through `through` is in force at `ing` (subscribed to the other replica). */
  async function changeReaches(through: Replica, ing: ControlledIngress, maxConnections: number): Promise<number> {
    const t0 = performance.now();
    const r = await through.api('PATCH', `/v1/customers/${bobId}`, { maxConnections });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    const rev = (await through.api('GET', '/v1/revision')).body.revision;
    await ing.waitForRevision(rev, 5000);
    assert.equal(ing.ingress!.runtime.snapshot.usersByLogin.get('bob')!.maxConnections, maxConnections);
    return performance.now() - t0;
  }

  it('before: a change through one replica reaches an ingress on the other', async () => {
    await changeReaches(a, ings[0]!, 11);
    await changeReaches(b, ings[1]!, 12);
  });

  it('during the outage: no crash, 503 + Retry-After everywhere, quickly; after it: everything resumes', async () => {
    const acceptedBefore = fwd.accepted;
    await fwd.cut();
    const cutAt = performance.now();
    const during: Array<Awaited<ReturnType<typeof call>>> = [];
    // Bounded: a few rounds over both replicas while the database is away.
    for (let round = 0; round < 20 && performance.now() - cutAt < OUTAGE_MS; round++) {
      for (const cp of [a, b]) {
        const h = await call(`${cp.url}/healthz`, 'GET');
        assertUnavailable(h, 'healthz');
        const w = await call(`${cp.url}/v1/customers/${bobId}`, 'PATCH', { maxConnections: 99 });
        assertUnavailable(w, 'write');
        const g = await call(`${cp.url}/v1/customers`, 'GET');
        assertUnavailable(g, 'read');
        during.push(h, w, g);
      }
      await new Promise((r) => setTimeout(r, 200));
    }
    assert.ok(during.length >= 6);
    // Neither replica died; the streams to the ingresses do not need the database: still held.
    assert.equal(a.proc.exitCode, null, a.stderr());
    assert.ok(b.hub.isSubscribed('edge-1'));

    await fwd.restore();
    const restoredAt = performance.now();
    for (const cp of [a, b]) await until('healthz 200 again', async () => (await call(`${cp.url}/healthz`, 'GET')).status === 200, 10_000, 100);
    const healthyAfterMs = performance.now() - restoredAt;
    // New connections were made through the forwarder: the pools and listeners reconnected by themselves.
    assert.ok(fwd.accepted > acceptedBefore);
    // Both streams, both directions: NOTIFY between the replicas works again (the poll is off).
    const l1 = await changeReaches(a, ings[0]!, 21);
    const l2 = await changeReaches(b, ings[1]!, 22);
    const maxDuring = Math.max(...during.map((r) => r.ms));
    process.stdout.write(
      `# pg outage ${OUTAGE_MS} ms: ${during.length} requests answered 503 (max ${maxDuring.toFixed(0)} ms); healthy ${healthyAfterMs.toFixed(0)} ms after restore; change → other replica's ingress ${l1.toFixed(0)} / ${l2.toFixed(0)} ms\n`,
    );
    // Nothing attempted during the outage was written.
    assert.equal((await a.api('GET', `/v1/customers/${bobId}`)).body.maxConnections, 22);
    assert.ok(b.hub.isSubscribed('edge-1'));
    assert.equal(a.proc.exitCode, null, a.stderr());
    assert.match(a.stderr(), /database unavailable/); // the outage was logged as such
  });
});
