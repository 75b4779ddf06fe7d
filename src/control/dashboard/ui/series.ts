/**
 * Usage rows → one point per period over a range, empty periods as zeros (pure: no DOM).
 * The ranges of the picker and the period each is drawn in: 60 minutes, 24 and 168 hours, 30 days.
 */
import type { Granularity } from './api-types.js';

/** What a usage row counts: summed per period (series), per exit or customer (tables) and overall (totals). */
export interface Counts {
  bytesUp: number;
  bytesDown: number;
  connections: number;
  failures: number;
}
export interface Point extends Counts {
  period: string;
}
const zero = (): Counts => ({ bytesUp: 0, bytesDown: 0, connections: 0, failures: 0 });
/** Adds a row's counts into `into` (returned). */
export function addCounts<T extends Counts>(into: T, r: Counts): T {
  into.bytesUp += r.bytesUp;
  into.bytesDown += r.bytesDown;
  into.connections += r.connections;
  into.failures += r.failures;
  return into;
}
export type RangeId = '1h' | '24h' | '7d' | '30d';
export const RANGES: Record<RangeId, { label: string; by: Granularity; ms: number }> = {
  '1h': { label: '1 h', by: 'minute', ms: 3_600_000 },
  '24h': { label: '24 h', by: 'hour', ms: 24 * 3_600_000 },
  '7d': { label: '7 d', by: 'hour', ms: 7 * 86_400_000 },
  '30d': { label: '30 d', by: 'day', ms: 30 * 86_400_000 },
};
export function isRange(s: string): s is RangeId {
  return Object.hasOwn(RANGES, s);
}

const WIDTH: Record<Granularity, number> = { minute: 16, hour: 13, day: 10, month: 7 };
const PAD: Record<Granularity, string> = { minute: ':00Z', hour: ':00:00Z', day: 'T00:00:00Z', month: '-01T00:00:00Z' };
const STEP: Partial<Record<Granularity, number>> = { minute: 60_000, hour: 3_600_000, day: 86_400_000 };

/** The API's period key of a time (YYYY-MM-DDTHH:MM for minutes, and so on). */
export function periodOf(by: Granularity, ms: number): string {
  return new Date(ms).toISOString().slice(0, WIDTH[by]);
}

/** The query of a range: its granularity and first period (the API's `from`). */
export function rangeQuery(id: RangeId, now = Date.now()): { by: Granularity; from: string } {
  const r = RANGES[id];
  return { by: r.by, from: periodOf(r.by, now - r.ms + (STEP[r.by] ?? 0)) };
}

/** Sums rows per period (every exit or customer in them) and fills the range's empty periods with zeros. */
export function fillSeries(by: Granularity, from: string, rows: readonly Point[], now = Date.now()): Point[] {
  const sum = new Map<string, Point>();
  for (const r of rows) sum.set(r.period, addCounts(sum.get(r.period) ?? { period: r.period, ...zero() }, r));
  const out: Point[] = [];
  const step = STEP[by];
  const start = Date.parse(from.slice(0, WIDTH[by]) + PAD[by]);
  if (step && Number.isFinite(start)) {
    for (let t = start; t <= now && out.length < 1000; t += step) {
      const p = periodOf(by, t);
      out.push(sum.get(p) ?? { period: p, ...zero() });
      sum.delete(p);
    }
  }
  out.push(...sum.values()); // anything outside the window
  return out.sort((a, b) => (a.period < b.period ? -1 : a.period > b.period ? 1 : 0));
}

export function totals(points: readonly Counts[]): Counts {
  return points.reduce<Counts>((t, p) => addCounts(t, p), zero());
}

/** Start of the quota period holding `now` and of the next one (the reset), UTC as the control plane counts. */
export function quotaWindow(period: 'hour' | 'day' | 'month', now = Date.now()): { start: number; resetsAt: number } {
  const d = new Date(now);
  if (period === 'hour') {
    const start = Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate(), d.getUTCHours());
    return { start, resetsAt: start + 3_600_000 };
  }
  if (period === 'day') {
    const start = Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate());
    return { start, resetsAt: start + 86_400_000 };
  }
  return { start: Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1), resetsAt: Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1) };
}
