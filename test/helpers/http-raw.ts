/**
 * HTTP/1.1 over a plain socket, for tests that must send exactly the bytes
 * they mean (malformed framing, pipelining) and see exactly how the
 * connection ends (a response, a FIN, or a reset).
 */
import { connect, type Socket } from 'node:net';
import { USER } from './ingress.js';

export const PROXY_AUTH = `Proxy-Authorization: Basic ${Buffer.from(`${USER.login}:${USER.password}`).toString('base64')}\r\n`;

export interface RawResponse {
  readonly status: number;
  readonly head: string;
  readonly body: Buffer;
}

/** How the connection ended: 'open' (not yet), 'fin' (clean close) or the error code ('ECONNRESET'). */
export type EndKind = string;

export class RawHttp {
  private buf = Buffer.alloc(0);
  private wake: (() => void) | undefined;
  end: EndKind = 'open';

  private constructor(readonly socket: Socket) {
    socket.on('data', (d: Buffer) => {
      this.buf = Buffer.concat([this.buf, d]);
      this.wake?.();
    });
    socket.on('error', (err: NodeJS.ErrnoException) => {
      if (this.end === 'open') this.end = err.code ?? err.message;
    });
    socket.on('close', () => {
      if (this.end === 'open') this.end = 'fin';
      this.wake?.();
    });
  }

  static open(port: number, host = '127.0.0.1'): Promise<RawHttp> {
    return new Promise((resolve, reject) => {
      const s = connect({ port, host });
      s.once('connect', () => {
        s.off('error', reject);
        resolve(new RawHttp(s));
      });
      s.once('error', reject);
    });
  }

  write(data: string | Buffer): void {
    this.socket.write(data);
  }

  /** Bytes received and not yet consumed by readResponse. */
  get pending(): Buffer {
    return this.buf;
  }

  private async more(deadline: number): Promise<void> {
    const left = deadline - Date.now();
    if (left <= 0) throw new Error(`no complete response in time (got ${JSON.stringify(this.buf.toString('latin1').slice(0, 200))})`);
    if (this.end !== 'open') throw new Error(`connection ended (${this.end}) before a complete response; got ${JSON.stringify(this.buf.toString('latin1').slice(0, 200))}`);
    await new Promise<void>((resolve) => {
      const t = setTimeout(resolve, left);
      this.wake = () => {
        clearTimeout(t);
        resolve();
      };
    });
    this.wake = undefined;
  }

  /** A response head (a CONNECT's answer, say), leaving what follows it unread. */
  async readHead(ms = 5000): Promise<string> {
    const deadline = Date.now() + ms;
    let end: number;
    while ((end = this.buf.indexOf('\r\n\r\n')) < 0) await this.more(deadline);
    const head = this.buf.toString('latin1', 0, end);
    this.buf = this.buf.subarray(end + 4);
    return head;
  }

  /** One response framed by Content-Length (or by the close when it has none, within `ms`). */
  async readResponse(ms = 5000): Promise<RawResponse> {
    const deadline = Date.now() + ms;
    let end: number;
    while ((end = this.buf.indexOf('\r\n\r\n')) < 0) await this.more(deadline);
    const head = this.buf.toString('latin1', 0, end);
    const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(head)?.[1] ?? NaN);
    const cl = /\r\ncontent-length:\s*(\d+)/i.exec(head);
    const start = end + 4;
    if (cl) {
      const len = Number(cl[1]);
      while (this.buf.length < start + len) await this.more(deadline);
      const body = this.buf.subarray(start, start + len);
      this.buf = this.buf.subarray(start + len);
      return { status, head, body };
    }
    while (this.end === 'open' && Date.now() < deadline) await this.more(deadline).catch(() => undefined);
    const body = this.buf.subarray(start);
    this.buf = Buffer.alloc(0);
    return { status, head, body };
  }

  /** Resolves with how the connection ended, or 'open' if it has not within `ms`. */
  async ended(ms = 5000): Promise<EndKind> {
    if (this.end === 'open') await new Promise<void>((resolve) => {
      const t = setTimeout(resolve, ms);
      this.socket.once('close', () => {
        clearTimeout(t);
        resolve();
      });
    });
    return this.end;
  }

  close(): void {
    this.socket.destroy();
  }
}

/** A proxied GET with keep-alive. */
export function proxiedGet(targetPort: number, path = '/', extra = ''): string {
  return `GET http://127.0.0.1:${targetPort}${path} HTTP/1.1\r\nHost: 127.0.0.1:${targetPort}\r\n${PROXY_AUTH}${extra}\r\n`;
}
