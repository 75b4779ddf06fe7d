/**
 * A route through hops: connect to the first, ask each hop for the next, then
 * run `last` on the last one (ingress → via… → exit). One deadline covers the
 * whole route, the first connect included. Used per tunnel for a SOCKS5 chain
 * (dial-route.ts) and once per link for an exit whose link crosses hops
 * (link-pool.ts).
 */
import type { Socket } from 'node:net';
import { ProxyError } from '../../shared/errors.js';
import { LIMITS } from '../../shared/limits.js';
import { targetKind } from '../../protocol/address.js';
import type { HopConfig } from '../../shared/schema/ingress-config.js';
import { connectTcp, type ReadBuffers } from '../../shared/net/connect-tcp.js';
import { handshakeHop, type HopCredentials } from './hop-handshake.js';

export interface HopChain {
  /** In order: the first one is dialled, each asked for the next; `last` runs on the final one. */
  readonly hops: readonly HopConfig[];
  /** A hop's name in errors ("hop 127.0.0.1:1080 (before exit de-1)"). */
  readonly name: (hop: HopConfig) => string;
  /** Whose route this is, for the timeout's message ("route through exit de-1"). */
  readonly what: string;
  /** Added to the connect timeout for the whole route (default LIMITS.exitAnswerGraceMs: the exit answers first, with its own code). */
  readonly graceMs?: number;
}

export async function throughHops(
  chain: HopChain,
  timeoutMs: number,
  last: (socket: Socket, hop: HopConfig, cred: HopCredentials | undefined) => Promise<void>,
  readBuffers: ReadBuffers = false,
): Promise<Socket> {
  const { hops, name } = chain;
  const until = Date.now() + timeoutMs + (chain.graceMs ?? LIMITS.exitAnswerGraceMs);
  let socket: Socket;
  try {
    socket = await connectTcp(hops[0]!.host, hops[0]!.port, timeoutMs, { readBuffers });
  } catch (err) {
    throw new ProxyError((err as ProxyError).code === 'TIMEOUT' ? 'TIMEOUT' : 'EXIT_UNREACHABLE', `${name(hops[0]!)}: ${(err as Error).message}`, { cause: err });
  }
  socket.on('error', () => undefined); // surfaced through the handshake, then the relay
  const timer = setTimeout(() => socket.destroy(new ProxyError('TIMEOUT', `${chain.what} timed out`)), Math.max(0, until - Date.now()));
  try {
    for (let i = 0; i < hops.length; i++) {
      const h = hops[i]!;
      const cred = h.username !== undefined ? { username: h.username, password: h.password ?? '' } : undefined;
      const next = hops[i + 1];
      if (!next) await last(socket, h, cred);
      else await handshakeHop(socket, h.kind, name(h), { host: next.host, port: next.port, kind: targetKind(next.host) }, cred);
    }
  } catch (err) {
    socket.destroy();
    if (socket.errored instanceof ProxyError && socket.errored.code === 'TIMEOUT') throw socket.errored;
    throw err;
  } finally {
    clearTimeout(timer);
  }
  return socket;
}
