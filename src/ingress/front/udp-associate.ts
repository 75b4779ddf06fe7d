/**
 * SOCKS5 UDP ASSOCIATE. The association lives as long as its TCP control
 * connection (RFC 1928 §7) and ends after an idle period. Only the client's
 * address may send through it. Datagrams leave directly or through the
 * chosen exit's own association (udp-way-out.ts).
 */
import type { RemoteInfo, Socket as UdpSocket } from 'node:dgram';
import type { Socket } from 'node:net';
import { isProxyError, ProxyError, REPLIES } from '../../shared/errors.js';
import { LIMITS } from '../../shared/limits.js';
import type { TargetAddress } from '../../protocol/address.js';
import { encodeReply, REP } from '../../protocol/socks5/codec.js';
import { encodeUdpDatagram, parseUdpDatagram } from '../../protocol/socks5/udp-header.js';
import type { ByteReader } from '../byte-reader.js';
import type { IngressRuntime } from '../runtime.js';
import type { Session } from '../session.js';
import { chooseExit } from '../pipeline.js';
import { unmapIPv4 as unmap } from '../../shared/net-addr.js';
import { bindUdp, openDirectWayOut, openExitWayOut, type UdpWayOut } from './udp-way-out.js';

export async function serveUdpAssociate(rt: IngressRuntime, session: Session, reader: ByteReader, _declared: TargetAddress): Promise<void> {
  const control = reader.socket as Socket;
  session.command = 'udp';
  const snap = session.snapshot;
  let front: UdpSocket;
  let wayOut: UdpWayOut;
  try {
    const choice = chooseExit(rt, session, (e) => rt.exitHealth.isUp(e.id));
    session.exitId = choice?.exit.id;
    wayOut = choice
      ? await openExitWayOut(choice.exit, snap.targetPolicy, snap.config.limits.connectTimeoutMs)
      : await openDirectWayOut(snap.config.egress.localAddress, snap.targetPolicy);
    front = await bindUdp(unmap(control.localAddress ?? '127.0.0.1')).catch((err: unknown) => {
      wayOut.close();
      throw new ProxyError('INTERNAL', `UDP bind failed: ${(err as Error).message}`);
    });
  } catch (err) {
    const code = isProxyError(err) ? err.code : 'INTERNAL';
    session.result = code;
    session.resultMessage = (err as Error).message;
    return void control.end(encodeReply(REPLIES[code].socks5));
  }
  const clientIp = session.source;
  const limits = session.limits;
  let clientPort = 0; // locked on the first datagram from the client's address
  let idle: NodeJS.Timeout | undefined;
  let closed = false;
  // Runs once: dgram's close() throws when called twice, and sends after it would throw too.
  const close = (): void => {
    if (closed) return;
    closed = true;
    clearTimeout(idle);
    front.close();
    wayOut.close();
    control.destroy();
  };
  idle = setTimeout(() => {
    session.resultMessage = 'UDP idle timeout';
    close();
  }, LIMITS.udpIdleTimeoutMs);

  front.on('message', (msg: Buffer, rinfo: RemoteInfo) => {
    if (closed || unmap(rinfo.address) !== clientIp || (clientPort !== 0 && rinfo.port !== clientPort)) return;
    clientPort = rinfo.port;
    const d = parseUdpDatagram(msg);
    if (d.kind !== 'ok' || d.value.data.length > LIMITS.maxUdpPayload) return;
    idle?.refresh();
    const n = d.value.data.length;
    if (limits?.up && !limits.up.tryTakeAll(n)) return void limits.up.drops++; // over the customer's rate
    session.counters.up += n;
    limits?.usage?.add(n); // may close the association (quota)
    if (!closed) wayOut.send(d.value.target, d.value.data);
  });
  wayOut.onReply = (from, data) => {
    if (closed || clientPort === 0) return;
    idle?.refresh();
    if (limits?.down && !limits.down.tryTakeAll(data.length)) return void limits.down.drops++;
    session.counters.down += data.length;
    limits?.usage?.add(data.length);
    if (!closed) front.send(encodeUdpDatagram(from, data), clientPort, clientIp);
  };
  wayOut.onClose = close;
  front.on('error', close);

  const addr = front.address();
  control.write(encodeReply(REP.SUCCEEDED, { host: addr.address, port: addr.port }));
  session.result = 'ok';
  reader.detach();
  control.on('data', () => undefined); // the control connection carries nothing; drain it
  control.on('close', close);
  control.on('end', close);
  control.resume();
  session.abort = close;
}
