/**
 * The ingress's live state: the current Snapshot (swapped atomically on
 * reload), the authenticator, connection counts and the live sessions.
 */
import type { SecureContext } from 'node:tls';
import { LIMITS } from '../shared/limits.js';
import { channels } from '../shared/events.js';
import { Authenticator } from './auth/authenticator.js';
import type { Snapshot } from './config/snapshot.js';
import { ConnLimiter } from './guard/conn-limiter.js';
import type { Session } from './session.js';
import { ExitHealth } from './route/exit-health.js';

export class IngressRuntime {
  readonly auth: Authenticator;
  readonly limiter = new ConnLimiter();
  readonly sessions = new Set<Session>();
  readonly exitHealth = new ExitHealth();
  draining = false;

  constructor(
    private current: Snapshot,
    public tls: SecureContext | undefined,
  ) {
    this.auth = new Authenticator(current.config.limits.authFailuresFree, LIMITS.authThrottleTrackedSources);
  }

  get snapshot(): Snapshot {
    return this.current;
  }

  /** Swap in a new snapshot; live sessions keep the one they started with. */
  apply(next: Snapshot, tls?: SecureContext): void {
    this.current = next;
    if (tls) this.tls = tls;
    this.auth.prune(next);
    this.exitHealth.retain(new Set(next.exits.all.map((e) => e.id)));
    if (channels.configApplied.hasSubscribers) channels.configApplied.publish({ revision: next.revision });
  }
}
