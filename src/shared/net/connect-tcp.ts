/**
 * A TCP connection out of this host, from a chosen source address when asked,
 * optionally read through the reused read buffers. OS errors become ErrorCodes
 * here, once.
 */
import { readFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { connectReading, connectSlabReading } from './read-buffers.js';
import { codeFromSystemError, ProxyError } from '../errors.js';
import { familyName, familyOf, interleaveFamilies, raceAttempts, reachableAddresses, sourceFor, type EgressAddresses } from './happy-eyeballs.js';
import type { JudgedTarget } from './resolve-allowed.js';

/** Reused read buffers (true), or slabs of this size, reused only once every byte of one was sent on (read-buffers.ts, connectSlabReading). */
export type ReadBuffers = boolean | { readonly slabBytes: number };

/** How a connection leaves this host, and how it will be read. */
export interface ConnectOptions extends EgressAddresses {
  /** Source ports to pick from when localAddress is set (default: the kernel's ephemeral range). */
  readonly localPorts?: readonly [number, number] | undefined;
  /**
   * The socket will be relayed without limits: read through reused buffers (read-buffers.ts), or
   * in slabs for a relay into a link stream, which keeps the chunks it is written (connectSlabReading).
   */
  readonly readBuffers?: ReadBuffers | undefined;
  /** Abandons the attempt (the socket is destroyed): a happy-eyeballs race was won by another. */
  readonly signal?: AbortSignal | undefined;
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

/** The source address for a connection to `host`: its family's egress address (a name: localAddress as given). */
function localFor(host: string, how: ConnectOptions): string | undefined {
  const family = familyOf(host);
  if (family === undefined) return how.localAddress;
  const local = sourceFor(family, how);
  if (local === null) throw new ProxyError('FAMILY_UNSUPPORTED', `${host} is ${familyName(family)} and this node has no ${familyName(family)} egress address`);
  return local;
}

export async function connectTcp(host: string, port: number, timeoutMs: number, how: ConnectOptions = {}): Promise<Socket> {
  const readBuffers = how.readBuffers ?? false;
  const local = localFor(host, how);
  if (local === undefined) return connectOnce(host, port, timeoutMs, readBuffers, how.signal);
  for (let attempt = 1; ; attempt++) {
    try {
      return await connectOnce(host, port, timeoutMs, readBuffers, how.signal, local, randomPort(how.localPorts ?? EPHEMERAL));
    } catch (err) {
      const code = ((err as ProxyError).cause as NodeJS.ErrnoException | undefined)?.code;
      if (attempt >= BIND_ATTEMPTS || (code !== 'EADDRINUSE' && code !== 'EADDRNOTAVAIL')) throw err;
    }
  }
}

function connectOnce(host: string, port: number, timeoutMs: number, readBuffers: ReadBuffers, signal?: AbortSignal, localAddress?: string, localPort?: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(new ProxyError('TIMEOUT', `connect to ${host}:${port} abandoned`));
    const options = { host, port, localAddress, localPort, allowHalfOpen: true, noDelay: true };
    const socket = typeof readBuffers === 'object' ? connectSlabReading(options, readBuffers.slabBytes) : readBuffers ? connectReading(options) : connect(options);
    const onAbort = (): void => {
      clearTimeout(timer);
      socket.destroy();
      reject(new ProxyError('TIMEOUT', `connect to ${host}:${port} abandoned`));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      socket.destroy();
      reject(new ProxyError('TIMEOUT', `connect to ${host}:${port} timed out`));
    }, timeoutMs);
    const onError = (err: Error): void => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      reject(new ProxyError(codeFromSystemError(err), `connect to ${host}:${port} failed: ${(err as NodeJS.ErrnoException).code ?? err.message}`, { cause: err }));
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    socket.once('error', onError);
    socket.once('connect', () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      socket.off('error', onError);
      resolve(socket);
    });
  });
}

/** Race `addrs` (allowed by the policy already) for `target`, within `timeoutMs` (happy-eyeballs.ts). */
export function connectFirst(addrs: readonly string[], target: JudgedTarget, timeoutMs: number, how: ConnectOptions): Promise<Socket> {
  const what = target.kind === 'domain' ? `${target.host} (${addrs.join(', ')})` : target.host;
  const reachable = interleaveFamilies(reachableAddresses(addrs, how, what));
  const shown = target.kind === 'ipv6' ? `[${target.host}]:${target.port}` : `${target.host}:${target.port}`;
  if (timeoutMs <= 0) return Promise.reject(new ProxyError('TIMEOUT', `connect to ${shown} timed out`));
  // One address (every literal target): nothing to race, so no AbortController, stagger timer or listeners per connection.
  if (reachable.length === 1) return connectTcp(reachable[0]!, target.port, timeoutMs, how);
  return raceAttempts(reachable, timeoutMs, (host, left, signal) => connectTcp(host, target.port, left, { ...how, signal }));
}
