/**
 * Two control-plane processes on one PostgreSQL database: a change made
 * through either reaches an ingress subscribed to the other, through
 * LISTEN/NOTIFY (the safety poll is turned off here, so only a notification
 * can carry it). Statistics pulled by one replica are visible through the
 * other, and over-quota decisions taken by both bump the revision once.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { dialects, tempDir, type TestDb } from '../helpers/control-fixtures.js';
import { TEST_SETTINGS, connectTunnel, drain, makeNode, percentile, startBlobServer, startLinkedIngress, startTestControl, type Api } from '../helpers/control-link-fixtures.js';
import type { ControlledIngress } from '../../src/processes/controlled-ingress.js';
import type { ControlPlane } from '../../src/control/control-plane.js';
import { eventually } from '../helpers/eventually.js';

const pgCase = (await dialects()).find((d) => d.name === 'postgres')!;

describe('control-plane replicas on PostgreSQL', { skip: pgCase.skip }, () => {
  let tdb: TestDb;
  const dirs: Array<ReturnType<typeof tempDir>> = [];
  let a: ControlPlane & { api: Api };
  let b: ControlPlane & { api: Api };
  const ings: ControlledIngress[] = [];
  let blob: Awaited<ReturnType<typeof startBlobServer>>;
  let bob: { id: string; password: string };

  before(async () => {
    tdb = await pgCase.make();
    for (let i = 0; i < 4; i++) dirs.push(tempDir('hopgate-replica-'));
    // No safety poll: only NOTIFY can tell one replica of the other's changes.
    a = await startTestControl(tdb.spec, dirs[0]!.path, { revisionPollMs: 3_600_000 });
    b = await startTestControl(tdb.spec, dirs[1]!.path, { revisionPollMs: 3_600_000 });
    blob = await startBlobServer(20_000);
    await a.api('PATCH', '/v1/settings', TEST_SETTINGS);
    const r = await a.api('POST', '/v1/customers', { login: 'bob' });
    bob = { id: r.body.customer.id, password: r.body.password };
    // edge-1 listens to replica B, edge-2 to replica A.
    ings.push(await startLinkedIngress(b.url, await makeNode(a.api, 'edge-1'), dirs[2]!.path));
    ings.push(await startLinkedIngress(a.url, await makeNode(b.api, 'edge-2'), dirs[3]!.path));
  });
  after(async () => {
    for (const i of ings) await i.stop();
    await a?.close();
    await b?.close();
    await blob?.close();
    await tdb?.cleanup();
    for (const d of dirs) d.remove();
  });

  it('both replicas serve the same state and the same revision', async () => {
    const ra = (await a.api('GET', '/v1/revision')).body.revision;
    const rb = (await b.api('GET', '/v1/revision')).body.revision;
    assert.equal(ra, rb);
    assert.notEqual(a.hub.replica, b.hub.replica);
    assert.equal(ings[0]!.revision, ra);
    assert.equal(ings[1]!.revision, ra);
  });

  it('a change through one replica reaches an ingress subscribed to the other (LISTEN/NOTIFY)', async () => {
    const lat: number[] = [];
    for (let i = 0; i < 15; i++) {
      const [through, ing] = i % 2 === 0 ? [a, ings[0]!] : [b, ings[1]!];
      const t0 = performance.now();
      assert.equal((await through.api('PATCH', `/v1/customers/${bob.id}`, { maxConnections: 10 + i })).status, 200);
      const rev = (await through.api('GET', '/v1/revision')).body.revision;
      await ing.waitForRevision(rev, 3000);
      lat.push(performance.now() - t0);
      assert.equal(ing.ingress!.runtime.snapshot.usersByLogin.get('bob')!.maxConnections, 10 + i);
    }
    process.stdout.write(`# replicas: change via one → in force at an ingress on the other: p50 ${percentile(lat, 50).toFixed(1)} ms, max ${Math.max(...lat).toFixed(1)} ms (n=${lat.length})\n`);
    assert.ok(Math.max(...lat) < 1000);

    // A suspension through A is enforced by the ingress on B.
    await a.api('PATCH', `/v1/customers/${bob.id}`, { status: 'suspended' });
    await ings[0]!.waitForRevision((await a.api('GET', '/v1/revision')).body.revision, 3000);
    const t = await connectTunnel(ings[0]!.ports[0], 'bob', bob.password, blob.port);
    assert.equal(t.code, 'USER_SUSPENDED');
    await b.api('PATCH', `/v1/customers/${bob.id}`, { status: 'active' });
    await ings[0]!.waitForRevision((await b.api('GET', '/v1/revision')).body.revision, 3000);
  });

  it('statistics pulled by one replica are read through the other; quota decisions by both bump once', async () => {
    const t = await connectTunnel(ings[0]!.ports[0], 'bob', bob.password, blob.port);
    assert.equal(t.status, 200);
    assert.equal(await drain(t), 20_000);
    await eventually('the ingress to report its admin address to B', () => [...b.hub.subscribers].some((s) => s.adminUrl));
    await b.collector.round(); // edge-1 is B's to pull
    const seen = (await a.api('GET', '/v1/usage?customer=bob&by=month')).body.totals;
    assert.equal(seen.bytesDown, 20_000);

    // Bob goes over a small quota: both replicas decide at once, the revision moves once.
    await a.api('PATCH', `/v1/customers/${bob.id}`, { quota: { bytes: 1000, period: 'month' } });
    const before = (await a.api('GET', '/v1/revision')).body.revision;
    const bob1 = (await a.api('GET', `/v1/customers/${bob.id}`)).body;
    assert.ok(bob1.quotaExceededUntil, 'the replica that took the change flagged bob');
    await Promise.all([a.collector.enforceQuotas(), b.collector.enforceQuotas(), a.collector.enforceQuotas()]);
    assert.equal((await a.api('GET', '/v1/revision')).body.revision, before, 'nothing to change: no bump');
    await ings[0]!.waitForRevision(before, 3000);
    const refused = await connectTunnel(ings[0]!.ports[0], 'bob', bob.password, blob.port);
    assert.equal(refused.code, 'QUOTA_EXCEEDED');
  });
});
