/**
 * The exit side of a reverse-connected exit (`hopgate exit --connect-to`): it
 * never listens. It keeps `pool` idle work connections open to the ingress's
 * tunnel port (TLS, checked against `ca`), registered with its id and token,
 * and refills the pool as they are taken. A request arriving on one is
 * checked against this exit's own rules (target policy on the resolved
 * address), connected from the egress address, answered with `response`, and
 * then relayed raw. Reconnects with exponential backoff and jitter; drains on
 * stop. docs/REVERSE-EXITS.md.
 *
 * Links (issue 19, the default): the registration asks for a link, and an
 * ingress that answers `link` turns the connection into one (src/link/): the
 * exit keeps `links` of them, and each tunnel is one stream inside, checked and
 * answered as a request is. An older ingress answers without `link`: the
 * connection stays a work connection, as before.
 *
 * Key rotation (docs/EXITS.md "Link keys"): given its key dir (a LinkIdentitySource),
 * the exit looks at it every `keyCheckMs` and at each dial. After `hopgate link-key
 * promote` new connections present the new key; those on the previous key stay in
 * use until as many on the new key are up, then drain (no new streams; live tunnels
 * finish). A new key the ingress refuses (not pinned yet) leaves the old ones serving.
 *
 * Over 500 lines for one release: both protocols (work connections and links) share
 * this pool, its dial, backoff, drain and key rotation; the work-connection half goes
 * when the older protocol does (docs/REVERSE-EXITS.md, "Migrating").
 */
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import type { Socket } from 'node:net';
import { isIP } from 'node:net';
import { codeFromSystemError, isProxyError, ProxyError, type ErrorCode } from '../shared/errors.js';
import { CidrSet } from '../shared/net-addr.js';
import { LIMITS } from '../shared/limits.js';
import { backoffDelay } from '../shared/backoff.js';
import { formatTarget } from '../protocol/address.js';
import { MAX_PACKET_BYTES, parsePacket, type WorkPacket } from '../protocol/work-packet/codec.js';
import { heartbeatPacket, parseLinkNets, parseLinkOpen, parseRequest, parseResponse, registrationPacket, responsePacket, withdrawPacket, type WorkRequest } from '../protocol/work-packet/messages.js';
import type { TargetPolicy } from '../shared/net/target-policy.js';
import { connectFirst, type ReadBuffers } from '../shared/net/connect-tcp.js';
import { resolveAllowed } from '../shared/net/resolve-allowed.js';
import { LinkSession, type OpenRequest } from '../link/session.js';
import type { LinkStream } from '../link/stream.js';
import { LINK_TARGET_READS, relayStream } from './relay-stream.js';
import { newUdpRelayCounters, relayUdpStream } from './relay-udp.js';
import { pipeBoth } from './pipe-both.js';
import type { LinkIdentity, LinkIdentitySource } from '../link/identity.js';
import { REVERSE_HEARTBEAT_MS } from '../shared/schema/ingress-config.js';

export interface ReverseExitOptions {
  readonly host: string;
  readonly port: number;
  readonly id: string;
  readonly token: string;
  /** PEM of the CA (or the self-signed certificate) that signed the ingress's tunnel certificate; default: the system's. */
  readonly ca?: string | Buffer;
  /** Name checked in the ingress's certificate; default: `host`. */
  readonly servername?: string;
  /** Idle work connections to keep at the ingress (the older protocol, `mode: 'work'`; default 8). Unused in link mode. */
  readonly pool?: number;
  /** `link` (default): ask for links, one stream per tunnel; `work`: one work connection per tunnel (ingresses before links). */
  readonly mode?: 'link' | 'work';
  /** Links to keep in link mode (default 2; at least the ingress's workers, so that each holds one). */
  readonly links?: number;
  /**
   * This exit's link identity, presented as its TLS client certificate (the ingress may pin it: `linkFingerprint`).
   * A LinkIdentitySource (its key dir) is followed: a promoted key is taken without a restart.
   */
  readonly identity?: LinkIdentity | Pick<LinkIdentitySource, 'current'>;
  /** How often a followed key dir is looked at (default 10 s; every dial looks too). */
  readonly keyCheckMs?: number;
  /** Source address of connections to targets (what they see). */
  readonly egress?: string;
  /** IPv6 source address beside an IPv4 `egress` (dual stack); with only one of them, the other family is refused. */
  readonly egress6?: string | undefined;
  /** Source ports on the egress address (default: the kernel's ephemeral range). */
  readonly egressPorts?: readonly [number, number] | undefined;
  /** This exit's own rules: what it may connect to (checked on resolved addresses). */
  readonly policy: TargetPolicy;
  readonly connectTimeoutMs?: number;
  readonly idleTimeoutMs?: number;
  /** stop()'s bound for live tunnels, and how long a drained link's UDP streams go on after the GOAWAY (default LIMITS.drainTimeoutMs; the CLI's --drain-ms). */
  readonly drainTimeoutMs?: number;
  /** Reconnect backoff: first delay and cap (shared/backoff.ts, jittered down by up to half). */
  readonly backoffMs?: number;
  readonly maxBackoffMs?: number;
  readonly log?: { warn(obj: object, msg: string): void; info(obj: object, msg: string): void; error(obj: object, msg: string): void };
}

type State = 'dialing' | 'idle' | 'busy' | 'withdrawing';

interface Conn {
  readonly socket: TLSSocket;
  state: State;
  buf: Buffer;
  /** Set once the ingress accepted this connection as a link: it is 'idle' (open for streams) until it drains. */
  link?: LinkSession;
  /** The key it was dialled with: once another is in force, it is replaced. */
  readonly fingerprint: string | undefined;
}

export const DEFAULT_LINKS = 2;
/** Idle work connections kept in work mode. */
export const DEFAULT_POOL = 8;
/** How often a followed key dir is looked at, as a forward exit's `--link-keys-every-ms`. */
export const DEFAULT_KEY_CHECK_MS = 10_000;

const EMPTY = Buffer.alloc(0);
const silent = { warn() {}, info() {}, error() {} };

export class ReverseExitClient {
  private readonly conns = new Set<Conn>();
  private readonly tunnels = new Set<Socket>();
  private readonly streams = new Set<LinkStream>();
  private failures = 0;
  private retryTimer: NodeJS.Timeout | undefined;
  private keyTimer: NodeJS.Timeout | undefined;
  /** The key new connections present (last looked at). */
  private keyInForce: string | undefined;
  private stopped = false;
  private heartbeatMs = 10_000;
  /** The ingress's latest TLS session ticket: the next work connections resume it (no certificate signature or check). */
  private session: Buffer | undefined;
  private readyResolve!: () => void;
  /** Resolves at the first accepted registration. */
  readonly ready = new Promise<void>((r) => (this.readyResolve = r));
  /** Why the ingress last refused a registration (wrong token, not allowed…). */
  lastRefusal: string | undefined;
  /** `registered`: work connections the ingress accepted; `resumed`: those of them whose TLS session was resumed (cheaper handshakes on both sides). */
  readonly counters = { registered: 0, resumed: 0, served: 0, refusedTargets: 0, dialFailures: 0, ...newUdpRelayCounters() };
  private readonly log: NonNullable<ReverseExitOptions['log']>;

  constructor(private readonly o: ReverseExitOptions) {
    this.log = o.log ?? silent;
  }

  start(): this {
    this.keyInForce = this.identity()?.fingerprint;
    const id = this.o.identity;
    if (id && 'current' in id) {
      this.keyTimer = setInterval(() => this.checkKey(), this.o.keyCheckMs ?? DEFAULT_KEY_CHECK_MS);
      this.keyTimer.unref();
    }
    this.refill();
    return this;
  }

  /** The identity in force (a followed key dir is read again when its file changed; a bad file keeps the one in force). */
  private identity(): LinkIdentity | undefined {
    const id = this.o.identity;
    const now = id && 'current' in id ? id.current() : id;
    if (now && now.fingerprint !== this.keyInForce && this.keyInForce !== undefined) {
      this.log.info({ from: this.keyInForce, to: now.fingerprint }, 'link key promoted: new links present the new key; links on the old one drain once as many are up');
      // A full pool on the new key, whoever noticed (this timer or a dial): those on the old key no longer count.
      queueMicrotask(() => this.refill());
    }
    this.keyInForce = now?.fingerprint;
    return now;
  }

  /** A promoted key is noticed here even when nothing dials. */
  private checkKey(): void {
    this.identity();
  }

  /** Dialled with a key that is no longer in force: replaced once enough on the current key are up. */
  private stale(c: Conn): boolean {
    return c.fingerprint !== this.keyInForce;
  }

  /**
   * Connections on a previous key are withdrawn (links drain: their live tunnels finish) once the
   * current key has a full pool: never before, so a new key the ingress refuses leaves them serving.
   */
  private retireStale(): void {
    if (this.stopped) return;
    const want = this.linkMode ? (this.o.links ?? DEFAULT_LINKS) : (this.o.pool ?? DEFAULT_POOL);
    let fresh = 0;
    for (const c of this.conns) if (c.state === 'idle' && !this.stale(c)) fresh++;
    if (fresh < want) return;
    for (const c of [...this.conns]) {
      if (c.state !== 'idle' || !this.stale(c)) continue;
      this.log.info({ key: c.fingerprint }, 'a connection on the previous link key withdrawn (its live tunnels finish)');
      this.withdraw(c);
    }
  }

  get idle(): number {
    let n = 0;
    for (const c of this.conns) if (c.state === 'idle') n++;
    return n;
  }

  get activeTunnels(): number {
    return this.tunnels.size + this.streams.size;
  }

  /** Links the ingress accepted and that take new streams. */
  get links(): number {
    let n = 0;
    for (const c of this.conns) if (c.link && c.state === 'idle') n++;
    return n;
  }

  /** Work connections (or links) by state, and tunnels carrying traffic (metrics, health). */
  stats(): { idle: number; dialing: number; withdrawing: number; tunnels: number; links: number } {
    return { idle: this.count('idle'), dialing: this.count('dialing'), withdrawing: this.count('withdrawing'), tunnels: this.activeTunnels, links: this.links };
  }

  /** The key each connection was dialled with, and its state ('idle': takes streams): a key rotation's progress here. */
  connectionKeys(): Array<{ fingerprint: string | undefined; state: State }> {
    return [...this.conns].map((c) => ({ fingerprint: c.fingerprint, state: c.state }));
  }

  /** The fingerprint new connections present (undefined: no identity). */
  get linkKey(): string | undefined {
    return this.keyInForce;
  }

  private get linkMode(): boolean {
    return (this.o.mode ?? 'link') === 'link';
  }

  private count(state: State, currentKeyOnly = false): number {
    let n = 0;
    for (const c of this.conns) if (c.state === state && !(currentKeyOnly && this.stale(c))) n++;
    return n;
  }

  /**
   * Open work connections until `pool` are idle or on their way; one at a time while the ingress keeps failing.
   * Only those on the key in force count: after a promotion, a full pool on the new key is dialled.
   */
  private refill(): void {
    if (this.stopped || this.retryTimer) return;
    let want = (this.linkMode ? (this.o.links ?? DEFAULT_LINKS) : (this.o.pool ?? DEFAULT_POOL)) - this.count('idle', true) - this.count('dialing', true);
    if (this.failures > 0) want = Math.min(want, 1 - this.count('dialing'));
    for (let i = 0; i < want; i++) this.dial();
  }

  private backoff(): void {
    this.failures++;
    if (this.stopped || this.retryTimer) return;
    const delay = backoffDelay(this.failures - 1, { baseMs: this.o.backoffMs ?? 250, maxMs: this.o.maxBackoffMs ?? 30_000, jitter: 0.5 });
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      this.refill();
    }, delay);
    this.retryTimer.unref();
  }

  private resetBackoff(): void {
    this.failures = 0;
    clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
  }

  private dial(): void {
    const o = this.o;
    const identity = this.identity();
    const socket = tlsConnect({
      host: o.host,
      port: o.port,
      ca: o.ca,
      servername: o.servername ?? (isIP(o.host) ? undefined : o.host),
      // An IP in --connect-to is checked against the certificate's IP SANs (SNI carries names only).
      minVersion: 'TLSv1.2',
      // With an identity, no resumption: a resumed session may not carry the client certificate the ingress checks.
      session: identity ? undefined : this.session,
      ...(identity ? { key: identity.key, cert: identity.cert } : {}),
      // Half-close passes through a tunnel (TLSSocket honours it; the typings omit it).
      ...({ allowHalfOpen: true } as object),
    });
    socket.on('session', (ticket: Buffer) => (this.session = ticket));
    const conn: Conn = { socket, state: 'dialing', buf: EMPTY, fingerprint: identity?.fingerprint };
    this.conns.add(conn);
    socket.setNoDelay(true);
    let registered = false;
    socket.setTimeout(o.connectTimeoutMs ?? LIMITS.connectTimeoutMs, () => socket.destroy(new Error('no answer from the ingress in time')));
    socket.on('error', (err: Error) => {
      if (!registered) this.log.warn({ ingress: `${o.host}:${o.port}`, err: err.message }, 'work connection failed');
    });
    let resumed = false;
    socket.once('secureConnect', () => {
      resumed = socket.isSessionReused();
      socket.write(registrationPacket({ exit: o.id, token: o.token, link: this.linkMode }));
    });
    // The ingress ended a work connection that carries no tunnel (it released it for another
    // ingress worker, the exit was reconfigured, a missed heartbeat): it is gone, and half-open
    // (allowHalfOpen) it would linger until the idle timeout instead of being replaced now.
    socket.once('end', () => {
      if (conn.link || (conn.state !== 'idle' && conn.state !== 'dialing')) return;
      // A registered one ended cleanly: the ingress is reachable, so its replacement does not wait out an earlier refusal's backoff.
      if (conn.state === 'idle') this.resetBackoff();
      socket.destroy();
    });
    socket.once('close', () => {
      this.conns.delete(conn);
      if (!registered) return this.backoff();
      if (conn.state === 'idle' || conn.state === 'dialing') this.refill(); // lost while idle: replace it
    });
    const onData = (chunk: Buffer): void => {
      conn.buf = conn.buf.length === 0 ? chunk : Buffer.concat([conn.buf, chunk]);
      while (conn.buf.length > 0) {
        const r = parsePacket(conn.buf);
        if (r.kind === 'more') {
          if (conn.buf.length > MAX_PACKET_BYTES) socket.destroy();
          return;
        }
        if (r.kind === 'error') {
          this.log.warn({ err: r.message }, 'ingress broke the work packet framing');
          return void socket.destroy();
        }
        conn.buf = r.consumed >= conn.buf.length ? EMPTY : conn.buf.subarray(r.consumed);
        const p = r.value;
        if (conn.state === 'dialing') {
          if (p.mode === 'keepalive') {
            registered = true;
            this.failures = 0;
            this.lastRefusal = undefined;
            this.counters.registered++;
            if (resumed) this.counters.resumed++; // counted with the acceptance, so resumed ≤ registered
            const hb = Number(p.props.get('heartbeat-ms'));
            // Within what an ingress can be configured with: 1 ms or an overflowing timer would drop healthy connections in a loop.
            if (hb > 0) this.heartbeatMs = Math.min(Math.max(hb, REVERSE_HEARTBEAT_MS.min), REVERSE_HEARTBEAT_MS.max);
            if (p.props.get('link') === '1') return this.becomeLink(conn, onData);
            conn.state = 'idle';
            // Silence longer than 2.5 heartbeat intervals: the ingress (or the path to it) is gone.
            socket.setTimeout(Math.ceil(this.heartbeatMs * 2.5), () => socket.destroy());
            this.readyResolve();
            if (this.stopped) this.withdraw(conn);
            else {
              this.refill();
              this.retireStale();
            }
            continue;
          }
          const res = p.mode === 'response' ? parseResponse(p) : undefined;
          this.lastRefusal = res && !res.ok ? `${res.code}: ${res.message}` : `unexpected ${p.mode} packet`;
          // Refused on a promoted key while the previous key's connections still serve: the usual mistake is a key not pinned yet.
          const oldServe = [...this.conns].some((c) => c.state === 'idle' && c.fingerprint !== conn.fingerprint);
          const what = oldServe ? 'ingress refused this exit on its new link key; connections on the previous key keep serving (pin the new key: nextLinkFingerprint)' : 'ingress refused this exit';
          this.log.error({ ingress: `${o.host}:${o.port}`, reason: this.lastRefusal, key: conn.fingerprint }, what);
          return void socket.destroy();
        }
        if (p.mode === 'heartbeat') {
          if (!p.props.has('ack')) socket.write(heartbeatPacket(p.id, true));
          continue;
        }
        if (p.mode === 'empty' && conn.state === 'withdrawing') return void socket.end(); // the ingress let it go
        if (p.mode === 'request' || p.mode === 'direct-data') {
          socket.off('data', onData);
          socket.pause();
          const rest = conn.buf;
          conn.buf = EMPTY;
          const wasIdle = conn.state === 'idle';
          conn.state = 'busy';
          this.conns.delete(conn);
          if (wasIdle) this.refill();
          this.serve(socket, p, rest).catch((err: unknown) => {
            this.log.warn({ err: String(err) }, 'work connection failed while serving a request');
            socket.destroy();
          });
          return;
        }
        this.log.warn({ mode: p.mode }, 'unexpected packet on an idle work connection');
        return void socket.destroy();
      }
    };
    socket.on('data', onData);
  }

  /**
   * The ingress accepted this connection as a link: link frames from here on. Its heartbeat
   * replaces the socket timeout; a GOAWAY (token rotated, moved to another worker, ingress
   * draining) takes it out of the count at once, so a new link is dialled while its streams finish.
   */
  private becomeLink(conn: Conn, onData: (chunk: Buffer) => void): void {
    const socket = conn.socket;
    socket.off('data', onData);
    socket.pause();
    socket.setTimeout(0);
    if (conn.buf.length > 0) socket.unshift(conn.buf);
    conn.buf = EMPTY;
    const link = new LinkSession(socket, { dialled: true, heartbeatMs: this.heartbeatMs, name: `link to ${this.o.host}:${this.o.port}`, udpDrainMs: this.o.drainTimeoutMs ?? LIMITS.drainTimeoutMs });
    conn.link = link;
    conn.state = 'idle';
    socket.resume();
    link.on('stream', (stream, req) => {
      if (conn.state !== 'idle') return stream.refuse('SHUTTING_DOWN', 'this link is draining');
      this.serveStream(stream, req).catch((err: unknown) => {
        this.log.warn({ err: String(err) }, 'link stream failed');
        stream.destroy();
      });
    });
    link.on('goaway', () => {
      if (conn.state !== 'idle') return;
      conn.state = 'withdrawing';
      // The ingress answered and let this link go on purpose: it is reachable, so an earlier
      // refusal's backoff does not hold the replacement back (it is dialled at once).
      this.resetBackoff();
      this.refill();
    });
    link.on('close', (err) => {
      if (err && !this.stopped) this.log.warn({ ingress: `${this.o.host}:${this.o.port}`, reason: err.message }, 'link broken');
    });
    this.readyResolve();
    if (this.stopped) this.withdraw(conn);
    else {
      this.refill();
      this.retireStale();
    }
  }

  /** One stream: the same checks and answers as a request on a work connection, then relayed. */
  private async serveStream(stream: LinkStream, open: OpenRequest): Promise<void> {
    this.streams.add(stream);
    stream.once('close', () => this.streams.delete(stream));
    if (open.kind === 'udp') return this.serveUdpStream(stream, open);
    const req = parseLinkOpen(open.host, open.port, open.context);
    let target: Socket;
    try {
      if (typeof req === 'string') throw new ProxyError('BAD_REQUEST', req);
      target = await this.connect(req, LINK_TARGET_READS); // relayed into a link stream, as a forward exit's (link-listener.ts)
    } catch (err) {
      const { code, message } = this.refusal(err, `${open.host}:${open.port}`);
      return stream.refuse(code, message);
    }
    // The ingress gave up meanwhile (its client left, or its deadline passed): the target goes too.
    if (stream.destroyed) return void target.destroy();
    this.counters.served++;
    stream.accept(`${target.localAddress ?? ''}:${target.localPort ?? 0}`);
    relayStream(stream, target, this.o.idleTimeoutMs ?? LIMITS.idleTimeoutMs);
  }

  /** A UDP association: the exit's policy and the ingress's networks on every datagram's resolved target (relay-udp.ts). */
  private serveUdpStream(stream: LinkStream, open: OpenRequest): Promise<void> {
    const nets = parseLinkNets(open.context);
    if (typeof nets === 'string') return Promise.resolve(stream.refuse('BAD_REQUEST', nets));
    const egress = { localAddress: this.o.egress, localAddress6: this.o.egress6 };
    return relayUdpStream(stream, { egress, policy: this.o.policy, ...nets, idleMs: LIMITS.udpIdleTimeoutMs }, this.counters);
  }

  /** One request: check it, connect from the egress address, answer, relay. */
  private async serve(work: TLSSocket, p: WorkPacket, rawAfter: Buffer): Promise<void> {
    work.setTimeout(0);
    this.tunnels.add(work);
    work.once('close', () => this.tunnels.delete(work));
    const req = parseRequest(p);
    let target: Socket;
    try {
      if (typeof req === 'string') throw new ProxyError('BAD_REQUEST', req);
      target = await this.connect(req);
    } catch (err) {
      const { code, message } = this.refusal(err, typeof req === 'string' ? undefined : formatTarget(req.target));
      work.end(responsePacket(p.id, { ok: false, code, message }));
      setTimeout(() => work.destroy(), 1000).unref();
      return;
    }
    if (work.destroyed) return void target.destroy();
    this.counters.served++;
    work.write(responsePacket(p.id, { ok: true, bind: `${target.localAddress ?? ''}:${target.localPort ?? 0}` }));
    if (req.early.length > 0) target.write(req.early);
    if (rawAfter.length > 0) target.write(rawAfter);
    pipeBoth(work, target, this.o.idleTimeoutMs ?? LIMITS.idleTimeoutMs);
  }

  /** Why a request gets no target (its code and message for the ingress), counted and logged. */
  private refusal(err: unknown, target: string | undefined): { code: ErrorCode; message: string } {
    const code = isProxyError(err) ? err.code : codeFromSystemError(err);
    if (code === 'TARGET_FORBIDDEN') this.counters.refusedTargets++;
    else this.counters.dialFailures++;
    const message = (err as Error).message;
    this.log.info({ target, code, reason: message }, 'request refused or failed');
    return { code, message };
  }

  private async connect(req: WorkRequest, readBuffers?: ReadBuffers): Promise<Socket> {
    const timeoutMs = this.o.connectTimeoutMs ?? LIMITS.connectTimeoutMs;
    let addrs = await resolveAllowed(req.target, this.o.policy);
    // The ingress's rule for this exit travels with the request; it applies to the resolved address too.
    if (req.allowNets.length > 0 || req.denyNets.length > 0) {
      const allow = new CidrSet(req.allowNets);
      const deny = new CidrSet(req.denyNets);
      addrs = addrs.filter((a) => !deny.hasText(a) && (allow.size === 0 || allow.hasText(a)));
      if (addrs.length === 0) throw new ProxyError('TARGET_FORBIDDEN', `${req.target.host} is outside the networks the ingress allows this exit`);
    }
    // Each family leaves from its own egress address, both raced (happy eyeballs).
    return connectFirst(addrs, req.target, timeoutMs, { localAddress: this.o.egress, localAddress6: this.o.egress6, localPorts: this.o.egressPorts, readBuffers });
  }

  private withdraw(conn: Conn): void {
    conn.state = 'withdrawing';
    if (conn.link) return conn.link.drain('exit draining'); // live streams finish; the link closes after them
    conn.socket.write(withdrawPacket());
    // Unanswered after 2 s: gone. Not once a request that crossed the withdrawal made it a tunnel (state busy).
    setTimeout(() => conn.state === 'withdrawing' && conn.socket.destroy(), 2000).unref();
  }

  /**
   * Drain: stop refilling, withdraw every idle work connection (a request that
   * crossed the withdrawal is still served), let tunnels finish for `drainMs`
   * (default: this exit's own drainTimeoutMs), then cut the rest.
   */
  async stop(drainMs: number = this.o.drainTimeoutMs ?? LIMITS.drainTimeoutMs): Promise<void> {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    clearInterval(this.keyTimer);
    for (const c of [...this.conns]) {
      if (c.state === 'idle') this.withdraw(c);
      else if (c.state === 'dialing') c.socket.destroy();
    }
    const deadline = Date.now() + drainMs;
    while ((this.tunnels.size > 0 || this.conns.size > 0) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
    for (const t of this.tunnels) t.destroy();
    for (const c of this.conns) {
      if (c.link) c.link.destroy('exit stopped');
      else c.socket.destroy();
    }
  }
}
