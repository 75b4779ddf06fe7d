/**
 * Quotas and status across ingresses, on SQLite and PostgreSQL: two
 * ingresses on one control plane. A customer under the quota on each ingress
 * but over it in sum is refused on both within seconds (QUOTA_EXCEEDED), and
 * served again on both when the quota is raised; an operator suspension and
 * its lifting reach both the same way.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { dialects, tempDir, type TestDb } from '../helpers/control-fixtures.js';
import { TEST_SETTINGS, connectTunnel, drain, makeNode, startBlobServer, startLinkedIngress, startTestControl, type Api } from '../helpers/control-link-fixtures.js';
import type { ControlledIngress } from '../../src/processes/controlled-ingress.js';
import type { ControlPlane } from '../../src/control/control-plane.js';
import { eventually } from '../helpers/eventually.js';

const cases = await dialects();
const BLOB = 15_000;
const QUOTA = 50_000;

for (const dc of cases) {
  describe(`quotas and status across two ingresses on ${dc.name}`, { skip: dc.skip }, () => {
    let tdb: TestDb;
    const dirs: Array<ReturnType<typeof tempDir>> = [];
    let cp: ControlPlane & { api: Api };
    let call: Api;
    let blob: Awaited<ReturnType<typeof startBlobServer>>;
    const ings: ControlledIngress[] = [];
    let password: string;
    let aliceId: string;

    /**
     * Every tunnel the ingresses served alice, and the bytes it brought down. The probes for
     * "refused on both" are real traffic too: until the control plane's flag reaches an
     * ingress (the stream delivers it some milliseconds after the flag is stored, longer under
     * load) that ingress still serves alice, and those bytes are rightly billed.
     */
    const served: number[] = [];
    const attempt = async (ing: ControlledIngress): Promise<{ status: number; code: string | undefined }> => {
      const t = await connectTunnel(ing.ports[0], 'alice', password, blob.port);
      if (t.status === 200) served.push(await drain(t));
      return { status: t.status, code: t.code };
    };
    /** Both ingresses answer `status` (and `code`); how long it took. */
    const bothAnswer = async (status: number, code?: string, timeoutMs = 15_000): Promise<number> => {
      const t0 = Date.now();
      await eventually(`both ingresses answering ${status} ${code ?? ''}`, async () => {
        const r = await Promise.all(ings.map(attempt));
        return r.every((x) => x.status === status && (code === undefined || x.code === code));
      }, { timeoutMs: timeoutMs, everyMs: 100 });
      return Date.now() - t0;
    };

    before(async () => {
      tdb = await dc.make();
      for (let i = 0; i < 3; i++) dirs.push(tempDir('hopgate-quota-'));
      cp = await startTestControl(tdb.spec, dirs[0]!.path, { statsIntervalMs: 300 });
      call = cp.api;
      blob = await startBlobServer(BLOB);
      await call('PATCH', '/v1/settings', TEST_SETTINGS);
      const r = await call('POST', '/v1/customers', { login: 'alice', quota: { bytes: QUOTA, period: 'day' } });
      password = r.body.password;
      aliceId = r.body.customer.id;
      for (const [i, id] of ['edge-a', 'edge-b'].entries()) {
        ings.push(await startLinkedIngress(cp.url, await makeNode(call, id), dirs[i + 1]!.path));
      }
    });
    after(async () => {
      for (const i of ings) await i.stop();
      await cp?.close();
      await blob?.close();
      await tdb?.cleanup();
      for (const d of dirs) d.remove();
    });

    it('refuses a customer over the quota in sum on both ingresses within seconds, and restores them when it is raised', async () => {
      const myUsage = async (): Promise<any> => {
        const me = await fetch(`${cp.url}/v1/me/usage`, { headers: { authorization: `Basic ${Buffer.from(`alice:${password}`).toString('base64')}` } });
        return me.json();
      };
      /** Alice's usage once at least `bytes` are counted (a pull may not have brought the last ones yet). */
      const usedAtLeast = (what: string, bytes: number): Promise<any> =>
        eventually(what, async () => {
          const u = await myUsage();
          return u.quotaPeriod.used >= bytes ? u : undefined;
        }, { timeoutMs: 5000, everyMs: 100 });

      // 30 kB through each: under the quota on either ingress alone, over it together.
      for (const ing of ings) {
        for (let i = 0; i < 2; i++) assert.equal((await attempt(ing)).status, 200);
      }
      assert.deepEqual(served, [BLOB, BLOB, BLOB, BLOB]);
      const t0 = Date.now();
      await eventually('the control plane to flag alice', async () => (await call('GET', `/v1/customers/${aliceId}`)).body.quotaExceededUntil, { timeoutMs: 15_000, everyMs: 50 });

      // Every byte counted once: four blobs down, nothing up (a second ingress in the same
      // process once counted the first one's sessions too). Checked before any probe below
      // moves more bytes.
      const mine = await usedAtLeast('all four downloads counted', 4 * BLOB);
      assert.equal(mine.quotaPeriod.used, 4 * BLOB);
      assert.ok(mine.quotaPeriod.exceededUntil);
      assert.match(mine.quotaPeriod.period, /^day:/);

      const waited = await bothAnswer(402, 'QUOTA_EXCEEDED');
      const total = Date.now() - t0;
      process.stdout.write(`# ${dc.name}: quota crossed → refused on both ingresses after ${total} ms (flag → both refusing ${waited} ms)\n`);
      assert.ok(total < 15_000);

      // What the probes were served before the flag reached each ingress is billed exactly once
      // too — and only what they received: a probe cut as an ingress's own count crossed the
      // quota never gets the chunk that crossed, nor is billed for it.
      const probes = served.slice(4);
      const delivered = probes.reduce((a, n) => a + n, 0);
      process.stdout.write(`# ${dc.name}: served while the flag was on its way: ${JSON.stringify(probes)}\n`);
      const after = await usedAtLeast('the probes counted', 4 * BLOB + delivered);
      assert.equal(after.quotaPeriod.used, 4 * BLOB + delivered);

      // Raised: the flag clears in the same request; both serve again.
      const raised = await call('PATCH', `/v1/customers/${aliceId}`, { quota: { bytes: 10 * QUOTA, period: 'day' } });
      assert.equal(raised.status, 200);
      assert.equal(raised.body.quotaExceededUntil, null);
      const back = await bothAnswer(200);
      process.stdout.write(`# ${dc.name}: quota raised → served on both ingresses after ${back} ms\n`);
      assert.ok(back < 3000);
    });

    it('refuses a suspended customer on both ingresses within a second, and serves them again when resumed', async () => {
      await call('PATCH', `/v1/customers/${aliceId}`, { status: 'suspended' });
      const off = await bothAnswer(403, 'USER_SUSPENDED', 5000);
      await call('PATCH', `/v1/customers/${aliceId}`, { status: 'active' });
      const on = await bothAnswer(200, undefined, 5000);
      process.stdout.write(`# ${dc.name}: suspension in force on both after ${off} ms, lifted after ${on} ms\n`);
      assert.ok(off < 3000 && on < 3000, 'within seconds (typically ~10–120 ms)');
    });
  });
}
