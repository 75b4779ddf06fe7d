/**
 * A TCP connection out of this host, from a chosen source address when asked,
 * optionally read through the reused read buffers. OS errors become ErrorCodes
 * here, once.
 */
import { readFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { connectReading } from './read-buffers.js';
import { codeFromSystemError, ProxyError } from '../errors.js';

/** How a connection leaves this host, and how it will be read. */
export interface ConnectOptions {
  readonly localAddress?: string | undefined;
  /** Source ports to pick from when localAddress is set (default: the kernel's ephemeral range). */
  readonly localPorts?: readonly [number, number] | undefined;
  /** The socket will be relayed without limits: read through reused buffers (read-buffers.ts). */
  readonly readBuffers?: boolean | undefined;
}

/**
 * Binding a source address with port 0 makes the kernel search for a port
 * free of every socket on that address, TIME_WAIT included: after a few
 * thousand connections each connect() stalls for seconds (an exit's egress
 * collapsed to ~400 connections a second). Choosing the port ourselves only
 * needs the 4-tuple to be free, and Linux lets a connect() from an explicitly
 * bound port take over a TIME_WAIT 4-tuple when the peer used TCP timestamps
 * (whatever tcp_tw_reuse says); a rare collision is retried with another port.
 * Ports bound this way are off limits to the kernel's own choice for other
 * sockets until they leave TIME_WAIT: `egress.ports` can keep them apart
 * (docs/EXITS.md, "Egress at high rates").
 */
const EPHEMERAL = readEphemeralRange();
const BIND_ATTEMPTS = 6;

function readEphemeralRange(): [number, number] {
  try {
    const [lo, hi] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
    if (lo && hi && lo < hi) return [lo, hi];
  } catch {
    // not Linux: fall through to the IANA range
  }
  return [49152, 65535];
}

function randomPort([lo, hi]: readonly [number, number]): number {
  return lo + Math.floor(Math.random() * (hi - lo + 1));
}

export async function connectTcp(host: string, port: number, timeoutMs: number, how: ConnectOptions = {}): Promise<Socket> {
  const readBuffers = how.readBuffers ?? false;
  if (how.localAddress === undefined) return connectOnce(host, port, timeoutMs, readBuffers);
  for (let attempt = 1; ; attempt++) {
    try {
      return await connectOnce(host, port, timeoutMs, readBuffers, how.localAddress, randomPort(how.localPorts ?? EPHEMERAL));
    } catch (err) {
      const code = ((err as ProxyError).cause as NodeJS.ErrnoException | undefined)?.code;
      if (attempt >= BIND_ATTEMPTS || (code !== 'EADDRINUSE' && code !== 'EADDRNOTAVAIL')) throw err;
    }
  }
}

function connectOnce(host: string, port: number, timeoutMs: number, readBuffers: boolean, localAddress?: string, localPort?: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const options = { host, port, localAddress, localPort, allowHalfOpen: true, noDelay: true };
    const socket = readBuffers ? connectReading(options) : connect(options);
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new ProxyError('TIMEOUT', `connect to ${host}:${port} timed out`));
    }, timeoutMs);
    const onError = (err: Error): void => {
      clearTimeout(timer);
      reject(new ProxyError(codeFromSystemError(err), `connect to ${host}:${port} failed: ${(err as NodeJS.ErrnoException).code ?? err.message}`, { cause: err }));
    };
    socket.once('error', onError);
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.off('error', onError);
      resolve(socket);
    });
  });
}
