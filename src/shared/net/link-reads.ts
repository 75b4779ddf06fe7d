/**
 * Where a link's TLS socket reads into, at the side that dialled it (issue 19). Node's TLS socket
 * hands every decrypted record over in a fresh buffer of its own (64 per MB); on a link download
 * their bytes, held until the client takes them, made the ingress's V8 start full collections for
 * "allocation limit" hundreds of times per run (docs/BENCHMARKS.md, "Link bulk: garbage"). With
 * `onread` the records land in slabs instead, and the link session hands DATA payloads on as views:
 *
 * - A slab's bytes are out from the read until released: by the link session as soon as it has
 *   parsed what is not DATA handed to a stream (frame headers, control frames; a datagram's bytes
 *   are copied first), and by the client's writer (coalesce.ts) once a view's write to its client
 *   completed (the write callback). A view dropped instead (a reset stream, a concatenating read)
 *   never comes back: its slab is left to the GC, never reused while anything may point into it.
 * - A quiet link (reads below BULK_READ: echoes, control frames) reads into one scratch buffer
 *   shared by the process, copied out before the callback returns, and holds no slab.
 *
 * Node ≥ 15.1 honours `onread` on `tls.connect` only when it makes the TCP connection itself
 * (no `socket`): a link dialled through hops, or one accepted by a server, keeps Node's buffers.
 */
import type { OnReadOpts, Socket } from 'node:net';
import { SlabPool } from './slabs.js';

/** A TLS record carries at most 16 KiB of plaintext, and Node decrypts one record per read callback. */
const RECORD = 16 * 1024;
/** 16 records a slab, as the exit's target slabs (relay-stream.ts): a window of 4 MiB is 16 slabs. */
const SLAB_BYTES = 16 * RECORD;
/** Reads this large take (or keep) a slab: bulk DATA fills whole records. */
const BULK_READ = 8 * 1024;
/**
 * Idle slabs kept per process (4 MiB); more are left to the GC. A download has about its window and
 * its client's coalescing limit in flight: 64 MiB through one link cut under 48 in the test.
 */
const FREE_SLABS_MAX = 16;

const slabs = new SlabPool(FREE_SLABS_MAX);
const scratch = Buffer.allocUnsafe(RECORD);

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

/** Idle link slabs kept right now (tests). */
export function idleLinkSlabs(): number {
  return slabs.idle();
}

/**
 * `onread` options for `tls.connect` (without `socket`), and `attach` to call with the socket it
 * returned: each decrypted record is pushed into the socket's stream as a view of a slab (or a copy,
 * for a quiet link), so 'data' works as usual.
 */
export function linkSlabReads(): { onread: OnReadOpts; attach: (socket: Socket) => void } {
  let socket: Socket | undefined;
  let slab: Buffer | undefined;
  let used = 0;
  const drop = (): void => {
    if (slab === undefined) return;
    slabs.retire(slab);
    slab = undefined;
  };
  const cut = (): void => {
    drop();
    slab = slabs.take(SLAB_BYTES);
    used = 0;
  };
  const onread: OnReadOpts = {
    // Room for a whole record always: a record split over two slabs would be two pieces to the client.
    buffer: () => (slab === undefined ? scratch : slab.subarray(used)),
    callback: (n: number, b: Uint8Array): boolean => {
      const buf = b as Buffer;
      if (buf === scratch) {
        const copy = Buffer.from(scratch.subarray(0, n));
        if (n >= BULK_READ) cut();
        return socket!.push(copy);
      }
      // buf is a view of the slab given for this read.
      slabs.filled(buf, n);
      used += n;
      if (n < BULK_READ) drop();
      else if (SLAB_BYTES - used < RECORD) cut();
      return socket!.push(buf.subarray(0, n));
    },
  };
  return {
    onread,
    attach: (s) => {
      socket = s;
      s.once('close', drop);
    },
  };
}
