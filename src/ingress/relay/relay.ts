/**
 * Bidirectional pipe between the client and the upstream: backpressure both
 * ways, half-close passed through, one idle timer, bytes counted per
 * direction. Ends exactly once.
 */
import type { Socket } from 'node:net';
import { throttledPump } from '../guard/bandwidth.js';
import { meters, type SessionLimits } from '../guard/session-limits.js';

export interface RelayCounters {
  /** client → upstream */
  up: number;
  /** upstream → client */
  down: number;
}

export type RelayEnd = 'closed' | 'idle' | 'client-error' | 'upstream-error' | 'aborted';

export interface RelayHandle {
  /** Stop relaying now (shutdown, limits). */
  abort(): void;
}

function pump(src: Socket, dst: Socket, count: (n: number) => void): void {
  src.on('data', function onData(chunk: Buffer) {
    count(chunk.length);
    if (!dst.write(chunk)) src.pause();
  });
  dst.on('drain', function onDrain() {
    src.resume();
  });
  src.on('end', function onEnd() {
    dst.end();
  });
}

export function relay(
  client: Socket,
  upstream: Socket,
  counters: RelayCounters,
  idleMs: number,
  onEnd: (how: RelayEnd) => void,
  limits?: SessionLimits,
): RelayHandle {
  let how: RelayEnd | undefined;
  let open = 2;
  const finish = (reason: RelayEnd): void => {
    how ??= reason;
    client.destroy();
    upstream.destroy();
  };
  const onClose = (): void => {
    if (--open === 0) onEnd(how ?? 'closed');
    // One side is gone; the other must not outlive it idle (its peer ignored our FIN).
    else if (!upstream.destroyed) upstream.setTimeout(idleMs, () => finish('idle'));
  };
  if (!limits) {
    pump(client, upstream, (n) => (counters.up += n));
    pump(upstream, client, (n) => (counters.down += n));
  } else {
    // A customer with limits: quota counting, and a paced pump where a direction has a rate.
    const count = meters(counters, limits);
    if (limits.up) throttledPump(client, upstream, count.up, limits.up);
    else pump(client, upstream, count.up);
    if (limits.down) throttledPump(upstream, client, count.down, limits.down);
    else pump(upstream, client, count.down);
  }
  client.on('error', () => finish('client-error'));
  upstream.on('error', () => finish('upstream-error'));
  client.on('close', onClose);
  upstream.on('close', onClose);
  // Every byte read on one side is written on the other, so the client's timer sees all activity.
  client.setTimeout(idleMs, () => finish('idle'));
  client.resume();
  upstream.resume();
  return { abort: () => finish('aborted') };
}
