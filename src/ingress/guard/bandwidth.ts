/**
 * Per-customer bandwidth: one token bucket per user per direction, shared by
 * all of that user's connections in this process (with N worker processes a
 * customer may reach up to N × the rate; see docs/CONFIGURATION.md).
 *
 * The bucket refills lazily from a clock (no timer while nobody waits) and
 * holds at most BURST_SECONDS of rate. A connection that finds too few tokens
 * pauses its source and queues: waiters are served first come, first served,
 * each grant at most one quantum (~1/50 s of rate) before the waiter goes to the
 * back of the queue, so a user's connections share the rate round-robin and
 * none starves. One timer per bucket, only while someone waits.
 */
import type { Socket } from 'node:net';
import type { Snapshot } from '../config/snapshot.js';

/** Time source; injected so tests can run the bucket on a fake clock. */
export interface Clock {
  /** Milliseconds, monotonic. */
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const realClock: Clock = {
  now: () => performance.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
};

/** The bucket holds this much of its rate: an idle customer may burst this long at full speed. */
export const BURST_SECONDS = 0.5;
/** Smallest bucket, so a very low rate still passes a full-size packet at once. */
export const MIN_BURST_BYTES = 4096;
/** Grants are at most this share of a second's rate (≈ 50 wake-ups a second per busy bucket). */
const QUANTUM_DIVISOR = 50;
const MIN_QUANTUM_BYTES = 1024;

interface Waiter {
  readonly want: number;
  readonly grant: (n: number) => void;
  done: boolean;
}

export class TokenBucket {
  private tokens: number;
  private last: number;
  private burst = 0;
  private quantum = 0;
  private readonly queue: Waiter[] = [];
  private live = 0;
  private timer: unknown;
  private serving = false;
  /** Times a reader had to wait for tokens. */
  waits = 0;
  /** UDP datagrams dropped for want of tokens. */
  drops = 0;

  constructor(
    private rate: number,
    private readonly clock: Clock = realClock,
  ) {
    this.size(rate);
    this.tokens = this.burst;
    this.last = clock.now();
  }

  get bytesPerSec(): number {
    return this.rate;
  }

  /** Waiters queued (not cancelled). */
  get waiting(): number {
    return this.live;
  }

  /** Tokens available now (may be negative after a UDP datagram taken on credit). */
  available(): number {
    this.refill();
    return this.tokens;
  }

  /** A reload changed the rate: live connections follow it at once. */
  setRate(rate: number): void {
    if (rate === this.rate) return;
    this.refill();
    this.rate = rate;
    this.size(rate);
    this.tokens = Math.min(this.tokens, this.burst);
    if (this.timer !== undefined) {
      this.clock.clearTimeout(this.timer);
      this.timer = undefined;
    }
    this.schedule();
  }

  /**
   * Up to `n` tokens now; 0 when others are already waiting (no jumping the queue) or when
   * fewer than a quantum (or all of `n`) are there. Without that floor a writer that loops on
   * tryTake got the few bytes that trickled in during its last write, and spun through
   * thousands of tiny writes (a 2 s stall of the whole process in the bandwidth test).
   */
  tryTake(n: number): number {
    if (this.live > 0) return 0;
    this.refill();
    const k = Math.min(n, Math.floor(this.tokens));
    if (k < this.smallestGrant(n)) return 0;
    this.tokens -= k;
    return k;
  }

  /**
   * All `n` or nothing (a UDP datagram cannot be split). A datagram larger than the
   * bucket passes when the bucket is full and leaves it in debt, repaid by time.
   */
  tryTakeAll(n: number): boolean {
    if (this.live > 0) return false;
    this.refill();
    if (this.tokens < Math.min(n, this.burst)) return false;
    this.tokens -= n;
    return true;
  }

  /**
   * Queue for `n` tokens; `grant(k)` is called once, later, with 1 ≤ k ≤ n (ask again
   * for the rest). Returns a cancel function (call it when the connection goes away).
   */
  wait(n: number, grant: (k: number) => void): () => void {
    this.waits++;
    const w: Waiter = { want: Math.max(1, n), grant, done: false };
    this.queue.push(w);
    this.live++;
    this.schedule();
    return () => {
      if (w.done) return;
      w.done = true;
      this.live--;
    };
  }

  /** Promise form of tryTake-then-wait, for await-style forwarding loops. */
  take(n: number): Promise<number> {
    const k = this.tryTake(n);
    if (k > 0) return Promise.resolve(k);
    return new Promise((resolve) => void this.wait(n, resolve));
  }

  private size(rate: number): void {
    this.burst = Math.max(Math.ceil(rate * BURST_SECONDS), MIN_BURST_BYTES);
    this.quantum = Math.min(this.burst, Math.max(Math.ceil(rate / QUANTUM_DIVISOR), MIN_QUANTUM_BYTES));
  }

  /** No grant is smaller than a quantum, or than all of what was asked. */
  private smallestGrant(n: number): number {
    return Math.min(n, this.quantum);
  }

  private refill(): void {
    const now = this.clock.now();
    if (now > this.last) {
      this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) * this.rate) / 1000);
      this.last = now;
    }
  }

  private head(): Waiter | undefined {
    while (this.queue.length > 0 && this.queue[0]!.done) this.queue.shift();
    return this.queue[0];
  }

  private schedule(): void {
    if (this.timer !== undefined || this.serving) return;
    const w = this.head();
    if (!w) return;
    this.refill();
    const need = this.smallestGrant(w.want) - this.tokens;
    const ms = need <= 0 ? 0 : Math.ceil((need * 1000) / this.rate);
    this.timer = this.clock.setTimeout(() => {
      this.timer = undefined;
      this.serve();
    }, ms);
  }

  private serve(): void {
    this.serving = true;
    try {
      this.refill();
      for (let w = this.head(); w; w = this.head()) {
        const k = Math.min(w.want, this.quantum, Math.floor(this.tokens));
        if (k < this.smallestGrant(w.want)) break;
        this.queue.shift();
        w.done = true;
        this.live--;
        this.tokens -= k;
        w.grant(k); // may queue again (at the back) for the rest
      }
    } finally {
      this.serving = false;
    }
    this.schedule();
  }
}

/** The buckets of one process: per user, per direction, for users with a limit. */
export class BandwidthGuard {
  private readonly buckets = new Map<string, { up: TokenBucket | undefined; down: TokenBucket | undefined }>();
  /** Counts of buckets retired by reloads, so the totals never go down. */
  private retired = { waitsUp: 0, waitsDown: 0, dropsUp: 0, dropsDown: 0 };

  constructor(private readonly clock: Clock = realClock) {}

  /** The user's buckets (undefined: no limit that way). Created on first use. */
  bucketsFor(login: string, limit: { up: number | undefined; down: number | undefined } | undefined): { up: TokenBucket | undefined; down: TokenBucket | undefined } {
    if (!limit || (limit.up === undefined && limit.down === undefined)) return NO_BUCKETS;
    let b = this.buckets.get(login);
    if (!b) {
      b = {
        up: limit.up === undefined ? undefined : new TokenBucket(limit.up, this.clock),
        down: limit.down === undefined ? undefined : new TokenBucket(limit.down, this.clock),
      };
      this.buckets.set(login, b);
    }
    return b;
  }

  /**
   * After a reload: changed rates apply to live connections at once. A limit that was
   * removed (or added) in one direction takes effect for connections opened from now on;
   * live connections of a user whose limit was removed run at a very high rate until they end.
   */
  configure(snap: Snapshot): void {
    for (const [login, b] of this.buckets) {
      const bw = snap.usersByLogin.get(login)?.bandwidth;
      const same = bw && (bw.up === undefined) === (b.up === undefined) && (bw.down === undefined) === (b.down === undefined);
      if (same) {
        if (b.up && bw.up !== undefined) b.up.setRate(bw.up);
        if (b.down && bw.down !== undefined) b.down.setRate(bw.down);
        continue;
      }
      // Shape changed: retire these buckets; let whoever still holds them run free.
      for (const [dir, bucket] of [['up', b.up], ['down', b.down]] as const) {
        if (!bucket) continue;
        const keep = dir === 'up' ? bw?.up : bw?.down;
        bucket.setRate(keep ?? UNLIMITED_RATE);
        if (dir === 'up') {
          this.retired.waitsUp += bucket.waits;
          this.retired.dropsUp += bucket.drops;
        } else {
          this.retired.waitsDown += bucket.waits;
          this.retired.dropsDown += bucket.drops;
        }
      }
      this.buckets.delete(login);
    }
  }

  /** Cumulative throttle waits and UDP drops, per direction (for metrics). */
  stats(): { waitsUp: number; waitsDown: number; dropsUp: number; dropsDown: number } {
    const s = { ...this.retired };
    for (const b of this.buckets.values()) {
      s.waitsUp += b.up?.waits ?? 0;
      s.dropsUp += b.up?.drops ?? 0;
      s.waitsDown += b.down?.waits ?? 0;
      s.dropsDown += b.down?.drops ?? 0;
    }
    return s;
  }
}

const NO_BUCKETS = Object.freeze({ up: undefined, down: undefined });
/** What a retired bucket runs at: effectively no limit (1 TB/s). */
const UNLIMITED_RATE = 1e12;

/**
 * Like relay.ts's pump, but every byte first takes a token from `bucket`. When the
 * bucket runs dry the rest of the chunk is held (at most one read's worth), the
 * source is paused, and the connection queues for tokens: no busy loop, no
 * unbounded buffering. Half-close waits for held bytes to go out.
 */
export function throttledPump(src: Socket, dst: Socket, count: (n: number) => void, bucket: TokenBucket): void {
  let held: Buffer | undefined;
  let dstFull = false;
  let ended = false;
  let cancel: (() => void) | undefined;

  const send = (buf: Buffer, n: number): Buffer | undefined => {
    count(n);
    if (dst.destroyed) return undefined; // counting may have cut the session (quota)
    if (!dst.write(n === buf.length ? buf : buf.subarray(0, n))) dstFull = true;
    return n === buf.length ? undefined : buf.subarray(n);
  };
  const onGrant = (n: number): void => {
    cancel = undefined;
    if (!held || dst.destroyed) return;
    held = send(held, n);
    if (held) cancel = bucket.wait(held.length, onGrant);
    else if (ended) dst.end();
    else if (!dstFull) src.resume();
  };
  src.on('data', function onData(chunk: Buffer) {
    if (held) {
      // Should not happen (the source is paused while bytes are held); keep order anyway.
      held = Buffer.concat([held, chunk]);
      src.pause();
      return;
    }
    const n = bucket.tryTake(chunk.length);
    held = n > 0 ? send(chunk, n) : chunk;
    if (dst.destroyed) return;
    if (held) {
      src.pause();
      cancel = bucket.wait(held.length, onGrant);
    } else if (dstFull) {
      src.pause();
    }
  });
  dst.on('drain', function onDrain() {
    dstFull = false;
    if (!held && !ended) src.resume();
  });
  src.on('end', function onEnd() {
    ended = true;
    if (!held) dst.end();
  });
  const stop = (): void => {
    cancel?.();
    cancel = undefined;
    held = undefined;
  };
  src.on('close', stop);
  dst.on('close', stop);
}
