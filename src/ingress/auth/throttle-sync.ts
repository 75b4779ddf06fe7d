/**
 * Failure throttling across ingress worker processes: each worker sends its
 * failures and successes to the primary, which relays them to every other
 * worker; so N workers do not give a guesser N allowances. IPC keeps order
 * and takes well under a millisecond, against a check that takes scrypt's
 * time, so the next attempt finds the record on whichever worker it lands.
 * A restarted worker starts with no records (they rebuild from new failures).
 * Two throttles travel this way: customers' logins and reverse exits' registrations.
 */
import type { AuthThrottle, ThrottleEvent } from '../../shared/auth/auth-throttle.js';

/** Which throttle: customers' proxy logins, or reverse exits' registrations on the tunnel port. */
export type ThrottleScope = 'proxy' | 'tunnel';

export interface AuthEventMsg {
  readonly type: 'hopgate:auth:event';
  readonly scope: ThrottleScope;
  readonly event: ThrottleEvent;
}

/**
 * How a worker talks to the primary about throttles: node:cluster IPC, checked against the
 * one message list (processes/worker-channel.ts); the primary relays to the other workers.
 */
export interface ThrottleSync {
  send(msg: AuthEventMsg): void;
  /** Every scope's events; returns a detach. */
  onMessage(handler: (msg: AuthEventMsg) => void): () => void;
}

/** In a worker: forward this process's events to the primary, apply the others'. Returns a detach. */
export function shareThrottle(throttle: AuthThrottle, scope: ThrottleScope, sync: ThrottleSync): () => void {
  throttle.onEvent = (event) => sync.send({ type: 'hopgate:auth:event', scope, event });
  const stop = sync.onMessage((m) => {
    if (m.scope === scope) throttle.apply(m.event);
  });
  return () => {
    throttle.onEvent = undefined;
    stop();
  };
}
