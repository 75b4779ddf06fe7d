import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ProbeLog, mergeProbeReports } from './probe-log.js';
import { WorkerExitHealth } from '../control-link/exit-health-report.js';

const T0 = Date.parse('2026-12-06T10:00:10Z');

test('probes are counted per UTC minute: the current and the previous one are reported, older ones dropped', () => {
  let now = T0;
  const log = new ProbeLog(() => now);
  assert.deepEqual(log.report(), []);
  log.record('de-1', true, 12.34, undefined);
  log.record('de-1', true, 7.66, undefined);
  log.record('de-1', false, undefined, 'TIMEOUT');
  assert.deepEqual(log.report(), [
    { id: 'de-1', minutes: [{ minute: '2026-12-06T10:00', ok: 2, failed: 1, latencyMsSum: 20 }], last: { at: '2026-12-06T10:00:10.000Z', ok: false, latencyMs: null, error: 'TIMEOUT' } },
  ]);
  now = T0 + 60_000;
  log.record('de-1', true, 5, undefined);
  const r = log.report()[0]!;
  assert.deepEqual(r.minutes.map((m) => [m.minute, m.ok, m.failed]), [['2026-12-06T10:00', 2, 1], ['2026-12-06T10:01', 1, 0]]);
  assert.deepEqual(r.last, { at: '2026-12-06T10:01:10.000Z', ok: true, latencyMs: 5, error: null });
  now = T0 + 120_000; // no probe this minute yet: the previous one still reported, 10:00 gone
  assert.deepEqual(log.report()[0]!.minutes.map((m) => m.minute), ['2026-12-06T10:01']);
  now = T0 + 10 * 60_000;
  log.record('de-1', false, undefined, undefined);
  assert.deepEqual(log.report()[0]!.minutes, [{ minute: '2026-12-06T10:10', ok: 0, failed: 1, latencyMsSum: 0 }], 'a minute long past is not carried as previous');
  assert.equal(log.report()[0]!.last?.error, 'ERROR', 'a failure without a code still says it failed');
  log.retain(new Set(['us-1']));
  assert.deepEqual(log.report(), [], 'an exit no longer configured is forgotten');
});

test("a cluster node sums its workers' probe minutes; the latest probe of any worker is the node's", () => {
  const h = new WorkerExitHealth();
  h.report(1, ['de-1'], [{ id: 'de-1', minutes: [{ minute: '2026-12-06T10:00', ok: 1, failed: 2, latencyMsSum: 10 }], last: { at: '2026-12-06T10:00:05.000Z', ok: false, latencyMs: null, error: 'TIMEOUT' } }]);
  h.report(2, ['de-1'], [
    { id: 'de-1', minutes: [{ minute: '2026-12-06T09:59', ok: 4, failed: 0, latencyMsSum: 8 }, { minute: '2026-12-06T10:00', ok: 3, failed: 1, latencyMsSum: 30 }], last: { at: '2026-12-06T10:00:07.000Z', ok: false, latencyMs: null, error: 'CONN_REFUSED' } },
  ]);
  const node = h.node();
  assert.deepEqual(node.down, ['de-1']);
  assert.deepEqual(node.probes, [
    {
      id: 'de-1',
      minutes: [
        { minute: '2026-12-06T09:59', ok: 4, failed: 0, latencyMsSum: 8 },
        { minute: '2026-12-06T10:00', ok: 4, failed: 3, latencyMsSum: 40 },
      ],
      last: { at: '2026-12-06T10:00:07.000Z', ok: false, latencyMs: null, error: 'CONN_REFUSED' },
    },
  ]);
  h.gone(2);
  assert.deepEqual(h.probes()[0]!.minutes, [{ minute: '2026-12-06T10:00', ok: 1, failed: 2, latencyMsSum: 10 }], "a worker that left no longer counts");
  h.report(1, []); // an older worker message without probes keeps the last ones
  assert.equal(h.probes().length, 1);
  assert.deepEqual(mergeProbeReports([]), []);
});
