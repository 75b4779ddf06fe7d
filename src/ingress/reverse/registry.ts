/**
 * The ingress side of reverse-connected exits (docs/REVERSE-EXITS.md): which
 * exits are connected, their idle work connections, and requests waiting for
 * one. An exit registers each work connection with its id and token; the
 * ingress keeps it idle (heartbeats find a dead peer within two intervals)
 * until a client's request is handed to it. The ingress never dials an exit.
 *
 * Per process: with several ingress workers each holds the work connections
 * the primary handed it (tunnel-dispatch.ts), which balances on `load()`.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { TLSSocket } from 'node:tls';
import { ProxyError } from '../../shared/errors.js';
import { LIMITS } from '../../shared/limits.js';
import { CidrSet } from '../../shared/net-addr.js';
import { FairSemaphore } from '../../shared/fair-semaphore.js';
import { isProxyError } from '../../shared/errors.js';
import { sourceKey } from '../../shared/source-key.js';
import { AuthThrottle, THROTTLE_DEFAULTS } from '../../shared/auth/auth-throttle.js';
import { parseHash, verifyPassword } from '../../shared/auth/password-hash.js';
import type { Snapshot } from '../config/snapshot.js';
import { acceptedPacket, heartbeatPacket, parseRegistration, responsePacket } from '../../protocol/work-packet/messages.js';
import { encodePacket } from '../../protocol/work-packet/codec.js';
import { WorkConn } from './work-conn.js';
import { ExitState, dropWaiters, linkPins, type ReverseCarrier, type ReverseExitStats, type Waiter } from './exit-state.js';
import { LinkSession } from '../../link/session.js';
import { peerFingerprint, peerPinError } from '../../link/identity.js';
import type { ExitLinkFigures } from '../route/exit-report.js';

/** Requests that may wait for one exit's pool at once; past this they fail at once. */
const MAX_WAITERS = 10_000;
/**
 * Concurrent scrypt checks of exit tokens (the first registration of a token pays it once),
 * shared fairly between sources: one source holds at most 4 places; past that, refused at once.
 */
const TOKEN_CHECKS = new FairSemaphore(2, 4, 1024);
/** Refusals that count as a guess for the throttle (load and limits do not). */
const GUESSES: ReadonlySet<string> = new Set(['AUTH_FAILED', 'SOURCE_NOT_ALLOWED', 'BAD_REQUEST']);
/** One answer for an unknown exit and a wrong token, after the same scrypt. */
const WRONG = 'unknown exit or wrong token';

export interface RegistryLog {
  warn(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
}

export interface ReverseStats {
  readonly exits: Record<string, ReverseExitStats>;
  readonly registered: number;
  readonly refused: number;
}

export class ReverseRegistry {
  private readonly states = new Map<string, ExitState>();
  private readonly pending = new Set<WorkConn>();
  private readonly macKey = randomBytes(32);
  /** Failed registrations per (source, exit) and per source: past the allowance, refused without a check. */
  readonly throttle = new AuthThrottle(THROTTLE_DEFAULTS);
  private readonly inFlight = new Map<string, Promise<boolean>>();
  /** A hash with the exits' usual scrypt parameters that no token matches (random salt and key). */
  private dummyHash = '';
  private heartbeatTimer: NodeJS.Timeout | undefined;
  private heartbeatMs = 10_000;
  /** limits.drainTimeoutMs in force: a drained link's UDP associations end after it. */
  private udpDrainMs: number = LIMITS.drainTimeoutMs;
  private closing = false;
  registered = 0;
  refused = 0;
  /** Called when `load()` may have changed (a worker reports it to the primary). */
  onChange: (() => void) | undefined;
  /**
   * A cluster worker: the exit's pool may sit in other workers, and the primary moves a
   * connection here when this one is short (tunnel-dispatch.ts), so a request for an exit
   * with nothing here waits (`waitMs`) for it instead of failing at once.
   */
  shared = false;

  constructor(
    snapshot: Snapshot,
    private readonly log: RegistryLog,
  ) {
    this.configure(snapshot);
  }

  /** Take a new snapshot's reverse exits: removed exits and changed tokens lose their idle connections. */
  configure(snap: Snapshot): void {
    this.udpDrainMs = snap.config.limits.drainTimeoutMs;
    const hb = snap.config.reverse?.heartbeatMs ?? 10_000;
    if (hb !== this.heartbeatMs || !this.heartbeatTimer) {
      this.heartbeatMs = hb;
      clearInterval(this.heartbeatTimer);
      this.heartbeatTimer = setInterval(() => this.beat(), hb);
      this.heartbeatTimer.unref();
    }
    this.dummyHash = dummyOf(snap);
    const seen = new Set<string>();
    for (const e of snap.exits.all) {
      if (e.config.kind !== 'reverse') continue;
      seen.add(e.id);
      const st = this.states.get(e.id);
      if (!st) {
        this.states.set(e.id, new ExitState(e.config));
      } else if (st.config !== e.config) {
        const tokenChanged = st.config.tokenHash !== e.config.tokenHash || JSON.stringify(st.config.from) !== JSON.stringify(e.config.from);
        // Live UDP associations were judged by the old `targets:` (its networks went in their OPEN): they end.
        if (JSON.stringify(st.config.targets) !== JSON.stringify(e.config.targets)) st.endUdp('exit targets changed');
        st.config = e.config;
        st.from = new CidrSet(e.config.from);
        if (tokenChanged) {
          st.verifiedMac = undefined;
          for (const c of [...st.idle]) c.fail('exit token or sources changed');
          if (st.drainLinks('exit token or sources changed', true)) this.changed();
        } else if (st.dropUnpinned()) this.changed(); // only a change of carriers is news (any edit of a pinned exit comes here)
      }
    }
    for (const [id, st] of this.states) {
      if (seen.has(id)) continue;
      this.states.delete(id);
      for (const c of [...st.idle]) c.fail('exit removed from the configuration');
      if (st.drainLinks('exit removed from the configuration', true)) this.changed();
      if (dropWaiters(st, `exit ${id} was removed from the configuration`)) this.changed();
    }
  }

  private changed(): void {
    this.onChange?.();
  }

  /**
   * What the primary balances new work connections on: those registering or idle here,
   * less the requests waiting for one. Busy ones are tunnels, not capacity: a worker
   * that uses its pool gets the refills.
   */
  load(): number {
    let n = this.pending.size;
    // A link counts as one idle work connection: the exit's links spread over the workers as its pool did.
    for (const st of this.states.values()) n += st.idle.size + st.links.size - st.waiters.length;
    return n;
  }

  /** Connected (has registered work connections) for a reverse exit; undefined for any other exit. */
  presence(id: string): boolean | undefined {
    const st = this.states.get(id);
    return st === undefined ? undefined : st.live.size > 0 || st.links.size > 0;
  }

  /** Whether reverse exit `id` may be given a UDP association now (capabilities.ts): ExitState.carriesUdp. */
  carriesUdp(id: string): boolean {
    return this.states.get(id)?.carriesUdp() ?? false;
  }

  /** Link `link` of reverse exit `id` refused a UDP open as an older exit does: remembered for that link (carriesUdp, openReverseDatagrams). */
  noteUdpRefused(id: string, link: LinkSession): void {
    this.states.get(id)?.noUdp.add(link);
  }

  /** Whether link `link` of reverse exit `id` refused a UDP open before. */
  refusedUdp(id: string, link: LinkSession): boolean {
    return this.states.get(id)?.noUdp.has(link) ?? false;
  }

  /** A datagram to reverse exit `id` dropped here (its `targets:`, the policy): counted for /metrics. */
  countUdpRefused(id: string): void {
    const st = this.states.get(id);
    if (st) st.udpRefused++;
  }

  /** A work connection taken for what it cannot carry (UDP): idle again, or the next waiter's. */
  putBack(conn: WorkConn): void {
    const st = this.states.get(conn.exitId);
    if (st?.live.has(conn) && conn.state === 'busy') this.makeIdle(st, conn);
  }

  /** The links of reverse exit `id` as `hopgate exits` shows them; null before its first link. */
  linkFigures(id: string): ExitLinkFigures | null {
    return this.states.get(id)?.linkFigures() ?? null;
  }

  stats(): ReverseStats {
    const exits: ReverseStats['exits'] = {};
    for (const [id, st] of this.states) exits[id] = st.stats();
    return { exits, registered: this.registered, refused: this.refused };
  }

  /** The key each open link of exit `id` came with; `open`: it takes new streams (false: draining). A rotation's progress. */
  linkKeys(id: string): Array<{ fingerprint: string; open: boolean }> {
    const st = this.states.get(id);
    return st ? [...st.openLinks].map((l) => ({ fingerprint: st.linkKeys.get(l) ?? '', open: st.links.has(l) })) : [];
  }

  idleCount(id: string): number {
    const st = this.states.get(id);
    return st ? st.idle.size + st.links.size : 0;
  }

  /** Each reverse exit of the configuration: [id, idle here, requests waiting here] (the primary rebalances on it). */
  exitCounts(): Array<[string, number, number]> {
    return [...this.states].map(([id, st]) => [id, st.idle.size + st.links.size, st.waiters.length]);
  }

  /**
   * The primary asks for one idle work connection of `exitId` back (another worker is short
   * of it): closed if at least `min` are idle here now — this worker's own count, not the
   * primary's possibly stale view. The exit dials a refill at once, which the primary hands
   * to the worker short of it. True if one was closed.
   */
  releaseIdle(exitId: string, min: number): boolean {
    const st = this.states.get(exitId);
    if (!st || st.idle.size + st.links.size < Math.max(1, min) || st.waiters.length > 0) return false;
    // A link is drained, not cut: its streams finish here while the exit's new link goes to the short worker.
    const link = st.links.values().next().value;
    if (link && st.idle.size === 0) {
      st.links.delete(link);
      this.changed();
      link.drain('released for another ingress worker');
      return true;
    }
    const c = st.idle.values().next().value!;
    st.idle.delete(c);
    st.live.delete(c);
    c.state = 'busy'; // taken by nobody: out of the pool before its close arrives
    this.changed();
    c.fail('released for another ingress worker');
    return true;
  }

  /** A new TLS connection on the tunnel port: it must register within `timeoutMs`. */
  accept(socket: TLSSocket, source: string, timeoutMs: number): void {
    const conn = new WorkConn(socket, source);
    if (this.closing) return void socket.destroy();
    this.pending.add(conn);
    this.changed();
    const deadline = setTimeout(() => conn.fail('no registration in time'), timeoutMs);
    conn.onClose = () => {
      clearTimeout(deadline);
      if (this.pending.delete(conn)) this.changed();
    };
    conn.onPacket = (p) => {
      conn.onPacket = () => 'continue'; // one registration per connection; nothing else until answered
      socket.pause();
      void this.register(conn, p).then(
        (ok) => {
          clearTimeout(deadline);
          if (this.pending.delete(conn)) this.changed();
          if (ok) socket.resume();
        },
        () => conn.fail('registration failed'),
      );
      return 'continue';
    };
  }

  private async register(conn: WorkConn, packet: Parameters<WorkConn['onPacket']>[0]): Promise<boolean> {
    const key = sourceKey(conn.source);
    const reg = parseRegistration(packet);
    const exit = typeof reg === 'string' ? '' : reg.exit;
    const wait = this.throttle.blockedFor(key, exit);
    if (wait > 0) return this.refuse(conn, exit || undefined, 'RATE_LIMITED', `too many failed registrations from ${conn.source}; retry in ${Math.ceil(wait / 1000)} s`);
    let verdict: boolean;
    try {
      verdict = await this.judge(conn, reg, key);
    } catch (err) {
      if (!isProxyError(err)) throw err;
      return this.refuse(conn, exit || undefined, err.code, err.message); // past its share of token checks: not a guess
    }
    if (verdict) this.throttle.succeed(key, exit);
    return verdict;
  }

  /** true: registered; false: refused (answered), or the connection or its exit went away meanwhile. */
  private async judge(conn: WorkConn, reg: ReturnType<typeof parseRegistration>, key: string): Promise<boolean> {
    if (typeof reg === 'string') return this.refuse(conn, undefined, 'BAD_REQUEST', reg);
    const st = this.states.get(reg.exit);
    if (!st) {
      // Costs and answers as a wrong token does: an exit's name is not confirmed to a guesser.
      await TOKEN_CHECKS.run(key, () => verifyPassword(reg.token, this.dummyHash));
      return this.refuse(conn, reg.exit, 'AUTH_FAILED', `exit '${reg.exit}': ${WRONG}`);
    }
    if (st.from.size > 0 && !st.from.hasText(conn.source)) return this.refuse(conn, reg.exit, 'SOURCE_NOT_ALLOWED', `exit '${reg.exit}' may not register from ${conn.source}`);
    if (!(await this.tokenMatches(st, reg.token, key))) return this.refuse(conn, reg.exit, 'AUTH_FAILED', `exit '${reg.exit}': ${WRONG}`);
    if (this.states.get(reg.exit) !== st || conn.state === 'closed') return false; // reconfigured or gone meanwhile
    // A pinned identity: the token alone is not enough (a leaked token without the exit's key registers nothing).
    const pins = linkPins(st.config);
    const pinError = pins === undefined ? undefined : peerPinError(conn.socket, pins);
    if (pinError) return this.refuse(conn, reg.exit, 'AUTH_FAILED', `exit '${reg.exit}': ${pinError}`);
    // The sources may have changed while the token check waited its turn: judge by those in force now.
    if (st.from.size > 0 && !st.from.hasText(conn.source)) return this.refuse(conn, reg.exit, 'SOURCE_NOT_ALLOWED', `exit '${reg.exit}' may not register from ${conn.source}`);
    if (this.closing) return this.refuse(conn, reg.exit, 'SHUTTING_DOWN', 'ingress is shutting down');
    // Links count as connections too: a valid token must not buy unbounded TLS sessions here.
    if (st.live.size + st.links.size >= st.config.maxConnections) {
      return this.refuse(conn, reg.exit, 'CONN_LIMIT', `exit '${reg.exit}' already has ${st.live.size + st.links.size} work connections and links (maxConnections)`);
    }
    conn.exitId = reg.exit;
    this.registered++;
    if (reg.link) {
      conn.write(acceptedPacket(this.heartbeatMs, true));
      this.addLink(st, conn);
      return true;
    }
    st.live.add(conn);
    st.peers.set(conn, peerFingerprint(conn.socket) ?? '');
    conn.onClose = () => {
      st.peers.delete(conn);
      st.live.delete(conn);
      if (st.idle.delete(conn)) this.changed();
    };
    conn.write(acceptedPacket(this.heartbeatMs));
    this.makeIdle(st, conn);
    return true;
  }

  /** The registered connection becomes a link: link frames from here on, one stream per tunnel. */
  private addLink(st: ExitState, conn: WorkConn): void {
    conn.state = 'busy';
    conn.onClose = () => undefined; // the session's 'close' says it
    const rest = conn.detach();
    if (rest.length > 0) conn.socket.unshift(rest);
    const link = new LinkSession(conn.socket, { dialled: false, heartbeatMs: this.heartbeatMs, name: `reverse exit ${conn.exitId} (link from ${conn.source})`, udpDrainMs: this.udpDrainMs });
    conn.socket.resume();
    st.links.add(link);
    st.openLinks.add(link);
    st.linkConnects++;
    st.peers.delete(conn);
    st.peers.set(link, peerFingerprint(conn.socket) ?? '');
    st.linkKeys.set(link, st.peers.get(link)!);
    link.on('stream', (s) => s.refuse('BAD_REQUEST', 'an ingress takes no streams from a reverse exit'));
    link.on('goaway', () => st.links.delete(link) && this.changed());
    link.on('close', (err) => {
      st.openLinks.delete(link);
      st.linkTraffic.retire(link);
      if (err) st.linkBreaks++;
      st.peers.delete(link);
      if (st.links.delete(link)) this.changed();
      if (err) this.log.info({ exit: conn.exitId, source: conn.source, reason: err.message }, 'reverse exit link broken');
    });
    this.changed();
    // Every request waiting for this exit can go over the new link.
    for (const w of st.waiters.splice(0)) {
      clearTimeout(w.timer);
      w.resolve(link);
    }
  }

  private refuse(conn: WorkConn, exit: string | undefined, code: string, message: string): false {
    this.refused++;
    // Counted before the answer leaves: the exit's next attempt may reach another worker at once.
    if (GUESSES.has(code)) this.throttle.fail(sourceKey(conn.source), exit ?? '');
    this.log.warn({ source: conn.source, exit, code, reason: message }, 'reverse exit registration refused');
    conn.write(responsePacket(0, { ok: false, code, message }));
    conn.socket.end();
    setTimeout(() => conn.socket.destroy(), 1000).unref();
    return false;
  }

  private async tokenMatches(st: ExitState, token: string, key: string): Promise<boolean> {
    const mac = createHmac('sha256', this.macKey).update(token).digest();
    for (;;) {
      if (st.verifiedMac && timingSafeEqual(st.verifiedMac, mac)) return true;
      const hash = st.config.tokenHash;
      // Single flight: an exit's pool registering at once pays scrypt (and takes a place) once.
      const flight = `${hash}\0${mac.toString('base64')}`;
      let check = this.inFlight.get(flight);
      if (!check) {
        check = TOKEN_CHECKS.run(key, () => verifyPassword(token, hash)).finally(() => this.inFlight.delete(flight));
        this.inFlight.set(flight, check);
      }
      const ok = await check;
      // A new token may have come in while this check queued (a rotation after a leak):
      // the answer counts only for the token in force now, else check against that one.
      if (st.config.tokenHash !== hash) continue;
      if (ok) st.verifiedMac = mac;
      return ok;
    }
  }

  /** The connection is idle: a waiting request takes it at once, else it joins the pool. */
  private makeIdle(st: ExitState, conn: WorkConn): void {
    this.changed();
    const w = st.waiters.shift();
    if (w) {
      clearTimeout(w.timer);
      conn.state = 'busy';
      conn.onPacket = () => 'continue';
      return w.resolve(conn);
    }
    conn.state = 'idle';
    conn.awaitingBeat = false;
    st.idle.add(conn);
    conn.onPacket = (p) => {
      if (p.mode === 'heartbeat') {
        if (p.props.has('ack')) conn.awaitingBeat = false;
        else conn.write(heartbeatPacket(p.id, true));
        return 'continue';
      }
      if (p.mode === 'empty' && p.props.get('drain') === '1') {
        // The exit withdraws this connection (it is draining): acknowledge and let it go.
        st.idle.delete(conn);
        this.changed();
        conn.state = 'busy';
        conn.write(encodePacket({ mode: 'empty', id: p.id }));
        conn.socket.end();
        return 'stop';
      }
      conn.fail(`unexpected ${p.mode} packet on an idle work connection`);
      return 'stop';
    };
  }

  /** Every interval: a connection that did not answer the last heartbeat is dead; the others get a new one. */
  private beat(): void {
    for (const st of this.states.values()) {
      for (const c of [...st.idle]) {
        if (c.awaitingBeat) {
          // Gone from the pool and from liveness now, not when its socket's close arrives.
          st.idle.delete(c);
          st.live.delete(c);
          this.changed();
          this.log.warn({ exit: c.exitId, source: c.source }, 'reverse work connection missed its heartbeat; dropped');
          c.fail('heartbeat not answered');
          continue;
        }
        c.awaitingBeat = true;
        c.write(heartbeatPacket(0, false));
      }
    }
  }

  /**
   * An idle work connection of `exitId`, waiting up to `waitMs` when the pool is
   * exhausted. Fails at once when the exit is not connected at all — in a cluster worker
   * only when it is not connected anywhere by the end of the wait (`shared`).
   * `forUdp`: the least-loaded link that has not refused a UDP open; one that has only when
   * every open link has (the caller answers REP 7 without asking it).
   */
  take(exitId: string, waitMs: number, forUdp = false): Promise<ReverseCarrier> {
    const st = this.states.get(exitId);
    if (!st) return Promise.reject(new ProxyError('EXIT_UNREACHABLE', `exit ${exitId} is not a reverse exit of this ingress`));
    let best: LinkSession | undefined;
    let refused: LinkSession | undefined;
    for (const l of st.links) {
      if (l.draining || l.broken) continue;
      if (forUdp && st.noUdp.has(l)) refused ??= l;
      else if (!best || l.streamCount < best.streamCount) best = l;
    }
    best ??= refused;
    if (best) return Promise.resolve(best);
    for (const c of st.idle) {
      st.idle.delete(c);
      c.state = 'busy';
      c.onPacket = () => 'continue';
      this.changed();
      return Promise.resolve(c);
    }
    if (st.live.size === 0 && st.links.size === 0 && !this.shared) return Promise.reject(new ProxyError('EXIT_UNREACHABLE', `reverse exit ${exitId} is not connected (no work connections registered)`));
    if (waitMs <= 0 || st.waiters.length >= MAX_WAITERS) {
      return Promise.reject(new ProxyError('EXIT_UNREACHABLE', `no idle work connection from exit ${exitId} (${st.waiters.length} requests already waiting)`));
    }
    return new Promise<ReverseCarrier>((resolve, reject) => {
      const w: Waiter = {
        resolve,
        reject,
        timer: setTimeout(() => {
          const i = st.waiters.indexOf(w);
          if (i >= 0) st.waiters.splice(i, 1);
          this.changed();
          if (st.live.size === 0 && st.links.size === 0) reject(new ProxyError('EXIT_UNREACHABLE', `reverse exit ${exitId} is not connected (no work connection reached this ingress worker within ${waitMs} ms)`));
          else reject(new ProxyError('EXIT_UNREACHABLE', `no idle work connection from exit ${exitId} within ${waitMs} ms`));
        }, waitMs),
      };
      st.waiters.push(w);
      this.changed();
    });
  }

  /** Stop accepting registrations and close every idle work connection (tunnels are the sessions' drain). */
  close(): void {
    this.closing = true;
    clearInterval(this.heartbeatTimer);
    for (const c of this.pending) c.fail('ingress shutting down');
    for (const st of this.states.values()) {
      for (const c of [...st.idle]) c.fail('ingress shutting down');
      if (st.drainLinks('ingress shutting down')) this.changed();
      dropWaiters(st, 'ingress shutting down');
    }
  }
}

/** The scrypt parameters most reverse exits' token hashes have, with a random salt and key. */
function dummyOf(snap: Snapshot): string {
  const counts = new Map<string, number>();
  for (const e of snap.exits.all) {
    if (e.config.kind !== 'reverse') continue;
    const h = parseHash(e.config.tokenHash);
    if (h) counts.set(`ln=${h.ln},r=${h.r},p=${h.p}`, (counts.get(`ln=${h.ln},r=${h.r},p=${h.p}`) ?? 0) + 1);
  }
  const params = [...counts].sort((a, b) => b[1] - a[1])[0]?.[0] ?? 'ln=15,r=8,p=1';
  return `$scrypt$${params}$${randomBytes(16).toString('base64')}$${randomBytes(32).toString('base64')}`;
}
