/**
 * Open a tunnel through a reverse exit: take one of its idle work connections,
 * write the request as a work packet, read the exit's `response`. On success
 * the work connection itself is the upstream socket (bytes are raw from here).
 * Over links: one stream on one of its links; a UDP association is one UDP
 * stream on a link (openReverseDatagrams), which only links can carry.
 */
import type { Socket } from 'node:net';
import { ProxyError } from '../../shared/errors.js';
import { formatTarget, type TargetAddress } from '../../protocol/address.js';
import { linkOpenContext, parseResponse, requestPacket, resultCode, type Purpose } from '../../protocol/work-packet/messages.js';
import type { ReverseExitConfig } from '../../shared/schema/ingress-config.js';
import { CidrSet } from '../../shared/net-addr.js';
import type { ReverseRegistry } from './registry.js';
import type { WorkConn } from './work-conn.js';
import { LinkSession } from '../../link/session.js';
import type { LinkStream } from '../../link/stream.js';
import { LinkError, olderPeerUdpRefusal } from '../../link/errors.js';
import { within } from '../../shared/deadline.js';

/** A work connection that closes before answering was stale (its exit died): try another. */
const STALE_RETRIES = 2;
let nextRequestId = 1;

interface Compiled {
  readonly allow: CidrSet;
  readonly deny: CidrSet;
  readonly ports: ReadonlySet<number>;
}
const compiled = new WeakMap<object, Compiled>();

/**
 * The ingress's own rule on what this exit may be asked for (`targets:`): ports and
 * literal addresses here; names travel with the networks, for the exit to apply to
 * the address it resolves.
 */
export function checkReverseTargets(exit: ReverseExitConfig, target: TargetAddress): void {
  const why = reverseTargetRefusal(exit, target);
  if (why !== undefined) throw new ProxyError('TARGET_FORBIDDEN', why);
}

/**
 * The same rule as a value: why `target` is refused, or undefined. Each UDP datagram is judged by it
 * (a flood of refused ones must not cost a thrown and caught error, stack trace and all, apiece).
 */
export function reverseTargetRefusal(exit: ReverseExitConfig, target: TargetAddress): string | undefined {
  const t = exit.targets;
  if (!t) return undefined;
  let c = compiled.get(t);
  if (!c) compiled.set(t, (c = { allow: new CidrSet(t.allow), deny: new CidrSet(t.deny), ports: new Set(t.ports) }));
  if (c.ports.size > 0 && !c.ports.has(target.port)) return `exit ${exit.id} takes no requests for port ${target.port}`;
  if (target.kind === 'domain') return undefined;
  if (c.deny.hasText(target.host)) return `exit ${exit.id} takes no requests for ${target.host} (denied network)`;
  if (c.allow.size > 0 && !c.allow.hasText(target.host)) return `exit ${exit.id} takes no requests for ${target.host} (not in its networks)`;
  return undefined;
}

export interface ReverseDialOptions {
  readonly waitMs: number;
  readonly timeoutMs: number;
  readonly purpose?: Purpose;
  /** Bytes for the target, sent with the request (`direct-data`). */
  readonly early?: Buffer;
  readonly allowNets?: readonly string[];
  readonly denyNets?: readonly string[];
}

export async function dialReverse(registry: ReverseRegistry, exit: ReverseExitConfig, target: TargetAddress, opts: ReverseDialOptions): Promise<Socket> {
  checkReverseTargets(exit, target);
  if (exit.targets && !opts.allowNets && !opts.denyNets) opts = { ...opts, allowNets: exit.targets.allow, denyNets: exit.targets.deny };
  const started = Date.now();
  for (let attempt = 0; ; attempt++) {
    const conn = await registry.take(exit.id, Math.max(0, opts.waitMs - (Date.now() - started)));
    const id = nextRequestId++ >>> 0;
    try {
      if (conn instanceof LinkSession) return await openOnLink(conn, exit.id, target, opts);
      return await exchange(conn, id, exit.id, target, opts);
    } catch (err) {
      if (err instanceof StaleConnection && attempt < STALE_RETRIES) continue;
      if (err instanceof StaleConnection) throw new ProxyError('EXIT_UNREACHABLE', `exit ${exit.id}: ${err.message}`);
      throw err;
    }
  }
}

class StaleConnection extends Error {}

/**
 * One stream on the exit's link: the OPEN carries the target, purpose and the ingress's rule;
 * the exit answers with its exact result code.
 */
async function openOnLink(link: LinkSession, exitId: string, target: TargetAddress, opts: ReverseDialOptions): Promise<Socket> {
  const context = linkOpenContext({ ...opts, purpose: opts.purpose ?? 'connect' });
  const what = formatTarget(target);
  const stream = await openStream(link, exitId, what, opts.timeoutMs, (signal) => link.open(target.host, target.port, context, signal));
  if (opts.early && opts.early.length > 0) stream.write(opts.early);
  return stream as unknown as Socket; // a stream stands in for a socket (src/link/stream.ts)
}

/**
 * The exit's answer to one OPEN within `timeoutMs`. A link that started draining or broke
 * before the exit saw the open is stale: another link (or work connection) is tried.
 */
async function openStream(link: LinkSession, exitId: string, what: string, timeoutMs: number, opener: (signal: AbortSignal) => Promise<LinkStream>): Promise<LinkStream> {
  const giveUp = new AbortController();
  try {
    // A stream that opens after we gave up is reset at once, not left open at the exit.
    const stream = await within(opener(giveUp.signal), timeoutMs, `exit ${exitId} did not answer for ${what} within ${timeoutMs} ms`, (s) => s.destroy());
    return stream;
  } catch (err) {
    // Past the deadline and still unanswered: reset at the exit and forgotten here (an exit that never answers keeps nothing).
    giveUp.abort();
    if (!(err instanceof LinkError)) throw err;
    if (err.code === 'OPEN_REFUSED') throw new ProxyError(resultCode(err.result ?? ''), `exit ${exitId}: ${err.message} (${what})`, { cause: err });
    // Draining, full, or broken before the exit answered: another link (the exit's replacement) may take it.
    if (err.code === 'LINK_DRAINING' || err.code === 'STREAM_LIMIT' || err.code === 'LINK_BROKEN') throw new StaleConnection(err.message);
    throw new ProxyError('EXIT_UNREACHABLE', `exit ${exitId}: ${err.message}`);
  }
}

/**
 * A UDP association through a reverse exit: one UDP stream on one of its links, each datagram a
 * DATAGRAM frame. The OPEN carries the exit's networks (`targets:`), which the exit applies to
 * every datagram's resolved target; ports and literal addresses are the caller's to check per
 * datagram before it leaves (checkReverseTargets, udp-way-out.ts). Only links carry UDP: a work
 * connection taken here (the exit registered without links) goes back to the pool and the
 * association is refused (COMMAND_UNSUPPORTED, SOCKS5 REP 7), as is an exit whose link predates
 * UDP streams (it refuses the open as a bad request).
 */
export async function openReverseDatagrams(registry: ReverseRegistry, exit: ReverseExitConfig, opts: { readonly waitMs: number; readonly timeoutMs: number }): Promise<LinkStream> {
  const context = linkOpenContext({ purpose: 'connect', allowNets: exit.targets?.allow, denyNets: exit.targets?.deny });
  const started = Date.now();
  for (let attempt = 0; ; attempt++) {
    const carrier = await registry.take(exit.id, Math.max(0, opts.waitMs - (Date.now() - started)), true);
    if (!(carrier instanceof LinkSession)) {
      registry.putBack(carrier);
      throw new ProxyError('COMMAND_UNSUPPORTED', `exit ${exit.id} carries no UDP: it is connected without links (the older work-connection protocol)`);
    }
    // Refused on this link before: not asked again. take() gives such a link only when all of the
    // exit's open links refused (route choice already skips that exit).
    if (registry.refusedUdp(exit.id, carrier)) throw new ProxyError('COMMAND_UNSUPPORTED', `exit ${exit.id} carries no UDP over its link (an older reverse exit; it refused before)`);
    try {
      return await openStream(carrier, exit.id, 'a UDP association', opts.timeoutMs, (signal) => carrier.openDatagrams(context, signal));
    } catch (err) {
      if (err instanceof StaleConnection && attempt < STALE_RETRIES) continue;
      if (err instanceof StaleConnection) throw new ProxyError('EXIT_UNREACHABLE', `exit ${exit.id}: ${err.message}`);
      const cause = olderPeerUdpRefusal(err);
      if (cause) {
        registry.noteUdpRefused(exit.id, carrier);
        throw new ProxyError('COMMAND_UNSUPPORTED', `exit ${exit.id} carries no UDP over its link (an older reverse exit): ${cause.message}`, { cause });
      }
      throw err;
    }
  }
}

function exchange(conn: WorkConn, id: number, exitId: string, target: TargetAddress, opts: ReverseDialOptions): Promise<Socket> {
  return new Promise<Socket>((resolve, reject) => {
    const socket = conn.socket;
    let answered = false;
    const timer = setTimeout(() => {
      conn.fail('no response in time');
      reject(new ProxyError('TIMEOUT', `exit ${exitId} did not answer for ${formatTarget(target)} within ${opts.timeoutMs} ms`));
    }, opts.timeoutMs);
    conn.onClose = ((prev) => (why: string) => {
      prev(why);
      if (answered) return;
      clearTimeout(timer);
      reject(new StaleConnection(`work connection closed before the exit answered (${why})`));
    })(conn.onClose);
    conn.onPacket = (p) => {
      // A heartbeat answer or a withdrawal may cross our request on the wire: skip them.
      if (p.mode === 'heartbeat' || p.mode === 'empty' || p.mode === 'keepalive') return 'continue';
      if (p.mode !== 'response' || p.id !== id) {
        conn.fail(`expected the response to request ${id}, got ${p.mode} ${p.id}`);
        return 'stop';
      }
      answered = true;
      clearTimeout(timer);
      const r = parseResponse(p);
      if (!r.ok) {
        socket.destroy();
        reject(new ProxyError(resultCode(r.code), `exit ${exitId}: ${r.message || r.code} (${formatTarget(target)})`));
        return 'stop';
      }
      const rest = conn.detach();
      if (rest.length > 0) socket.unshift(rest);
      resolve(socket);
      return 'stop';
    };
    socket.resume();
    conn.write(requestPacket(id, { target, purpose: opts.purpose ?? 'connect', early: opts.early, allowNets: opts.allowNets, denyNets: opts.denyNets }));
  });
}
