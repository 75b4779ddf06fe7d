/**
 * A work connection's tunnel (reverse-client.ts, the protocol before links): the
 * ingress's TLS socket and the target's, relayed raw both ways.
 */
import type { Socket } from 'node:net';

/** Relay both ways with backpressure and half-close; an idle timer; a reset on one side resets the other. */
export function pipeBoth(a: Socket, b: Socket, idleMs: number): void {
  const done = (): void => {
    a.destroy();
    b.destroy();
  };
  for (const [src, dst] of [[a, b], [b, a]] as const) {
    src.on('data', (chunk: Buffer) => {
      if (!dst.write(chunk)) src.pause();
    });
    dst.on('drain', () => src.resume());
    src.on('end', () => dst.end());
    src.on('error', done);
    src.once('close', (hadError: boolean) => {
      if (hadError) return done();
      // Closed cleanly: the other side has our FIN; it must not outlive us idle.
      if (!dst.destroyed) dst.setTimeout(idleMs, done);
    });
  }
  a.setTimeout(idleMs, done);
  a.resume();
  b.resume();
}
