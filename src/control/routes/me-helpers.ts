/**
 * Self-service pieces that are pure: the usage series with empty steps filled in
 * (its window is bounded first, in usage-window.ts), and the exits a customer may order onto their ports.
 */
import { ApiError } from '../errors.js';
import { grantedExitIds } from '../customer-ports.js';
import type { CustomerRecord, ExitRecord, UsageRow } from '../store/index.js';
import { KEY_WIDTH, MAX_POINTS, type Step } from './usage-window.js';

/** Period keys from `from` to `end` (inclusive, by key), one per step. */
export function periods(step: Step, from: string, end: string): string[] {
  const out: string[] = [];
  const pad = (k: string): string => (k.length >= 16 ? k : `${k}${'0000-01-01T00:00'.slice(k.length)}`.replace(/^(\d{4})-(\d{2})-00/, '$1-$2-01'));
  const first = from.slice(0, KEY_WIDTH[step]);
  const last = end.slice(0, KEY_WIDTH[step]);
  let t = Date.parse(`${pad(first.length === 7 ? `${first}-01` : first)}Z`);
  if (!Number.isFinite(t)) return out;
  for (;;) {
    const key = new Date(t).toISOString().slice(0, KEY_WIDTH[step]);
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
