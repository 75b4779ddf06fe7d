/**
 * Links to hopgate exits (issue 19, docs/EXITS.md): for each exit with a
 * `link`, a few long-lived mutually authenticated TLS connections, each
 * carrying one stream per customer tunnel, instead of a TCP connection and a
 * SOCKS5 handshake per tunnel.
 *
 * A pool opens its links on first use and keeps them: a new stream goes to the
 * healthy link with the fewest streams; a link that breaks fails its streams
 * (the relay passes that on as a reset) and is replaced with back-off. While
 * no link is up, opens fail at once with EXIT_UNREACHABLE, so routing moves on
 * to another exit instead of queueing customers behind a dead one.
 */
import { LinkTraffic, type LinkTrafficFigures } from '../../link/traffic.js';
import { EXIT_TARGET_CODES, ProxyError, type ErrorCode } from '../../shared/errors.js';
import { backoffDelay, type BackoffPolicy } from '../../shared/backoff.js';
import { LIMITS } from '../../shared/limits.js';
import { within } from '../../shared/deadline.js';
import type { ForwardExitConfig, HopConfig, IngressConfig } from '../../shared/schema/ingress-config.js';
import type { TLSSocket } from 'node:tls';
import { targetKind, type TargetAddress } from '../../protocol/address.js';
import { throughHops } from './hop-chain.js';
import { handshakeHop } from './hop-handshake.js';
import { dialLinkTls, isPinned, LinkIdentitySource, peerFingerprint, pinsOf } from '../../link/identity.js';
import { LinkSession } from '../../link/session.js';
import type { LinkStream } from '../../link/stream.js';
import { LinkError, olderPeerUdpRefusal } from '../../link/errors.js';

const RECONNECT: BackoffPolicy = { baseMs: 100, maxMs: 10_000, jitter: 0.5 };

export interface LinkSettings {
  /** This node's identity, read again after a key rotation (`hopgate link-key promote`): new links present the new key. */
  readonly identity: LinkIdentitySource;
  /** Links kept to each exit. */
  readonly perExit: number;
  readonly heartbeatMs: number;
}

/** Ways an open may fail: the exit's own answer, or no way to reach it. */
function asProxyError(err: unknown, exitId: string): ProxyError {
  if (err instanceof ProxyError) return err;
  if (err instanceof LinkError && err.code === 'OPEN_REFUSED' && err.result && EXIT_TARGET_CODES.has(err.result)) {
    return new ProxyError(err.result as ErrorCode, `exit ${exitId}: ${err.message}`);
  }
  return new ProxyError('EXIT_UNREACHABLE', `exit ${exitId}: ${(err as Error).message}`, { cause: err });
}

/** The same route to the exit's link port: a reload that changes its hops replaces the links. */
function sameHops(a: readonly HopConfig[], b: readonly HopConfig[]): boolean {
  return a.length === b.length && a.every((h, i) => JSON.stringify(h) === JSON.stringify(b[i]));
}

/** The links to one exit. */
export class ExitLinks {
  private readonly links: LinkSession[] = [];
  /** The exit certificate each link was made with: a link whose key is no longer pinned is drained. */
  private readonly peers = new Map<LinkSession, string>();
  private connecting: Promise<LinkSession> | undefined;
  /** Links whose exit refused a UDP open as an older exit does, and its answer: not asked again (a new link is). */
  private readonly noUdp = new WeakMap<LinkSession, LinkError>();
  private failures = 0;
  private retryAt = 0;
  private lastError = '';
  private retryTimer: NodeJS.Timeout | undefined;
  private closed = false;
  /** Links opened since the pool started (the first included) and broken ones: for /metrics and tests. */
  connects = 0;
  breaks = 0;
  /** Payload bytes and window stalls, closed links' kept: the counters never go back when a link ends. */
  private readonly traffic = new LinkTraffic();

  constructor(
    public exit: ForwardExitConfig & { link: NonNullable<ForwardExitConfig['link']> },
    private readonly settings: LinkSettings,
    /** How long a drained link's UDP associations go on (the configuration's limits.drainTimeoutMs, read per link). */
    private readonly udpDrainMs: () => number = () => LIMITS.drainTimeoutMs,
  ) {}

  /** Same address, same link settings: a reload keeps the pool (new pins are taken by repin). */
  sameAs(exit: ForwardExitConfig, settings: LinkSettings): boolean {
    const a = this.exit;
    return exit.link !== undefined && a.host === exit.host && a.link.port === exit.link.port && sameHops(a.via, exit.via) && settings === this.settings;
  }

  /** The exit certificates accepted: the current one, and the next during a key rotation. */
  get pins(): string[] {
    return pinsOf(this.exit.link.fingerprint, this.exit.link.nextFingerprint)!;
  }

  /** The exit certificates of the links taking new streams (not draining): after a rotation, only the new key's. */
  get liveKeys(): string[] {
    return [...this.peers].filter(([l]) => !l.draining && !l.broken).map(([, fp]) => fp);
  }

  /**
   * New pins for the same exit (a key rotation step): links whose exit key is still pinned go
   * on; one whose key was retired is drained (live streams finish, new ones go to fresh links).
   */
  repin(exit: ForwardExitConfig): void {
    if (!exit.link) return;
    this.exit = exit as ExitLinks['exit'];
    const pins = this.pins;
    for (const [session, fp] of this.peers) {
      if (isPinned(fp, pins)) continue;
      session.drain('exit key retired');
      // A UDP association is no running tunnel (each datagram may go to a new target): it ends.
      session.endDatagramStreams('exit key retired');
    }
  }

  get streamCount(): number {
    return this.links.reduce((n, l) => n + l.streamCount, 0);
  }

  get linkCount(): number {
    return this.links.length;
  }

  /** DATA payload bytes to and from the exit, and window stalls (waits for the exit's credit), over every link since the pool started. */
  get totals(): LinkTrafficFigures {
    return this.traffic.totals(this.links);
  }

  /** The latest heartbeat (or probe) round trip on any of the links, ms. */
  get rttMs(): number | undefined {
    for (const l of this.links) if (l.rttMs !== undefined) return l.rttMs;
    return undefined;
  }

  /** One stream to `target` through this exit; the exit's answer is the result. */
  open(target: TargetAddress, timeoutMs: number): Promise<LinkStream> {
    return this.openOn((link, signal) => link.open(target.host, target.port, {}, signal), timeoutMs, `${target.host}:${target.port}`);
  }

  /**
   * A UDP stream through this exit (one per association): datagrams go as DATAGRAM frames, the
   * exit sends them from its egress address. An exit from before UDP over links refuses the open
   * (it sees no target): COMMAND_UNSUPPORTED, so the caller may use the exit's SOCKS5 port instead.
   */
  async openDatagrams(timeoutMs: number): Promise<LinkStream> {
    let asked: LinkSession | undefined;
    try {
      return await this.openOn(
        (link, signal) => {
          asked = link;
          // Refused once on this link: its exit is older than UDP over links for as long as the link lives.
          const known = this.noUdp.get(link);
          return known ? Promise.reject(known) : link.openDatagrams({}, signal);
        },
        timeoutMs,
        'a UDP association',
      );
    } catch (err) {
      const cause = olderPeerUdpRefusal(err);
      if (cause) {
        if (asked) this.noUdp.set(asked, cause);
        throw new ProxyError('COMMAND_UNSUPPORTED', `exit ${this.exit.id} carries no UDP over its link (an older hopgate exit): ${cause.message}`, { cause });
      }
      throw err;
    }
  }

  private async openOn(opener: (link: LinkSession, signal: AbortSignal) => Promise<LinkStream>, timeoutMs: number, what: string): Promise<LinkStream> {
    const until = Date.now() + timeoutMs;
    // A GOAWAY racing our open refuses it untouched: one more try on another link.
    for (let attempt = 0; ; attempt++) {
      const link = await this.pick(timeoutMs);
      const giveUp = new AbortController();
      try {
        // A stream that opens after we gave up is reset at once, not left open at the exit.
        return await within(opener(link, giveUp.signal), Math.max(0, until - Date.now()), `exit ${this.exit.id}: no answer over the link for ${what}`, (s) => s.destroy());
      } catch (err) {
        // Still unanswered: reset at the exit and forgotten here (an exit that never answers keeps nothing).
        giveUp.abort();
        if (attempt === 0 && err instanceof LinkError && (err.code === 'LINK_DRAINING' || err.code === 'STREAM_LIMIT')) continue;
        throw asProxyError(err, this.exit.id);
      }
    }
  }

  /** Health probe: a link is up (dialled if need be) and answers a PING in time. */
  async probe(timeoutMs: number): Promise<number> {
    const link = await this.pick(timeoutMs);
    return within(link.ping(), timeoutMs, `exit ${this.exit.id}: link PING unanswered`).catch((err: unknown) => {
      throw asProxyError(err, this.exit.id);
    });
  }

  /** No new streams; live ones finish, then the links close. */
  drain(): void {
    this.closed = true;
    clearTimeout(this.retryTimer);
    // A copy: an idle link closes inside drain() and leaves this.links at once.
    for (const l of [...this.links]) l.drain('ingress draining');
  }

  destroy(): void {
    this.closed = true;
    clearTimeout(this.retryTimer);
    for (const l of [...this.links]) l.destroy('ingress closed the link');
  }

  private healthy(): LinkSession | undefined {
    let best: LinkSession | undefined;
    for (const l of this.links) {
      if (l.broken || l.draining) continue;
      if (!best || l.streamCount < best.streamCount) best = l;
    }
    return best;
  }

  private async pick(timeoutMs: number): Promise<LinkSession> {
    if (this.closed) throw new ProxyError('EXIT_UNREACHABLE', `exit ${this.exit.id}: links closed (ingress draining)`);
    const best = this.healthy();
    if (best) {
      if (this.links.length < this.settings.perExit) this.grow();
      return best;
    }
    if (this.connecting) return this.connecting;
    const wait = this.retryAt - Date.now();
    if (wait > 0) throw new ProxyError('EXIT_UNREACHABLE', `exit ${this.exit.id}: link down (${this.lastError}); next attempt in ${Math.ceil(wait)} ms`);
    return this.connect(timeoutMs);
  }

  /** One more link in the background (a failure only moves the back-off). */
  private grow(): void {
    if (this.connecting || this.closed || Date.now() < this.retryAt) return;
    this.connect(10_000).catch(() => undefined);
  }

  private connect(timeoutMs: number): Promise<LinkSession> {
    const { host, link } = this.exit;
    const p = this.dial(Math.max(1, timeoutMs)).then(
      (socket) => {
        const session = new LinkSession(socket, { dialled: true, heartbeatMs: this.settings.heartbeatMs, name: `link to exit ${this.exit.id}`, udpDrainMs: this.udpDrainMs() });
        this.connects++;
        this.failures = 0;
        this.retryAt = 0;
        if (this.closed) {
          session.destroy('pool closed while connecting');
          throw new ProxyError('EXIT_UNREACHABLE', `exit ${this.exit.id}: links closed (ingress draining)`);
        }
        // Pinned at the dial's start; a reload may have retired that key meanwhile (repin saw no session to drain).
        const fp = peerFingerprint(socket) ?? '';
        if (!isPinned(fp, this.pins)) {
          session.destroy('exit key retired while connecting');
          throw new ProxyError('EXIT_UNREACHABLE', `exit ${this.exit.id}: its key was retired while the link was being made`);
        }
        this.links.push(session);
        this.peers.set(session, fp);
        session.on('close', (err) => this.onClose(session, err));
        return session;
      },
      (err: unknown) => {
        this.failures++;
        this.lastError = (err as Error).message;
        this.retryAt = Date.now() + backoffDelay(this.failures - 1, RECONNECT);
        throw new ProxyError('EXIT_UNREACHABLE', `exit ${this.exit.id}: link ${host}:${link.port}: ${this.lastError}`, { cause: err });
      },
    );
    this.connecting = p;
    const clear = (): void => {
      if (this.connecting === p) this.connecting = undefined;
    };
    p.then(clear, clear);
    return p;
  }

  /** The link's TLS connection: to the exit's link port, or through its `via` hops to it (one hop handshake per link, not per tunnel). */
  private async dial(timeoutMs: number): Promise<TLSSocket> {
    const { host, link, via } = this.exit;
    const tls = { host, port: link.port, identity: this.settings.identity.current(), pinned: this.pins };
    // Direct: the link's TLS reads into slabs (no fresh buffer per record); through hops Node ignores onread.
    if (via.length === 0) return dialLinkTls({ ...tls, timeoutMs, slabReads: true });
    // One budget for the hops and the TLS handshake: the caller already added the exit's answer grace.
    const until = Date.now() + timeoutMs;
    const exitId = this.exit.id;
    const chain = { hops: via, name: (h: HopConfig) => `hop ${h.host}:${h.port} (before exit ${exitId}'s link)`, what: `link route to exit ${exitId}`, graceMs: 0 };
    const linkPort = { host, port: link.port, kind: targetKind(host) };
    const socket = await throughHops(chain, timeoutMs, (s, last, cred) => handshakeHop(s, last.kind, chain.name(last), linkPort, cred));
    const left = until - Date.now();
    if (left <= 0) {
      socket.destroy();
      throw new ProxyError('TIMEOUT', `link route to exit ${exitId}: the hops took the whole ${timeoutMs} ms, none left for TLS`);
    }
    return dialLinkTls({ ...tls, socket, timeoutMs: left }).catch((err: unknown) => {
      socket.destroy();
      throw err;
    });
  }

  private onClose(session: LinkSession, err: LinkError | undefined): void {
    const i = this.links.indexOf(session);
    this.peers.delete(session);
    if (i >= 0) {
      this.links.splice(i, 1);
      this.traffic.retire(session);
    }
    if (!err || this.closed) return;
    this.breaks++;
    this.lastError = err.message;
    // Replace it with back-off: the next open finds a link ready instead of paying the handshake.
    this.failures++;
    this.retryAt = Date.now() + backoffDelay(this.failures - 1, RECONNECT);
    this.scheduleRetry();
  }

  private scheduleRetry(): void {
    if (this.closed || this.retryTimer || this.links.length >= this.settings.perExit) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      if (this.closed || this.connecting || this.links.length >= this.settings.perExit) return;
      this.connect(10_000).catch(() => this.scheduleRetry());
    }, Math.max(0, this.retryAt - Date.now()));
    this.retryTimer.unref();
  }
}

/** Every exit's links, for one ingress process; follows reloads. */
export class LinkPools {
  private readonly pools = new Map<string, ExitLinks>();
  private settings: LinkSettings | undefined;
  private settingsKey = '';
  /** limits.drainTimeoutMs of the configuration in force: a drained link's UDP associations end after it. */
  private udpDrainMs: number = LIMITS.drainTimeoutMs;
  /** Told when its key file turned unusable (the key in force stays): the ingress logs it. */
  onUnreadable: ((err: Error) => void) | undefined;

  /** Take a configuration: pools of exits gone or changed drain (their live streams finish). */
  configure(config: IngressConfig): void {
    this.udpDrainMs = config.limits.drainTimeoutMs;
    const want = new Map<string, ForwardExitConfig>();
    for (const e of config.exits) if (e.kind !== 'reverse' && e.link) want.set(e.id, e);
    if (config.links && want.size > 0) {
      const key = `${config.links.identityDir}|${config.links.perExit}|${config.links.heartbeatMs}`;
      if (key !== this.settingsKey || !this.settings) {
        const identity = new LinkIdentitySource(config.links.identityDir, 'hopgate ingress', (err) => this.onUnreadable?.(err));
        this.settings = { identity, perExit: config.links.perExit, heartbeatMs: config.links.heartbeatMs };
        this.settingsKey = key;
      }
    }
    for (const [id, pool] of this.pools) {
      const next = want.get(id);
      if (!next || !this.settings || !pool.sameAs(next, this.settings)) {
        pool.drain();
        this.pools.delete(id);
      } else pool.repin(next);
    }
  }

  /** This ingress's link fingerprint (what exits pin), once a configuration with links was taken. */
  get fingerprint(): string | undefined {
    return this.settings?.identity.current().fingerprint;
  }

  /** The pool for `exit` (made on first use), or undefined when it has no link. */
  for(exit: ForwardExitConfig): ExitLinks | undefined {
    if (!exit.link || !this.settings) return undefined;
    const pool = this.pools.get(exit.id);
    // A reload hands us a new but equal config object: the links stay.
    if (pool && pool.sameAs(exit, this.settings)) {
      if (pool.exit !== exit) pool.repin(exit); // the same object from then on: once per reload
      return pool;
    }
    pool?.drain();
    const fresh = new ExitLinks({ ...exit, link: exit.link }, this.settings, () => this.udpDrainMs);
    this.pools.set(exit.id, fresh);
    return fresh;
  }

  all(): ExitLinks[] {
    return [...this.pools.values()];
  }

  drain(): void {
    for (const p of this.pools.values()) p.drain();
  }

  destroy(): void {
    for (const p of this.pools.values()) p.destroy();
    this.pools.clear();
  }

  /** Drain every link, wait up to `ms` for them to close cleanly, then cut what is left. */
  async drainAndClose(ms: number): Promise<void> {
    this.drain();
    const until = Date.now() + ms;
    while (this.all().some((p) => p.linkCount > 0) && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
    this.destroy();
  }
}
