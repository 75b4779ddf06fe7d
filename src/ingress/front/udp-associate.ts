/**
 * SOCKS5 UDP ASSOCIATE with direct egress. The association lives as long as
 * its TCP control connection (RFC 1928 §7) and ends after an idle period.
 * Only the client's address may send through it; only targets it has sent to
 * may answer (no open UDP relay).
 */
import { createSocket, type RemoteInfo, type Socket as UdpSocket } from 'node:dgram';
import type { Socket } from 'node:net';
import { isIPv6 } from 'node:net';
import { REPLIES } from '../../shared/errors.js';
import { LIMITS } from '../../shared/limits.js';
import type { TargetAddress } from '../../protocol/address.js';
import { encodeReply, REP } from '../../protocol/socks5/codec.js';
import { encodeUdpDatagram, parseUdpDatagram } from '../../protocol/socks5/udp-header.js';
import type { ByteReader } from '../byte-reader.js';
import { resolveAllowed } from '../upstream/dial-direct.js';
import type { IngressRuntime } from '../runtime.js';
import type { Session } from '../session.js';

const MAX_PEERS = 1024;

function bindUdp(address: string): Promise<UdpSocket> {
  return new Promise((resolve, reject) => {
    const s = createSocket(isIPv6(address) ? 'udp6' : 'udp4');
    s.once('error', reject);
    s.bind(0, address, () => {
      s.off('error', reject);
      resolve(s);
    });
  });
}

const unmap = (a: string): string => (a.startsWith('::ffff:') && a.includes('.') ? a.slice(7) : a);

export async function serveUdpAssociate(_rt: IngressRuntime, session: Session, reader: ByteReader, _declared: TargetAddress): Promise<void> {
  const control = reader.socket as Socket;
  session.command = 'udp';
  const cfg = session.snapshot.config;
  const policy = session.snapshot.targetPolicy;
  let front: UdpSocket;
  let egress: UdpSocket;
  try {
    front = await bindUdp(unmap(control.localAddress ?? '127.0.0.1'));
    egress = await bindUdp(cfg.egress.localAddress ?? '0.0.0.0');
  } catch (err) {
    session.result = 'INTERNAL';
    session.resultMessage = `UDP bind failed: ${(err as Error).message}`;
    return void control.end(encodeReply(REPLIES.INTERNAL.socks5));
  }
  const clientIp = session.source;
  let clientPort = 0; // locked on the first datagram from the client's address
  const peers = new Set<string>();
  const resolved = new Map<string, string>();
  let idle: NodeJS.Timeout | undefined;
  let closed = false;
  // Runs once: dgram's close() throws when called twice, and sends after it would throw too.
  const close = (): void => {
    if (closed) return;
    closed = true;
    clearTimeout(idle);
    front.close();
    egress.close();
    control.destroy();
  };
  const touch = (): void => {
    idle?.refresh();
  };
  idle = setTimeout(() => {
    session.resultMessage = 'UDP idle timeout';
    close();
  }, LIMITS.udpIdleTimeoutMs);

  front.on('message', (msg: Buffer, rinfo: RemoteInfo) => {
    if (unmap(rinfo.address) !== clientIp || (clientPort !== 0 && rinfo.port !== clientPort)) return;
    clientPort = rinfo.port;
    const d = parseUdpDatagram(msg);
    if (d.kind !== 'ok' || d.value.data.length > LIMITS.maxUdpPayload) return;
    const { target, data } = d.value;
    touch();
    const send = (addr: string): void => {
      if (closed) return;
      const key = `${addr}|${target.port}`;
      if (!peers.has(key)) {
        if (peers.size >= MAX_PEERS) return;
        peers.add(key);
      }
      session.counters.up += data.length;
      egress.send(data, target.port, addr);
    };
    const known = resolved.get(target.host);
    if (known) return send(known);
    resolveAllowed(target, policy)
      .then((addrs) => {
        if (resolved.size < MAX_PEERS) resolved.set(target.host, addrs[0]!);
        send(addrs[0]!);
      })
      .catch(() => undefined); // a refused datagram is dropped (UDP has no error channel in SOCKS5)
  });
  egress.on('message', (msg: Buffer, rinfo: RemoteInfo) => {
    const from = unmap(rinfo.address);
    if (closed || !peers.has(`${from}|${rinfo.port}`) || clientPort === 0) return;
    touch();
    session.counters.down += msg.length;
    front.send(encodeUdpDatagram({ host: from, port: rinfo.port }, msg), clientPort, clientIp);
  });
  front.on('error', close);
  egress.on('error', close);

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
