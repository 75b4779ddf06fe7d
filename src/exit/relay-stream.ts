/** Relaying one link stream to its target (forward exits' links and reverse exits' links alike). */
import type { Socket } from 'node:net';
import type { LinkStream } from '../link/stream.js';
import { writeCoalesced } from '../shared/net/coalesce.js';

/**
 * Stream ↔ target with backpressure and half-close per direction. A failure on
 * one side is passed on as a failure: a target reset becomes a stream RST, a
 * stream reset becomes a TCP reset to the target (never a FIN, which would say
 * the data was complete).
 */
export function relayStream(stream: LinkStream, target: Socket, idleMs: number): void {
  const pipe = (src: LinkStream | Socket, dst: LinkStream | Socket): void => {
    src.on('data', (chunk: Buffer) => {
      // To the target, the stream's pieces of one turn go out together (shared/net/coalesce.ts).
      if (!(dst === target ? writeCoalesced(target, chunk) : dst.write(chunk))) src.pause();
    });
    dst.on('drain', () => src.resume());
    src.on('end', () => dst.end());
  };
  pipe(stream, target);
  pipe(target, stream);
  target.on('error', (err: Error) => stream.destroy(err));
  stream.on('error', () => {
    if (!target.destroyed) target.resetAndDestroy();
  });
  // Each side closed cleanly: the other has its FIN and must not outlive it idle.
  stream.once('close', () => {
    if (!target.destroyed) target.setTimeout(idleMs, () => target.destroy());
  });
  target.once('close', () => {
    if (!stream.destroyed) stream.setTimeout(idleMs, () => stream.destroy());
  });
  target.setTimeout(idleMs, () => {
    target.destroy();
    stream.destroy();
  });
  stream.resume();
  target.resume();
}
