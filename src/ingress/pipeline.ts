/**
 * The stages of one connection, in order:
 * admit → sniff → (TLS) → front protocol handshake → authenticate → open upstream → reply → relay.
 * Front handlers (front/*.ts) own the client's protocol and call the stages below.
 */
import type { Socket } from 'node:net';
import { TLSSocket } from 'node:tls';
import { isProxyError, ProxyError } from '../shared/errors.js';
import { channels, type AdmissionRejectMessage, type AuthFailMessage, type SessionCloseMessage, type UserRefuseMessage } from '../shared/events.js';
import { sniffProtocol } from '../protocol/sniff.js';
import { unmapIPv4 } from '../shared/net-addr.js';
import { sourceKey } from '../shared/source-key.js';
import type { TargetAddress } from '../protocol/address.js';
import type { Credentials, Principal } from './auth/authenticator.js';
import { ByteReader } from './byte-reader.js';
import type { IngressRuntime } from './runtime.js';
import { Session } from './session.js';
import { replayStream } from './replay-stream.js';
import { dialRoute } from './upstream/dial-route.js';
import { selectExit, type ExitChoice } from './route/select-exit.js';
import type { RouteNeed } from './route/capabilities.js';
import type { Exit } from './route/exit-index.js';
import { serveSocks5 } from './front/socks5.js';
import { serveSocks4 } from './front/socks4.js';
import { serveHttp } from './front/http-proxy.js';
import { acceptProxyHeader, refuseProxyHeader } from './front/proxy-header.js';
import { proxySignature } from '../protocol/proxy-protocol/codec.js';

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
  switch (proto) {
    case 'socks5':
      session.protocol = `${prefix}socks5` as Session['protocol'];
      return serveSocks5(rt, session, reader);
    case 'socks4':
      session.protocol = `${prefix}socks4` as Session['protocol'];
      return serveSocks4(rt, session, reader);
    default:
      session.protocol = `${prefix}http` as Session['protocol'];
      return serveHttp(rt, session, reader);
  }
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

/** Authenticate and take a per-user connection slot. */
export async function authorize(rt: IngressRuntime, session: Session, cred: Credentials | undefined): Promise<Principal> {
  let principal: Principal;
  try {
    principal = await rt.auth.authenticate(session.snapshot, cred, session.source);
  } catch (err) {
    rt.legitimacy?.authFailed();
    if (channels.authFail.hasSubscribers) {
      channels.authFail.publish({ origin: rt, source: session.source, username: cred?.username, code: (err as ProxyError).code, reason: (err as Error).message } satisfies AuthFailMessage);
    }
    if ((err as ProxyError).code === 'USER_SUSPENDED') refused(rt, cred?.username, err as ProxyError);
    throw err;
  }
  session.principal = principal;
  releasePreAuth(rt, session);
  const user = principal.user;
  // Quota before the connection limit: the more useful answer when both apply.
  const overQuota = rt.quota.refusal(user);
  if (overQuota) throw refused(rt, user.login, overQuota);
  if (!rt.limiter.tryAcquireUser(user.login, user.maxConnections)) {
    throw refused(rt, user.login, new ProxyError('CONN_LIMIT', `user ${user.login} is at ${user.maxConnections} concurrent connections`));
  }
  session.slotHeld = true;
  session.limits = rt.limitsFor(user);
  // Evidence: an authenticated, admitted session (a UDP association's control connection
  // included) is a flow whose source cannot be spoofed.
  rt.legitimacy?.accepted(session.source);
  return principal;
}

function refused(rt: IngressRuntime, login: string | undefined, err: ProxyError): ProxyError {
  if (channels.userRefuse.hasSubscribers) channels.userRefuse.publish({ origin: rt, login, code: err.code, reason: err.message } satisfies UserRefuseMessage);
  return err;
}

/** The routing decision for this session (undefined: egress directly). */
export function chooseExit(rt: IngressRuntime, session: Session, usable: (e: Exit) => boolean, need?: RouteNeed): ExitChoice | undefined {
  const snap = session.snapshot;
  const principal = session.principal;
  if (!principal) throw new ProxyError('INTERNAL', 'routing before authentication');
  return selectExit(snap.exits, principal.user.route, {
    login: principal.user.login,
    tags: session.routeTags ?? principal.username.tags,
    port: session.port,
    nowMs: rt.now(),
    defaultSessionMinutes: snap.config.routing.defaultSessionMinutes,
    need,
  }, usable);
}

/** Open the way to the target: choose the exit (or none: direct egress), then dial the route. */
export async function openUpstream(rt: IngressRuntime, session: Session, target: TargetAddress): Promise<Socket> {
  // The client's part of the handshake is over: from here the connect timeout bounds the wait,
  // and the client hears its protocol's answer (a timeout too) instead of a cut connection.
  handshakeDone(session);
  session.target = target;
  const snap = session.snapshot;
  const opts = { policy: snap.targetPolicy, timeoutMs: snap.config.limits.connectTimeoutMs, localAddress: snap.config.egress.localAddress, localAddress6: snap.config.egress.localAddress6, localPorts: snap.config.egress.ports, readBuffers: session.limits === undefined };
  const health = rt.exitHealth;
  const tried = new Set<string>();
  for (let attempt = 0; ; attempt++) {
    const choice = chooseExit(rt, session, (e) => !tried.has(e.id) && health.isUp(e.id), { target });
    if (!choice) return dialRoute(target, undefined, opts);
    session.exitId = choice.exit.id;
    session.routeReason = choice.reason;
    tried.add(choice.exit.id);
    try {
      const socket = await dialRoute(target, choice.exit, opts, rt.reverse);
      health.succeeded(choice.exit.id);
      return socket;
    } catch (err) {
      // Only a failure to reach the exit itself says anything about the exit; the target's
      // refusal does not. Nothing has reached the client yet, so an unpinned choice may move on.
      if ((err as ProxyError).code !== 'EXIT_UNREACHABLE') throw err;
      health.failed(choice.exit.id);
      if (choice.pinned || attempt >= MAX_EXIT_RETRIES || tried.size >= snap.exits.size) throw err;
    }
  }
}

const MAX_EXIT_RETRIES = 2;

/** Handshake done: stop the deadline. */
export function handshakeDone(session: Session): void {
  clearTimeout(session.handshakeDeadline);
  session.handshakeDeadline = undefined;
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

function releasePreAuth(rt: IngressRuntime, session: Session): void {
  if (session.preAuthKey === undefined) return;
  rt.limiter.releasePreAuth(session.preAuthKey);
  session.preAuthKey = undefined;
}

function noop(): void {}
