/**
 * The exit's side of links (issue 19, docs/EXITS.md): a TLS port where
 * ingresses keep long-lived links, each stream one customer tunnel.
 *
 * Who may link: a connection from an allow-listed ingress address AND
 * presenting a pinned certificate (the ingress's link identity). Both, as for
 * SOCKS5 (address + relay secret): a stolen key alone must not open a proxy to
 * the world, nor a shared source address alone. The address is checked before
 * the TLS handshake, so strangers cost no handshake.
 *
 * Each stream open is served as a SOCKS5 CONNECT would be: the exit's own
 * target policy on the resolved addresses, its egress addresses and ports, its
 * connect timeout; the answer is the exact result code (TARGET_FORBIDDEN,
 * CONN_REFUSED, DNS_FAILED, TIMEOUT…) where SOCKS5 could only give a REP byte.
 * A UDP stream (kind=udp) is a UDP association served as the SOCKS5 port serves
 * one: same policy and egress, datagrams as DATAGRAM frames (relay-udp.ts).
 */
import { LinkTraffic, type LinkTrafficFigures } from '../link/traffic.js';
import type { Socket } from 'node:net';
import type { Server, TLSSocket } from 'node:tls';
import { codeFromSystemError, isProxyError } from '../shared/errors.js';
import { CidrSet } from '../shared/net-addr.js';
import type { Logger } from '../shared/log.js';
import type { TargetPolicy } from '../shared/net/target-policy.js';
import { connectFirst, type ConnectOptions } from '../shared/net/connect-tcp.js';
import { resolveAllowed } from '../shared/net/resolve-allowed.js';
import { within } from '../shared/deadline.js';
import { targetKind } from '../protocol/address.js';
import { isPinned, linkTlsContext, linkTlsServer, peerFingerprint, type LinkIdentity } from '../link/identity.js';
import { LinkSession, type OpenRequest } from '../link/session.js';
import type { LinkStream } from '../link/stream.js';
import { LINK_TARGET_READS, relayStream } from './relay-stream.js';
import { newUdpRelayCounters, relayUdpStream, type UdpRelayCounters } from './relay-udp.js';
import { LIMITS } from '../shared/limits.js';

export interface ExitLinkOptions {
  readonly host: string;
  readonly port: number;
  readonly identity: LinkIdentity;
  /** Fingerprints of the ingresses' link certificates this exit accepts. */
  readonly allowIngress: readonly string[];
  /** Ingress addresses that may connect at all (CIDRs). */
  readonly allowFrom: readonly string[];
  readonly policy: TargetPolicy;
  readonly egress: ConnectOptions;
  readonly connectTimeoutMs: number;
  readonly idleTimeoutMs: number;
  /** A UDP stream ends after this long without a datagram (default LIMITS.udpIdleTimeoutMs, as the SOCKS5 port's associations). */
  readonly udpIdleTimeoutMs?: number;
  readonly heartbeatMs?: number;
  /** How long a drained link's UDP streams go on after the GOAWAY (the exit's limits.drainTimeoutMs; default LIMITS.drainTimeoutMs). */
  readonly drainTimeoutMs?: number;
  readonly log: Logger;
}

/** What an exit's links did, for its metrics and tests (UDP streams: relay-udp.ts). */
export interface ExitLinkCounters extends UdpRelayCounters {
  links: number;
  /** Links that ended broken (connection lost, heartbeat, protocol error), not drained. */
  brokenLinks: number;
  refusedLinks: number;
  streams: number;
  served: number;
  failed: number;
}


export class ExitLinkListener {
  readonly counters: ExitLinkCounters = { links: 0, brokenLinks: 0, refusedLinks: 0, streams: 0, served: 0, failed: 0, ...newUdpRelayCounters() };
  private readonly sessions = new Set<LinkSession>();
  /** Each link's ingress certificate: a link whose key is no longer pinned is drained. */
  private readonly peers = new Map<LinkSession, string>();
  private allowIngress: readonly string[];
  private identity: LinkIdentity;
  /** Payload bytes and window stalls over every link, closed ones kept. */
  private readonly carried = new LinkTraffic();

  private constructor(
    private readonly server: Server,
    private readonly o: ExitLinkOptions,
  ) {
    this.allowIngress = o.allowIngress;
    this.identity = o.identity;
  }

  /** The ingress fingerprints accepted from now on (from the control plane, GET /v1/link-pins). */
  get pins(): readonly string[] {
    return this.allowIngress;
  }

  /** The ingress certificates of the links taking new streams (not draining). */
  get liveIngressKeys(): string[] {
    return [...this.peers].filter(([l]) => !l.draining && !l.broken).map(([, fp]) => fp);
  }

  /** This exit's certificate on new links. */
  get fingerprint(): string {
    return this.identity.fingerprint;
  }

  /**
   * New pins: new links are checked against them; a live link whose ingress key is no longer
   * pinned (retired) is drained — its TCP streams finish, its UDP streams end, and it opens no new ones.
   */
  setPins(pins: readonly string[]): void {
    this.allowIngress = [...pins];
    for (const [session, fp] of this.peers) {
      if (isPinned(fp, pins)) continue;
      this.o.log.warn({ fingerprint: fp }, 'link drained: its ingress key is no longer pinned');
      session.drain('ingress key retired');
      // A UDP stream is no running tunnel: each datagram may go to a new target, so it ends.
      session.endDatagramStreams('ingress key retired');
    }
  }

  /** Present `identity` on new links (a rotated key); live links keep theirs. */
  setIdentity(identity: LinkIdentity): void {
    if (identity.fingerprint === this.identity.fingerprint) return;
    this.identity = identity;
    this.server.setSecureContext(linkTlsContext(identity));
  }

  static async start(o: ExitLinkOptions): Promise<ExitLinkListener> {
    const from = new CidrSet(o.allowFrom);
    let self!: ExitLinkListener;
    const server = linkTlsServer(
      {
        identity: o.identity,
        pinned: () => self.allowIngress,
        onRefused: (why) => {
          self.counters.refusedLinks++;
          o.log.warn({ reason: why }, 'link refused');
        },
      },
      (socket) => self.accept(socket),
    );
    self = new ExitLinkListener(server, o);
    // Before the handshake: an address that may not link costs nothing more than an accept.
    server.on('connection', (sock: Socket) => {
      if (!from.hasText(sock.remoteAddress ?? '')) {
        self.counters.refusedLinks++;
        o.log.warn({ source: sock.remoteAddress }, 'link refused: source not in --allow-from');
        sock.destroy();
      }
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(o.port, o.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    return self;
  }

  get port(): number {
    const a = this.server.address();
    return typeof a === 'object' && a ? a.port : 0;
  }

  get linkCount(): number {
    return this.sessions.size;
  }

  /** Streams open now over every link. */
  get streamCount(): number {
    let n = 0;
    for (const s of this.sessions) n += s.streamCount;
    return n;
  }

  traffic(): LinkTrafficFigures {
    return this.carried.totals(this.sessions);
  }

  private accept(socket: TLSSocket): void {
    const session = new LinkSession(socket, { dialled: false, heartbeatMs: this.o.heartbeatMs ?? 10_000, name: `link from ${socket.remoteAddress}`, udpDrainMs: this.o.drainTimeoutMs ?? LIMITS.drainTimeoutMs });
    this.counters.links++;
    this.sessions.add(session);
    this.peers.set(session, peerFingerprint(socket) ?? '');
    session.on('close', (err) => {
      this.sessions.delete(session);
      this.peers.delete(session);
      this.carried.retire(session);
      if (!err) return;
      this.counters.brokenLinks++;
      this.o.log.info({ reason: err.message }, 'link broken');
    });
    session.on('stream', (stream, req) => {
      this.serve(stream, req).catch((err: unknown) => {
        this.o.log.error({ err: String(err) }, 'link stream failed');
        stream.destroy();
      });
    });
  }

  /** One tunnel: check, connect from the egress address, answer with the exact code, relay. */
  private async serve(stream: LinkStream, req: OpenRequest): Promise<void> {
    this.counters.streams++;
    if (req.kind === 'udp') {
      const udp = { egress: this.o.egress, policy: this.o.policy, idleMs: this.o.udpIdleTimeoutMs ?? LIMITS.udpIdleTimeoutMs };
      return relayUdpStream(stream, udp, this.counters);
    }
    let target: Socket;
    try {
      const t = { host: req.host, port: req.port, kind: targetKind(req.host) };
      const until = Date.now() + this.o.connectTimeoutMs;
      const addrs = await within(resolveAllowed(t, this.o.policy), this.o.connectTimeoutMs, `resolving ${req.host} timed out`);
      target = await connectFirst(addrs, t, until - Date.now(), { ...this.o.egress, readBuffers: LINK_TARGET_READS });
    } catch (err) {
      this.counters.failed++;
      const code = isProxyError(err) ? err.code : codeFromSystemError(err);
      stream.refuse(code, (err as Error).message);
      return;
    }
    // The ingress gave up meanwhile (its client left, or its deadline passed): the target goes too.
    if (stream.destroyed) return void target.destroy();
    this.counters.served++;
    stream.accept(`${target.localAddress ?? ''}:${target.localPort ?? 0}`);
    relayStream(stream, target, this.o.idleTimeoutMs);
  }

  /** No new links or streams; live streams finish within `drainMs` (GOAWAY), then the rest are cut. */
  async close(drainMs = 2000): Promise<void> {
    this.server.close();
    for (const s of this.sessions) s.drain('exit shutting down');
    const until = Date.now() + drainMs;
    while (this.sessions.size > 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 25));
    for (const s of [...this.sessions]) s.destroy('exit shut down');
  }

  /** Break every link now (tests: a link dying under live streams). */
  breakAll(): void {
    for (const s of [...this.sessions]) s.destroy('broken on purpose');
  }
}
