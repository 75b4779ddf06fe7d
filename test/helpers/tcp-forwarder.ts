/**
 * A test-owned TCP forwarder on 127.0.0.1 (port 0) in front of a real server,
 * to simulate the server going away without touching it: `cut()` resets every
 * forwarded connection and stops listening (new connections are refused),
 * `restore()` listens again on the same port.
 */
import { connect, createServer, type AddressInfo, type Socket } from 'node:net';
import { once } from 'node:events';

export interface TcpForwarder {
  readonly port: number;
  /** Connections accepted so far. */
  readonly accepted: number;
  cut(): Promise<void>;
  restore(): Promise<void>;
  close(): Promise<void>;
}

export async function startTcpForwarder(targetHost: string, targetPort: number): Promise<TcpForwarder> {
  const sockets = new Set<Socket>();
  let accepted = 0;
  const track = (s: Socket): void => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => undefined);
  };
  const server = createServer((client) => {
    accepted++;
    const upstream = connect(targetPort, targetHost);
    track(client);
    track(upstream);
    client.pipe(upstream);
    upstream.pipe(client);
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as AddressInfo).port;
  const resetAll = (): void => {
    for (const s of sockets) s.resetAndDestroy();
  };
  return {
    port,
    get accepted() {
      return accepted;
    },
    async cut() {
      const closed = new Promise<void>((r) => server.close(() => r()));
      resetAll();
      await closed;
    },
    async restore() {
      server.listen(port, '127.0.0.1');
      await once(server, 'listening');
    },
    async close() {
      resetAll();
      if (server.listening) await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
