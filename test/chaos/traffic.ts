/**
 * Chaos client traffic: SOCKS5 (npm `socks`), HTTP CONNECT and HTTP forward
 * (raw sockets, so every byte is counted), each fetching /bytes/N from the
 * target. An outcome records what the client saw — ok, or the SOCKS reply /
 * HTTP status and X-Hopgate-Error / socket error — and the bytes that moved
 * after the proxy handshake (what the ingress counts as the customer's usage).
 */
import { connect, type Socket } from 'node:net';
import { SocksClient } from 'socks';

export type Mode = 'socks5' | 'connect' | 'http';
export const MODES: readonly Mode[] = ['socks5', 'connect', 'http'];

export interface RequestSpec {
  readonly mode: Mode;
  readonly proxy: { host: string; port: number };
  readonly ingress: string;
  readonly exit: string;
  readonly user: string;
  readonly password: string;
  readonly target: { host: string; port: number };
  readonly bytes: number;
  readonly timeoutMs: number;
}

export interface Outcome {
  readonly start: number;
  readonly end: number;
  readonly mode: Mode;
  readonly ingress: string;
  readonly exit: string;
  readonly ok: boolean;
  /** 'ok', 'socks:<reply>', 'http:<status> <X-Hopgate-Error>', 'err:<code>', 'short' (cut mid-body), 'timeout'. */
  readonly what: string;
  readonly up: number;
  readonly down: number;
}

/** Read everything until close or timeout; counts bytes as they arrive. */
function collect(s: Socket, timeoutMs: number, first: Buffer): Promise<{ data: Buffer; how: string }> {
  const chunks: Buffer[] = [first];
  return new Promise((resolve) => {
    const t = setTimeout(() => {
      s.destroy();
      resolve({ data: Buffer.concat(chunks), how: 'timeout' });
    }, timeoutMs);
    let err = '';
    s.on('data', (c: Buffer) => chunks.push(c));
    s.on('error', (e: NodeJS.ErrnoException) => (err = e.code ?? e.message));
    s.once('close', () => {
      clearTimeout(t);
      resolve({ data: Buffer.concat(chunks), how: err ? `err:${err}` : 'closed' });
    });
    s.resume();
  });
}

/** The HTTP response in `data` is complete (status 200, Content-Length bytes of body). */
function complete(data: Buffer, bytes: number): { status: number; error: string | undefined; full: boolean } {
  const end = data.indexOf('\r\n\r\n');
  if (end < 0) return { status: 0, error: undefined, full: false };
  const head = data.subarray(0, end).toString('latin1');
  const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(head)?.[1] ?? 0);
  const error = /x-hopgate-error:\s*([A-Z_]+)/i.exec(head)?.[1];
  return { status, error, full: status === 200 && data.length - end - 4 >= bytes };
}

function request(spec: RequestSpec): string {
  const path = `/bytes/${spec.bytes}`;
  const host = `${spec.target.host}:${spec.target.port}`;
  if (spec.mode !== 'http') return `GET ${path} HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`;
  const auth = Buffer.from(`${spec.user}:${spec.password}`).toString('base64');
  return `GET http://${host}${path} HTTP/1.1\r\nHost: ${host}\r\nProxy-Authorization: Basic ${auth}\r\nConnection: close\r\n\r\n`;
}

/** Open the tunnel (SOCKS5 or CONNECT); resolves with the socket and any bytes read past the handshake, or a failure. */
async function tunnel(spec: RequestSpec): Promise<{ s: Socket; extra: Buffer } | { what: string }> {
  if (spec.mode === 'socks5') {
    try {
      const r = await SocksClient.createConnection({
        proxy: { host: spec.proxy.host, port: spec.proxy.port, type: 5, userId: spec.user, password: spec.password },
        command: 'connect',
        destination: spec.target,
        timeout: spec.timeoutMs,
      });
      return { s: r.socket, extra: Buffer.alloc(0) };
    } catch (e) {
      const m = (e as Error).message;
      const reply = /rejected connection - (\w+)/.exec(m)?.[1];
      return { what: reply ? `socks:${reply}` : /timed out/i.test(m) ? 'timeout' : `socks-err:${m.slice(0, 60)}` };
    }
  }
  const s = connect(spec.proxy);
  const auth = Buffer.from(`${spec.user}:${spec.password}`).toString('base64');
  const host = `${spec.target.host}:${spec.target.port}`;
  return new Promise((resolve) => {
    let buf = Buffer.alloc(0);
    const t = setTimeout(() => done({ what: 'timeout' }), spec.timeoutMs);
    const done = (r: { s: Socket; extra: Buffer } | { what: string }): void => {
      clearTimeout(t);
      s.off('data', onData);
      if ('what' in r) s.destroy();
      resolve(r);
    };
    const onData = (c: Buffer): void => {
      buf = Buffer.concat([buf, c]);
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      s.pause();
      const head = buf.subarray(0, end).toString('latin1');
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1] ?? 0);
      if (status !== 200) return done({ what: `http:${status} ${/x-hopgate-error:\s*([A-Z_]+)/i.exec(head)?.[1] ?? ''}`.trim() });
      done({ s, extra: buf.subarray(end + 4) });
    };
    s.on('data', onData);
    s.once('error', (e: NodeJS.ErrnoException) => done({ what: `err:${e.code ?? e.message}` }));
    s.once('close', () => done({ what: 'err:closed' }));
    s.write(`CONNECT ${host} HTTP/1.1\r\nHost: ${host}\r\nProxy-Authorization: Basic ${auth}\r\n\r\n`);
  });
}

export async function oneRequest(spec: RequestSpec): Promise<Outcome> {
  const start = Date.now();
  const base = { start, mode: spec.mode, ingress: spec.ingress, exit: spec.exit };
  const req = request(spec);
  let s: Socket;
  let extra: Buffer = Buffer.alloc(0);
  if (spec.mode === 'http') {
    s = connect(spec.proxy);
    s.on('error', () => undefined);
  } else {
    const t = await tunnel(spec);
    if ('what' in t) return { ...base, end: Date.now(), ok: false, what: t.what, up: 0, down: 0 };
    ({ s, extra } = t);
  }
  s.write(req);
  const { data, how } = await collect(s, Math.max(1000, spec.timeoutMs - (Date.now() - start)), extra);
  const c = complete(data, spec.bytes);
  const what = c.full ? 'ok' : c.status && c.status !== 200 ? `http:${c.status} ${c.error ?? ''}`.trim() : how === 'closed' ? 'short' : how;
  // A tunnel carries the target's bytes as they are; the HTTP forward proxy writes heads of its own and counts bodies only.
  const headEnd = data.indexOf('\r\n\r\n');
  const down = spec.mode !== 'http' ? data.length : c.status === 200 && headEnd >= 0 ? data.length - headEnd - 4 : 0;
  return { ...base, end: Date.now(), ok: c.full, what, up: spec.mode === 'http' ? 0 : Buffer.byteLength(req), down };
}

/** Runs `concurrency` request loops until stop(); `next(i)` says what the i-th request is. */
export class TrafficRun {
  readonly outcomes: Outcome[] = [];
  private running = false;
  private loops: Promise<void>[] = [];
  private n = 0;

  constructor(private readonly next: (i: number) => RequestSpec, private readonly concurrency: number, private readonly maxRequests = 100_000) {}

  start(): void {
    this.running = true;
    for (let i = 0; i < this.concurrency; i++) this.loops.push(this.loop());
  }

  async stop(): Promise<void> {
    this.running = false;
    await Promise.all(this.loops);
  }

  private async loop(): Promise<void> {
    while (this.running && this.n < this.maxRequests) {
      const o = await oneRequest(this.next(this.n++));
      this.outcomes.push(o);
      if (!o.ok) await new Promise((r) => setTimeout(r, 100)); // a failing path is retried, not hammered
    }
  }
}
