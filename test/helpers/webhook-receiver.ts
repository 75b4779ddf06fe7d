/**
 * A real webhook receiver on loopback for the event tests: records every
 * request (headers, raw body, arrival time) and answers as told — 200, 503,
 * a redirect, an oversized body, or nothing at all — and can go away
 * entirely (connection refused) and come back on the same port.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export type ReceiverMode = 'ok' | '503' | 'redirect' | 'huge' | 'silent';

export interface Received {
  readonly path: string;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: string;
  /** Date.now() when the body was complete. */
  readonly at: number;
  /** What it was answered. */
  readonly status: number;
}

export class WebhookReceiver {
  mode: ReceiverMode = 'ok';
  readonly received: Received[] = [];
  private server: http.Server;
  private port = 0;

  private constructor() {
    this.server = this.make();
  }

  static async start(): Promise<WebhookReceiver> {
    const r = new WebhookReceiver();
    await r.listen(0);
    return r;
  }

  url(path = '/hook'): string {
    return `http://127.0.0.1:${this.port}${path}`;
  }

  /** Requests answered 2xx. */
  accepted(path?: string): Received[] {
    return this.received.filter((r) => r.status >= 200 && r.status < 300 && (path === undefined || r.path === path));
  }

  private make(): http.Server {
    return http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const mode = this.mode;
        const status = mode === 'ok' || mode === 'huge' ? 200 : mode === '503' ? 503 : mode === 'redirect' ? 302 : 0;
        this.received.push({ path: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks).toString('utf8'), at: Date.now(), status });
        if (mode === 'silent') return; // never answers: the sender's timeout ends it
        if (mode === 'redirect') return void res.writeHead(302, { location: this.url('/redirected') }).end();
        if (mode === 'huge') {
          res.writeHead(200, { 'content-type': 'application/octet-stream' });
          // 8 MiB, written as the reader drains: a sender that reads it all would take a while
          let left = 128;
          const more = (): void => {
            while (left > 0) {
              left--;
              if (!res.write(Buffer.alloc(64 * 1024, 120))) return void res.once('drain', more);
            }
            res.end();
          };
          res.on('error', () => undefined);
          return more();
        }
        res.writeHead(status, { 'content-type': 'text/plain' }).end(status === 200 ? 'ok' : 'unavailable');
      });
    });
  }

  private listen(port: number): Promise<void> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, '127.0.0.1', () => {
        this.server.off('error', reject);
        this.port = (this.server.address() as AddressInfo).port;
        resolve();
      });
    });
  }

  /** Gone: the port refuses connections until up(). */
  async down(): Promise<void> {
    const s = this.server;
    const closed = new Promise<void>((resolve) => s.close(() => resolve()));
    s.closeAllConnections();
    await closed;
  }

  /** Back on the same port. */
  async up(): Promise<void> {
    this.server = this.make();
    await this.listen(this.port);
  }

  async close(): Promise<void> {
    if (this.server.listening) await this.down();
  }
}
