import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Suspension, checkShift } from './suspension.js';
import { admitSeq, newIngressState } from './ingress-state.js';
import { roundMessage } from './distribution.js';
import { EMPTY_RULES } from './packed-rules.js';
import { DEFAULT_ANALYSIS_OPTIONS } from './analysis-options.js';

const SHIFT = DEFAULT_ANALYSIS_OPTIONS.shift;

test('report sequencing: duplicates and old epochs refused, a new epoch starts over, the window slides', () => {
  const s = newIngressState('i0', false);
  assert.equal(admitSeq(s, 1, 1), 'new');
  assert.equal(admitSeq(s, 1, 1), 'duplicate');
  assert.equal(admitSeq(s, 1, 3), 'new');
  assert.equal(admitSeq(s, 1, 2), 'new', 'out of order but unseen');
  assert.equal(admitSeq(s, 0, 9), 'stale');
  assert.equal(admitSeq(s, 2, 1), 'new', 'a restarted ingress counts from 1 again');
  assert.equal(admitSeq(s, 2, 10_000), 'new');
  assert.equal(admitSeq(s, 2, 5), 'duplicate', 'older than the window');
});

test('suspension state machine: warm-up, events, calm reports, minimum time, operator hold', () => {
  const counters = { suspensions: 0, resumptions: 0 };
  const m = new Suspension({ warmupMs: 1000, suspend: { minMs: 500, calmReports: 2 } }, counters);
  const ing = [newIngressState('a', false), newIngressState('b', false)];
  m.start(0);
  assert.equal(m.suspend('ingress-up b', 10, ing), false, 'nothing to send during warm-up');
  assert.equal(m.reason, 'warmup (ingress-up b)');
  m.roundsSinceSuspend = 1;
  for (const s of ing) s.calm = 2;
  assert.equal(m.mayResume(999, ing), false, 'warm-up not over');
  assert.ok(m.mayResume(1000, ing));
  m.resume(ing);
  assert.equal(m.mode, 'active');
  assert.equal(counters.resumptions, 0, 'the end of warm-up is no resumption');
  assert.equal(m.suspend('operator: test', 2000, ing), true);
  assert.equal(m.mode, 'suspended');
  assert.equal(counters.suspensions, 1);
  assert.deepEqual(ing.map((s) => s.calm), [0, 0], 'every ingress counts calm reports afresh');
  assert.equal(m.suspendedFor(2100), 100);
  m.hold(3000);
  m.roundsSinceSuspend = 1;
  for (const s of ing) s.calm = 2;
  assert.equal(m.mayResume(2600, ing), false, 'held by the operator');
  ing[1]!.calm = 1;
  assert.equal(m.mayResume(3000, ing), false, 'b is not calm yet');
  ing[1]!.down = true;
  assert.ok(m.mayResume(3000, ing), 'a down ingress is not waited for');
  m.resume(ing);
  assert.equal(counters.resumptions, 1);
  assert.ok(Number.isNaN(m.suspendedFor(3000)));
});

test('shift test: share above minShare and factor × baseline from enough prefixes; paused reports by count', () => {
  const s = newIngressState('i0', false);
  const unlikely = (key: string): boolean => key.startsWith('10.9.');
  const counts = (n: number, prefixes: number): Array<[string, number]> => [['10.1.1.0/24', 1000 - n], ...Array.from({ length: prefixes }, (_, i): [string, number] => [`10.9.${i}.0/24`, n / prefixes])];
  assert.deepEqual(checkShift(counts(10, 1), false, s, SHIFT, true, unlikely), { share: 0.01, shift: false });
  assert.equal(s.calm, 1);
  assert.ok(s.baseline > 0, 'the usual share is learned while active');
  const r = checkShift(counts(300, 5), false, s, SHIFT, true, unlikely);
  assert.equal(r.shift, true);
  assert.equal(s.calm, 0);
  assert.equal(checkShift(counts(300, 2), false, s, SHIFT, true, unlikely).shift, false, 'fewer than minPrefixes prefixes: a few hosts, not a route change');
  const before = s.baselinePaused;
  assert.equal(checkShift(counts(6, 3), true, s, SHIFT, false, unlikely).shift, true, 'paused: a count, not a share');
  assert.equal(s.baselinePaused, before);
});

test('distribution: a suspended set once then refreshes; when active new content at most every publish gap', () => {
  const o = { group: 'g', ruleTtlMs: 60_000, publishGapMs: 60_000 };
  const s = newIngressState('i0', false);
  const first = roundMessage(o, s, EMPTY_RULES, 1000, false, false, 'warmup');
  assert.equal(first.type, 'legitimacy.rules');
  assert.equal(first.type === 'legitimacy.rules' && first.suspended, true);
  assert.equal(roundMessage(o, s, EMPTY_RULES, 2000, false, false, 'warmup').type, 'legitimacy.refresh');
  const resumed = roundMessage(o, s, EMPTY_RULES, 3000, true, true, '');
  assert.ok(resumed.type === 'legitimacy.rules' && !resumed.suspended && resumed.revision > first.revision);
  assert.equal(roundMessage(o, s, EMPTY_RULES, 4000, true, false, '').type, 'legitimacy.refresh', 'unchanged content');
  s.needFull = true; // a NACK
  assert.equal(roundMessage(o, s, EMPTY_RULES, 5000, true, false, '').type, 'legitimacy.rules');
});
