/**
 * A session's byte counts, written by the relay and by the bandwidth meters
 * (guard/session-limits.ts). A module of its own so that neither of those
 * imports the other for it.
 */
export interface RelayCounters {
  /** client → upstream */
  up: number;
  /** upstream → client */
  down: number;
}
