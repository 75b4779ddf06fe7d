/**
 * Slabs: large read buffers whose reads are handed on as views, reused only once every byte read
 * into one has been reported done (written onward and the write completed, or parsed and let go).
 * Fresh buffers per read made V8 collect the whole heap every few ms on a link download
 * (docs/BENCHMARKS.md, "Link bulk: garbage"); reused ones leave it nothing to collect.
 *
 * Safety rests on counting: a slab's bytes are out from the read until released, and a slab goes
 * back to its pool only when it reads no more and none are out. Bytes dropped instead of released
 * (a reset stream, a concatenating read) never come back: their slab is left to the GC, never
 * reused while anything may still point into it.
 */

export interface SlabCounts {
  /** Slabs allocated fresh. */
  cut: number;
  /** Slabs taken again from the pool. */
  reused: number;
}

interface SlabState {
  readonly slab: Buffer;
  out: number;
  reading: boolean;
  /** More came back than went out (a piece reported twice): never reuse this one. */
  spoiled: boolean;
}

/** One kind of slab with its own releaser: a piece of one pool is never released through another. */
export class SlabPool {
  readonly counts: SlabCounts = { cut: 0, reused: 0 };
  private readonly states = new WeakMap<ArrayBufferLike, SlabState>();
  private readonly free = new Map<number, Buffer[]>();

  /** At most `freeMax` idle slabs of each size are kept; more are left to the GC. */
  constructor(private readonly freeMax: number) {}

  /** A slab of `bytes` to read into: one waiting in the pool, else a fresh one. */
  take(bytes: number): Buffer {
    const reuse = this.free.get(bytes)?.pop();
    const slab = reuse ?? Buffer.allocUnsafeSlow(bytes);
    if (reuse) this.counts.reused++;
    else this.counts.cut++;
    this.states.set(slab.buffer, { slab, out: 0, reading: true, spoiled: false });
    return slab;
  }

  /** `n` bytes were read into the slab `view` is part of: they are out until released. */
  filled(view: Buffer, n: number): void {
    this.states.get(view.buffer)!.out += n;
  }

  /** The slab is read into no more: it goes back once its bytes are all released. */
  retire(slab: Buffer): void {
    const st = this.states.get(slab.buffer);
    if (st === undefined) return;
    st.reading = false;
    this.freeIfDone(st);
  }

  /** Is `piece` a view of one of this pool's slabs in use? */
  has(piece: Buffer): boolean {
    return this.states.has(piece.buffer);
  }

  /** `bytes` of the slab `piece` is part of are done: nothing points into them any more. */
  release(piece: Buffer, bytes = piece.length): void {
    const st = this.states.get(piece.buffer);
    if (st === undefined) return;
    st.out -= bytes;
    if (st.out < 0) st.spoiled = true;
    this.freeIfDone(st);
  }

  /** Slabs waiting in the pool (tests). */
  idle(): number {
    let n = 0;
    for (const list of this.free.values()) n += list.length;
    return n;
  }

  private freeIfDone(st: SlabState): void {
    if (st.reading || st.out !== 0 || st.spoiled) return;
    this.states.delete(st.slab.buffer);
    let list = this.free.get(st.slab.length);
    if (list === undefined) this.free.set(st.slab.length, (list = []));
    if (list.length < this.freeMax) list.push(st.slab);
  }
}
