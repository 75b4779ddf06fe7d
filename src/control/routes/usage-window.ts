/**
 * The usage window (pure): from/to period keys for a step, from `range` back from now or
 * from/to, bounded BEFORE any usage is read. The number of points (periods from start to
 * end, or to now when the end is open) is what a series and the rows read grow with, so
 * it is the bound: a long range by a short step is refused with a clear reason.
 */
import { ApiError } from '../errors.js';

export type Step = 'minute' | 'hour' | 'day' | 'month';
/** Length of a period key: 2026-12-06T15:30, 2026-12-06T15, 2026-12-06, 2026-12. */
export const KEY_WIDTH: Record<Step, number> = { minute: 16, hour: 13, day: 10, month: 7 };
/** Most periods one answer spans: 10,000 minutes (~7 days), hours (~416 days), days, months. */
export const MAX_POINTS = 10_000;
/** Longest `range` (back from now). */
/** The longest window back from now. */
export const MAX_RANGE_MS = 400 * 86_400_000;
const UNIT_MS = { m: 60_000, h: 3_600_000, d: 86_400_000 } as const;
const STEP_MS = { minute: 60_000, hour: 3_600_000, day: 86_400_000 } as const;
/** Default span when neither range nor from is given. */
const DEFAULT_BACK_MS: Record<Step, number> = { minute: 60 * 60_000, hour: 48 * 3_600_000, day: 31 * 86_400_000, month: 366 * 86_400_000 };
/** The end of a window without one ("to now"), as answers carry it. */
export const OPEN_END = '9999-12-31T23:59';

export interface UsageWindow {
  /** First period key (inclusive). */
  from: string;
  /** End as the store takes it (minute precision); OPEN_END when not given. */
  to: string;
  /** Last period key a series shows: `to`, or now when the end is open. */
  seriesEnd: string;
  /** Periods from `from` to `seriesEnd`, inclusive. */
  points: number;
}

/** Parse a When (YYYY-MM[-DD[THH[:MM…]]][Z]) to epoch ms, or throw a 400 naming the field. */
function parseWhen(t: string, field: string): number {
  const s = t.replace(/Z$/, '').slice(0, 16);
  const full = `${s}${'0000-01-01T00:00'.slice(s.length)}`;
  const ms = Date.parse(`${full}Z`);
  if (!Number.isFinite(ms) || new Date(ms).toISOString().slice(0, 16) !== full) throw new ApiError(400, 'invalid_request', `${field}: not a valid UTC time (YYYY-MM[-DD[THH[:MM]]])`, field);
  return ms;
}

/** Periods from the one holding `a` to the one holding `b`, inclusive (0 when b < a). */
function periodCount(step: Step, a: number, b: number): number {
  if (b < a) return 0;
  if (step === 'month') {
    const da = new Date(a);
    const db = new Date(b);
    return (db.getUTCFullYear() - da.getUTCFullYear()) * 12 + (db.getUTCMonth() - da.getUTCMonth()) + 1;
  }
  const u = STEP_MS[step];
  return Math.floor(b / u) - Math.floor(a / u) + 1;
}

const key = (step: Step, ms: number): string => new Date(ms).toISOString().slice(0, KEY_WIDTH[step]);

export function usageWindow(step: Step, q: { range?: string | undefined; from?: string | undefined; to?: string | undefined }, nowMs: number): UsageWindow {
  let startMs: number;
  let endMs: number | undefined;
  if (q.range !== undefined) {
    if (q.from !== undefined || q.to !== undefined) throw new ApiError(400, 'invalid_request', 'query.range: give range or from/to, not both', 'query.range');
    const m = /^(\d{1,4})([mhd])$/.exec(q.range);
    const ms = m ? Number(m[1]) * UNIT_MS[m[2] as keyof typeof UNIT_MS] : NaN;
    if (!(ms > 0 && ms <= MAX_RANGE_MS)) throw new ApiError(400, 'invalid_request', 'query.range: from 1 minute to 400 days (like 60m, 48h, 30d)', 'query.range');
    startMs = nowMs - ms;
  } else {
    startMs = q.from !== undefined ? parseWhen(q.from, 'query.from') : nowMs - DEFAULT_BACK_MS[step];
    if (q.to !== undefined) endMs = parseWhen(q.to, 'query.to');
  }
  if (endMs !== undefined && endMs < startMs) throw new ApiError(400, 'invalid_request', 'query.to: before query.from', 'query.to');
  const seriesEndMs = endMs ?? Math.max(nowMs, startMs);
  const points = periodCount(step, startMs, seriesEndMs);
  if (points > MAX_POINTS) {
    const field = q.range !== undefined ? 'query.range' : q.to !== undefined ? 'query.to' : 'query.from';
    throw new ApiError(400, 'invalid_request', `${field}: ${points} ${step}s from ${key(step, startMs)} to ${key(step, seriesEndMs)}; at most ${MAX_POINTS} per answer: use a longer step or a shorter range`, field);
  }
  return {
    from: key(step, startMs),
    to: endMs !== undefined ? new Date(endMs).toISOString().slice(0, 16) : OPEN_END,
    seriesEnd: key(step, seriesEndMs),
    points,
  };
}
