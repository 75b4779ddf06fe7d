import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AttackDetector, LegitimacyEnforcer, RateBucket, type Signal } from './enforcer.js';
import type { RuleSet } from './messages.js';

const T0 = 1_700_000_000_000;

function clock() {
  const c = { t: T0, now: () => c.t };
  return c;
}

/** Drive `perSec` events of a signal, spread evenly, for `secs` seconds. */
function drive(c: { t: number }, fn: () => void, perSec: number, secs: number): void {
  const step = 1000 / perSec;
  const end = c.t + secs * 1000;
  let next = c.t;
  while (next < end) {
    c.t = Math.floor(next);
    fn();
    next += step;
  }
  c.t = end;
}

function rules(o: Partial<RuleSet> = {}): RuleSet {
  return {
    v: 1,
    type: 'legitimacy.rules',
    group: 'g',
    ingressId: 'fra',
    revision: 10,
    issuedAt: T0,
    expiresAt: T0 + 3600_000,
    suspended: false,
    reason: '',
    expected: ['10.1.0.0/16', '10.2.7.0/24'],
    unlikely: ['10.1.5.0/24'],
    unlikelyViaParent: ['10.2.0.0/16', '2001:db8::/32'],
    ...o,
  };
}

test('token bucket: burst, then the rate', () => {
  const b = new RateBucket(10, 5, 0);
  let ok = 0;
  for (let i = 0; i < 100; i++) if (b.take(0)) ok++;
  assert.equal(ok, 5);
  ok = 0;
  for (let t = 0; t <= 1000; t += 10) if (b.take(t)) ok++;
  assert.ok(ok >= 9 && ok <= 11, `${ok} in a second at 10/s`);
});

test('attack detector: learns its baseline, ignores a doubling, enters on a jump within the tick, leaves after a calm period', () => {
  const c = clock();
  const changes: Array<[boolean, Signal | undefined, number]> = [];
  const d = new AttackDetector(c.now(), { warmupMs: 30_000, calmMs: 20_000 }, (a, s) => changes.push([a, s, c.t]));
  drive(c, () => d.observe('conn', 1, c.t), 100, 60);
  assert.ok(Math.abs(d.baseline('conn') - 100) < 5, `baseline ${d.baseline('conn')}`);
  assert.equal(d.inAttack, false);
  drive(c, () => d.observe('conn', 1, c.t), 200, 30);
  assert.equal(d.inAttack, false, 'twice the usual load is not an attack');
  const jumpAt = c.t;
  drive(c, () => d.observe('conn', 1, c.t), 5000, 10);
  assert.equal(d.inAttack, true);
  assert.equal(changes[0]![0], true);
  assert.equal(changes[0]![1], 'conn');
  assert.ok(changes[0]![2] - jumpAt < 1000, `entered ${changes[0]![2] - jumpAt} ms after the jump`);
  const frozen = d.baseline('conn');
  drive(c, () => d.observe('conn', 1, c.t), 5000, 5);
  assert.equal(d.baseline('conn'), frozen, 'the baseline is frozen during attack mode');
  // back to normal: leave after calmMs (20 s) of calm ticks
  const calmAt = c.t;
  drive(c, () => d.observe('conn', 1, c.t), 100, 30);
  assert.equal(d.inAttack, false);
  const leftAt = changes[1]![2];
  assert.equal(changes[1]![0], false);
  assert.ok(leftAt - calmAt >= 20_000 && leftAt - calmAt <= 22_000, `left ${leftAt - calmAt} ms after calm`);
});

test('attack detector: no detection during warm-up; an idle gap counts as calm; each signal has its own baseline', () => {
  const c = clock();
  const d = new AttackDetector(c.now(), { warmupMs: 30_000, calmMs: 10_000 });
  drive(c, () => d.observe('conn', 1, c.t), 1000, 10);
  assert.equal(d.inAttack, false, 'warm-up');
  drive(c, () => d.observe('conn', 1, c.t), 100, 60);
  // UDP at 3 000/s is nothing unusual once learned; auth failures jump from ~0 to 100/s
  drive(c, () => d.observe('udp', 1, c.t), 3000, 3);
  drive(
    c,
    () => {
      d.observe('udp', 1, c.t);
      d.observe('conn', 1, c.t);
    },
    1,
    120,
  );
  assert.equal(d.inAttack, false);
  drive(c, () => d.observe('authFail', 1, c.t), 100, 2);
  assert.equal(d.inAttack, true);
  assert.equal(d.cause, 'authFail');
  c.t += 60_000; // nothing at all for a minute
  d.advance(c.t);
  assert.equal(d.inAttack, false);
});

test('rule messages: ACK, NACK, and a NACKed set leaves the previous one in force', () => {
  const c = clock();
  const e = new LegitimacyEnforcer({ ingressId: 'fra', group: 'g', now: c.now });
  assert.equal(e.classify('10.1.5.9'), 'inactive', 'no rules yet');
  assert.deepEqual(e.apply(rules()), { v: 1, type: 'legitimacy.ack', ingressId: 'fra', revision: 10, ok: true });
  assert.equal(e.classify('10.1.5.9'), 'unlikely');
  assert.equal(e.classify('10.1.6.9'), 'expected');
  assert.equal(e.classify('::ffff:10.2.7.1'), 'expected');
  assert.equal(e.classify('10.2.8.1'), 'unlikely-via-parent');
  assert.equal(e.classify('2001:db8:5::1'), 'unlikely-via-parent');
  assert.equal(e.classify('192.0.2.1'), 'unknown');
  const nack = (m: unknown, reason: RegExp) => {
    const a = e.apply(m);
    assert.equal(a.ok, false);
    assert.match(a.reason!, reason);
    assert.equal(e.state().revision, 10, 'previous set still in force');
    assert.equal(e.classify('10.1.5.9'), 'unlikely');
  };
  nack(rules({ revision: 9 }), /stale/);
  nack(rules({ revision: 11, ingressId: 'ams' }), /ingress ams/);
  nack(rules({ revision: 11, group: 'other' }), /group other/);
  nack(rules({ revision: 11, expiresAt: T0 - 1 }), /expired/);
  nack(rules({ revision: 11, unlikely: ['10.1.5.0/24', 'bogus'] }), /bad CIDR/);
  nack(rules({ revision: 11, unlikely: ['10.1.0.0/16'] }), /duplicate/);
  nack(rules({ revision: 11, suspended: true }), /suspended rules carry no entries/);
  nack({ v: 2 }, /version/);
  nack({ v: 1, type: 'legitimacy.refresh', group: 'g', ingressId: 'fra', revision: 99, expiresAt: T0 + 1e9 }, /unknown revision/);
  assert.equal(e.apply(rules()).ok, true, 'the same revision again: a resend, acknowledged');
  // refresh extends the expiry; without refreshes the rules lapse and everything is let through
  c.t = T0 + 3500_000;
  assert.equal(e.apply({ v: 1, type: 'legitimacy.refresh', group: 'g', ingressId: 'fra', revision: 10, expiresAt: T0 + 3700_000 }).ok, true);
  c.t = T0 + 3650_000;
  assert.equal(e.classify('10.1.5.9'), 'unlikely');
  c.t = T0 + 3700_000;
  assert.equal(e.classify('10.1.5.9'), 'inactive', 'expired: fail open');
  assert.equal(e.applyStats.nacks, 9);
  // a too-large set is refused
  const small = new LegitimacyEnforcer({ ingressId: 'fra', now: c.now, maxEntries: 3 });
  assert.match(small.apply(rules({ expiresAt: c.t + 1000 })).reason!, /too many/);
});

function attacked(o: ConstructorParameters<typeof LegitimacyEnforcer>[0] extends infer X ? Partial<X> : never = {}) {
  const c = clock();
  const e = new LegitimacyEnforcer({
    ingressId: 'fra',
    now: c.now,
    detector: { warmupMs: 10_000, calmMs: 10_000 },
    unlikely: { share: 0.1, minConn: 5 },
    unknown: { share: 0.2, minConn: 10 },
    ...o,
  });
  e.apply(rules());
  // a normal 100 connections/s from expected sources
  drive(c, () => e.admitConnection('10.1.1.1'), 100, 30);
  assert.equal(e.attackMode, false);
  return { c, e };
}

test('outside attack mode nothing is limited, whatever the class', () => {
  const { e } = attacked();
  for (const a of ['10.1.5.1', '10.2.9.9', '192.0.2.1']) for (let i = 0; i < 20; i++) assert.equal(e.admitConnection(a).allow, true);
  assert.equal(e.counters().conn.unknown.allowed, 20);
  assert.equal(e.counters().conn.unknown.limited, 0);
});

test('in attack mode: expected passes, unlikely and unknown get separate buckets; established datagrams are never limited', () => {
  const { c, e } = attacked();
  const tally = new Map<string, [number, number]>();
  const sources = ['10.1.1.1', '10.1.5.1', '10.2.9.9', '192.0.2.1'];
  let k = 0;
  // a flood: 4 000/s spread over the four sources for 10 s
  drive(
    c,
    () => {
      const s = sources[k++ % 4]!;
      const before = e.attackMode;
      const v = e.admitConnection(s);
      if (!before) return; // count from the moment attack mode is on
      const t = tally.get(s) ?? [0, 0];
      t[v.allow ? 0 : 1]++;
      tally.set(s, t);
    },
    4000,
    10,
  );
  assert.equal(e.attackMode, true);
  const [expOk, expNo] = tally.get('10.1.1.1')!;
  assert.equal(expNo, 0, 'expected sources are never limited');
  assert.ok(expOk > 9000);
  // unlikely (10.1.5/24) and unlikely-via-parent (10.2/16) share the unlikely bucket: 0.1 × 100/s
  const unl = tally.get('10.1.5.1')![0] + tally.get('10.2.9.9')![0];
  assert.ok(unl >= 100 && unl <= 130, `unlikely passed ${unl} in 10 s at 10/s`);
  // unknown has its own: 0.2 × 100/s
  const unk = tally.get('192.0.2.1')![0];
  assert.ok(unk >= 200 && unk <= 240, `unknown passed ${unk} in 10 s at 20/s`);
  const cnt = e.counters().conn;
  assert.ok(cnt.unlikely.allowed + cnt.unlikely.limited >= tally.get('10.1.5.1')![0] + tally.get('10.1.5.1')![1]);
  assert.ok(cnt['unlikely-via-parent'].limited > 0);
  // established UDP is never limited, new datagrams from the same unlikely source are
  for (let i = 0; i < 1000; i++) assert.equal(e.admitDatagram('10.1.5.1', true).allow, true);
  assert.equal(e.counters().udp.established.allowed, 1000);
  let udpLimited = 0;
  for (let i = 0; i < 1000; i++) if (!e.admitDatagram('10.1.5.1').allow) udpLimited++;
  assert.ok(udpLimited > 0);
  let limitedByClass = 0;
  for (const byClass of Object.values(e.counters())) for (const c of Object.values(byClass)) limitedByClass += c.limited;
  assert.ok(limitedByClass > udpLimited);
  assert.equal(e.limitedTotal(), limitedByClass);
});

test('in attack mode, suspended or expired rules limit nothing (fail open)', () => {
  const { c, e } = attacked();
  drive(c, () => e.admitConnection('192.0.2.1'), 4000, 2);
  assert.equal(e.attackMode, true);
  assert.equal(e.apply(rules({ revision: 11, suspended: true, reason: 'ingress-down ams', expected: [], unlikely: [], unlikelyViaParent: [] })).ok, true);
  let limited = 0;
  for (let i = 0; i < 1000; i++) if (!e.admitConnection('10.1.5.1').allow) limited++;
  assert.equal(limited, 0);
  assert.equal(e.counters().conn.inactive.allowed, 1000);
  assert.equal(e.state().suspended, true);
  assert.equal(e.state().reason, 'ingress-down ams');
  e.apply(rules({ revision: 12, expiresAt: c.t + 1000 }));
  assert.equal(e.admitConnection('10.1.5.1').cls, 'unlikely');
  c.t += 1000;
  assert.equal(e.admitConnection('10.1.5.1').cls, 'inactive');
});

test('attack mode is reported to the caller (to pause evidence learning)', () => {
  const seen: boolean[] = [];
  const { c, e } = attacked({ onAttackChange: (a) => seen.push(a) });
  drive(c, () => e.admitDatagram('192.0.2.1'), 5000, 2);
  assert.deepEqual(seen, [true]);
  drive(c, () => e.admitConnection('10.1.1.1'), 100, 15);
  assert.deepEqual(seen, [true, false]);
});

test('attack detector: back after a long silence it learns afresh instead of calling the returning load an attack', () => {
  const c = clock();
  const d = new AttackDetector(c.now(), { warmupMs: 30_000 });
  drive(c, () => d.observe('conn', 1, c.t), 100, 60);
  c.t += 40 * 60_000; // the ingress was down for 40 minutes
  drive(c, () => d.observe('conn', 1, c.t), 100, 60);
  assert.equal(d.inAttack, false);
  assert.ok(Math.abs(d.baseline('conn') - 100) < 5);
});

test('attack detector: a lasting change of load thaws the frozen baseline and ends attack mode', () => {
  const c = clock();
  const d = new AttackDetector(c.now(), { warmupMs: 30_000, calmMs: 30_000, maxFrozenMs: 120_000, baselineHalfLifeMs: 60_000 });
  drive(c, () => d.observe('conn', 1, c.t), 100, 60);
  drive(c, () => d.observe('conn', 1, c.t), 800, 100);
  assert.equal(d.inAttack, true, 'an eightfold jump is an attack');
  drive(c, () => d.observe('conn', 1, c.t), 800, 600);
  assert.equal(d.inAttack, false, 'after maxFrozenMs the baseline follows the new load and the calm period ends it');
  assert.ok(d.baseline('conn') > 400);
});

test('admission fast path: outside attack mode nothing is classified (counted as unchecked); the connection that starts attack mode is judged', () => {
  const c = clock();
  const e = new LegitimacyEnforcer({ ingressId: 'fra', group: 'g', now: c.now, detector: { warmupMs: 10_000, enterMin: { conn: 50, udp: 2000, authFail: 20 } }, unknown: { minConn: 1, burstSeconds: 1 } });
  assert.equal(e.apply(rules()).ok, true);
  drive(c, () => assert.equal(e.passConnection('10.1.5.1'), true), 10, 30);
  assert.equal(e.attackMode, false);
  assert.equal(e.uncheckedCounts().conn, 300);
  const byClass = e.counters().conn;
  assert.equal(byClass.unlikely.allowed + byClass.unlikely.limited + byClass.expected.allowed, 0, 'nothing classified outside attack mode');
  // a jump: the 51st connection within one tick enters attack mode and is judged by its class
  let passed = 0;
  for (let i = 0; i < 60; i++) if (e.passConnection('192.0.2.1')) passed++;
  assert.equal(e.attackMode, true);
  assert.equal(e.uncheckedCounts().conn, 300 + 50);
  assert.equal(e.counters().conn.unknown.allowed + e.counters().conn.unknown.limited, 10);
  assert.ok(passed < 60, `${passed} of 60 passed`);
  assert.equal(e.passConnection('10.2.7.9'), true, 'expected passes in attack mode');
  assert.equal(e.passDatagram('10.1.5.1') || e.passDatagram('10.1.5.1'), true, 'the unlikely datagram bucket starts full');
});
