/**
 * SOCKS5 UDP ASSOCIATE. The association lives as long as its TCP control
 * connection (RFC 1928 §7) and ends after an idle period. Datagrams reach us
 * from the client over UDP (only from the client's address), or — hopgate's
 * UDP_IN_TCP command (0x83), used by ingresses across chained routes — as
 * frames inside the control connection itself. They leave directly or through
 * the chosen exit (udp-way-out.ts).
 */
import type { RemoteInfo, Socket as UdpSocket } from 'node:dgram';
import type { Socket } from 'node:net';
import { isProxyError, ProxyError, REPLIES } from '../../shared/errors.js';
import { LIMITS } from '../../shared/limits.js';
import type { TargetAddress } from '../../protocol/address.js';
import { encodeReply, REP } from '../../protocol/socks5/codec.js';
import { encodeUdpDatagram, parseUdpDatagram, udpDatagramFits, type UdpDatagram } from '../../protocol/socks5/udp-header.js';
import { encodeFrame, FrameScanner, MAX_FRAME } from '../../protocol/socks5/udp-in-tcp.js';
import type { ByteReader } from '../byte-reader.js';
import type { IngressRuntime } from '../runtime.js';
import type { Session } from '../session.js';
import { chooseExit } from '../pipeline-stages.js';
import { unmapIPv4 as unmap } from '../../shared/net-addr.js';
import { openExitWayOut } from './udp-way-out.js';
import { bindUdp, ignoreUdpSendError, openDirectWayOut, udpPayloadLimit, type UdpWayOut } from '../../shared/net/udp-direct.js';
import { endClient } from './end-client.js';


/** The client's side of an association: where its datagrams come from and replies go. */
interface ClientSide {
  readonly bind: { host: string; port: number };
  onDatagram: ((d: UdpDatagram) => void) | undefined;
  /** The largest datagram (SOCKS5 UDP header included) one send to the customer carries. */
  readonly maxDatagram: number;
  /** Hand an encoded datagram (encodeUdpDatagram) to the customer. */
  send(datagram: Buffer): void;
  close(): void;
}

/** Plain SOCKS5: a UDP socket; only the client's address may use it, its port locked on first use. */
class UdpClientSide implements ClientSide {
  onDatagram: ClientSide['onDatagram'];
  private clientPort = 0;
  readonly bind: { host: string; port: number };
  readonly maxDatagram: number;

  constructor(
    private readonly socket: UdpSocket,
    private readonly clientIp: string,
    onError: () => void,
    rt: IngressRuntime,
  ) {
    const a = socket.address();
    this.bind = { host: a.address, port: a.port };
    this.maxDatagram = udpPayloadLimit(clientIp);
    socket.on('message', (msg: Buffer, rinfo: RemoteInfo) => {
      const from = unmap(rinfo.address);
      // Source legitimacy: a datagram of the association once its client port is known is
      // established (never limited); the first one is judged like a new flow (in attack mode:
      // by its source's class). Others are dropped below anyway: they only count as UDP load.
      const gate = rt.legitimacy;
      const mine = from === clientIp && (this.clientPort === 0 || rinfo.port === this.clientPort);
      if (!mine) return void gate?.observeUdp();
      if (gate !== undefined && !gate.admitDatagram(from, this.clientPort !== 0)) return;
      this.clientPort = rinfo.port;
      const d = parseUdpDatagram(msg);
      if (d.kind === 'ok') this.onDatagram?.(d.value);
    });
    socket.on('error', onError);
  }

  send(datagram: Buffer): void {
    if (this.clientPort !== 0) this.socket.send(datagram, this.clientPort, this.clientIp, ignoreUdpSendError);
  }

  close(): void {
    this.socket.close();
  }
}

/** UDP_IN_TCP: datagrams as length-prefixed frames on the (authenticated) control connection. */
class StreamClientSide implements ClientSide {
  onDatagram: ClientSide['onDatagram'];
  readonly bind = { host: '0.0.0.0', port: 0 };
  private readonly scanner = new FrameScanner();

  constructor(private readonly control: Socket) {}

  /** Bytes from the control connection (and any pipelined after the request). */
  feed(chunk: Buffer): void {
    for (const frame of this.scanner.feed(chunk)) {
      const d = parseUdpDatagram(frame);
      if (d.kind === 'ok') this.onDatagram?.(d.value);
    }
  }

  readonly maxDatagram = MAX_FRAME;

  send(datagram: Buffer): void {
    if (this.control.writableLength > LIMITS.udpInTcpBacklogBytes) return; // a slow reader loses datagrams, not memory
    this.control.write(encodeFrame(datagram));
  }

  close(): void {}
}

export async function serveUdpAssociate(rt: IngressRuntime, session: Session, reader: ByteReader, _declared: TargetAddress, inTcp = false): Promise<void> {
  const control = reader.socket;
  session.command = 'udp';
  const snap = session.snapshot;
  let wayOut: UdpWayOut;
  let client: ClientSide;
  let closeAll = (): void => undefined;
  try {
    const choice = chooseExit(rt, session, (e) => rt.exitHealth.isUp(e.id), { udp: true });
    session.exitId = choice?.exit.id;
    session.routeReason = choice?.reason ?? 'direct';
    wayOut = choice
      ? await openExitWayOut(choice.exit, snap.targetPolicy, snap.config.limits.connectTimeoutMs, rt.links, rt.reverse)
      : await openDirectWayOut(snap.config.egress, snap.targetPolicy);
    if (inTcp) client = new StreamClientSide(control);
    else {
      const front = await bindUdp(unmap(control.localAddress ?? '127.0.0.1')).catch((err: unknown) => {
        wayOut.close();
        throw new ProxyError('INTERNAL', `UDP bind failed: ${(err as Error).message}`);
      });
      client = new UdpClientSide(front, session.source, () => closeAll(), rt);
    }
  } catch (err) {
    const code = isProxyError(err) ? err.code : 'INTERNAL';
    session.result = code;
    session.resultMessage = (err as Error).message;
    return endClient(control, encodeReply(REPLIES[code].socks5));
  }
  const limits = session.limits;
  let idle: NodeJS.Timeout | undefined;
  let closed = false;
  // Runs once: dgram's close() throws when called twice, and sends after it would throw too.
  closeAll = (): void => {
    if (closed) return;
    closed = true;
    clearTimeout(idle);
    client.close();
    wayOut.close();
    control.destroy();
  };
  idle = setTimeout(() => {
    session.resultMessage = 'UDP idle timeout';
    closeAll();
  }, LIMITS.udpIdleTimeoutMs);

  client.onDatagram = (d) => {
    if (closed || d.data.length > LIMITS.maxUdpPayload) return;
    // The same the other way: re-encoded for a SOCKS5 exit's relay (a long name, or a literal spelt as a name), past one datagram.
    if (!udpDatagramFits(d.target.host, d.data.length, wayOut.maxDatagram)) return void rt.udp.tooLarge.up++;
    // Refused by the target policy: dropped before the customer's rate and bill, as a refused CONNECT costs nothing.
    if (wayOut.refuses(d.target)) return void rt.udp.refused++;
    idle?.refresh();
    const n = d.data.length;
    if (limits?.up && !limits.up.tryTakeAll(n)) return void limits.up.drops++; // over the customer's rate
    session.counters.up += n;
    limits?.usage?.add(n); // may close the association (quota)
    if (!closed) wayOut.send(d.target, d.data);
  };
  wayOut.onReply = (from, data) => {
    if (closed) return;
    idle?.refresh();
    // The SOCKS5 header on a target's largest reply is past what one datagram to an IPv4 customer (65,507
    // bytes) or one UDP-in-TCP frame (65,535) holds: dropped and counted, neither sent nor billed.
    if (!udpDatagramFits(from.host, data.length, client.maxDatagram)) return void rt.udp.tooLarge.down++;
    if (limits?.down && !limits.down.tryTakeAll(data.length)) return void limits.down.drops++;
    session.counters.down += data.length;
    limits?.usage?.add(data.length);
    if (!closed) client.send(encodeUdpDatagram(from, data));
  };
  wayOut.onClose = closeAll;

  control.write(encodeReply(REP.SUCCEEDED, client.bind));
  session.result = 'ok';
  const early = reader.detach();
  if (client instanceof StreamClientSide) {
    if (early.length > 0) client.feed(early);
    control.on('data', (chunk: Buffer) => client.feed(chunk));
  } else {
    control.on('data', () => undefined); // the control connection carries nothing; drain it
  }
  control.on('close', closeAll);
  control.on('end', closeAll);
  control.resume();
  session.stopper = { abort: closeAll };
  // The control connection may have ended or closed while the way out was opened, before the
  // listeners above, or the exit already ended it: the association ends now, not at its idle timeout.
  if (control.readableEnded || control.destroyed || wayOut.isClosed) closeAll();
}
