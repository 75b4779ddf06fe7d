/**
 * The usage window is computed and bounded before any usage is read (issue 16 review):
 * a long range with a short step is refused with its reason, whatever form the query takes.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { usageWindow, MAX_POINTS } from './usage-window.js';
import { ApiError } from '../errors.js';

const NOW = Date.parse('2026-12-06T15:30:45Z');
const refused = (f: () => unknown, field: string): void => {
  assert.throws(f, (e: unknown) => e instanceof ApiError && e.status === 400 && e.message.startsWith(`${field}:`) && e.message.length > field.length + 10);
};

describe('usageWindow', () => {
  it('defaults: 60 minutes, 48 hours, 31 days, 12 months back; open end counted to now', () => {
    assert.deepEqual(usageWindow('minute', {}, NOW), { from: '2026-12-06T14:30', to: '9999-12-31T23:59', seriesEnd: '2026-12-06T15:30', points: 61 });
    assert.equal(usageWindow('hour', {}, NOW).from, '2026-12-04T15');
    assert.equal(usageWindow('day', {}, NOW).from, '2026-11-05');
    assert.equal(usageWindow('month', {}, NOW).points, 13);
  });
  it('range back from now, within bounds (48h by minute = 2,881 points)', () => {
    assert.equal(usageWindow('minute', { range: '48h' }, NOW).points, 2881);
    assert.equal(usageWindow('day', { range: '400d' }, NOW).points, 401);
  });
  it('from/to: the span by step is bounded, the end is not before the start', () => {
    assert.equal(usageWindow('month', { from: '2000-01', to: '2026-12' }, NOW).points, 324);
    assert.equal(usageWindow('minute', { from: '2026-12-01T00:00Z', to: '2026-12-01T01:00Z' }, NOW).points, 61);
    refused(() => usageWindow('minute', { from: '2000-01-01' }, NOW), 'query.from');
    refused(() => usageWindow('minute', { from: '2026-12-06T15:00', to: '9999-12-31' }, NOW), 'query.to');
    refused(() => usageWindow('hour', { from: '2026-12-06', to: '2026-12-05' }, NOW), 'query.to');
    refused(() => usageWindow('minute', { range: '400d' }, NOW), 'query.range');
    refused(() => usageWindow('minute', { range: '9999d' }, NOW), 'query.range');
    refused(() => usageWindow('minute', { range: '1h', from: '2026-01-01' }, NOW), 'query.range');
    refused(() => usageWindow('minute', { from: '2026-13-45' }, NOW), 'query.from');
    assert.ok(MAX_POINTS >= 2881);
  });
});
