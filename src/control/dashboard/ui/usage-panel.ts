/**
 * A usage panel: range picker, the charts and a table per exit or customer, for one query of
 * GET /v1/usage (a customer, an exit, or everything). Reused by the customer and exit pages.
 */
import { api } from './api.js';
import type { UsageList } from './api-types.js';
import { usageCharts } from './chart.js';
import { $, render, table } from './dom.js';
import { bytes } from './format.js';
import { rangeOf, rangePicker } from './range-picker.js';
import { addCounts, fillSeries, rangeQuery, type Counts } from './series.js';
import { kick } from './shell.js';

/** Sums rows per exit or customer, busiest first. */
function grouped<K extends 'login' | 'exitId'>(rows: readonly (Counts & Record<K, string>)[], key: K): (Counts & { key: string })[] {
  const m = new Map<string, Counts & { key: string }>();
  for (const r of rows) {
    const k = r[key] === '' ? '(none)' : r[key]; // no exit carried them (refused before routing)
    m.set(k, addCounts(m.get(k) ?? { key: k, bytesUp: 0, bytesDown: 0, connections: 0, failures: 0 }, r));
  }
  return [...m.values()].sort((a, b) => b.bytesUp + b.bytesDown - (a.bytesUp + a.bytesDown));
}

/** The table under a usage chart: one row per exit or customer. */
export function usageTable<K extends 'login' | 'exitId'>(rows: readonly (Counts & Record<K, string>)[], groupBy: K): HTMLElement {
  return table(
    [groupBy === 'login' ? 'Customer' : 'Exit', 'Down', 'Up', 'Connections', 'Failed'],
    grouped(rows, groupBy).map((s) => [s.key, bytes(s.bytesDown), bytes(s.bytesUp), String(s.connections), String(s.failures)]),
    'No traffic in this range.',
  );
}

/** Puts the range picker into `#<prefix>-range` once; charts into `#<prefix>-chart`, the table into `#<prefix>-table`. */
export async function usagePanel(prefix: string, filter: Record<string, string>, groupBy: 'login' | 'exitId'): Promise<void> {
  const rangeBox = $(`${prefix}-range`);
  if (!rangeBox.firstChild) rangeBox.appendChild(rangePicker(prefix, kick));
  const range = rangeOf(prefix);
  const q = rangeQuery(range);
  const params = new URLSearchParams({ ...filter, by: q.by, from: q.from });
  const u = await api<UsageList>('GET', `/v1/usage?${params.toString()}`);
  render(`${prefix}-chart`, { range, rows: u.rows }, () => usageCharts(fillSeries(q.by, q.from, u.rows)), true);
  render(`${prefix}-table`, { groupBy, rows: u.rows }, () => usageTable(u.rows, groupBy));
}
