import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EvidenceCollector, checkReport } from './evidence.js';

function clock(t0 = 1_700_000_000_000) {
  const c = { t: t0, now: () => c.t };
  return c;
}

test('counts accepted flows per prefix and cuts numbered reports', () => {
  const c = clock();
  const ev = new EvidenceCollector({ ingressId: 'fra-1', epoch: 42, now: c.now });
  ev.record('203.0.113.5');
  ev.record('203.0.113.200');
  ev.record('::ffff:203.0.113.9');
  ev.record('198.51.100.1');
  ev.record('2001:db8:7:1::1', 2);
  ev.record('not-an-address');
  c.t += 10_000;
  const r = ev.cut();
  assert.deepEqual(r, {
    v: 1,
    ingressId: 'fra-1',
    epoch: 42,
    seq: 1,
    intervalStart: 1_700_000_000_000,
    intervalEnd: 1_700_000_010_000,
    counts: [
      ['203.0.113.0/24', 3],
      ['2001:db8:7::/48', 2],
      ['198.51.100.0/24', 1],
    ],
    total: 6,
    truncated: false,
    dropped: 0,
    paused: false,
  });
  assert.equal(ev.invalidAddresses, 1);
  assert.equal(checkReport(r), undefined);
  c.t += 10_000;
  const r2 = ev.cut();
  assert.equal(r2.seq, 2);
  assert.equal(r2.intervalStart, r.intervalEnd, 'intervals tile');
  assert.deepEqual(r2.counts, []);
  assert.equal(r2.total, 0);
});

test('reports stay queued until acknowledged, bounded', () => {
  const ev = new EvidenceCollector({ ingressId: 'a', epoch: 1, maxUnacked: 3, now: () => 0 });
  for (let i = 0; i < 5; i++) ev.cut();
  assert.deepEqual(
    ev.unacked().map((r) => r.seq),
    [3, 4, 5],
  );
  assert.equal(ev.lostReports, 2);
  ev.ack(4);
  ev.ack(4); // idempotent
  ev.ack(5, 999); // another epoch: ignored
  assert.deepEqual(
    ev.unacked().map((r) => r.seq),
    [3, 5],
  );
  // an ack does not change what a resend carries: same seq, same content
  const again = ev.unacked()[0]!;
  assert.equal(again.seq, 3);
});

test('bounded memory: heavy hitters survive a flood of one-off prefixes, counts are lower bounds', () => {
  const ev = new EvidenceCollector({ ingressId: 'a', epoch: 1, capacity: 64, now: () => 0 });
  // 10 heavy prefixes with 500 flows each, interleaved with 20 000 distinct one-off prefixes
  let oneOff = 0;
  for (let round = 0; round < 500; round++) {
    for (let h = 0; h < 10; h++) ev.record(`10.0.${h}.1`);
    for (let k = 0; k < 40; k++, oneOff++) ev.record(`100.${(oneOff >> 8) & 255}.${oneOff & 255}.1`);
  }
  assert.ok(ev.size <= 64);
  const r = ev.cut();
  assert.equal(r.total, 500 * 10 + 500 * 40);
  assert.equal(r.truncated, true);
  const got = new Map(r.counts);
  for (let h = 0; h < 10; h++) {
    const n = got.get(`10.0.${h}.0/24`);
    assert.ok(n !== undefined, `heavy hitter ${h} kept`);
    assert.ok(n <= 500 && n >= 400, `lower bound close to the truth: ${n}`);
  }
  const sum = r.counts.reduce((s, [, n]) => s + n, 0);
  assert.equal(r.dropped, r.total - sum);
  assert.ok(r.counts.length <= 64);
});

test('every prefix with more than total/capacity flows is reported', () => {
  let seed = 3;
  const rnd = () => ((seed = (seed * 1664525 + 1013904223) >>> 0) / 2 ** 32);
  const cap = 100;
  const ev = new EvidenceCollector({ ingressId: 'a', epoch: 1, capacity: cap, now: () => 0 });
  const truth = new Map<string, number>();
  for (let i = 0; i < 50_000; i++) {
    // Zipf-ish: a few heavy prefixes and a long tail
    const k = Math.floor(1 / (rnd() + 1e-4)) % 5000;
    const key = `10.${k >> 8}.${k & 255}.0/24`;
    truth.set(key, (truth.get(key) ?? 0) + 1);
    ev.recordPrefix(key);
  }
  const r = ev.cut();
  const got = new Map(r.counts);
  for (const [k, n] of truth) {
    if (n > r.total / cap) assert.ok(got.has(k), `${k} (${n}) kept`);
    const g = got.get(k);
    if (g !== undefined) assert.ok(g <= n, `${k}: reported ${g} ≤ true ${n}`);
  }
});

test('paused: the report covering any paused time says so; the next one only if still paused', () => {
  const ev = new EvidenceCollector({ ingressId: 'a', epoch: 1, now: () => 0 });
  ev.record('1.2.3.4');
  ev.paused = true;
  ev.record('1.2.3.4');
  ev.paused = false;
  const r1 = ev.cut();
  assert.equal(r1.paused, true, 'paused during part of the interval');
  assert.equal(r1.total, 2, 'flows are still counted: the control plane uses them for shift detection');
  assert.equal(ev.cut().paused, false);
  ev.paused = true;
  assert.equal(ev.cut().paused, true);
  assert.equal(ev.cut().paused, true, 'still paused');
});

test('epoch defaults to the start time, so a restarted ingress never reuses (epoch, seq)', () => {
  const a = new EvidenceCollector({ ingressId: 'a', now: () => 1000 });
  const b = new EvidenceCollector({ ingressId: 'a', now: () => 2000 });
  assert.notEqual(a.cut().epoch, b.cut().epoch);
});

test('checkReport refuses malformed reports', () => {
  const ok = new EvidenceCollector({ ingressId: 'a', epoch: 1, now: () => 5 }).cut();
  assert.equal(checkReport(ok), undefined);
  assert.equal(checkReport(null), 'not an object');
  assert.equal(checkReport({ ...ok, v: 2 }), 'unsupported version');
  assert.equal(checkReport({ ...ok, seq: 0 }), 'seq');
  assert.equal(checkReport({ ...ok, intervalStart: 10, intervalEnd: 5 }), 'interval');
  assert.equal(checkReport({ ...ok, counts: [['1.2.3.0/24', -1]] }), 'counts entry');
  assert.equal(checkReport({ ...ok, counts: [['1.2.3.0/24', 1, 2]] }), 'counts entry');
  assert.equal(checkReport({ ...ok, counts: new Array(5).fill(['x', 1]) }, 4), 'counts');
  assert.equal(checkReport({ ...ok, paused: 'no' }), 'flags');
});
