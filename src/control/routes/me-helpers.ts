/**
 * Self-service pieces that are pure: the usage window from `range`, the usage series
 * with empty steps filled in, and the exits a customer may order onto their ports.
 */
import { ApiError } from '../errors.js';
import { grantedExitIds } from '../customer-ports.js';
import type { CustomerRecord, ExitRecord, UsageRow } from '../store/index.js';

type Step = 'minute' | 'hour' | 'day' | 'month';
const WIDTH: Record<Step, number> = { minute: 16, hour: 13, day: 10, month: 7 };
const UNIT_MS = { m: 60_000, h: 3_600_000, d: 86_400_000 } as const;
/** Longest range and most points one answer holds (a series is built in memory). */
const MAX_RANGE_MS = 400 * 86_400_000;
const MAX_POINTS = 10_000;

/** The window: `range` back from now (or from/to as the operator's query takes them); `seriesEnd` is where the series stops. */
export function windowOf(step: Step, range: string | undefined, from: string | undefined, to: string | undefined, nowMs: number): { from: string | undefined; to: string | undefined; seriesEnd: string } {
  const nowKey = new Date(nowMs).toISOString().slice(0, WIDTH[step]);
  if (range === undefined) return { from, to, seriesEnd: to !== undefined ? to.replace(/Z$/, '').slice(0, 16) : nowKey };
  if (from !== undefined || to !== undefined) throw new ApiError(400, 'invalid_request', 'query.range: give range or from/to, not both', 'query.range');
  const ms = Number(range.slice(0, -1)) * UNIT_MS[range.at(-1) as keyof typeof UNIT_MS];
  if (ms <= 0 || ms > MAX_RANGE_MS) throw new ApiError(400, 'invalid_request', 'query.range: from 1 minute to 400 days', 'query.range');
  return { from: new Date(nowMs - ms).toISOString().slice(0, WIDTH[step]), to: undefined, seriesEnd: nowKey };
}

/** Period keys from `from` to `end` (inclusive, by key), one per step. */
function periods(step: Step, from: string, end: string): string[] {
  const out: string[] = [];
  const pad = (k: string): string => (k.length >= 16 ? k : `${k}${'0000-01-01T00:00'.slice(k.length)}`.replace(/^(\d{4})-(\d{2})-00/, '$1-$2-01'));
  const first = from.slice(0, WIDTH[step]);
  const last = end.slice(0, WIDTH[step]);
  let t = Date.parse(`${pad(first.length === 7 ? `${first}-01` : first)}Z`);
  if (!Number.isFinite(t)) return out;
  for (;;) {
    const key = new Date(t).toISOString().slice(0, WIDTH[step]);
    if (key > last) break;
    out.push(key);
    if (out.length > MAX_POINTS) throw new ApiError(400, 'invalid_request', `query.step: more than ${MAX_POINTS} points; use a longer step or a shorter range`, 'query.step');
    if (step === 'month') {
      const d = new Date(t);
      t = Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1);
    } else t += step === 'minute' ? 60_000 : step === 'hour' ? 3_600_000 : 86_400_000;
  }
  return out;
}

/** Every exit summed per period; periods without traffic are zeros, so a chart needs no gap logic. */
export function usageSeries(step: Step, from: string, end: string, rows: readonly UsageRow[]): Array<{ period: string; bytesUp: number; bytesDown: number; connections: number; failures: number }> {
  const by = new Map<string, { period: string; bytesUp: number; bytesDown: number; connections: number; failures: number }>();
  for (const p of periods(step, from, end)) by.set(p, { period: p, bytesUp: 0, bytesDown: 0, connections: 0, failures: 0 });
  for (const r of rows) {
    const p = by.get(r.period);
    if (!p) continue;
    p.bytesUp += r.bytesUp;
    p.bytesDown += r.bytesDown;
    p.connections += r.connections;
    p.failures += r.failures;
  }
  return [...by.values()];
}

/** Sorted ids of every exit the customer may order onto their ports. */
export function grantedExits(c: CustomerRecord, exits: readonly ExitRecord[]): string[] {
  return [...grantedExitIds(c, exits)].sort();
}
