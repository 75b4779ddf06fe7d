/**
 * Candidate A for links (issue 19): Node's built-in HTTP/2 (nghttp2). One
 * session per link over mutually authenticated TLS (ALPN h2), one CONNECT
 * stream per tunnel (RFC 9113 §8.5), the exit's exact result code in the
 * response's `hopgate-result` header. Built far enough to benchmark against
 * src/link/session.ts.
 */
import { connect as h2connect, createSecureServer, constants, type ClientHttp2Session, type ClientHttp2Stream, type Http2SecureServer, type ServerHttp2Stream } from 'node:http2';
import type { TLSSocket } from 'node:tls';
import { LinkError } from './errors.js';
import { peerPinError, type LinkIdentity } from './identity.js';
import type { OpenRequest } from './session.js';

const SESSION_WINDOW = 64 * 1024 * 1024;

export interface H2Options {
  readonly identity: LinkIdentity;
  readonly pinned: readonly string[];
  /** Receive window per stream, bytes. */
  readonly window: number;
  readonly maxStreams: number;
}

function settings(o: H2Options): { initialWindowSize: number; maxConcurrentStreams: number; maxFrameSize: number } {
  return { initialWindowSize: o.window, maxConcurrentStreams: o.maxStreams, maxFrameSize: 64 * 1024 };
}

export function h2Dial(host: string, port: number, o: H2Options): Promise<ClientHttp2Session> {
  return new Promise((resolve, reject) => {
    const session = h2connect(`https://${host}:${port}`, {
      key: o.identity.key,
      cert: o.identity.cert,
      rejectUnauthorized: false, // pinned by fingerprint below
      minVersion: 'TLSv1.3',
      settings: settings(o),
      peerMaxConcurrentStreams: o.maxStreams,
      maxSessionMemory: 1024,
    });
    session.once('error', reject);
    session.once('connect', (_s, socket) => {
      const why = peerPinError(socket as TLSSocket, o.pinned);
      if (why) {
        session.destroy();
        return reject(new Error(`h2 link refused: ${why}`));
      }
      (socket as TLSSocket).setNoDelay(true);
      session.setLocalWindowSize(SESSION_WINDOW);
      session.removeListener('error', reject);
      session.on('error', () => undefined); // stream errors carry the failure
      resolve(session);
    });
  });
}

/** A CONNECT stream to `host:port`; resolves when the exit answered ok. */
export function h2Open(session: ClientHttp2Session, host: string, port: number, context: Readonly<Record<string, string>> = {}): Promise<ClientHttp2Stream> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { ':method': 'CONNECT', ':authority': `${host.includes(':') ? `[${host}]` : host}:${port}` };
    for (const [k, v] of Object.entries(context)) headers[`hopgate-${k}`] = v;
    const stream = session.request(headers, { endStream: false });
    stream.once('error', (err: Error) => reject(new LinkError('LINK_BROKEN', err.message)));
    stream.once('response', (h) => {
      const result = String(h['hopgate-result'] ?? '');
      if (h[':status'] === 200 && result === 'ok') {
        stream.removeAllListeners('error');
        resolve(stream);
      } else {
        stream.close(constants.NGHTTP2_CANCEL);
        reject(new LinkError('OPEN_REFUSED', `open refused: ${result}`, result || 'EXIT_UNREACHABLE'));
      }
    });
  });
}

export interface H2Accept {
  accept(): void;
  refuse(result: string): void;
}

export function h2Server(o: H2Options, onStream: (s: ServerHttp2Stream, req: OpenRequest, answer: H2Accept) => void): Http2SecureServer {
  const server = createSecureServer({
    key: o.identity.key,
    cert: o.identity.cert,
    requestCert: true,
    rejectUnauthorized: false,
    minVersion: 'TLSv1.3',
    settings: settings(o),
    maxSessionMemory: 1024,
  });
  server.on('secureConnection', (socket: TLSSocket) => {
    if (peerPinError(socket, o.pinned)) socket.destroy();
    else socket.setNoDelay(true);
  });
  server.on('session', (session) => {
    session.on('error', () => undefined);
    session.once('connect', () => session.setLocalWindowSize(SESSION_WINDOW));
  });
  server.on('stream', (stream, headers) => {
    stream.on('error', () => undefined);
    const authority = String(headers[':authority'] ?? '');
    const m = /^\[?([^\]]+?)\]?:(\d{1,5})$/.exec(authority);
    if (headers[':method'] !== 'CONNECT' || !m) {
      stream.respond({ ':status': 400, 'hopgate-result': 'BAD_REQUEST' }, { endStream: true });
      return;
    }
    const context = new Map<string, string>();
    for (const [k, v] of Object.entries(headers)) if (k.startsWith('hopgate-') && typeof v === 'string') context.set(k.slice(8), v);
    onStream(stream, { host: m[1]!, port: Number(m[2]), context }, {
      accept: () => stream.respond({ ':status': 200, 'hopgate-result': 'ok' }),
      refuse: (result) => stream.respond({ ':status': 502, 'hopgate-result': result }, { endStream: true }),
    });
  });
  return server;
}
