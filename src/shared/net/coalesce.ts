/**
 * Writes to a socket that gather a burst into one writev (issue 19).
 *
 * A link stream hands its payload on as TLS records arrive: pieces of up to 16 KiB, several
 * per socket read, and Node runs the relay once per piece. Written one by one, each piece is a
 * send() of its own to the client — on loopback the kernel's cost per call, not per byte,
 * dominated the ingress (docs/BENCHMARKS.md, "Link bulk and echo"). Every piece is therefore
 * corked and the burst sent together at the end of this turn of the event loop (setImmediate:
 * after the I/O callbacks of the turn, before the loop waits again), or at once when a read's
 * worth is gathered. The size of a piece says nothing about where a burst ends: a control frame
 * ahead of the DATA in one TLS write shifts every frame off the record boundaries, and the
 * pieces then come as a record cut in two (docs/BENCHMARKS.md, "Link path: system calls").
 * A small piece with nothing gathered before it (an echo) is not held at all.
 */
import type { Socket } from 'node:net';
import { isLinkSlabPiece, releaseLinkPiece } from './link-reads.js';

/**
 * Bytes gathered before they go in one writev, and unsent bytes past which the writer is asked to
 * wait (the socket's own mark is 16 KiB). 256 KiB, as a link stream's send buffer: a turn of a link
 * download brings that much and more, and at 64 KiB the ingress made 13 writes to its client per MB
 * instead of 4 (docs/BENCHMARKS.md, "Link path: system calls"). A client that stops reading holds
 * at most this beyond its stream's window.
 */
export const COALESCE_LIMIT = 256 * 1024;

const kCorked = Symbol('hopgate.coalesce.corked');
type Coalescing = Socket & { [kCorked]?: boolean };

function uncork(s: Coalescing): void {
  if (!s[kCorked]) return;
  s[kCorked] = false;
  s.uncork();
}

/**
 * A piece this small with nothing gathered before it goes at once: an echo or a request, whose
 * latency counts. In a burst cut off the record boundaries only the first piece of a turn can be
 * such a sliver: at most one write more per turn.
 */
export const SMALL_PIECE = 1024;

/**
 * Write `chunk`; a view of a link read slab (link-reads.ts) is released once its write completed:
 * nothing points into it then. A failed write (the socket destroyed first) releases nothing: that
 * slab is left to the GC.
 */
function write(s: Socket, chunk: Buffer): boolean {
  if (!isLinkSlabPiece(chunk)) return s.write(chunk);
  return s.write(chunk, (err?: Error | null) => {
    if (!err) releaseLinkPiece(chunk);
  });
}

/** Write `chunk` to `dst` as part of this turn's burst. Returns false when the writer should wait for 'drain'. */
export function writeCoalesced(dst: Socket, chunk: Buffer): boolean {
  const s = dst as Coalescing;
  if (!s[kCorked] && chunk.length < SMALL_PIECE) return write(s, chunk) || s.writableLength < COALESCE_LIMIT;
  if (!s[kCorked]) {
    s[kCorked] = true;
    s.cork();
    setImmediate(uncork, s);
  }
  write(s, chunk);
  // A read's worth gathered: it goes now, one writev (the burst may go on: a fresh one starts with the next piece).
  if (s.writableLength >= COALESCE_LIMIT) uncork(s);
  // While corked, the socket says "wait" past its 16 KiB mark: ours is what it could not send, past a read's worth.
  return s.writableLength < COALESCE_LIMIT;
}
