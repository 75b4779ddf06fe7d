/** The asset store on SQLite and PostgreSQL: migrations, revision, change log, rendering. */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { ControlStore } from '../../src/control/store/index.js';
import { parseDbTarget } from '../../src/control/db.js';
import { MIGRATIONS, MIGRATION_TABLE } from '../../src/control/migrations.js';
import { renderIngressConfig, renderYaml } from '../../src/control/render.js';
import { CustomerCreate, ExitCreate } from '../../src/control/api-schemas.js';
import { hashPassword } from '../../src/shared/auth/password-hash.js';
import { parseIngressYaml } from '../../src/ingress/config/from-yaml.js';
import { dialects, TEST_COST, type TestDb } from '../helpers/control-fixtures.js';

const cases = await dialects();

for (const dc of cases) {
  describe(`control store on ${dc.name}`, { skip: dc.skip }, () => {
    let tdb: TestDb;
    let store: ControlStore;
    let hash: string;

    before(async () => {
      tdb = await dc.make();
      hash = await hashPassword('pw', TEST_COST);
    });
    after(async () => {
      await store?.close();
      await tdb?.cleanup();
    });

    it('applies the migrations once; a second start on the same database applies none', async (t) => {
      const first = await ControlStore.open(parseDbTarget(tdb.spec));
      assert.deepEqual(first.migration.applied, Object.keys(MIGRATIONS));
      t.diagnostic(`${dc.name}: migrations applied on an empty database in ${first.migration.ms.toFixed(1)} ms`);
      await first.close();
      store = await ControlStore.open(parseDbTarget(tdb.spec));
      assert.deepEqual(store.migration.applied, []);
      t.diagnostic(`${dc.name}: start on an up-to-date database: migration check ${store.migration.ms.toFixed(1)} ms`);
      const rows = await tdb.query<{ name: string }>(`SELECT name FROM ${MIGRATION_TABLE} ORDER BY name`);
      assert.deepEqual(rows.map((r) => r.name), Object.keys(MIGRATIONS));
      assert.equal(await store.revision(), 0);
    });

    it('bumps the revision by one with every change and logs what changed', async () => {
      let rev = await store.revision();
      const step = async (what: string, fn: () => Promise<unknown>): Promise<void> => {
        await fn();
        const now = await store.revision();
        assert.equal(now, rev + 1, `${what}: revision ${rev} → ${now}`);
        rev = now;
      };
      await step('create exit', () => store.createExit(ExitCreate.parse({ id: 'us-1', host: '127.0.0.2', port: 7001, country: 'us' }), 'operator'));
      await step('create exit 2', () => store.createExit(ExitCreate.parse({ id: 'de-1', host: '127.0.0.3', port: 7001, country: 'de', kind: 'http', username: 'u', password: 'p' }), 'operator'));
      const alice = await store.createCustomer(CustomerCreate.parse({ login: 'alice', exits: ['us-1'] }), hash, 'operator');
      rev += 1;
      assert.equal(await store.revision(), rev);
      await step('update customer', () => store.updateCustomer(alice.id, { maxConnections: 7 }, 'operator'));
      await step('assignment', () => store.setAssignment(alice.id, { exits: ['de-1', 'us-1'], pools: [{ country: 'de' }] }, 'operator'));
      await step('password', () => store.setPasswordHash(alice.id, hash, 'operator'));
      await step('drain', () => store.updateExit('us-1', { drain: true }, 'operator'));
      await step('settings', () => store.patchSettings({ limits: { maxConnections: 50 }, targetPolicy: { allow: ['127.0.0.0/8'] } }, 'operator'));
      await step('node', () => store.createNode({ id: 'ing-1', name: 'first' }, 'operator'));
      await step('node rename', () => store.updateNode('ing-1', { name: 'renamed' }, 'operator'));

      // A refused change leaves no trace.
      await assert.rejects(store.createCustomer(CustomerCreate.parse({ login: 'alice' }), hash, 'operator'), { status: 409 });
      await assert.rejects(store.setAssignment(alice.id, { exits: ['nope'], pools: [] }, 'operator'), { status: 400, code: 'unknown_exit' });
      await assert.rejects(store.deleteExit('de-1', false, 'operator'), { status: 409, code: 'exit_in_use' });
      assert.equal(await store.revision(), rev);

      // An ingress acknowledging is not a configuration change.
      assert.equal(await store.recordNodeAck('ing-1', rev), true);
      assert.equal(await store.revision(), rev);
      assert.equal((await store.getNode('ing-1'))?.ackedRevision, rev);

      const log = await store.changes(0, 1000);
      assert.equal(new Set(log.map((c) => c.revision)).size, rev, 'one or more entries per revision');
      assert.deepEqual([...new Set(log.map((c) => c.revision))], Array.from({ length: rev }, (_, i) => i + 1));
      const settings = log.filter((c) => c.entity === 'setting');
      assert.equal(settings.length, 2);
      assert.equal(settings[0]!.revision, settings[1]!.revision, 'two keys, one change');
      assert.deepEqual((await store.changes(rev - 1, 10)).map((c) => `${c.entity}:${c.entityId}:${c.op}`), ['ingress_node:ing-1:update']);
    });

    it('force-deleting an exit takes it out of assignments in the same revision', async () => {
      const before = await store.revision();
      await store.deleteExit('de-1', true, 'operator');
      assert.equal(await store.revision(), before + 1);
      const entries = await store.changes(before, 10);
      assert.deepEqual(entries.map((e) => `${e.entity}:${e.op}`).sort(), ['assignment:update', 'exit:delete']);
      const alice = (await store.getCustomerByLogin('alice'))!;
      assert.deepEqual(alice.exits, ['us-1']);
    });

    it('concurrent changes get distinct, consecutive revisions', async () => {
      const start = await store.revision();
      const n = 20;
      await Promise.all(Array.from({ length: n }, (_, i) => store.createExit(ExitCreate.parse({ id: `c-${i}`, host: '127.0.0.9', port: 7000 + i }), 'operator')));
      assert.equal(await store.revision(), start + n);
      const entries = await store.changes(start, 100);
      assert.deepEqual(entries.map((e) => e.revision), Array.from({ length: n }, (_, i) => start + i + 1));
    });

    it('renders a configuration the ingress accepts, from one consistent snapshot', async () => {
      const snap = await store.snapshot();
      assert.equal(snap.revision, await store.revision());
      const r = renderIngressConfig(snap);
      const cfg = parseIngressYaml(renderYaml(r), 'rendered');
      assert.equal(cfg.limits.maxConnections, 50);
      assert.deepEqual(cfg.targetPolicy.allow, ['127.0.0.0/8']);
      const alice = cfg.users.find((u) => u.login === 'alice')!;
      // us-1 is drained: rendered marked, and kept in alice's list so her ports keep their meaning;
      // she keeps her pool, so she is not suspended.
      assert.equal(cfg.exits.find((e) => e.id === 'us-1')?.drain, true);
      assert.deepEqual(alice.exits, ['us-1']);
      assert.deepEqual(alice.pools, [{ country: 'de' }]);
      assert.equal(alice.status, 'active');
      assert.equal(alice.maxConnections, 7);
      assert.match(alice.passwordHash!, /^\$scrypt\$/);
    });
  });
}
