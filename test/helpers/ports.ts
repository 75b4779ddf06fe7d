/**
 * Ports for tests. A server of the test's own listens on port 0 (`listen0`): the kernel picks, nothing can
 * collide. Only a process that must be told its port before it starts (a third-party binary, a restart on
 * the same port) takes one from `freePort`/`freePortRange`; the port is free when returned, and another
 * process could still take it before the child binds (that child then fails to start, loudly).
 */
import { connect, createServer, type AddressInfo, type Server } from 'node:net';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';

export async function listen0(server: Server, host = '127.0.0.1'): Promise<number> {
  server.listen(0, host);
  await once(server, 'listening');
  return (server.address() as AddressInfo).port;
}

/** A port nothing listens on right now (for "connection refused" too). */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  const s = createServer();
  const port = await listen0(s, host);
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/**
 * `count` consecutive free ports, the first returned. Below Linux's ephemeral range (32768+), so that
 * outgoing connections of other tests do not take them meanwhile; each candidate run is held bound until
 * the whole run is, then released.
 */
export async function freePortRange(count: number, host = '127.0.0.1'): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = 20_000 + Math.floor(Math.random() * (32_000 - 20_000 - count));
    const held: Server[] = [];
    try {
      for (let i = 0; i < count; i++) {
        const s = createServer();
        s.listen(base + i, host);
        await once(s, 'listening');
        held.push(s);
      }
      return base;
    } catch {
      // One of them is taken: another run.
    } finally {
      await Promise.all(held.map((s) => new Promise<void>((r) => s.close(() => r()))));
    }
  }
  throw new Error(`no ${count} consecutive free ports found on ${host}`);
}

/** Whether a TCP connection to host:port is accepted now (a started child is listening). */
export function accepts(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, host);
    s.once('connect', () => (s.destroy(), resolve(true)));
    s.once('error', () => resolve(false));
  });
}

/**
 * Connections the kernel has completed on a listening port that the process has not accepted yet (its
 * accept queue, /proc/net/tcp's rx_queue of the LISTEN socket), over IPv4 and IPv6; 0 once all are taken.
 */
export function acceptQueue(port: number): number {
  let n = 0;
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text: string;
    try {
      text = readFileSync(table, 'utf8');
    } catch {
      continue; // no IPv6
    }
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      // f[1] local address:port (hex), f[3] state (0A: LISTEN), f[4] tx_queue:rx_queue (hex)
      if (f.length < 5 || f[3] !== '0A' || Number.parseInt(f[1]!.split(':')[1]!, 16) !== port) continue;
      n += Number.parseInt(f[4]!.split(':')[1]!, 16);
    }
  }
  return n;
}
