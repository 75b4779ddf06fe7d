/**
 * The connection entry: admit → (PROXY header) → sniff → (TLS, then sniff
 * again) → hand the connection to its front (front/*.ts) through the table
 * below. The fronts then call the stages in pipeline-stages.ts; they never
 * import this module, so the dependency runs one way (entry → fronts → stages).
 */
import type { Socket } from 'node:net';
import { TLSSocket } from 'node:tls';
import { isProxyError, ProxyError } from '../shared/errors.js';
import { channels, type AdmissionRejectMessage } from '../shared/events.js';
import { unmapIPv4 } from '../shared/net-addr.js';
import { sourceKey } from '../shared/source-key.js';
import { sniffProtocol } from '../protocol/sniff.js';
import { proxySignature } from '../protocol/proxy-protocol/codec.js';
import { ByteReader } from './byte-reader.js';
import type { IngressRuntime } from './runtime.js';
import { Session, type SessionCloseMessage } from './session.js';
import { replayStream } from './replay-stream.js';
import { handshakeDone, releasePreAuth } from './pipeline-stages.js';
import { serveSocks5 } from './front/socks5.js';
import { serveSocks4 } from './front/socks4.js';
import { serveHttp } from './front/http-proxy.js';
import { acceptProxyHeader, refuseProxyHeader } from './front/proxy-header.js';

type Front = (rt: IngressRuntime, session: Session, reader: ByteReader) => Promise<void>;

/** The front handler of each sniffed protocol (anything not SOCKS is read as HTTP). */
const FRONTS: Readonly<Record<'socks5' | 'socks4' | 'http', Front>> = {
  socks5: serveSocks5,
  socks4: serveSocks4,
  http: serveHttp,
};

/** Entry point for every accepted TCP connection. */
export function handleConnection(rt: IngressRuntime, socket: Socket, port: number): void {
  const snap = rt.snapshot;
  const source = unmapIPv4(socket.remoteAddress ?? '');
  // Source legitimacy: outside attack mode a counter and a mode check; in attack mode sources
  // implausible at this ingress take from their class's bucket (docs/LEGITIMACY.md).
  // Behind a trusted PROXY-protocol load balancer the real source is not known yet: not judged here.
  const trusted = snap.proxyTrusted.size > 0 && snap.proxyTrusted.hasText(source);
  const gate = rt.legitimacy;
  // Per source before authentication: a trusted load balancer is many clients, not counted here.
  const preAuthKey = trusted ? undefined : sourceKey(source);
  const refused = rt.draining ? 'draining'
    : gate !== undefined && !trusted && !gate.admitConnection(source) ? 'legitimacy'
    : preAuthKey !== undefined && !rt.limiter.tryAcquirePreAuth(preAuthKey, preAuthCap(snap.config.limits)) ? 'source-limit'
    : !rt.limiter.tryAcquireGlobal(snap.config.limits.maxConnections) ? 'global-limit'
    : undefined;
  if (refused) {
    if (refused === 'global-limit' && preAuthKey !== undefined) rt.limiter.releasePreAuth(preAuthKey);
    if (channels.admissionReject.hasSubscribers) channels.admissionReject.publish({ origin: rt, source, reason: refused } satisfies AdmissionRejectMessage);
    // Before its first byte the client's protocol is unknown: a prompt close is the clear answer.
    socket.destroy();
    return;
  }
  const session = new Session(socket, port, source, socket.remotePort ?? 0, snap);
  session.preAuthKey = preAuthKey;
  rt.sessions.add(session);
  socket.setNoDelay(true);
  socket.on('error', noop); // errors are handled where they matter; never crash on a reset
  // Neither the timer nor the close listener closes over this function's scope: an idle
  // tunnel should not keep the handshake's closures alive (memory per tunnel).
  session.handshakeDeadline = setTimeout(handshakeTimedOut, snap.config.limits.handshakeTimeoutMs, session);
  socket.on('close', endSession.bind(null, rt, session)); // 'close' comes once; on() spares once()'s wrapper
  // allowHalfOpen keeps a FIN from closing the socket (the relay needs that); a client that
  // ends before its first byte (port probes, health checks) is gone, not half-closed.
  const onEarlyEnd = (): void => void socket.destroy();
  socket.once('end', onEarlyEnd);
  const start = (first: Buffer): void => {
    socket.off('end', onEarlyEnd);
    socket.pause();
    void dispatch(rt, session, socket, first, false).catch((err) => failSession(session, err));
  };
  // PROXY protocol: required from a trusted load balancer (it sets the real client's address
  // and the original port before anything reads them), refused from anyone else.
  socket.once('data', (first: Buffer) => {
    socket.pause();
    if (trusted) {
      acceptProxyHeader(session, socket, first).then((rest) => {
        if (rest.length > 0) return start(rest);
        socket.once('data', start); // a health check may send the header alone, then close
        socket.resume();
      }, (err) => failSession(session, err));
    } else if (proxySignature(first) === 'none') {
      start(first); // the common case, decided on the first chunk
    } else {
      refuseProxyHeader(socket, first).then(start, (err) => failSession(session, err));
    }
  });
}

async function dispatch(rt: IngressRuntime, session: Session, socket: Socket, first: Buffer, inTls: boolean): Promise<void> {
  const proto = sniffProtocol(first[0]!);
  if (!session.snapshot.protocols.has(proto)) throw new ProxyError('BAD_REQUEST', `${proto} is not served on this node`);
  if (proto === 'tls') {
    if (inTls || !rt.tls) throw new ProxyError('BAD_REQUEST', 'TLS not enabled on this ingress');
    return startTls(rt, session, socket, first);
  }
  const reader = new ByteReader(socket, first, session.snapshot.config.limits.maxHeadBytes);
  socket.resume();
  const prefix = inTls ? 'https-' : '';
  const front = proto === 'socks5' || proto === 'socks4' ? proto : 'http';
  session.protocol = `${prefix}${front}`;
  return FRONTS[front](rt, session, reader);
}

/** HTTPS proxy: terminate TLS on the ingress, then sniff again inside. */
function startTls(rt: IngressRuntime, session: Session, raw: Socket, first: Buffer): void {
  const tls = new TLSSocket(replayStream(raw, first), { isServer: true, secureContext: rt.tls });
  tls.on('error', (err: Error) => failSession(session, new ProxyError('BAD_REQUEST', `TLS: ${err.message}`)));
  tls.once('data', (inner: Buffer) => {
    tls.pause();
    void dispatch(rt, session, tls as unknown as Socket, inner, true).catch((err) => failSession(session, err));
  });
}

function handshakeTimedOut(session: Session): void {
  session.result ??= 'TIMEOUT';
  session.resultMessage ??= 'handshake timed out';
  session.socket.destroy();
}

export function failSession(session: Session, err: unknown): void {
  if (session.result === undefined) {
    session.result = isProxyError(err) ? err.code : 'INTERNAL';
    session.resultMessage = (err as Error)?.message;
  }
  session.socket.destroy();
}

function endSession(rt: IngressRuntime, session: Session): void {
  handshakeDone(session);
  if (!rt.sessions.delete(session)) return;
  rt.limiter.releaseGlobal();
  releasePreAuth(rt, session);
  if (session.slotHeld && session.principal) rt.limiter.releaseUser(session.principal.user.login);
  if (channels.sessionClose.hasSubscribers) channels.sessionClose.publish({ origin: rt, session } satisfies SessionCloseMessage);
}

/** One source holds at most half the connection budget before authenticating, however the cap is set. */
function preAuthCap(l: { maxPreAuthPerSource: number; maxConnections: number }): number {
  return Math.max(1, Math.min(l.maxPreAuthPerSource, Math.floor(l.maxConnections / 2)));
}

function noop(): void {}
