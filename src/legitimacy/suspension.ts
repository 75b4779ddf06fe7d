/**
 * The suspension state machine of the analysis (analysis.ts, "Network
 * events"): warmup → active ⇄ suspended. Any network event suspends the
 * rules of the whole group; they come back when every live ingress has sent
 * `calmReports` reports in a row without a catchment shift, the minimum time
 * (warm-up or suspension) has passed and no operator hold is in force.
 * Also the shift test of one report against the ingress's usual share.
 */
import type { Mode, ShiftOptions, SuspendOptions } from './analysis-options.js';
import type { IngressState } from './ingress-state.js';

export interface SuspensionCounters {
  suspensions: number;
  resumptions: number;
}

export class Suspension {
  mode: Mode = 'warmup';
  /** Start of the current suspension. */
  since = Number.NaN;
  /** An operator's hold: no resumption before this time. */
  holdUntil = Number.NaN;
  reason = 'warmup';
  /** Rounds since the last suspension: a resumption needs a classification made after it. */
  roundsSinceSuspend = 0;
  /** First report, event or round: the warm-up counts from here. */
  started = Number.NaN;

  constructor(
    private readonly o: { warmupMs: number; suspend: SuspendOptions },
    private readonly counters: SuspensionCounters,
  ) {}

  start(now: number): void {
    if (Number.isNaN(this.started)) this.started = now;
  }

  hold(until: number): void {
    this.holdUntil = Math.max(Number.isNaN(this.holdUntil) ? 0 : this.holdUntil, until);
  }

  /**
   * Suspend for `reason` (every ingress starts counting calm reports again).
   * Returns whether every ingress must be sent a suspended rule set now: not
   * during warm-up, where there are no rules to suspend.
   */
  suspend(reason: string, now: number, ingresses: readonly IngressState[]): boolean {
    for (const s of ingresses) s.calm = 0;
    if (this.mode === 'warmup') {
      this.reason = `warmup (${reason})`;
      return false;
    }
    if (this.mode === 'active') this.counters.suspensions++;
    this.mode = 'suspended';
    this.since = now;
    this.reason = reason;
    this.roundsSinceSuspend = 0;
    return true;
  }

  mayResume(now: number, ingresses: readonly IngressState[]): boolean {
    if (this.mode === 'active' || this.roundsSinceSuspend < 1) return false;
    const minMs = this.mode === 'warmup' ? this.o.warmupMs : this.o.suspend.minMs;
    const from = this.mode === 'warmup' ? this.started : this.since;
    if (now - from < minMs) return false;
    if (!Number.isNaN(this.holdUntil) && now < this.holdUntil) return false;
    let live = 0;
    for (const s of ingresses) {
      if (s.down) continue;
      live++;
      if (s.calm < this.o.suspend.calmReports) return false;
    }
    return live > 0;
  }

  /** Rules in force again; the shift baselines are learned afresh. */
  resume(ingresses: readonly IngressState[]): void {
    if (this.mode === 'suspended') this.counters.resumptions++;
    this.mode = 'active';
    this.reason = '';
    this.holdUntil = Number.NaN;
    for (const s of ingresses) s.baseline = 0;
  }

  /** Time since the suspension started (NaN when not suspended). */
  suspendedFor(now: number): number {
    return this.mode === 'suspended' ? now - this.since : Number.NaN;
  }
}

/**
 * Is one report a catchment shift at its ingress? Counts its accepted flows
 * from prefixes `unlikelyHere` (classified unlikely there on their own
 * history), compares with the ingress's usual share (or, for a paused report,
 * usual count), and updates the ingress's calm count — and, while `learning`
 * (rules active), its baselines.
 */
export function checkShift(counts: ReadonlyArray<readonly [string, number]>, paused: boolean, s: IngressState, sh: ShiftOptions, learning: boolean, unlikelyHere: (key: string) => boolean): { share: number; shift: boolean } {
  let unl = 0;
  let unlPrefixes = 0;
  let classified = 0;
  for (const e of counts) {
    const n = e[1];
    classified += n;
    if (n > 0 && unlikelyHere(e[0])) {
      unl += n;
      unlPrefixes++;
    }
  }
  const share = classified > 0 ? unl / classified : 0;
  const shift = unlPrefixes >= sh.minPrefixes && (paused ? unl >= sh.minFlowsPaused && unl >= sh.factor * s.baselinePaused : unl >= sh.minFlows && share >= sh.minShare && share >= sh.factor * s.baseline);
  if (shift) s.calm = 0;
  else {
    s.calm++;
    if (learning) {
      if (paused) s.baselinePaused += sh.baselineWeight * (unl - s.baselinePaused);
      else s.baseline += sh.baselineWeight * (share - s.baseline);
    }
  }
  return { share, shift };
}
