/** The soak's pass/fail rule on synthetic samples: steady passes, each kind of growth fails, warm-up is ignored. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { judge, DEFAULT_BOUNDS } from './verdict.js';
import type { Sample } from './sampler.js';

function series(n: number, f: (i: number) => Partial<Sample>): Sample[] {
  return Array.from({ length: n }, (_, i) => ({ t: i * 1000, name: 'p', pid: 1, rssMb: 80, fds: 30, heapMb: 15, elP99Ms: 12, ...f(i) }));
}

test('a steady process passes', () => {
  const [v] = judge(series(40, (i) => ({ rssMb: 80 + (i % 3), fds: 30 + (i % 4) })), 0);
  assert.deepEqual(v!.failures, []);
});

test('RSS, heap, fd and event-loop growth each fail, naming the figure', () => {
  const cases: [Partial<Sample> | ((i: number) => Partial<Sample>), RegExp][] = [
    [(i) => ({ rssMb: 80 + i * 2 }), /RSS grew/],
    [(i) => ({ heapMb: 15 + i }), /heap grew/],
    [(i) => ({ fds: i < 20 ? 30 : 30 + DEFAULT_BOUNDS.fds + 1 }), /fds grew 30 → 47/],
    [(i) => ({ elP99Ms: i < 20 ? 10 : 60 }), /event-loop p99 grew/],
  ];
  for (const [f, re] of cases) {
    const [v] = judge(series(40, typeof f === 'function' ? f : () => f), 0);
    assert.equal(v!.failures.length, 1, String(re));
    assert.match(v!.failures[0]!, re);
  }
});

test('growth during the warm-up does not count', () => {
  const [v] = judge(series(40, (i) => ({ rssMb: i < 10 ? 40 + i * 5 : 90 })), 10_000);
  assert.deepEqual(v!.failures, []);
  assert.equal(v!.samples, 30);
});

test('too few samples after the warm-up is a failure, not a pass', () => {
  const [v] = judge(series(5, () => ({})), 3000);
  assert.match(v!.failures[0]!, /too few samples/);
});
