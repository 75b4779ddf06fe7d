/**
 * A UDP association's datagrams leaving from this node itself: one socket per
 * egress family, each target resolved and judged by the target policy (and,
 * at an exit, the customer's networks), replies accepted only from the peers
 * the association sent to (no open relay). The ingress uses it for direct
 * egress, an exit for the UDP streams of its links (src/exit/relay-udp.ts).
 */
import { LIMITS } from '../limits.js';
import { createSocket, type RemoteInfo, type Socket as UdpSocket } from 'node:dgram';
import { isIPv6 } from 'node:net';
import { unmapIPv4 as unmap } from '../net-addr.js';
import type { TargetPolicy } from './target-policy.js';
import { resolveAllowed, unresolvedTargetRefusal, type JudgedTarget } from './resolve-allowed.js';
import { sourceFor, type EgressAddresses } from './happy-eyeballs.js';

const MAX_PEERS = 1024;
/**
 * Datagrams of one association waiting for their target's resolution (each holds a lookup and its
 * data): a customer flooding names whose resolver stalls must not grow memory without bound.
 */
export const MAX_AWAITING_RESOLUTION = 64;

/** The largest payload one UDP datagram to `ip` carries (by its family). */
export function udpPayloadLimit(ip: string): number {
  return ip.includes(':') ? LIMITS.maxUdpPayload6 : LIMITS.maxUdpPayload;
}

export interface UdpWayOut {
  send(target: JudgedTarget, data: Buffer): void;
  /**
   * Refused at once, without resolving: a forbidden port or literal address (and a reverse exit's own
   * rule). The association asks before it bills a datagram; a name is judged once resolved, in send().
   */
  refuses(target: JudgedTarget): boolean;
  /** The largest SOCKS5 UDP datagram, header included, this way out's own leg carries (a SOCKS5 exit's relay); Infinity: only the payload limit. */
  readonly maxDatagram: number;
  /** Replies, with the address they came from. */
  onReply: ((from: { host: string; port: number }, data: Buffer) => void) | undefined;
  /** Called once if the way out fails or its exit ends the association. */
  onClose: (() => void) | undefined;
  /** Closed already: its exit may end the association before onClose is set (read it after). */
  readonly isClosed: boolean;
  close(): void;
}

/**
 * A UDP socket of this association alone. `exclusive`: in a cluster worker, a
 * plain bind goes through the primary, which hands every worker's n-th port-0
 * bind the same shared handle: two associations (two customers) would get one
 * relay port and read each other's datagrams.
 */
export function bindUdp(address: string): Promise<UdpSocket> {
  return new Promise((resolve, reject) => {
    // An IPv6 socket carries IPv6 only: IPv4 has its own (dual stack, one socket per family).
    const s = isIPv6(address) ? createSocket({ type: 'udp6', ipv6Only: true }) : createSocket('udp4');
    s.once('error', reject);
    s.bind({ port: 0, address, exclusive: true }, () => {
      s.off('error', reject);
      resolve(s);
    });
  });
}

/**
 * The callback of every UDP send: a failed send (ENOBUFS) loses that datagram, as UDP may, and the
 * association goes on (Node 20 drops such an error silently without a callback; its docs promise an
 * 'error' event, which would end the association).
 */
export const ignoreUdpSendError = (): void => undefined;

export abstract class WayOutBase implements UdpWayOut {
  onReply: UdpWayOut['onReply'];
  onClose: UdpWayOut['onClose'];
  readonly maxDatagram: number = Infinity;
  protected closed = false;
  get isClosed(): boolean {
    return this.closed;
  }
  abstract send(target: JudgedTarget, data: Buffer): void;
  abstract refuses(target: JudgedTarget): boolean;
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.release();
    this.onClose?.();
  }
  protected abstract release(): void;
}

/** One UDP socket per egress family this node has (dual stack: an IPv4 and an IPv6 source address). */
type FamilySockets = { readonly 4?: UdpSocket | undefined; readonly 6?: UdpSocket | undefined };

export interface DirectUdpOptions {
  /** Beyond the target policy: may a resolved address be sent to (an exit applies the customer's networks here)? */
  readonly allowed?: (address: string) => boolean;
  /** A datagram was dropped: its target is forbidden or does not resolve, or the association has too many peers. */
  readonly onRefused?: (target: JudgedTarget, reason: string) => void;
}

export class DirectWayOut extends WayOutBase {
  private readonly peers = new Set<string>();
  private readonly resolved = new Map<string, string>();
  private awaiting = 0;

  constructor(
    private readonly sockets: FamilySockets,
    private readonly policy: TargetPolicy,
    private readonly o: DirectUdpOptions = {},
  ) {
    super();
    for (const socket of [sockets[4], sockets[6]]) {
      if (!socket) continue;
      socket.on('message', (msg: Buffer, rinfo: RemoteInfo) => {
        const from = unmap(rinfo.address);
        if (this.closed || !this.peers.has(`${from}|${rinfo.port}`)) return; // no open relay: only answers
        this.onReply?.({ host: from, port: rinfo.port }, msg);
      });
      socket.on('error', () => this.close());
    }
  }

  /** The address and port datagrams leave from (the IPv4 socket's when there is one), as SOCKS reports a bind address. */
  get bound(): { host: string; port: number } {
    const a = (this.sockets[4] ?? this.sockets[6])!.address();
    return { host: a.address, port: a.port };
  }

  private socketFor(addr: string): UdpSocket | undefined {
    return isIPv6(addr) ? this.sockets[6] : this.sockets[4];
  }

  refuses(target: JudgedTarget): boolean {
    // A literal of a family this node does not send from would be dropped by send() below (no socket).
    return unresolvedTargetRefusal(target, this.policy) !== undefined || (target.kind !== 'domain' && this.socketFor(target.host) === undefined);
  }

  send(target: JudgedTarget, data: Buffer): void {
    // Every datagram's port, not only a name's first one (the resolved cache below skips resolveAllowed).
    const port = this.policy.checkPort(target.port);
    if (!port.allowed) return this.o.onRefused?.(target, port.reason);
    const out = (addr: string): void => {
      if (this.closed) return;
      const key = `${addr}|${target.port}`;
      if (!this.peers.has(key)) {
        if (this.peers.size >= MAX_PEERS) return this.o.onRefused?.(target, `more than ${MAX_PEERS} peers in one association`);
        this.peers.add(key);
      }
      this.socketFor(addr)?.send(data, target.port, addr, ignoreUdpSendError);
    };
    const known = this.resolved.get(target.host);
    if (known) return out(known);
    if (this.awaiting >= MAX_AWAITING_RESOLUTION) return this.o.onRefused?.(target, `more than ${MAX_AWAITING_RESOLUTION} datagrams awaiting resolution`);
    this.awaiting++;
    resolveAllowed(target, this.policy)
      .then((addrs) => {
        const allowed = this.o.allowed;
        // The first address of a family this node sends from (a name resolving to both: the resolver's order).
        const addr = addrs.find((a) => this.socketFor(a) !== undefined && (!allowed || allowed(a)));
        if (addr === undefined) return this.o.onRefused?.(target, `no address of ${target.host} may be sent to from here`);
        if (this.resolved.size < MAX_PEERS) this.resolved.set(target.host, addr);
        out(addr);
      })
      // A refused datagram is dropped (UDP has no error channel in SOCKS5).
      .catch((err: unknown) => this.o.onRefused?.(target, (err as Error).message))
      .finally(() => this.awaiting--);
  }

  protected release(): void {
    this.sockets[4]?.close();
    this.sockets[6]?.close();
  }
}

/**
 * Datagrams leave from the egress address of their target's family. With no egress address
 * configured, both wildcards: IPv6 is skipped when this host has none (its bind fails).
 */
export async function openDirectWayOut(egress: EgressAddresses, policy: TargetPolicy, o: DirectUdpOptions = {}): Promise<DirectWayOut> {
  const v4 = sourceFor(4, egress);
  const v6 = sourceFor(6, egress);
  const s4 = v4 === null ? undefined : await bindUdp(v4 ?? '0.0.0.0');
  let s6: UdpSocket | undefined;
  try {
    s6 = v6 === null ? undefined : await bindUdp(v6 ?? '::');
  } catch (err) {
    if (v6 !== undefined || !s4) {
      s4?.close();
      throw err;
    }
  }
  return new DirectWayOut({ 4: s4, 6: s6 }, policy, o);
}
