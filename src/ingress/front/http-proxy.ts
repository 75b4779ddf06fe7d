/**
 * HTTP/1.1 forward proxy front: CONNECT tunnels, and absolute-URI requests
 * forwarded with keep-alive on both sides, bodies passed through unchanged in
 * their own framing (Content-Length or chunked), hop-by-hop headers removed.
 */
import type { Socket } from 'node:net';
import { isProxyError, ProxyError, REPLIES, type ErrorCode } from '../../shared/errors.js';
import { formatTarget, isValidDomain, targetKind, type TargetAddress } from '../../protocol/address.js';
import { parseRequestHead, type Header, type RequestHead } from '../../protocol/http/request-head.js';
import { requestFraming, responseFraming, hasToken, type BodyFraming } from '../../protocol/http/message-framing.js';
import { parseResponseHead, type ResponseHead } from '../../protocol/http/response-head.js';
import { ChunkedScanner } from '../../protocol/http/chunked-scanner.js';
import { encodeBasicChallenge, parseBasicCredentials } from '../../protocol/http/proxy-authorization.js';
import { encodeProxyResponse } from '../../protocol/http/response-writer.js';
import { LIMITS } from '../../shared/limits.js';
import { isRouteHeader, tagsFromHeaders } from '../../protocol/username/header-tags.js';
import { ByteReader, type Pacer } from '../byte-reader.js';
import { meters } from '../guard/session-limits.js';
import { authorize, handshakeDone, openUpstream } from '../pipeline-stages.js';
import type { IngressRuntime } from '../runtime.js';
import type { Session } from '../session.js';
import { relayToClient } from './relay-session.js';
import { resetSocket } from '../relay/reset.js';
import { endClient } from './end-client.js';

/** Hop-by-hop headers (RFC 9110 §7.6.1) plus the proxy-specific ones. */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'proxy-authorization', 'proxy-authenticate', 'te', 'trailer', 'upgrade']);
const ESTABLISHED = Buffer.from('HTTP/1.1 200 Connection established\r\n\r\n', 'latin1');
const EXIT_HEADER_LOWER = 'x-hopgate-exit';

/**
 * `X-Hopgate-Exit: <exit id>; replacement=<0|1>` (with CRLF) when the customer opted in — the
 * username's hdr-1/hdr-0 first, else their setting — or ''. `direct` when no exit carried it.
 */
function exitHeaderLine(session: Session): string {
  const p = session.principal;
  if (!p) return '';
  const wanted = (session.routeTags ?? p.username.tags).exitHeader ?? p.user.config.exitHeader;
  if (!wanted) return '';
  return `X-Hopgate-Exit: ${session.exitId ?? 'direct'}; replacement=${session.routeReason === 'replacement' ? 1 : 0}\r\n`;
}

export async function serveHttp(rt: IngressRuntime, session: Session, reader: ByteReader): Promise<void> {
  const client = reader.socket;
  const limits = { maxHeadBytes: session.snapshot.config.limits.maxHeadBytes, maxHeaderCount: LIMITS.maxHeaderCount };
  let authHeader: string | undefined;
  let upstream: Upstream | undefined;
  // Set while a response is part-way out: a failure then can only cut the connection (RST).
  const exchange = { responding: false };
  try {
    for (let n = 0; ; n++) {
      // The first head is bounded by the handshake deadline; later ones (keep-alive) by their own.
      const deadline = n === 0 ? undefined : setTimeout(() => client.destroy(), session.snapshot.config.limits.handshakeTimeoutMs);
      const head = await reader.read((b) => parseRequestHead(b, limits), 'HEADERS_TOO_LARGE').finally(() => clearTimeout(deadline));
      // Re-authenticate only when the credentials change within the connection.
      const proxyAuth = firstHeader(head.headers, 'proxy-authorization');
      if (session.principal === undefined || proxyAuth !== authHeader) {
        if (session.principal) throw new ProxyError('BAD_REQUEST', 'credentials changed within one connection');
        authHeader = proxyAuth;
        const cred = proxyAuth === undefined ? undefined : parseBasicCredentials(proxyAuth);
        if (proxyAuth !== undefined && cred === undefined) throw new ProxyError('AUTH_FAILED', 'malformed Proxy-Authorization (Basic expected)');
        await authorize(rt, session, cred);
      }
      const route = tagsFromHeaders(session.principal!.username, head.headers);
      if (!route.ok) throw new ProxyError('BAD_REQUEST', route.reason);
      session.routeTags = route.tags;
      if (head.method === 'CONNECT') {
        upstream?.socket.destroy();
        const target = parseAuthority(head.target);
        const socket = await openUpstream(rt, session, target);
        const line = exitHeaderLine(session);
        client.write(line === '' ? ESTABLISHED : `HTTP/1.1 200 Connection established\r\n${line}\r\n`);
        return relayToClient(session, reader, socket);
      }
      if (n === 0) {
        handshakeDone(session);
        session.command = 'http';
        client.setTimeout(session.snapshot.config.limits.idleTimeoutMs, () => client.destroy());
      }
      upstream = await forwardOne(rt, session, reader, head, upstream, route.text, exchange);
      if (upstream === undefined || !wantsKeepAlive(head)) {
        upstream?.socket.destroy();
        endClient(client);
        return;
      }
    }
  } catch (err) {
    upstream?.socket.destroy();
    // A second response after a head already sent would be read as part of the first.
    if (exchange.responding) return abortClient(session, client, err);
    // The client finished its keep-alive connection: close our side too (allowHalfOpen would keep it).
    if (reader.exhausted && session.result === 'ok') return endClient(client);
    respondError(session, client, err);
  }
}

interface Upstream {
  readonly socket: Socket;
  readonly reader: ByteReader;
  readonly key: string;
}

/** Forward one request and its response; returns the upstream to reuse, or undefined to close. */
async function forwardOne(
  rt: IngressRuntime,
  session: Session,
  reader: ByteReader,
  head: RequestHead,
  prev: Upstream | undefined,
  routeText: string,
  exchange: { responding: boolean },
): Promise<Upstream | undefined> {
  const client = reader.socket;
  const url = parseAbsoluteUrl(head.target);
  const framing = requestFraming(head);
  if (framing.kind === 'error') throw new ProxyError('BAD_REQUEST', framing.message);
  if (framing.kind !== 'ok') throw new ProxyError('BAD_REQUEST', 'incomplete request framing');
  // A request routed differently (X-Hopgate-* headers) must not reuse another route's upstream.
  const key = `${formatTarget(url.target)}${routeText}`;
  let up = prev;
  if (!up || up.key !== key || up.socket.destroyed || up.reader.exhausted) {
    up?.socket.destroy();
    const socket = await openUpstream(rt, session, url.target);
    // The client left while the route opened: its 'close' has passed, so nothing would ever end this
    // upstream. A reset: a FIN would have the exit wait on the target for an answer nobody reads.
    if (client.destroyed) {
      resetSocket(socket);
      return undefined;
    }
    up = { socket, reader: new ByteReader(socket, Buffer.alloc(0), session.snapshot.config.limits.maxHeadBytes), key };
    socket.on('error', () => undefined);
    // Whatever happens to this request, the upstream never outlives the client.
    client.once('close', () => socket.destroy());
  } else {
    session.target = url.target;
  }
  const upSocket = up.socket;
  upSocket.write(buildUpstreamHead(head, url), 'latin1');
  const count = meters(session.counters, session.limits, client, upSocket);
  // The request body flows while the response is awaited. Its failure (the client aborts, a
  // malformed chunk) belongs to this exchange: the upstream, holding half a request, goes, which
  // ends the wait for its response, and the body's error is what the client hears.
  let bodyFailure: Error | undefined;
  const sendBody = forwardBody(reader, upSocket, framing.value, count.up, session.limits?.up).catch((err: unknown) => {
    bodyFailure = err instanceof Error ? err : new ProxyError('INTERNAL', String(err));
    upSocket.destroy();
  });
  const limits = { maxHeadBytes: session.snapshot.config.limits.maxHeadBytes, maxHeaderCount: LIMITS.maxHeaderCount };
  let res: ResponseHead;
  for (;;) {
    res = await up.reader.read((b) => parseResponseHead(b, limits), 'HEADERS_TOO_LARGE', 'upstream closed before responding').catch((err: unknown) => {
      if (bodyFailure !== undefined) throw bodyFailure;
      throw new ProxyError(isProxyError(err) && err.code === 'HEADERS_TOO_LARGE' ? 'HEADERS_TOO_LARGE' : 'HOST_UNREACHABLE', `bad response from ${key}: ${(err as Error).message}`);
    });
    if (res.status >= 200 || res.status === 101) break;
    client.write(buildResponseHead(res, true), 'latin1'); // 100 Continue and friends pass through
  }
  if (res.status === 101) throw new ProxyError('HOST_UNREACHABLE', 'upstream switched protocols without an Upgrade request');
  const resFraming = responseFraming(res, head.method);
  if (resFraming.kind !== 'ok') throw new ProxyError('HOST_UNREACHABLE', `bad response framing from ${key}`);
  const keepUpstream = resFraming.value.kind !== 'until-close' && !hasToken(res.headers, 'connection', 'close') && res.version === '1.1';
  const keepClient = resFraming.value.kind !== 'until-close' && wantsKeepAlive(head);
  client.write(buildResponseHead(res, keepClient, exitHeaderLine(session)), 'latin1');
  exchange.responding = true;
  await forwardBody(up.reader, client, resFraming.value, count.down, session.limits?.down).catch((err: unknown) => {
    if (bodyFailure !== undefined) throw bodyFailure;
    if (client.destroyed) throw err;
    throw new ProxyError('HOST_UNREACHABLE', `response from ${key} cut short: ${(err as Error).message}`);
  });
  exchange.responding = false;
  await sendBody;
  session.result = 'ok';
  // The response is whole, but the request body was not (the upstream answered early): the
  // client's next bytes cannot be framed, so its connection ends after this response.
  if (bodyFailure !== undefined) {
    session.resultMessage = `request body: ${bodyFailure.message}`;
    up.socket.destroy();
    return undefined;
  }
  if (!keepClient) {
    up.socket.destroy();
    return undefined;
  }
  if (!keepUpstream) {
    up.socket.destroy();
    return { ...up, key: '' }; // keep the client; dial afresh next time
  }
  return up;
}

function forwardBody(src: ByteReader, dst: Socket, framing: BodyFraming, onBytes: (n: number) => void, pace?: Pacer): Promise<void> {
  switch (framing.kind) {
    case 'none':
      return Promise.resolve();
    case 'length': {
      let left = framing.length;
      return src.forward(dst, (b) => { const n = Math.min(left, b.length); left -= n; return n; }, () => left === 0, onBytes, false, pace);
    }
    case 'chunked': {
      const scanner = new ChunkedScanner();
      return src.forward(dst, (b) => scanner.feed(b), () => scanner.done, onBytes, false, pace, () => scanner.error && `malformed chunked body: ${scanner.error}`);
    }
    case 'until-close':
      return src.forward(dst, (b) => b.length, () => false, onBytes, true, pace);
  }
}

function wantsKeepAlive(head: RequestHead): boolean {
  if (hasToken(head.headers, 'connection', 'close') || hasToken(head.headers, 'proxy-connection', 'close')) return false;
  if (head.version === '1.0') return hasToken(head.headers, 'connection', 'keep-alive') || hasToken(head.headers, 'proxy-connection', 'keep-alive');
  return true;
}

function firstHeader(headers: readonly Header[], lower: string): string | undefined {
  for (const h of headers) if (h.name.toLowerCase() === lower) return h.value;
  return undefined;
}

/** Headers named in Connection are hop-by-hop too. */
function hopByHop(headers: readonly Header[]): Set<string> {
  const set = new Set(HOP_BY_HOP);
  for (const h of headers) {
    if (h.name.toLowerCase() === 'connection') for (const t of h.value.split(',')) set.add(t.trim().toLowerCase());
  }
  return set;
}

function buildUpstreamHead(head: RequestHead, url: { target: TargetAddress; hostHeader: string; path: string }): string {
  const drop = hopByHop(head.headers);
  let out = `${head.method} ${url.path} HTTP/1.1\r\nHost: ${url.hostHeader}\r\n`;
  for (const h of head.headers) {
    const lower = h.name.toLowerCase();
    if (drop.has(lower) || lower === 'host' || isRouteHeader(lower)) continue;
    out += `${h.name}: ${h.value}\r\n`;
  }
  return out + 'Connection: keep-alive\r\n\r\n';
}

/** `extra`: our own header lines; a target's copy of one of them is dropped (it cannot speak for the proxy). */
function buildResponseHead(res: ResponseHead, keepAlive: boolean, extra = ''): string {
  const drop = hopByHop(res.headers);
  if (extra !== '') drop.add(EXIT_HEADER_LOWER);
  let out = `HTTP/1.1 ${res.status} ${res.reason}\r\n`;
  for (const h of res.headers) if (!drop.has(h.name.toLowerCase())) out += `${h.name}: ${h.value}\r\n`;
  if (res.status < 200) return out + '\r\n';
  out += extra;
  return out + (keepAlive ? 'Connection: keep-alive\r\n\r\n' : 'Connection: close\r\n\r\n');
}

/** CONNECT's authority-form: `host:port` or `[v6]:port`. */
export function parseAuthority(text: string): TargetAddress {
  const m = /^(?:\[([0-9A-Fa-f:.]+)\]|([^\s:/[\]]+)):(\d{1,5})$/.exec(text);
  const port = m ? Number(m[3]) : NaN;
  if (!m || port < 1 || port > 65535) throw new ProxyError('BAD_REQUEST', 'CONNECT target must be host:port');
  const host = (m[1] ?? m[2])!;
  const kind = targetKind(host);
  if (m[1] !== undefined && kind !== 'ipv6') throw new ProxyError('BAD_REQUEST', 'bad IPv6 literal');
  checkDomain(host, kind);
  return { host, port, kind };
}

function parseAbsoluteUrl(target: string): { target: TargetAddress; hostHeader: string; path: string } {
  if (!/^http:\/\//i.test(target)) {
    if (/^https:\/\//i.test(target)) throw new ProxyError('BAD_REQUEST', 'https:// URLs go through CONNECT');
    throw new ProxyError('BAD_REQUEST', 'a proxy request needs an absolute http:// URL');
  }
  let url: URL;
  try {
    url = new URL(target);
  } catch {
    throw new ProxyError('BAD_REQUEST', 'malformed URL');
  }
  if (url.username || url.password) throw new ProxyError('BAD_REQUEST', 'credentials in the URL are not forwarded');
  const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
  const port = url.port ? Number(url.port) : 80;
  const kind = targetKind(host);
  checkDomain(host, kind);
  return { target: { host, port, kind }, hostHeader: url.host, path: `${url.pathname}${url.search}` };
}

/**
 * A name as the SOCKS codecs take it (at most 253 characters, labels of 1-63): a longer one, routed to
 * a SOCKS5 exit, would not fit its one-byte length (a RangeError, 500), and no resolver takes it.
 */
function checkDomain(host: string, kind: TargetAddress['kind']): void {
  if (kind === 'domain' && !isValidDomain(host)) throw new ProxyError('BAD_REQUEST', 'invalid host name');
}


function recordFailure(session: Session, err: unknown): void {
  session.result = isProxyError(err) ? err.code : 'INTERNAL';
  session.resultMessage = isProxyError(err) ? err.message : 'internal error';
}

/** Cut the client's connection with a reset (on the TCP socket under an HTTPS proxy's TLS). */
function abortClient(session: Session, client: Socket, err: unknown): void {
  // Cut off by the quota: that reason stands (the write that failed was its consequence).
  if (!(session.result === 'QUOTA_EXCEEDED' && client.destroyed)) recordFailure(session, err);
  resetSocket(session.socket);
  client.destroy();
}

function respondError(session: Session, client: Socket, err: unknown): void {
  // Cut off mid-exchange (quota): the reason is recorded and the client is gone.
  if (session.result === 'QUOTA_EXCEEDED' && client.destroyed) return;
  const code: ErrorCode = isProxyError(err) ? err.code : 'INTERNAL';
  const message = isProxyError(err) ? err.message : 'internal error';
  recordFailure(session, err);
  if (client.destroyed || !client.writable) return void client.destroy();
  const r = REPLIES[code];
  const headers: Array<[string, string]> = [
    ['X-Hopgate-Error', code],
    ['Content-Type', 'text/plain; charset=utf-8'],
  ];
  if (r.httpStatus === 407) headers.push(['Proxy-Authenticate', encodeBasicChallenge('hopgate')]);
  if (isProxyError(err) && err.retryAfterS !== undefined) headers.push(['Retry-After', String(err.retryAfterS)]);
  endClient(client, encodeProxyResponse(r.httpStatus, `${r.httpReason} (${code})`, { headers, body: `${code}: ${message}\n`, close: true }));
}
