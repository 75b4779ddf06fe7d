/**
 * The outbox's claims, on SQLite and PostgreSQL, straight on the store (no
 * deliverer running, so every step is the test's): two replicas claiming at
 * once get disjoint deliveries; a claim whose lease ran out is taken again;
 * an attempt's late result never overwrites a newer claim or a redelivery.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { ControlStore } from '../../src/control/store/index.js';
import { parseDbTarget } from '../../src/control/db.js';
import { CustomerCreate } from '../../src/control/api-schemas.js';
import { writeEvents } from '../../src/control/store/outbox.js';
import { newEvent } from '../../src/control/events/kinds.js';
import { dialects, type TestDb } from '../helpers/control-fixtures.js';

const cases = await dialects();
const ok = { statusCode: 200, latencyMs: 1, error: null, ok: true };

for (const dc of cases) {
  describe(`outbox claims on ${dc.name}`, { skip: dc.skip }, () => {
    let tdb: TestDb;
    let a: ControlStore;
    let b: ControlStore;

    before(async () => {
      tdb = await dc.make();
      a = await ControlStore.open(parseDbTarget(tdb.spec));
      b = await ControlStore.open(parseDbTarget(tdb.spec));
      await a.webhooks.create({ url: 'http://127.0.0.1:9/x', kinds: [], enabled: true });
      const c = await a.createCustomer(CustomerCreate.parse({ login: 'claims' }), 'h', 'operator');
      for (let i = 0; i < 59; i++) await a.updateCustomer(c.id, { maxConnections: i + 1 }, 'operator');
    });
    after(async () => {
      await a?.close();
      await b?.close();
      await tdb?.cleanup();
    });

    it('two replicas claiming together get disjoint deliveries, all of them', async () => {
      const now = Date.now();
      const claims = await Promise.all([a, b, a, b].map((s) => s.outbox.claim(20, 30_000, now)));
      const ids = claims.flatMap((c) => c.due.map((d) => d.id));
      assert.equal(claims.reduce((n, c) => n + c.dispatched, 0), 60, 'each event fanned out once');
      assert.equal(new Set(ids).size, ids.length, `no delivery claimed twice (${ids.length} claimed)`);
      const rest = await a.outbox.claim(100, 30_000, now);
      assert.equal(ids.length + rest.due.length, 60, 'and none left out');
      assert.equal((await b.outbox.claim(100, 30_000, now + 1)).due.length, 0, 'claimed ones are leased');
    });

    it('a lapsed lease is claimed again, and the first claim\'s late result does not overwrite it', async () => {
      const now = Date.now() + 60_000; // past every lease of the test above
      const [first] = (await a.outbox.claim(100, 1000, now)).due;
      assert.ok(first);
      const again = (await b.outbox.claim(100, 1000, now + 1001)).due.find((x) => x.id === first.id);
      assert.equal(again?.id, first.id, 'due again once the lease ran out');
      await a.outbox.record(first, 1, { statusCode: null, latencyMs: 5, error: 'ECONNREFUSED', ok: false }, { state: 'failed', nextAt: now });
      const row = async () => (await tdb.query<{ state: string; next_at: string | number }>('SELECT state, next_at FROM webhook_deliveries WHERE id = $1', [first.id]))[0]!;
      assert.equal((await row()).state, 'pending', "the stale claim's result is logged, not applied");
      assert.ok(again);
      await b.outbox.record(again, 1, ok, { state: 'delivered', nextAt: now });
      assert.equal((await row()).state, 'delivered');
      assert.equal((await a.outbox.log((await a.webhooks.list())[0]!.id, { eventId: first.event.id })).length, 2, 'both attempts in the log');
    });

    it('a redelivery made while an attempt is in flight survives its result', async () => {
      const now = Date.now() + 120_000;
      const [d] = (await a.outbox.claim(100, 30_000, now)).due;
      assert.ok(d);
      await a.outbox.redeliver(d.event.id, undefined, now + 5);
      await a.outbox.record(d, d.attempts + 1, ok, { state: 'delivered', nextAt: now });
      const [again] = (await b.outbox.claim(10, 30_000, now + 10)).due.filter((x) => x.id === d.id);
      assert.ok(again, 'still pending: the redelivery stands');
      assert.equal(again.attempts, 0, 'with fresh attempts');
    });

    it('a key longer than its column is stored as its hash: still one event per fact', async () => {
      const key = `usage.minute:${'n'.repeat(64)}:${'e'.repeat(64)}:123456:login:${'l'.repeat(64)}:2026-12-06T11:46:${'x'.repeat(40)}`;
      assert.ok(key.length > 255);
      const ev = newEvent('exit.down', key, { exit: { id: 'x' }, reason: 'test' });
      const write = () => a.db.transaction().execute((trx) => writeEvents(trx, [ev]));
      assert.equal(await write(), 1);
      assert.equal(await write(), 0, 'the same long key again is the same event');
      const rows = await tdb.query<{ idempotency_key: string }>(`SELECT idempotency_key FROM outbox WHERE kind = 'exit.down'`);
      assert.equal(rows.length, 1);
      assert.match(rows[0]!.idempotency_key, /^exit\.down:sha256:[0-9a-f]{64}$/);
    });
  });
}
