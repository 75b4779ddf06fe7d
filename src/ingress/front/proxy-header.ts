/**
 * PROXY protocol at the ingress's front door (docs/CONFIGURATION.md, "PROXY protocol").
 * A trusted load balancer must open with a header (v1 or v2); anyone else who sends one
 * is refused before a front protocol ever sees it. The caller bounds the time (the
 * handshake deadline); the bytes are bounded by the codec.
 */
import type { Socket } from 'node:net';
import { ProxyError } from '../../shared/errors.js';
import { unmapIPv4 } from '../../shared/net-addr.js';
import { parseProxyHeader, proxySignature, type ProxyHeaderParse } from '../../protocol/proxy-protocol/codec.js';
import type { Session } from '../session.js';

type Decided<T> = { done: true; value: T } | { done: false };

/**
 * Read from the (flowing) socket, starting with `first`, until `decide` settles.
 * Resolves with its value and every byte received (the socket is left paused);
 * rejects with BAD_REQUEST if the peer closes first.
 */
function collect<T>(socket: Socket, first: Buffer, decide: (buf: Buffer) => Decided<T>, closedMessage: string): Promise<{ value: T; buf: Buffer }> {
  const d0 = decide(first);
  if (d0.done) return Promise.resolve({ value: d0.value, buf: first });
  return new Promise((resolve, reject) => {
    let buf = first;
    const cleanup = (): void => {
      socket.off('data', onData);
      socket.off('close', onClose);
      socket.pause();
    };
    const onData = (chunk: Buffer): void => {
      buf = Buffer.concat([buf, chunk]);
      const d = decide(buf);
      if (!d.done) return;
      cleanup();
      resolve({ value: d.value, buf });
    };
    const onClose = (): void => {
      cleanup();
      reject(new ProxyError('BAD_REQUEST', closedMessage));
    };
    socket.on('data', onData);
    socket.once('close', onClose);
    socket.resume();
  });
}

type HeaderOk = Extract<ProxyHeaderParse, { kind: 'ok' }>;

/**
 * From a trusted peer: parse the PROXY header at the start of the stream and apply it to
 * the session (real client address and port, original destination port). Resolves with
 * the bytes after the header (possibly none).
 */
export async function acceptProxyHeader(session: Session, socket: Socket, first: Buffer): Promise<Buffer> {
  const { value: r, buf } = await collect<ProxyHeaderParse>(
    socket,
    first,
    (b) => {
      const p = parseProxyHeader(b);
      return p.kind === 'more' ? { done: false } : { done: true, value: p };
    },
    'peer closed during the PROXY protocol header',
  );
  if (r.kind !== 'ok') throw new ProxyError('BAD_REQUEST', `PROXY protocol: ${r.kind === 'error' ? r.reason : 'incomplete'}`);
  applyHeader(session, r);
  return buf.subarray(r.headerLength);
}

function applyHeader(session: Session, h: HeaderOk): void {
  // LOCAL (the balancer's health check) and unknown families keep the socket's own addresses.
  if (h.command !== 'proxy' || h.family === 'unknown') return;
  session.source = unmapIPv4(h.source!);
  session.sourcePort = h.sourcePort!;
  session.port = h.destinationPort!;
}

/**
 * From an untrusted peer: a PROXY header would let it claim any address, so it is refused
 * here rather than sniffed as an HTTP method "PROXY" or as garbage. Resolves with the bytes
 * received so far (more than `first` only when `first` was a proper prefix of a signature).
 */
export async function refuseProxyHeader(socket: Socket, first: Buffer): Promise<Buffer> {
  const { value: sig, buf } = await collect(
    socket,
    first,
    (b) => {
      const s = proxySignature(b);
      return s === 'more' ? { done: false } : { done: true, value: s };
    },
    'peer closed during the first bytes',
  );
  if (sig !== 'none') throw new ProxyError('BAD_REQUEST', `PROXY protocol ${sig} header from an untrusted address`);
  return buf;
}
