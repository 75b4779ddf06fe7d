/**
 * Where a SOCKS5 UDP association's datagrams leave: directly
 * (shared/net/udp-direct.ts), through a SOCKS5 exit's own UDP association
 * (the exit resolves, checks its policy and sends from its egress address), or,
 * across a chained route to a hopgate exit, framed inside the route's TCP
 * stream (UDP_IN_TCP), since no datagram of ours could reach that exit; to a
 * hopgate exit with a link, as DATAGRAM frames of one UDP stream on the link;
 * to a reverse exit the same, on one of the links it dialled (reverse/dial-reverse.ts).
 */
import type { RemoteInfo, Socket as UdpSocket } from 'node:dgram';
import type { Socket } from 'node:net';
import { ProxyError } from '../../shared/errors.js';
import { LIMITS } from '../../shared/limits.js';
import { unmapIPv4 as unmap } from '../../shared/net-addr.js';
import type { TargetAddress } from '../../protocol/address.js';
import { encodeUdpDatagram, parseUdpDatagram } from '../../protocol/socks5/udp-header.js';
import type { ExitConfig, ReverseExitConfig } from '../../shared/schema/ingress-config.js';
import type { TargetPolicy } from '../../shared/net/target-policy.js';
import { connectTcp } from '../../shared/net/connect-tcp.js';
import { unresolvedTargetRefusal } from '../../shared/net/resolve-allowed.js';
import { associateUdpAtHop } from '../upstream/hop-handshake.js';
import { openUdpInTcpRoute } from '../upstream/dial-route.js';
import { bindUdp, ignoreUdpSendError, udpPayloadLimit, WayOutBase, type UdpWayOut } from '../../shared/net/udp-direct.js';
import { encodeFrame, FrameScanner } from '../../protocol/socks5/udp-in-tcp.js';
import type { LinkStream } from '../../link/stream.js';
import type { LinkPools } from '../upstream/link-pool.js';

/**
 * A way out through an exit: the exit resolves and judges names; literal addresses and ports are
 * judged here first, as for a CONNECT, and a refused datagram is dropped (UDP has no error channel).
 */
abstract class ThroughExit extends WayOutBase {
  constructor(private readonly policy: TargetPolicy) {
    super();
  }

  send(target: TargetAddress, data: Buffer): void {
    if (this.closed || this.refuses(target)) return;
    this.forward(target, data);
  }

  refuses(target: TargetAddress): boolean {
    return unresolvedTargetRefusal(target, this.policy) !== undefined || !this.admit(target);
  }

  /** The exit's own rule at the ingress, past the policy (a reverse exit's `targets:`). */
  protected admit(_target: TargetAddress): boolean {
    return true;
  }

  protected abstract forward(target: TargetAddress, data: Buffer): void;
}

class ExitWayOut extends ThroughExit {
  constructor(
    private readonly control: Socket,
    private readonly socket: UdpSocket,
    private readonly relay: { host: string; port: number },
    policy: TargetPolicy,
  ) {
    super(policy);
    this.maxDatagram = udpPayloadLimit(relay.host);
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

  /** One datagram to the exit's relay: a longer one would fail there silently (EMSGSIZE). */
  override readonly maxDatagram: number;

  protected forward(target: TargetAddress, data: Buffer): void {
    this.socket.send(encodeUdpDatagram(target, data), this.relay.port, this.relay.host, ignoreUdpSendError);
  }

  protected release(): void {
    this.socket.close();
    this.control.destroy();
  }
}

/** Framed datagrams over a TCP route (UDP_IN_TCP). */
class StreamWayOut extends ThroughExit {
  private readonly scanner = new FrameScanner();

  constructor(
    private readonly tunnel: Socket,
    policy: TargetPolicy,
  ) {
    super(policy);
    tunnel.on('data', (chunk: Buffer) => {
      for (const frame of this.scanner.feed(chunk)) {
        const d = parseUdpDatagram(frame);
        if (!this.closed && d.kind === 'ok') this.onReply?.(d.value.target, d.value.data);
      }
    });
    tunnel.on('close', () => this.close());
    tunnel.resume();
  }

  protected forward(target: TargetAddress, data: Buffer): void {
    if (this.tunnel.writableLength > LIMITS.udpInTcpBacklogBytes) return; // datagrams may be lost; memory may not grow
    this.tunnel.write(encodeFrame(encodeUdpDatagram(target, data)));
  }

  protected release(): void {
    this.tunnel.destroy();
  }
}

/**
 * One UDP stream on a link (issue 19): each datagram a DATAGRAM frame naming its target, replies
 * naming their source. The exit resolves, judges and sends from its egress address; a link that
 * is behind drops datagrams at a bounded queue (counted per link), never holds them.
 */
class LinkWayOut extends ThroughExit {
  constructor(
    private readonly stream: LinkStream,
    policy: TargetPolicy,
    private readonly exitRule?: (t: TargetAddress) => boolean,
  ) {
    super(policy);
    stream.on('datagram', (from: TargetAddress, data: Buffer) => {
      if (!this.closed) this.onReply?.(from, data);
    });
    stream.on('error', () => undefined); // a reset or a broken link: the association ends ('close')
    stream.on('end', () => this.close()); // the exit ended it (idle, shutting down)
    stream.on('close', () => this.close());
    stream.resume();
  }

  protected override admit(target: TargetAddress): boolean {
    return this.exitRule?.(target) ?? true;
  }

  protected forward(target: TargetAddress, data: Buffer): void {
    this.stream.sendDatagram(target, data);
  }

  protected release(): void {
    this.stream.destroy(); // the exit closes its socket at once (RST), no FIN exchange to wait for
  }
}

/** How a UDP association reaches a reverse exit (reverse/reverse-node.ts): a UDP stream on one of its links, and its `targets:` rule. */
export interface ReverseUdpOpener {
  openDatagrams(exit: ReverseExitConfig, timeoutMs: number): Promise<{ stream: LinkStream; admit: (t: TargetAddress) => boolean }>;
}

export async function openExitWayOut(exit: ExitConfig, policy: TargetPolicy, timeoutMs: number, links?: LinkPools, reverse?: ReverseUdpOpener): Promise<UdpWayOut> {
  if (exit.kind === 'reverse') {
    if (!reverse) throw new ProxyError('EXIT_UNREACHABLE', `exit ${exit.id} is a reverse exit but this ingress has no tunnel port (reverse.listen)`);
    const { stream, admit } = await reverse.openDatagrams(exit, timeoutMs);
    return new LinkWayOut(stream, policy, admit);
  }
  if (exit.kind === 'http') throw new ProxyError('COMMAND_UNSUPPORTED', `UDP is not carried through exit ${exit.id} (an HTTP proxy)`);
  const pool = links?.for(exit);
  if (pool) {
    try {
      return new LinkWayOut(await pool.openDatagrams(timeoutMs + LIMITS.exitAnswerGraceMs), policy);
    } catch (err) {
      // An exit from before UDP over links: its SOCKS5 port (kept for one release) carries the association.
      if (!(err instanceof ProxyError && err.code === 'COMMAND_UNSUPPORTED')) throw err;
    }
  }
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
