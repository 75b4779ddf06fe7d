/**
 * Failure throttling across ingress worker processes: each worker sends its
 * failures and successes to the primary, which relays them to every other
 * worker; so N workers do not give a guesser N allowances. IPC keeps order
 * and takes well under a millisecond, against a check that takes scrypt's
 * time, so the next attempt finds the record on whichever worker it lands.
 * A restarted worker starts with no records (they rebuild from new failures).
 * Two throttles travel this way: customers' logins and reverse exits' registrations.
 */
import type { Worker } from 'node:cluster';
import type { AuthThrottle, ThrottleEvent } from '../../shared/auth/auth-throttle.js';

/** Which throttle: customers' proxy logins, or reverse exits' registrations on the tunnel port. */
export type ThrottleScope = 'proxy' | 'tunnel';

export interface AuthEventMsg {
  readonly type: 'hopgate:auth:event';
  readonly scope: ThrottleScope;
  readonly event: ThrottleEvent;
}

const MAX_FIELD = 256;

export function isAuthEventMsg(m: unknown): m is AuthEventMsg {
  const e = (m as Partial<AuthEventMsg> | undefined)?.event;
  const msg = m as Partial<AuthEventMsg> | undefined;
  return msg?.type === 'hopgate:auth:event' && (msg.scope === 'proxy' || msg.scope === 'tunnel') && e !== undefined
    && (e.kind === 'fail' || e.kind === 'ok')
    && typeof e.source === 'string' && e.source.length <= MAX_FIELD
    && typeof e.login === 'string' && e.login.length <= MAX_FIELD;
}

/** In a worker: forward this process's events to the primary, apply the others'. Returns a detach. */
export function shareThrottle(throttle: AuthThrottle, scope: ThrottleScope): () => void {
  throttle.onEvent = (event) => {
    if (process.connected) process.send?.({ type: 'hopgate:auth:event', scope, event } satisfies AuthEventMsg);
  };
  const listener = (m: unknown): void => {
    if (isAuthEventMsg(m) && m.scope === scope) throttle.apply(m.event);
  };
  process.on('message', listener);
  return () => {
    throttle.onEvent = undefined;
    process.off('message', listener);
  };
}

/** In the primary: `m` came from worker `from`; every other live worker gets it. */
export function relayAuthEvent(from: Worker, m: AuthEventMsg, workers: Iterable<Worker | undefined>): void {
  if (!isAuthEventMsg(m)) return;
  for (const w of workers) if (w && w !== from && w.isConnected()) w.send(m);
}
