/**
 * Bidirectional pipe between the client and the upstream: backpressure both
 * ways, half-close passed through, one idle timer, bytes counted per
 * direction. Ends exactly once. A side that fails (a reset) is passed on as
 * a reset of the other: a FIN would tell the peer the stream ended complete.
 *
 * An idle tunnel is mostly this state, so it is one small object per relay:
 * the listeners are shared functions that find their relay through the
 * socket (`this` is the emitting socket), not closures per connection
 * (~1 KB less heap per tunnel; see docs/BENCHMARKS.md).
 */
import type { Socket } from 'node:net';
import { throttledPump } from '../guard/bandwidth.js';
import { meters, type SessionLimits } from '../guard/session-limits.js';
import { hasReadBuffers, pipeReads, releaseReads } from '../../shared/net/read-buffers.js';
import { resetSocket } from './reset.js';
import { writeCoalesced } from '../../shared/net/coalesce.js';
import { LinkStream } from '../../link/stream.js';
import type { RelayCounters } from './counters.js';

export type RelayEnd = 'closed' | 'idle' | 'client-error' | 'upstream-error' | 'aborted';

export interface RelayHandle {
  /** Stop relaying now (shutdown, limits). */
  abort(): void;
}

const kRelay = Symbol('hopgate.relay');
type RelayedSocket = Socket & { [kRelay]: Relay };

class Relay implements RelayHandle {
  private how: RelayEnd | undefined;
  private open = 2;
  /** The upstream is a link stream: its pieces of one turn are gathered into one write to the client (shared/net/coalesce.ts). */
  readonly gather: boolean;

  constructor(
    readonly client: Socket,
    readonly upstream: Socket,
    readonly counters: RelayCounters,
    private readonly idleMs: number,
    private readonly onEnd: (how: RelayEnd) => void,
    /** The client's TCP socket when `client` is a TLS socket over it (the HTTPS proxy). */
    private readonly clientTransport: Socket,
  ) {
    this.gather = upstream instanceof LinkStream;
  }

  finish(reason: RelayEnd): void {
    this.how ??= reason;
    if (reason === 'upstream-error') resetSocket(this.clientTransport);
    else if (reason === 'client-error') resetSocket(this.upstream);
    this.client.destroy();
    this.upstream.destroy();
  }

  abort(): void {
    this.finish('aborted');
  }

  closed(): void {
    if (--this.open === 0) {
      releaseReads(this.upstream);
      this.onEnd(this.how ?? 'closed');
    }
    // One side is gone; the other must not outlive it idle (its peer ignored our FIN).
    else if (!this.upstream.destroyed) watchIdle(this.upstream, this.idleMs);
  }
}

// Shared listeners: `this` is the socket that emitted.
function onData(this: RelayedSocket, chunk: Buffer): void {
  const r = this[kRelay];
  if (this === r.client) {
    r.counters.up += chunk.length;
    if (!r.upstream.write(chunk)) this.pause();
  } else {
    r.counters.down += chunk.length;
    if (!(r.gather ? writeCoalesced(r.client, chunk) : r.client.write(chunk))) this.pause();
  }
}
function onDrain(this: RelayedSocket): void {
  const r = this[kRelay];
  (this === r.client ? r.upstream : r.client).resume();
}
function onEnd(this: RelayedSocket): void {
  const r = this[kRelay];
  (this === r.client ? r.upstream : r.client).end();
}
function onError(this: RelayedSocket): void {
  const r = this[kRelay];
  r.finish(this === r.client ? 'client-error' : 'upstream-error');
}
function onClose(this: RelayedSocket): void {
  this[kRelay].closed();
}
function onIdle(this: RelayedSocket): void {
  this[kRelay].finish('idle');
}
function watchIdle(socket: Socket, idleMs: number): void {
  socket.setTimeout(idleMs);
  socket.on('timeout', onIdle);
}

/** Counting pump with closures: only for customers with limits (quota metering, paced directions). */
function pump(src: Socket, dst: Socket, count: (n: number) => void): void {
  src.on('data', (chunk: Buffer) => {
    count(chunk.length);
    if (!dst.write(chunk)) src.pause();
  });
  dst.on('drain', () => src.resume());
  src.on('end', () => dst.end());
}

export function relay(
  client: Socket,
  upstream: Socket,
  counters: RelayCounters,
  idleMs: number,
  onEnded: (how: RelayEnd) => void,
  limits?: SessionLimits,
  clientTransport: Socket = client,
): RelayHandle {
  const r = new Relay(client, upstream, counters, idleMs, onEnded, clientTransport);
  (client as RelayedSocket)[kRelay] = r;
  (upstream as RelayedSocket)[kRelay] = r;
  if (!limits) {
    for (const s of [client, upstream]) s.on('drain', onDrain).on('end', onEnd);
    client.on('data', onData);
    // Sockets we dialled read into reused buffers, written straight to the client (read-buffers.ts).
    if (hasReadBuffers(upstream)) pipeReads(upstream, client, counters);
    else upstream.on('data', onData);
  } else {
    // A customer with limits: quota counting, and a paced pump where a direction has a rate.
    const count = meters(counters, limits, client, upstream);
    if (limits.up) throttledPump(client, upstream, count.up, limits.up);
    else pump(client, upstream, count.up);
    if (limits.down) throttledPump(upstream, client, count.down, limits.down);
    else pump(upstream, client, count.down);
  }
  for (const s of [client, upstream]) s.on('error', onError).on('close', onClose);
  // A side may have sent its FIN with its handshake (request, data and FIN in one go): its 'end'
  // came while a handshake reader held the socket, before the listeners above. Passed on now, or
  // the other side never hears it and both wait for the idle timeout (sessions held meanwhile).
  if (client.readableEnded) upstream.end();
  if (upstream.readableEnded) client.end();
  // Every byte read on one side is written on the other, so the client's timer sees all activity.
  watchIdle(client, idleMs);
  client.resume();
  upstream.resume();
  return r;
}
