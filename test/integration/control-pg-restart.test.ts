/**
 * A real PostgreSQL restart, on a cluster this test makes for itself (never
 * the machine's shared server): two control-plane replicas — A a real
 * `hopgate control` process, B in this process with no revision poll — and an
 * ingress on each. The server is stopped (`fast`: sessions are terminated with
 * 57P01; then `immediate`: like a crash, recovery on start) and started again:
 * neither replica dies, requests in between answer 503 database_unavailable,
 * and afterwards changes through either replica reach the ingress of the other
 * (LISTEN/NOTIFY re-established) without restarting anything.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { tempDir } from '../helpers/control-fixtures.js';
import { TEST_SETTINGS, makeNode, startLinkedIngress, startTestControl, type Api } from '../helpers/control-link-fixtures.js';
import { assertUnavailable, call, changeReaches, startControlProcess, type ControlProcess } from '../helpers/control-outage-fixtures.js';
import { privatePostgresUnavailable, startPrivatePostgres, type PrivatePostgres } from '../helpers/private-postgres.js';
import type { ControlledIngress } from '../../src/processes/controlled-ingress.js';
import type { ControlPlane } from '../../src/control/control-plane.js';
import { eventually } from '../helpers/eventually.js';
import { teardown } from '../helpers/teardown.js';

const WAIT_MS = 1000;

describe('control-plane replicas through a real PostgreSQL restart', { skip: privatePostgresUnavailable() ?? false, timeout: 240_000 }, () => {
  let pg: PrivatePostgres;
  const dirs: Array<ReturnType<typeof tempDir>> = [];
  let a: ControlProcess;
  let b: ControlPlane & { api: Api };
  const ings: ControlledIngress[] = [];
  let bobId: string;

  before(async () => {
    pg = await startPrivatePostgres();
    const spec = `${pg.url}?schema=hg_restart`;
    for (let i = 0; i < 4; i++) dirs.push(tempDir('hopgate-pg-restart-'));
    a = await startControlProcess(spec, dirs[0]!.path, WAIT_MS);
    b = await startTestControl(spec, dirs[1]!.path, { revisionPollMs: 3_600_000, dbWaitMs: WAIT_MS });
    await a.api('PATCH', '/v1/settings', TEST_SETTINGS);
    const r = await a.api('POST', '/v1/customers', { login: 'bob' });
    bobId = r.body.customer.id;
    ings.push(await startLinkedIngress(b.url, await makeNode(a.api, 'edge-1'), dirs[2]!.path));
    ings.push(await startLinkedIngress(a.url, await makeNode(b.api, 'edge-2'), dirs[3]!.path));
    await changeReaches(a, ings[0]!, bobId, 5);
  });
  // Each step bounded and named: a close() behind a query that never returns would otherwise wait without end.
  after(() =>
    teardown([
      ...ings.map((i, n) => [`ingress ${n + 1} stop`, () => i.stop()] as const),
      ['replica A (process) stop', () => a?.stop()],
      ['replica B close', () => b?.close()],
      ['private PostgreSQL destroy', () => pg?.destroy()],
      ['temp dirs', () => dirs.forEach((d) => d.remove())],
    ]),
  );

  for (const [n, mode] of [[1, 'fast'], [2, 'immediate']] as const) {
    it(`stop (${mode}) and start: no crash, 503 while down, everything resumes`, async () => {
      await pg.stop(mode);
      for (const cp of [a, b]) {
        assertUnavailable(await call(`${cp.url}/healthz`, 'GET'), 'healthz', WAIT_MS + 1500);
        assertUnavailable(await call(`${cp.url}/v1/customers/${bobId}`, 'PATCH', { maxConnections: 99 }), 'write', WAIT_MS + 1500);
      }
      assert.ok(a.proc.alive(), a.stderr());
      const t0 = performance.now();
      await pg.start();
      const startMs = performance.now() - t0;
      for (const cp of [a, b]) await eventually('healthz 200 again', async () => (await call(`${cp.url}/healthz`, 'GET')).status === 200, { timeoutMs: 10_000, everyMs: 100 });
      const l1 = await changeReaches(a, ings[0]!, bobId, 10 * n + 1);
      const l2 = await changeReaches(b, ings[1]!, bobId, 10 * n + 2);
      process.stdout.write(`# pg restart (${mode}): server start ${startMs.toFixed(0)} ms; after it a change → other replica's ingress ${l1.toFixed(0)} / ${l2.toFixed(0)} ms\n`);
      assert.ok(a.proc.alive(), a.stderr());
      assert.ok(b.hub.isSubscribed('edge-1'));
    });
  }
});
