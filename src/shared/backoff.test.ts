import { test } from 'node:test';
import assert from 'node:assert/strict';
import { backoffDelay } from './backoff.js';

const exact = { baseMs: 100, maxMs: 1000, jitter: 0 };

test('backoff: doubles from the base and stops at the cap', () => {
  assert.deepEqual([0, 1, 2, 3, 4, 5].map((a) => backoffDelay(a, exact)), [100, 200, 400, 800, 1000, 1000]);
});

test('backoff: huge or odd attempt numbers stay finite and capped', () => {
  assert.equal(backoffDelay(1e9, exact), 1000);
  assert.equal(backoffDelay(-3, exact), 100, 'a negative attempt is the first');
  assert.equal(backoffDelay(2.7, exact), 400, 'a fractional attempt rounds down');
});

test('backoff: jitter lowers the delay within [d·(1 − jitter), d]', () => {
  const half = { baseMs: 100, maxMs: 1000, jitter: 0.5 };
  assert.equal(backoffDelay(2, half, () => 0), 400, 'random 0: the full delay');
  assert.equal(backoffDelay(2, half, () => 0.999999), 400 * (1 - 0.5 * 0.999999));
  assert.equal(backoffDelay(2, { ...half, jitter: 1 }, () => 0.5), 200, 'full jitter: anywhere down to 0');
  for (let i = 0; i < 1000; i++) {
    const d = backoffDelay(3, half);
    assert.ok(d > 400 && d <= 800, `${d} outside (400, 800]`);
  }
});

test('backoff: jitter outside 0…1 is clamped', () => {
  assert.equal(backoffDelay(0, { ...exact, jitter: 5 }, () => 0.5), 50);
  assert.equal(backoffDelay(0, { ...exact, jitter: -1 }, () => 0.5), 100);
});
