/**
 * A usage panel: range picker, the charts and a table per exit or customer, for one query of
 * GET /v1/usage (a customer, an exit, or everything). Reused by the customer and exit pages.
 */
import { api } from './api.js';
import type { UsageList, UsageRow } from './api-types.js';
import { usageCharts } from './chart.js';
import { $, render, table } from './dom.js';
import { bytes } from './format.js';
import { rangeOf, rangePicker } from './range-picker.js';
import { fillSeries, rangeQuery } from './series.js';
import { kick } from './shell.js';

export function grouped(rows: readonly UsageRow[], key: 'login' | 'exitId'): { key: string; up: number; down: number; conns: number; fails: number }[] {
  const m = new Map<string, { key: string; up: number; down: number; conns: number; fails: number }>();
  for (const r of rows) {
    const k = r[key] === '' ? '(none)' : r[key]; // no exit carried them (refused before routing)
    const s = m.get(k) ?? { key: k, up: 0, down: 0, conns: 0, fails: 0 };
    s.up += r.bytesUp;
    s.down += r.bytesDown;
    s.conns += r.connections;
    s.fails += r.failures;
    m.set(k, s);
  }
  return [...m.values()].sort((a, b) => b.up + b.down - (a.up + a.down));
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
  render(`${prefix}-table`, { groupBy, rows: u.rows }, () => {
    const g = grouped(u.rows, groupBy);
    return table(
      [groupBy === 'login' ? 'Customer' : 'Exit', 'Down', 'Up', 'Connections', 'Failed'],
      g.map((s) => [s.key, bytes(s.down), bytes(s.up), String(s.conns), String(s.fails)]),
      'No traffic in this range.',
    );
  });
}
