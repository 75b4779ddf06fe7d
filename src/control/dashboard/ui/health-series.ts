/**
 * An exit's health history → what the exit page draws (pure: no DOM): each node's up/down
 * segments across the window, and the probes per minute summed into at most MAX_BARS bars.
 */
import type { HealthHistory } from './api-types.js';

export type HealthRangeId = '1h' | '24h' | '6d';
/** The window choices: 6 days is the longest the API answers by the minute (10,000 points). */
export const HEALTH_RANGES: Record<HealthRangeId, { label: string; range: string; minutes: number }> = {
  '1h': { label: '1 h', range: '60m', minutes: 60 },
  '24h': { label: '24 h', range: '24h', minutes: 1440 },
  '6d': { label: '6 d', range: '6d', minutes: 8640 },
};
export function isHealthRange(s: string): s is HealthRangeId {
  return Object.hasOwn(HEALTH_RANGES, s);
}

export const MAX_BARS = 180;

export interface Segment {
  readonly state: 'up' | 'down';
  readonly fromMs: number;
  readonly toMs: number;
}

/** Per node, oldest first: the state before its first transition in the window, then each transition's. */
export function timeline(h: HealthHistory, startMs: number, endMs: number): Map<string, Segment[]> {
  const out = new Map<string, Segment[]>();
  const nodes = new Set([...h.nodes.map((n) => n.node), ...h.transitions.map((t) => t.node)]);
  for (const node of [...nodes].sort()) {
    const ts = h.transitions.filter((t) => t.node === node);
    const segs: Segment[] = [];
    let state: 'up' | 'down' = ts[0]?.from ?? h.nodes.find((n) => n.node === node)?.state ?? 'up';
    let at = startMs;
    for (const t of ts) {
      const ms = Math.min(endMs, Math.max(startMs, Date.parse(t.at)));
      if (ms > at) segs.push({ state, fromMs: at, toMs: ms });
      state = t.to;
      at = ms;
    }
    if (endMs > at) segs.push({ state, fromMs: at, toMs: endMs });
    out.set(node, segs);
  }
  return out;
}

export interface ProbeBar {
  /** First minute of the bar (UTC, YYYY-MM-DDTHH:MM). */
  readonly start: string;
  readonly minutes: number;
  readonly ok: number;
  readonly failed: number;
  /** Mean latency of the bar's successful probes, ms. */
  readonly latencyMs: number | null;
}

const minuteKey = (ms: number): string => new Date(ms).toISOString().slice(0, 16);

/** Every minute from `startMs` to `endMs`, grouped `ceil(minutes / MAX_BARS)` to a bar; empty minutes count zero. */
export function probeBars(series: HealthHistory['series'], startMs: number, endMs: number): ProbeBar[] {
  const first = Math.floor(startMs / 60_000);
  const last = Math.floor(endMs / 60_000);
  const total = Math.max(1, last - first + 1);
  const per = Math.ceil(total / MAX_BARS);
  const bars: { start: string; minutes: number; ok: number; failed: number; latencySum: number }[] = [];
  for (let m = first; m <= last; m += per) bars.push({ start: minuteKey(m * 60_000), minutes: Math.min(per, last - m + 1), ok: 0, failed: 0, latencySum: 0 });
  for (const p of series) {
    const m = Math.floor(Date.parse(`${p.minute}:00Z`) / 60_000);
    const b = bars[Math.floor((m - first) / per)];
    if (m < first || m > last || !b) continue;
    b.ok += p.ok;
    b.failed += p.failed;
    b.latencySum += (p.latencyMs ?? 0) * p.ok;
  }
  return bars.map((b) => ({ start: b.start, minutes: b.minutes, ok: b.ok, failed: b.failed, latencyMs: b.ok > 0 ? Math.round((b.latencySum / b.ok) * 10) / 10 : null }));
}
