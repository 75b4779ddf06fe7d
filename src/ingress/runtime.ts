/**
 * The ingress's live state: the current Snapshot (swapped atomically on
 * reload), the authenticator, connection counts and the live sessions.
 */
import type { SecureContext } from 'node:tls';
import { LIMITS } from '../shared/limits.js';
import { channels, type ConfigAppliedMessage } from '../shared/events.js';
import { Authenticator } from './auth/authenticator.js';
import { THROTTLE_DEFAULTS, type ThrottleSettings } from '../shared/auth/auth-throttle.js';
import type { Snapshot } from './config/snapshot.js';
import { ConnLimiter } from './guard/conn-limiter.js';
import type { Session } from './session.js';
import { ExitHealth } from './route/exit-health.js';
import type { CompiledUser } from './config/snapshot.js';
import type { ErrorCode } from '../shared/errors.js';
import { BandwidthGuard } from './guard/bandwidth.js';
import { QuotaTracker } from './guard/quota.js';
import type { SessionLimits } from './guard/session-limits.js';
import type { ReverseNode } from './reverse/reverse-node.js';
import type { LegitimacyGate } from './guard/legitimacy-gate.js';
import { LinkPools } from './upstream/link-pool.js';

function throttleSettings(snap: Snapshot): ThrottleSettings {
  const l = snap.config.limits;
  return {
    ...THROTTLE_DEFAULTS,
    free: l.authFailuresFree,
    sourceFree: l.authFailuresFreePerSource,
    baseMs: l.authBackoffBaseMs,
    maxMs: Math.max(l.authBackoffBaseMs, l.authBackoffMaxMs),
    maxTracked: LIMITS.authThrottleTrackedSources,
  };
}

export class IngressRuntime {
  readonly auth: Authenticator;
  readonly limiter = new ConnLimiter();
  readonly sessions = new Set<Session>();
  readonly exitHealth = new ExitHealth();
  /** Per-customer bandwidth buckets (this process). */
  readonly bandwidth = new BandwidthGuard();
  /** Per-customer data quota usage (aggregated across workers when attached to the primary). */
  readonly quota: QuotaTracker;
  draining = false;
  /** Reverse-connected exits (tunnel port, work connections); undefined when none are configured. */
  reverse: ReverseNode | undefined;
  /** Source legitimacy (evidence and attack-mode limits); set by the control link, undefined otherwise. */
  legitimacy: LegitimacyGate | undefined;
  /** Links to hopgate exits that have one (upstream/link-pool.ts). */
  readonly links = new LinkPools();
  /** UDP datagrams dropped because one datagram on their next leg cannot carry them with their SOCKS5 header (front/udp-associate.ts). */
  readonly udp = { tooLarge: { up: 0, down: 0 }, refused: 0 };
  /** The clock routing reads (sticky-session windows); tests may replace it. */
  now: () => number = Date.now;

  constructor(
    private current: Snapshot,
    public tls: SecureContext | undefined,
  ) {
    this.auth = new Authenticator(throttleSettings(current), current.config.limits.authChecksPerSource);
    this.quota = new QuotaTracker((login, message) => this.cutUser(login, 'QUOTA_EXCEEDED', message), () => this.now());
    this.quota.configure(current);
    this.links.configure(current.config);
  }

  /** The limits a new session of `user` carries (undefined when the user has none). */
  limitsFor(user: CompiledUser): SessionLimits | undefined {
    if (!user.bandwidth && !user.quota) return undefined;
    const b = this.bandwidth.bucketsFor(user.login, user.bandwidth);
    return { up: b.up, down: b.down, usage: this.quota.usageFor(user) };
  }

  /** End every open session of `login` with `code` (e.g. its quota ran out). Returns how many. */
  cutUser(login: string, code: ErrorCode, message: string): number {
    let n = 0;
    for (const s of this.sessions) {
      if (!s.slotHeld || s.principal?.user.login !== login) continue;
      s.result = code;
      s.resultMessage = message;
      s.abort();
      n++;
    }
    return n;
  }

  get snapshot(): Snapshot {
    return this.current;
  }

  /** Swap in a new snapshot; live sessions keep the one they started with. */
  apply(next: Snapshot, tls?: SecureContext): void {
    this.current = next;
    if (tls) this.tls = tls;
    this.auth.prune(next);
    this.auth.configure(throttleSettings(next), next.config.limits.authChecksPerSource);
    this.exitHealth.retain(new Set(next.exits.all.map((e) => e.id)));
    this.reverse?.configure(next);
    this.links.configure(next.config); // exits gone or changed: their links drain
    this.bandwidth.configure(next);
    this.quota.configure(next); // may cut sessions of a user whose quota was lowered below usage
    if (channels.configApplied.hasSubscribers) channels.configApplied.publish({ origin: this, revision: next.revision } satisfies ConfigAppliedMessage);
  }
}
