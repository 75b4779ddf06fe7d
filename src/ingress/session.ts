/** Everything known about one downstream connection (Envoy's "stream info"). */
import type { Socket } from 'node:net';
import type { ErrorCode } from '../shared/errors.js';
import type { TargetAddress } from '../protocol/address.js';
import type { Principal } from './auth/authenticator.js';
import type { Snapshot } from './config/snapshot.js';
import type { UsernameTags } from '../protocol/username/grammar.js';
import type { ChoiceReason } from './route/select-exit.js';
import type { RelayCounters } from './relay/counters.js';
import type { SessionLimits } from './guard/session-limits.js';
import type { FromOrigin } from '../shared/events.js';

export type FrontProtocol = 'socks5' | 'socks4' | 'http' | 'https-socks5' | 'https-socks4' | 'https-http';

let nextId = 1;

export class Session {
  readonly id = nextId++;
  readonly startedAt = Date.now();
  protocol: FrontProtocol | undefined;
  principal: Principal | undefined;
  target: TargetAddress | undefined;
  /** The exit carrying this connection; undefined for direct egress. */
  exitId: string | undefined;
  command: 'connect' | 'udp' | 'http' = 'connect';
  /** Route choices for this request when they differ from the username's (HTTP X-Hopgate-* headers). */
  routeTags: UsernameTags | undefined;
  /** Why this exit: exitip, port, index, replacement, sticky or random; 'direct': routing chose no exit; undefined: routing did not decide (refused, or not reached). */
  routeReason: ChoiceReason | 'direct' | undefined;
  readonly counters: RelayCounters = { up: 0, down: 0 };
  /** 'ok' once relayed, else the code that ended it. */
  result: ErrorCode | 'ok' | undefined;
  resultMessage: string | undefined;
  /** Set when the session holds a per-user connection slot. */
  slotHeld = false;
  /** The source key (guard/conn-limiter.ts) while the session holds a not-yet-authenticated place. */
  preAuthKey: string | undefined;
  /** The customer's bandwidth buckets and quota record, set at authorize. */
  limits: SessionLimits | undefined;
  handshakeDeadline: NodeJS.Timeout | undefined;
  /** What abort() stops once the session is established (its relay, a UDP association); before that, the socket. */
  stopper: { abort(): void } | undefined;

  /**
   * `port`, `source` and `sourcePort` are the client's as the ingress knows them: a trusted
   * load balancer's PROXY protocol header replaces the socket's own before anything reads them.
   */
  constructor(
    readonly socket: Socket,
    public port: number,
    public source: string,
    public sourcePort: number,
    readonly snapshot: Snapshot,
  ) {}

  /** Cut the session short (shutdown, admin action). */
  abort(): void {
    if (this.stopper) this.stopper.abort();
    else this.socket.destroy();
  }
}

/** What `channels.sessionClose` (shared/events.ts) carries. */
export interface SessionCloseMessage extends FromOrigin {
  readonly session: Session;
}
