/**
 * Deleting an exit never widens a customer's access: an empty exit list (and
 * no pools) means "every exit", so force-deleting a customer's only exit must
 * not turn it into that. And an exit's customer count includes the customers
 * who may use it because they have every exit. Real SQLite and PostgreSQL.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { ControlStore } from '../../src/control/store/index.js';
import { parseDbTarget } from '../../src/control/db.js';
import { renderIngressConfig } from '../../src/control/render.js';
import { CustomerCreate, ExitCreate } from '../../src/control/api-schemas.js';
import { hashPassword } from '../../src/shared/auth/password-hash.js';
import { dialects, TEST_COST, type TestDb } from '../helpers/control-fixtures.js';

const cases = await dialects();

for (const dc of cases) {
  describe(`deleting an exit on ${dc.name}`, { skip: dc.skip }, () => {
    let tdb: TestDb;
    let store: ControlStore;

    before(async () => {
      tdb = await dc.make();
      store = await ControlStore.open(parseDbTarget(tdb.spec));
      const hash = await hashPassword('pw', TEST_COST);
      for (const id of ['only-1', 'other-1', 'private-1']) {
        await store.createExit(ExitCreate.parse({ id, host: '127.0.0.2', port: 7001, country: 'us' }), 'operator');
      }
      await store.createCustomer(CustomerCreate.parse({ login: 'solo', exits: ['only-1'] }), hash, 'operator');
      await store.createCustomer(CustomerCreate.parse({ login: 'vip', exits: ['private-1'] }), hash, 'operator');
      await store.createCustomer(CustomerCreate.parse({ login: 'pair', exits: ['only-1', 'other-1'] }), hash, 'operator');
      await store.createCustomer(CustomerCreate.parse({ login: 'everyone' }), hash, 'operator');
    });
    after(async () => {
      await store?.close();
      await tdb?.cleanup();
    });

    it("counts customers who have every exit among an exit's customers", async () => {
      // only-1: solo, pair (listed) + everyone (all exits). private-1: vip + everyone.
      assert.equal((await store.getExit('only-1'))?.customers, 3);
      assert.equal((await store.getExit('private-1'))?.customers, 2);
      const listed = new Map((await store.listExits()).map((e) => [e.id, e.customers]));
      assert.deepEqual(Object.fromEntries(listed), { 'only-1': 3, 'other-1': 2, 'private-1': 2 });
    });

    it("force-deleting a customer's only exit is refused, naming them, and widens nothing", async () => {
      const before = await store.revision();
      await assert.rejects(store.deleteExit('only-1', true, 'operator'), (err: { status: number; code: string; message: string }) => {
        assert.equal(err.status, 409);
        assert.equal(err.code, 'exit_last');
        assert.match(err.message, /solo/);
        assert.doesNotMatch(err.message, /pair/, 'pair keeps other-1');
        return true;
      });
      assert.equal(await store.revision(), before, 'nothing changed');
      assert.deepEqual((await store.getCustomerByLogin('solo'))?.exits, ['only-1']);
      const solo = renderIngressConfig(await store.snapshot()).config.users?.find((u) => u.login === 'solo');
      assert.deepEqual(solo?.exits, ['only-1'], 'solo is still limited to only-1, not every exit');
    });

    it('force-deleting an exit every lister has an alternative to takes it out of their lists', async () => {
      await store.deleteExit('other-1', true, 'operator');
      assert.deepEqual((await store.getCustomerByLogin('pair'))?.exits, ['only-1']);
      assert.equal(await store.getExit('other-1'), undefined);
    });
  });
}
