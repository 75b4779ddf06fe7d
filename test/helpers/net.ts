/** Real sockets on loopback for tests: targets, clients, timeouts. */
import { createServer, connect, type Server, type Socket } from 'node:net';
import { listen0 } from './ports.js';
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { once } from 'node:events';

/** Re-exported: many tests take it from here with the other socket helpers. */
export { listen0 } from './ports.js';

/** Echo server that records the source address of every connection. */
export async function startEchoServer(host = '127.0.0.1'): Promise<{ port: number; sources: string[]; server: Server; close(): Promise<void> }> {
  const sources: string[] = [];
  const sockets = new Set<Socket>();
  const server = createServer({ allowHalfOpen: true }, (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    sources.push(s.remoteAddress?.replace(/^::ffff:/, '') ?? '');
    s.on('error', () => undefined);
    s.pipe(s);
  });
  const port = await listen0(server, host);
  return {
    port,
    sources,
    server,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

export async function startUdpEcho(host = '127.0.0.1'): Promise<{ port: number; socket: UdpSocket; close(): void }> {
  const socket = createSocket(host.includes(':') ? 'udp6' : 'udp4');
  socket.on('message', (msg, rinfo) => socket.send(msg, rinfo.port, rinfo.address));
  socket.bind(0, host);
  await once(socket, 'listening');
  return { port: socket.address().port, socket, close: () => socket.close() };
}

/** Connect, write `data`, collect everything until the peer closes (or `ms` passes). */
export async function rawExchange(port: number, data: Buffer | string, ms = 3000, host = '127.0.0.1'): Promise<Buffer> {
  const s = connect({ port, host });
  s.on('error', () => undefined);
  const chunks: Buffer[] = [];
  s.on('data', (c: Buffer) => chunks.push(c));
  s.write(data);
  // events.once would reject on 'error'; a reset is an answer here, not a failure.
  await Promise.race([new Promise((r) => s.once('close', r)), new Promise((r) => setTimeout(r, ms))]);
  s.destroy();
  return Buffer.concat(chunks);
}

export function withTimeout<T>(p: Promise<T>, ms: number, what = 'operation'): Promise<T> {
  let t: NodeJS.Timeout;
  return Promise.race([
    p.finally(() => clearTimeout(t)),
    new Promise<never>((_, reject) => (t = setTimeout(() => reject(new Error(`${what} timed out after ${ms} ms`)), ms))),
  ]);
}

/** Resolves when the socket closes, for any reason (events.once would reject on 'error'). */
export function closed(s: { once(ev: 'close', cb: () => void): unknown }): Promise<void> {
  return new Promise((resolve) => s.once('close', () => resolve()));
}
