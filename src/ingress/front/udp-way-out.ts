/**
 * Where a SOCKS5 UDP association's datagrams leave: directly (resolve, check
 * the target policy, send from the egress address; accept replies only from
 * peers the client sent to), through a SOCKS5 exit's own UDP association
 * (the exit resolves, checks its policy and sends from its egress address), or,
 * across a chained route to a hopgate exit, framed inside the route's TCP
 * stream (UDP_IN_TCP), since no datagram of ours could reach that exit.
 */
import { createSocket, type RemoteInfo, type Socket as UdpSocket } from 'node:dgram';
import { isIPv6, type Socket } from 'node:net';
import { ProxyError } from '../../shared/errors.js';
import { LIMITS } from '../../shared/limits.js';
import { unmapIPv4 as unmap } from '../../shared/net-addr.js';
import type { TargetAddress } from '../../protocol/address.js';
import { encodeUdpDatagram, parseUdpDatagram } from '../../protocol/socks5/udp-header.js';
import type { ExitConfig } from '../../shared/schema/ingress-config.js';
import type { TargetPolicy } from '../../shared/net/target-policy.js';
import { connectTcp } from '../../shared/net/connect-tcp.js';
import { checkUnresolvedTarget, resolveAllowed } from '../../shared/net/resolve-allowed.js';
import { associateUdpAtHop } from '../upstream/hop-handshake.js';
import { openUdpInTcpRoute } from '../upstream/dial-route.js';
import { sourceFor, type EgressAddresses } from '../../shared/net/happy-eyeballs.js';
import { encodeFrame, FrameScanner } from '../../protocol/socks5/udp-in-tcp.js';

const MAX_PEERS = 1024;

export interface UdpWayOut {
  send(target: TargetAddress, data: Buffer): void;
  /** Replies, with the address they came from. */
  onReply: ((from: { host: string; port: number }, data: Buffer) => void) | undefined;
  /** Called once if the way out fails or its exit ends the association. */
  onClose: (() => void) | undefined;
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

abstract class WayOutBase implements UdpWayOut {
  onReply: UdpWayOut['onReply'];
  onClose: UdpWayOut['onClose'];
  protected closed = false;
  abstract send(target: TargetAddress, data: Buffer): void;
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

class DirectWayOut extends WayOutBase {
  private readonly peers = new Set<string>();
  private readonly resolved = new Map<string, string>();

  constructor(
    private readonly sockets: FamilySockets,
    private readonly policy: TargetPolicy,
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

  private socketFor(addr: string): UdpSocket | undefined {
    return isIPv6(addr) ? this.sockets[6] : this.sockets[4];
  }

  send(target: TargetAddress, data: Buffer): void {
    const out = (addr: string): void => {
      if (this.closed) return;
      const key = `${addr}|${target.port}`;
      if (!this.peers.has(key)) {
        if (this.peers.size >= MAX_PEERS) return;
        this.peers.add(key);
      }
      this.socketFor(addr)?.send(data, target.port, addr);
    };
    const known = this.resolved.get(target.host);
    if (known) return out(known);
    resolveAllowed(target, this.policy)
      .then((addrs) => {
        // The first address of a family this node sends from (a name resolving to both: the resolver's order).
        const addr = addrs.find((a) => this.socketFor(a) !== undefined);
        if (addr === undefined) return; // no egress of its family: dropped like any refused datagram
        if (this.resolved.size < MAX_PEERS) this.resolved.set(target.host, addr);
        out(addr);
      })
      .catch(() => undefined); // a refused datagram is dropped (UDP has no error channel in SOCKS5)
  }

  protected release(): void {
    this.sockets[4]?.close();
    this.sockets[6]?.close();
  }
}

class ExitWayOut extends WayOutBase {
  constructor(
    private readonly control: Socket,
    private readonly socket: UdpSocket,
    private readonly relay: { host: string; port: number },
    private readonly policy: TargetPolicy,
  ) {
    super();
    socket.on('message', (msg: Buffer, rinfo: RemoteInfo) => {
      if (this.closed || unmap(rinfo.address) !== relay.host || rinfo.port !== relay.port) return;
      const d = parseUdpDatagram(msg);
      if (d.kind === 'ok') this.onReply?.(d.value.target, d.value.data);
    });
    socket.on('error', () => this.close());
    // The association lives as long as the exit's control connection.
    control.on('data', () => undefined);
    control.on('close', () => this.close());
    control.resume();
  }

  send(target: TargetAddress, data: Buffer): void {
    if (this.closed) return;
    try {
      checkUnresolvedTarget(target, this.policy);
    } catch {
      return; // refused datagrams are dropped, as on the direct path
    }
    this.socket.send(encodeUdpDatagram(target, data), this.relay.port, this.relay.host);
  }

  protected release(): void {
    this.socket.close();
    this.control.destroy();
  }
}

/** Framed datagrams over a TCP route (UDP_IN_TCP). */
class StreamWayOut extends WayOutBase {
  private readonly scanner = new FrameScanner();

  constructor(
    private readonly tunnel: Socket,
    private readonly policy: TargetPolicy,
  ) {
    super();
    tunnel.on('data', (chunk: Buffer) => {
      for (const frame of this.scanner.feed(chunk)) {
        const d = parseUdpDatagram(frame);
        if (!this.closed && d.kind === 'ok') this.onReply?.(d.value.target, d.value.data);
      }
    });
    tunnel.on('close', () => this.close());
    tunnel.resume();
  }

  send(target: TargetAddress, data: Buffer): void {
    if (this.closed) return;
    try {
      checkUnresolvedTarget(target, this.policy);
    } catch {
      return;
    }
    if (this.tunnel.writableLength > LIMITS.udpInTcpBacklogBytes) return; // datagrams may be lost; memory may not grow
    this.tunnel.write(encodeFrame(encodeUdpDatagram(target, data)));
  }

  protected release(): void {
    this.tunnel.destroy();
  }
}

/**
 * Datagrams leave from the egress address of their target's family. With no egress address
 * configured, both wildcards: IPv6 is skipped when this host has none (its bind fails).
 */
export async function openDirectWayOut(egress: EgressAddresses, policy: TargetPolicy): Promise<UdpWayOut> {
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
  return new DirectWayOut({ 4: s4, 6: s6 }, policy);
}

export async function openExitWayOut(exit: ExitConfig, policy: TargetPolicy, timeoutMs: number): Promise<UdpWayOut> {
  if (exit.kind === 'reverse') throw new ProxyError('COMMAND_UNSUPPORTED', `UDP is not carried through reverse exit ${exit.id}`);
  if (exit.kind === 'http') throw new ProxyError('COMMAND_UNSUPPORTED', `UDP is not carried through exit ${exit.id} (an HTTP proxy)`);
  if (exit.via.length > 0) {
    const tunnel = await openUdpInTcpRoute(exit, timeoutMs);
    tunnel.on('error', () => undefined);
    return new StreamWayOut(tunnel, policy);
  }
  let control: Socket;
  try {
    control = await connectTcp(exit.host, exit.port, timeoutMs);
  } catch (err) {
    throw new ProxyError('EXIT_UNREACHABLE', `exit ${exit.id}: ${(err as Error).message}`, { cause: err });
  }
  control.on('error', () => undefined);
  try {
    const cred = exit.username !== undefined ? { username: exit.username, password: exit.password ?? '' } : undefined;
    const relay = await associateUdpAtHop(control, exit.kind, `exit ${exit.id}`, cred);
    // Send from the address the exit saw on the control connection: it only accepts datagrams from there.
    const socket = await bindUdp(unmap(control.localAddress ?? '0.0.0.0'));
    return new ExitWayOut(control, socket, relay, policy);
  } catch (err) {
    control.destroy();
    throw err;
  }
}
