/**
 * Open a tunnel through a reverse exit: take one of its idle work connections,
 * write the request as a work packet, read the exit's `response`. On success
 * the work connection itself is the upstream socket (bytes are raw from here).
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
import { LinkError } from '../../link/errors.js';
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
  const t = exit.targets;
  if (!t) return;
  let c = compiled.get(t);
  if (!c) compiled.set(t, (c = { allow: new CidrSet(t.allow), deny: new CidrSet(t.deny), ports: new Set(t.ports) }));
  if (c.ports.size > 0 && !c.ports.has(target.port)) throw new ProxyError('TARGET_FORBIDDEN', `exit ${exit.id} takes no requests for port ${target.port}`);
  if (target.kind === 'domain') return;
  if (c.deny.hasText(target.host)) throw new ProxyError('TARGET_FORBIDDEN', `exit ${exit.id} takes no requests for ${target.host} (denied network)`);
  if (c.allow.size > 0 && !c.allow.hasText(target.host)) throw new ProxyError('TARGET_FORBIDDEN', `exit ${exit.id} takes no requests for ${target.host} (not in its networks)`);
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
 * the exit answers with its exact result code. A link that started draining or broke before
 * the exit saw the open is stale: another link (or work connection) is tried.
 */
async function openOnLink(link: LinkSession, exitId: string, target: TargetAddress, opts: ReverseDialOptions): Promise<Socket> {
  const giveUp = new AbortController();
  const opening = link.open(target.host, target.port, linkOpenContext({ ...opts, purpose: opts.purpose ?? 'connect' }), giveUp.signal);
  try {
    // A stream that opens after we gave up is reset at once, not left open at the exit.
    const stream = await within(opening, opts.timeoutMs, `exit ${exitId} did not answer for ${formatTarget(target)} within ${opts.timeoutMs} ms`, (s) => s.destroy());
    if (opts.early && opts.early.length > 0) stream.write(opts.early);
    return stream as unknown as Socket; // a stream stands in for a socket (src/link/stream.ts)
  } catch (err) {
    // Past the deadline and still unanswered: reset at the exit and forgotten here (an exit that never answers keeps nothing).
    giveUp.abort();
    if (!(err instanceof LinkError)) throw err;
    if (err.code === 'OPEN_REFUSED') throw new ProxyError(resultCode(err.result ?? ''), `exit ${exitId}: ${err.message} (${formatTarget(target)})`);
    // Draining, full, or broken before the exit answered: another link (the exit's replacement) may take it.
    if (err.code === 'LINK_DRAINING' || err.code === 'STREAM_LIMIT' || err.code === 'LINK_BROKEN') throw new StaleConnection(err.message);
    throw new ProxyError('EXIT_UNREACHABLE', `exit ${exitId}: ${err.message}`);
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
