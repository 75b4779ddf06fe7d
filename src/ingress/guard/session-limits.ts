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

/**
 * Byte counters for each direction: the session's counters, plus the quota when there is one.
 * The counters are what the customer is billed for (the stats meter reads them), so they take
 * only what is forwarded: the quota sees a chunk first, and when that chunk crosses it the
 * session is cut (the destination destroyed) and the chunk dropped — not billed either.
 */
export function meters(
  counters: RelayCounters,
  limits: SessionLimits | undefined,
  client: { readonly destroyed: boolean },
  upstream: { readonly destroyed: boolean },
): { up: (n: number) => void; down: (n: number) => void } {
  const usage = limits?.usage;
  if (!usage) return { up: (n) => void (counters.up += n), down: (n) => void (counters.down += n) };
  return {
    up: (n) => {
      usage.add(n);
      if (!upstream.destroyed) counters.up += n;
    },
    down: (n) => {
      usage.add(n);
      if (!client.destroyed) counters.down += n;
    },
  };
}
