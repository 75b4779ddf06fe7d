/**
 * Where upstream sockets read into. By default Node allocates a fresh 64 KiB
 * buffer for every read and passes it through the stream machinery; on a bulk
 * download that allocation and its garbage are a large part of the relay's
 * cost. Sockets we dial use net's `onread` instead (buffers we choose):
 *
 * - A quiet socket reads into one scratch buffer shared by the whole process.
 *   Its bytes are copied out before the read callback returns, so nothing ever
 *   points into it afterwards and sharing is safe. Idle tunnels hold no buffer.
 * - A socket whose reads are large (a download) gets a buffer of its own and
 *   the relay writes straight out of it. If the write could not finish at once,
 *   the pending write still points into that buffer: reading stops until it is
 *   flushed. A small read hands the socket back to the scratch buffer. At most
 *   `readBufferLimits.ownBuffersMax` sockets hold one at a time (a socket that went quiet right
 *   after a large read keeps its buffer until its next read or its close), so
 *   the memory is bounded; past that, downloads are copied out of the scratch.
 *
 * Until a relay takes the socket (`pipeReads`), reads are pushed as copies into
 * the socket's own stream, so handshakes and HTTP parsing use 'data' as usual.
 */
import { connect, type NetConnectOpts, type Socket } from 'node:net';
import { SlabPool } from './slabs.js';

const SCRATCH_BYTES = 64 * 1024;
/** 256 KiB reads moved ~30 % more than 64 KiB ones in bench/run.ts (fewer reads and writes per byte). */
const OWN_BYTES = 256 * 1024;
/** How many sockets may hold an own buffer at once: 256 × 256 KiB = at most 64 MiB per process. Tests lower it to force the scratch path. */
export const readBufferLimits = { ownBuffersMax: 256 };
/** Reads at least this large keep (or earn) a socket its own buffer. */
const BULK_READ = 16 * 1024;

/** Where piped bytes are counted (a relay's counters; only `down` is written here). */
export interface DownCounter {
  down: number;
}

let ownBuffers = 0;

const scratch = Buffer.allocUnsafe(SCRATCH_BYTES);

const kReads = Symbol('hopgate.reads');

interface ReadState {
  own: Buffer | undefined;
  /** Set by pipeReads: where this socket's bytes go, and where they are counted. */
  dst: Socket | undefined;
  counter: DownCounter | undefined;
  /** Reading stopped because a pending write still points into the own buffer. */
  held: boolean;
}

type ReadingSocket = Socket & { [kReads]?: ReadState };

/** `net.connect` whose reads go through this module. */
export function connectReading(options: NetConnectOpts): Socket {
  const st: ReadState = { own: undefined, dst: undefined, counter: undefined, held: false };
  // onread callbacks get no socket and no `this`: this closure is the one per-socket cost.
  const socket: ReadingSocket = connect({
    ...options,
    onread: { buffer: () => st.own ?? scratch, callback: (n: number, buf: Buffer) => onRead(socket, st, n, buf) },
  });
  socket[kReads] = st;
  return socket;
}

function onRead(socket: ReadingSocket, st: ReadState, n: number, buf: Buffer): boolean {
  const dst = st.dst;
  if (dst === undefined) return socket.push(Buffer.from(buf.subarray(0, n))); // a copy: buf is reused
  st.counter!.down += n;
  const bulk = n >= BULK_READ;
  if (buf !== st.own) {
    // Scratch: copy out now. A large read means a download: the next reads get a buffer of their own.
    if (bulk) takeOwn(st);
    return dst.write(Buffer.from(buf.subarray(0, n)));
  }
  if (dst.writableLength > 0) {
    // Queued behind earlier writes, this chunk points into own: the next reads need another buffer.
    dropOwn(st);
    if (bulk) takeOwn(st);
    return dst.write(buf.subarray(0, n));
  }
  const ok = dst.write(buf.subarray(0, n), () => resumeHeld(socket, st));
  if (!bulk) dropOwn(st); // back to scratch; a pending write keeps the old buffer alive by itself
  if (dst.writableLength === 0 || st.own === undefined) return ok;
  st.held = true; // part of the write is pending and points into own: read nothing into it until flushed
  return false;
}

/**
 * Target read slabs (connectSlabReading), released by the link session once its TLS socket took
 * their bytes. At most 16 idle slabs (4 MiB of 256 KiB ones) are kept: a download needs about as
 * many as its window and send buffers hold in flight.
 */
const targetSlabs = new SlabPool(16);

/** Slabs cut for reads (connectSlabReading) over the process's life: fresh ones, and ones reused. */
export const slabCounts = targetSlabs.counts;

/** Reads into slabs: the room a slab must have left to take the next read, else a fresh one is cut. */
const SLAB_MIN_ROOM = 64 * 1024;

/** Is `piece` a view of a read slab (connectSlabReading)? Then tell `slabSent` once it is written onward. */
export function isSlabPiece(piece: Buffer): boolean {
  return targetSlabs.has(piece);
}

/**
 * `piece` (a view of a read slab) has been written onward and its write has completed (the socket's
 * write callback without an error): nothing points into those bytes any more. Only the link session
 * calls this, for DATA it wrote to its TLS socket, which copies what it encrypts.
 */
export function slabSent(piece: Buffer): void {
  targetSlabs.release(piece);
}

/**
 * `net.connect` whose large reads land in slabs of `slabBytes`: each read takes the next part of the
 * socket's slab, and the chunk handed on is a view of it. For a socket relayed to a link stream
 * (issue 19), which keeps what it is written until the peer's window and the TLS socket take it, so
 * a buffer cannot be reused at the next read (connectReading): a slab is reused only once every byte
 * read into it was reported sent (`slabSent`, by the link session on its TLS write's callback). A
 * fresh 256 KiB slab per read made V8 collect the whole heap every ~80 ms on a link download
 * (docs/BENCHMARKS.md, "Link bulk: garbage").
 * A download reads up to 256 KiB per call instead of libuv's 64 KiB: a quarter of the
 * read system calls and of the 'data' turns per byte. Quiet sockets read into the shared
 * scratch (copied out) and hold no slab; a read below BULK_READ drops the slab, and slabs
 * count against `readBufferLimits.ownBuffersMax` like own buffers.
 */
export function connectSlabReading(options: NetConnectOpts, slabBytes = OWN_BYTES): Socket {
  let slab: Buffer | undefined;
  let used = 0;
  const retire = (): void => {
    if (slab === undefined) return;
    targetSlabs.retire(slab);
    slab = undefined;
  };
  const cut = (): void => {
    if (slab === undefined && ownBuffers >= readBufferLimits.ownBuffersMax) return;
    if (slab === undefined) ownBuffers++;
    retire();
    slab = targetSlabs.take(slabBytes);
    used = 0;
  };
  const drop = (): void => {
    if (slab === undefined) return;
    ownBuffers--;
    retire();
  };
  const socket: Socket = connect({
    ...options,
    onread: {
      buffer: () => (slab === undefined ? scratch : slab.subarray(used)),
      callback: (n: number, buf: Buffer): boolean => {
        if (buf === scratch) {
          const copy = Buffer.from(scratch.subarray(0, n));
          if (n >= BULK_READ) cut();
          return socket.push(copy);
        }
        // buf is a view of the slab given for this read (slab may be another by the time it is pushed).
        targetSlabs.filled(buf, n);
        used += n;
        if (n < BULK_READ) drop();
        else if (slabBytes - used < SLAB_MIN_ROOM) cut();
        return socket.push(buf.subarray(0, n));
      },
    },
  });
  socket.once('close', drop);
  return socket;
}

/** Give the socket an own buffer for its next reads (none while the process holds its maximum). */
function takeOwn(st: ReadState): void {
  if (st.own !== undefined || ownBuffers >= readBufferLimits.ownBuffersMax) return;
  ownBuffers++;
  st.own = Buffer.allocUnsafe(OWN_BYTES);
}

function dropOwn(st: ReadState): void {
  if (st.own === undefined) return;
  ownBuffers--;
  st.own = undefined;
}

/** The socket is done (its relay ended): its own buffer, if any, no longer counts. */
export function releaseReads(socket: Socket): void {
  const st = (socket as ReadingSocket)[kReads];
  if (st) dropOwn(st);
}

/** Own buffers held now (tests). */
export function ownBuffersHeld(): number {
  return ownBuffers;
}

function resumeHeld(socket: Socket, st: ReadState): void {
  if (!st.held) return;
  st.held = false;
  if (!socket.destroyed) socket.resume();
}

/** Does this socket read through this module (and so support pipeReads)? */
export function hasReadBuffers(socket: Socket): boolean {
  return (socket as ReadingSocket)[kReads] !== undefined;
}

/**
 * From now on write every byte read from `src` to `dst`, counted in
 * `counter.down`, with backpressure: reading stops while `dst` is full (the
 * caller resumes `src` on `dst`'s 'drain', as for any pipe). Bytes `src` had
 * already buffered go first.
 */
export function pipeReads(src: Socket, dst: Socket, counter: DownCounter): void {
  const st = (src as ReadingSocket)[kReads]!;
  for (let chunk: Buffer | null; (chunk = src.read() as Buffer | null) !== null; ) {
    counter.down += chunk.length;
    dst.write(chunk);
  }
  st.counter = counter;
  st.dst = dst;
}
