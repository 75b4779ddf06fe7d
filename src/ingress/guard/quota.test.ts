import { test } from 'node:test';
import assert from 'node:assert/strict';
import { IngressConfigSchema, type IngressConfigInput } from '../../shared/schema/ingress-config.js';
import { compileSnapshot, type Snapshot } from '../config/snapshot.js';
import { periodEnd, periodKey, periodStart } from '../../shared/quota-period.js';
import { QuotaAggregator, QuotaTracker, type QuotaSync, type QuotaTotalsMsg, type QuotaUsageMsg } from './quota.js';

const iso = (ms: number): string => new Date(ms).toISOString();
const at = (s: string): number => Date.parse(s);

test('hour periods: keys and resets across a day, month and year boundary (UTC)', () => {
  const t = at('2025-12-31T23:59:59.999Z');
  assert.equal(periodKey('hour', t), 'hour:2025-12-31T23');
  assert.equal(iso(periodStart('hour', t)), '2025-12-31T23:00:00.000Z');
  assert.equal(iso(periodEnd('hour', t)), '2026-01-01T00:00:00.000Z');
  assert.equal(periodKey('hour', t + 1), 'hour:2026-01-01T00');
  assert.equal(periodKey('hour', at('2025-03-09T10:00:00.000Z')), 'hour:2025-03-09T10', 'the first millisecond belongs to the new hour');
});

test('day and month periods: month lengths, leap years, December', () => {
  assert.equal(periodKey('day', at('2024-02-29T12:00:00Z')), 'day:2024-02-29');
  assert.equal(iso(periodEnd('day', at('2024-02-29T12:00:00Z'))), '2024-03-01T00:00:00.000Z');
  assert.equal(periodKey('month', at('2025-01-31T23:59:59.999Z')), 'month:2025-01');
  assert.equal(iso(periodEnd('month', at('2025-01-31T23:59:59.999Z'))), '2025-02-01T00:00:00.000Z');
  assert.equal(periodKey('month', at('2025-02-01T00:00:00.000Z')), 'month:2025-02');
  assert.equal(iso(periodEnd('month', at('2024-02-10T00:00:00Z'))), '2024-03-01T00:00:00.000Z');
  assert.equal(iso(periodEnd('month', at('2025-12-15T08:00:00Z'))), '2026-01-01T00:00:00.000Z');
  assert.equal(iso(periodStart('month', at('2025-12-15T08:00:00Z'))), '2025-12-01T00:00:00.000Z');
});

function snap(users: IngressConfigInput['users'], revision = 1): Snapshot {
  return compileSnapshot(IngressConfigSchema.parse({ users }), revision);
}
const user = (quota?: { bytes: number; period?: 'hour' | 'day' | 'month' }) => ({ login: 'alice', passwordHash: '$scrypt$test', quota });

test('refused at the quota with the reset time; cut once when crossing; new period starts at zero', () => {
  let now = at('2025-05-31T23:10:00Z');
  const cuts: string[] = [];
  const q = new QuotaTracker((login, msg) => (cuts.push(`${login}: ${msg}`), 2), () => now);
  const s = snap([user({ bytes: 1000, period: 'day' })]);
  q.configure(s);
  const alice = s.usersByLogin.get('alice')!;
  assert.equal(q.refusal(alice), undefined);
  const u = q.usageFor(alice)!;
  u.add(600);
  u.add(399);
  assert.equal(cuts.length, 0);
  u.add(1);
  assert.equal(cuts.length, 1);
  assert.match(cuts[0]!, /alice: quota of 1000 bytes per day used; resets at 2025-06-01T00:00:00.000Z/);
  u.add(500);
  assert.equal(cuts.length, 1, 'cut once');
  assert.equal(q.stats.sessionsCut, 2);
  const err = q.refusal(alice);
  assert.equal(err?.code, 'QUOTA_EXCEEDED');
  assert.equal(err?.message, 'quota of 1000 bytes per day used; resets at 2025-06-01T00:00:00.000Z');
  now = at('2025-06-01T00:00:00Z');
  assert.equal(q.refusal(alice), undefined, 'a new day');
  assert.equal(u.used, 0);
  q.stop();
});

test('reload: a higher quota restores service, a lower one cuts, none stops counting', () => {
  const now = at('2025-05-10T10:00:00Z');
  let cuts = 0;
  const q = new QuotaTracker(() => (cuts++, 1), () => now);
  const s1 = snap([user({ bytes: 1000 })]);
  q.configure(s1);
  q.usageFor(s1.usersByLogin.get('alice')!)!.add(1000);
  assert.equal(cuts, 1);
  const s2 = snap([user({ bytes: 5000 })], 2);
  q.configure(s2);
  assert.equal(q.refusal(s2.usersByLogin.get('alice')!), undefined);
  assert.equal(q.get('alice')!.used, 1000, 'usage kept across the reload');
  const s3 = snap([user({ bytes: 500 })], 3);
  q.configure(s3);
  assert.equal(cuts, 2, 'lowered below usage: cut at once');
  const s4 = snap([user()], 4);
  q.configure(s4);
  assert.equal(q.refusal(s4.usersByLogin.get('alice')!), undefined);
  q.get('alice')!.add(1e9);
  assert.equal(cuts, 2, 'no quota, no cut');
  q.stop();
});

test('workers: usage summed through the primary; each worker cuts once the total crosses', () => {
  const now = at('2025-05-10T10:00:00Z');
  const agg = new QuotaAggregator(() => now);
  const toWorker = new Map<number, (m: QuotaTotalsMsg) => void>();
  const sync = (id: number): QuotaSync => ({
    send: (m: QuotaUsageMsg) => agg.add(id, m),
    onMessage: (h) => (toWorker.set(id, h), () => toWorker.delete(id)),
  });
  const cuts = [0, 0];
  const s = snap([user({ bytes: 10_000, period: 'hour' })]);
  const workers = [0, 1].map((i) => {
    const q = new QuotaTracker(() => (cuts[i]!++, 1), () => now);
    q.configure(s);
    q.attach(sync(i));
    return q;
  });
  const flush = (): void => {
    for (const q of workers) q.tick();
    for (const [id, msg] of agg.flush([0, 1])) toWorker.get(id)?.(msg);
  };
  const alice = s.usersByLogin.get('alice')!;
  workers[0]!.usageFor(alice)!.add(4000);
  workers[1]!.usageFor(alice)!.add(4000);
  flush();
  assert.equal(workers[0]!.get('alice')!.used, 8000);
  assert.equal(workers[1]!.get('alice')!.used, 8000);
  assert.deepEqual(cuts, [0, 0]);
  workers[1]!.usageFor(alice)!.add(1500);
  flush();
  assert.deepEqual(cuts, [0, 0], '9500 of 10000');
  workers[0]!.usageFor(alice)!.add(300); // 10100 in total, but each worker only knows 9800 so far
  workers[1]!.usageFor(alice)!.add(300);
  assert.deepEqual(cuts, [0, 0], 'overshoot until the next exchange');
  flush();
  assert.deepEqual(cuts, [1, 1], 'both cut after one exchange');
  assert.equal(workers[0]!.refusal(alice)?.code, 'QUOTA_EXCEEDED');
  assert.equal(workers[1]!.refusal(alice)?.code, 'QUOTA_EXCEEDED');
  // A worker that starts late hears everything.
  const late = new QuotaTracker(() => 0, () => now);
  late.configure(s);
  late.attach(sync(2));
  for (const [id, msg] of agg.flush([0, 1, 2], new Set([2]))) toWorker.get(id)?.(msg);
  assert.equal(late.get('alice')!.used, 10_100);
  for (const q of [...workers, late]) q.stop();
});
