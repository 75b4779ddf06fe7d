/**
 * The per-customer limits one session carries onto the byte path: the user's
 * bandwidth buckets and quota usage record, resolved once at authorize.
 * Undefined fields cost nothing per byte.
 */
import type { RelayCounters } from '../relay/counters.js';
import type { TokenBucket } from './bandwidth.js';
import type { QuotaUsage } from './quota.js';

export interface SessionLimits {
  /** client → target */
  readonly up: TokenBucket | undefined;
  /** target → client */
  readonly down: TokenBucket | undefined;
  readonly usage: QuotaUsage | undefined;
}

/** Byte counters for each direction: the session's counters, plus the quota when there is one. */
export function meters(counters: RelayCounters, limits: SessionLimits | undefined): { up: (n: number) => void; down: (n: number) => void } {
  const usage = limits?.usage;
  if (!usage) return { up: (n) => void (counters.up += n), down: (n) => void (counters.down += n) };
  return {
    up: (n) => {
      counters.up += n;
      usage.add(n);
    },
    down: (n) => {
      counters.down += n;
      usage.add(n);
    },
  };
}
