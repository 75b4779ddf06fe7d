/** Relaying one link stream to its target (forward exits' links and reverse exits' links alike). */
import type { Socket } from 'node:net';
import type { LinkStream } from '../link/stream.js';
import { writeCoalesced } from '../shared/net/coalesce.js';
import { RECORD_DATA_PAYLOAD } from '../protocol/link/codec.js';

/**
 * How an exit reads a target relayed into a link stream: in slabs reused only once the link has written
 * every byte of one (the stream keeps its chunks until the link takes them), 16 DATA frames' payload each, so that a full read leaves as one
 * TLS write of 16 whole records. At 256 KiB the last 144 bytes made a short frame in a record of its
 * own: per read one more send at the exit, one more read and send at the ingress (docs/BENCHMARKS.md,
 * "Link path: system calls").
 */
export const LINK_TARGET_READS = { slabBytes: 16 * RECORD_DATA_PAYLOAD } as const;

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
