import { test } from 'node:test';
import assert from 'node:assert/strict';
import { WorkerExitHealth } from './exit-health-report.js';

test('a cluster node reports an exit down only when every worker that reported takes it as down', () => {
  const h = new WorkerExitHealth();
  assert.deepEqual(h.down(), [], 'no reports: nothing down');
  h.report(1, ['us-1', 'de-1']);
  assert.deepEqual(h.down().sort(), ['de-1', 'us-1'], 'one worker: its view');
  h.report(2, ['de-1']);
  assert.deepEqual(h.down(), ['de-1'], 'one failed connection on one worker is not the node view');
  h.report(2, ['de-1', 'us-1']);
  assert.deepEqual(h.down().sort(), ['de-1', 'us-1']);
  h.report(1, []);
  assert.deepEqual(h.down(), [], 'back up on one worker: up for the node');
  h.gone(1);
  assert.deepEqual(h.down().sort(), ['de-1', 'us-1'], 'a worker that left no longer counts');
});
