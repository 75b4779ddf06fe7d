import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ExitQuality, QUALITY_WINDOW, qualityScore } from './exit-quality.js';
import { ExitHealth } from './exit-health.js';

test('the formula: success dominates, latency takes off up to 30 points', () => {
  assert.equal(qualityScore(1, 50), 100);
  assert.equal(qualityScore(1, 100), 100);
  assert.equal(qualityScore(1, 2000), 70);
  assert.equal(qualityScore(1, 5000), 70);
  assert.equal(qualityScore(1, 1050), 85);
  assert.equal(qualityScore(0.5, 100), 50);
  assert.equal(qualityScore(0, 10), 0);
  assert.equal(qualityScore(0.9, undefined), 90, 'no probe time yet: latency counts as fast');
});

test('a window of the last outcomes; the probe latency is a moving average; unmeasured is no score', () => {
  const q = new ExitQuality();
  assert.equal(q.score('a'), undefined);
  assert.deepEqual(q.view('a'), { score: null, successRate: null, outcomes: 0, latencyMs: null });
  q.record('a', true, 1000);
  assert.equal(q.view('a').latencyMs, 1000);
  q.record('a', true, 100);
  assert.equal(q.view('a').latencyMs, 730, '1000 + 0.3·(100 − 1000)');
  q.record('a', false);
  assert.equal(q.view('a').successRate, 0.667);
  // only the last QUALITY_WINDOW outcomes count: a run of successes washes old failures out
  for (let i = 0; i < QUALITY_WINDOW; i++) q.record('a', true);
  assert.equal(q.view('a').successRate, 1);
  assert.equal(q.view('a').outcomes, QUALITY_WINDOW);
  for (let i = 0; i < QUALITY_WINDOW / 2; i++) q.record('a', false);
  assert.equal(q.view('a').successRate, 0.5);
  q.retain(new Set());
  assert.equal(q.score('a'), undefined);
});

test('ExitHealth feeds the score: passive failures and successes, probe latency', () => {
  const h = new ExitHealth();
  h.succeeded('x', 2000);
  h.failed('x');
  assert.equal(h.quality.score('x'), 35, '50 % success × 70');
  h.retain(new Set(['y']));
  assert.equal(h.quality.score('x'), undefined);
});
