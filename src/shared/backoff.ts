/**
 * The one retry delay of hopgate: exponential from `baseMs`, capped at
 * `maxMs`, then jittered downwards so that many clients failing together
 * (every exit of a restarted ingress, every worker of a crashed host) do not
 * come back in step. Used by the reverse exit's dials, the config stream's
 * reconnects, exit health's back-off, the worker supervisor's restarts and
 * SQLite's waits on a locked database file.
 */
export interface BackoffPolicy {
  /** The delay of attempt 0 (before jitter). */
  readonly baseMs: number;
  /** No delay exceeds this. */
  readonly maxMs: number;
  /**
   * How much of the delay is random, 0…1: the delay lies in [d·(1 − jitter), d].
   * 0: exact (deterministic back-off); 1: full jitter.
   */
  readonly jitter: number;
}

/** Attempts past this change nothing (2^30 · base exceeds any sensible cap) and keep the arithmetic finite. */
const MAX_EXPONENT = 30;

/** The delay before retry number `attempt` (0-based). `random` returns [0, 1) (tests pass a fixed one). */
export function backoffDelay(attempt: number, policy: BackoffPolicy, random: () => number = Math.random): number {
  const n = Math.min(Math.max(0, Math.floor(attempt)), MAX_EXPONENT);
  const exact = Math.min(policy.maxMs, policy.baseMs * 2 ** n);
  const jitter = Math.min(1, Math.max(0, policy.jitter));
  return exact * (1 - jitter * random());
}
