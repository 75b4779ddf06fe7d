/**
 * Exit health: an exit that could not be reached — by a real connection or
 * by the active probe (exit-prober.ts) — is kept out of random choice for a
 * back-off period that doubles on repeated failures (capped, exact: no
 * jitter, the probe interval already spreads them) and ends at the first
 * success. Pinned choices still try it and get a clear error. Every outcome
 * also feeds the exit's quality score (exit-quality.ts).
 */
import { ExitQuality } from './exit-quality.js';
import { ProbeLog } from './probe-log.js';
import { backoffDelay, type BackoffPolicy } from '../../shared/backoff.js';

const DOWN: BackoffPolicy = { baseMs: 2_000, maxMs: 60_000, jitter: 0 };

interface State {
  failures: number;
  downUntil: number;
}

export class ExitHealth {
  private readonly state = new Map<string, State>();
  readonly quality = new ExitQuality();
  /** The probes' per-minute counts and latest result, for the control plane's health history. */
  readonly probes = new ProbeLog();
  /**
   * Exact liveness where an exit reports it (a reverse exit: connected or not) decides alone;
   * undefined: no opinion, the back-off below decides.
   */
  presence: ((id: string) => boolean | undefined) | undefined;

  constructor(private readonly now: () => number = Date.now) {}

  isUp(id: string): boolean {
    const p = this.presence?.(id);
    if (p !== undefined) return p;
    const s = this.state.get(id);
    return s === undefined || s.downUntil <= this.now();
  }

  failed(id: string): void {
    this.quality.record(id, false);
    const s = this.state.get(id) ?? { failures: 0, downUntil: 0 };
    s.failures++;
    s.downUntil = this.now() + backoffDelay(s.failures - 1, DOWN);
    this.state.set(id, s);
  }

  /** `latencyMs`: a probe's round trip (real connections leave it out: their time includes the target's). */
  succeeded(id: string, latencyMs?: number): void {
    this.quality.record(id, true, latencyMs);
    this.state.delete(id);
  }

  /** Forget exits that are no longer configured (after a reload). */
  retain(ids: ReadonlySet<string>): void {
    for (const id of this.state.keys()) if (!ids.has(id)) this.state.delete(id);
    this.quality.retain(ids);
    this.probes.retain(ids);
  }
}
