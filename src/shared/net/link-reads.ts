/**
 * Where a link's TLS socket reads into, at the side that dialled it (issue 19). Node's TLS socket
 * hands every decrypted record over in a fresh buffer of its own (64 per MB); on a link download
 * their bytes, held until the client takes them, made the ingress's V8 start full collections for
 * "allocation limit" hundreds of times per run (docs/BENCHMARKS.md, "Link bulk: garbage"). With
 * `onread` each record lands in a slab of one record's size instead, reused once done with, and the
 * link session hands DATA payloads on as views of it:
 *
 * - A slab's bytes are out from the read until released: by the link session as soon as it has
 *   parsed what is not DATA handed to a stream (frame headers, control frames; a datagram's bytes
 *   are copied first), and by the client's writer (coalesce.ts) once a view's write to its client
 *   completed (the write callback). A view dropped instead (a reset stream, a concatenating read)
 *   never comes back: its slab is left to the GC, never reused while anything may point into it.
 * - One record per slab, as Node's own buffers: a record carries frames of many streams, and a
 *   client that stops reading pins exactly the records its views are in. Larger slabs would let a
 *   stalled stream's few views in each pin whole slabs of others' bytes (16 × its window at 256 KiB).
 *
 * Node ≥ 15.1 honours `onread` on `tls.connect` only when it makes the TCP connection itself
 * (no `socket`): a link dialled through hops, or one accepted by a server, keeps Node's buffers.
 */
import type { OnReadOpts, Socket } from 'node:net';
import { SlabPool } from './slabs.js';

/** A TLS record carries at most 16 KiB of plaintext, and Node decrypts one record per read callback (a larger one would be split). */
const RECORD = 16 * 1024;
/**
 * Idle slabs kept per process (4 MiB); more are left to the GC. A download has about its window (up
 * to 4 MiB) and its client's coalescing limit in flight: 64 MiB through one link cut ~270 in the test.
 */
const FREE_SLABS_MAX = 256;

const slabs = new SlabPool(FREE_SLABS_MAX);

/** Link read slabs over the process's life: fresh ones, and ones reused. */
export const linkSlabCounts = slabs.counts;

/** Is `piece` a view of a link read slab? Then it must be released once done with (`releaseLinkPiece`). */
export function isLinkSlabPiece(piece: Buffer): boolean {
  return slabs.has(piece);
}

/** `bytes` of the link read slab `piece` is part of are done: written out (write callback without error) or parsed and let go. */
export function releaseLinkPiece(piece: Buffer, bytes = piece.length): void {
  slabs.release(piece, bytes);
}

/**
 * `onread` options for `tls.connect` (without `socket`), and `attach` to call with the socket it
 * returned: each decrypted record is pushed into the socket's stream as a view of its slab, so
 * 'data' works as usual. The socket holds one slab (the next read's) while it is open.
 */
export function linkSlabReads(): { onread: OnReadOpts; attach: (socket: Socket) => void } {
  let socket: Socket | undefined;
  let next: Buffer | undefined = slabs.take(RECORD);
  const onread: OnReadOpts = {
    buffer: () => (next ??= slabs.take(RECORD)),
    callback: (n: number, b: Uint8Array): boolean => {
      const slab = b as Buffer;
      // This read's slab is out (its bytes until released) and read into no more: the next read takes another.
      slabs.filled(slab, n);
      slabs.retire(slab);
      next = undefined;
      return socket!.push(slab.subarray(0, n));
    },
  };
  return {
    onread,
    attach: (s) => {
      socket = s;
      s.once('close', () => {
        if (next !== undefined) slabs.retire(next);
        next = undefined;
      });
    },
  };
}
