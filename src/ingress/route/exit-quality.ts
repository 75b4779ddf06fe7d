/**
 * Exit quality: a 0-100 score per exit from what this ingress already
 * observes — the active probes (success and round-trip time) and real
 * connections (passive: the exit was reached or not). docs/ROUTING.md,
 * "Quality score":
 *   success = successful outcomes / outcomes, over the exit's last WINDOW outcomes
 *   latency = moving average (α = 0.3) of probe round trips, ms
 *   speed   = 1 at ≤ FAST_MS, 0 at ≥ SLOW_MS, linear between; 1 while no probe has timed it
 *   score   = round(100 × success × (0.7 + 0.3 × speed))
 * Success dominates: an exit that always fails scores 0 however fast, a
 * reliable but slow one keeps 70. No outcome yet: no score, and a quality
 * threshold does not admit the exit (it has not been measured).
 * Per ingress process; O(1) per outcome, a fixed ring per exit.
 */
export const QUALITY_WINDOW = 50;
export const FAST_MS = 100;
export const SLOW_MS = 2000;
const ALPHA = 0.3;

export interface QualityView {
  /** 0-100, or null before the first outcome. */
  readonly score: number | null;
  /** Successes / outcomes over the window, 0-1, or null. */
  readonly successRate: number | null;
  readonly outcomes: number;
  /** Moving average of probe round trips, or null before the first timed probe. */
  readonly latencyMs: number | null;
}

class Record {
  readonly ring = new Uint8Array(QUALITY_WINDOW);
  next = 0;
  count = 0;
  successes = 0;
  latencyMs: number | undefined;
}

/** The formula, separate so docs and tests can check it on plain numbers. */
export function qualityScore(successRate: number, latencyMs: number | undefined): number {
  const speed = latencyMs === undefined ? 1 : Math.min(1, Math.max(0, (SLOW_MS - latencyMs) / (SLOW_MS - FAST_MS)));
  return Math.round(100 * successRate * (0.7 + 0.3 * speed));
}

export class ExitQuality {
  private readonly byId = new Map<string, Record>();

  /** One outcome; `latencyMs` only from a probe (a real connection's time includes its target's). */
  record(id: string, ok: boolean, latencyMs?: number): void {
    let r = this.byId.get(id);
    if (!r) {
      r = new Record();
      this.byId.set(id, r);
    }
    if (r.count === QUALITY_WINDOW) r.successes -= r.ring[r.next]!;
    else r.count++;
    r.ring[r.next] = ok ? 1 : 0;
    r.successes += ok ? 1 : 0;
    r.next = (r.next + 1) % QUALITY_WINDOW;
    if (ok && latencyMs !== undefined) r.latencyMs = r.latencyMs === undefined ? latencyMs : r.latencyMs + ALPHA * (latencyMs - r.latencyMs);
  }

  /** 0-100, or undefined when the exit has no outcome yet. */
  score(id: string): number | undefined {
    const r = this.byId.get(id);
    return r === undefined || r.count === 0 ? undefined : qualityScore(r.successes / r.count, r.latencyMs);
  }

  view(id: string): QualityView {
    const r = this.byId.get(id);
    if (!r || r.count === 0) return { score: null, successRate: null, outcomes: 0, latencyMs: null };
    return {
      score: qualityScore(r.successes / r.count, r.latencyMs),
      successRate: Math.round((r.successes / r.count) * 1000) / 1000,
      outcomes: r.count,
      latencyMs: r.latencyMs === undefined ? null : Math.round(r.latencyMs * 10) / 10,
    };
  }

  /** Forget exits that are no longer configured (after a reload). */
  retain(ids: ReadonlySet<string>): void {
    for (const id of this.byId.keys()) if (!ids.has(id)) this.byId.delete(id);
  }
}
