import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BURST_SECONDS, MIN_BURST_BYTES, TokenBucket, type Clock } from './bandwidth.js';

/** A clock that only moves when told; due timers fire in order as it moves. */
class FakeClock implements Clock {
  t = 1000;
  private seq = 0;
  private timers = new Map<number, { at: number; fn: () => void }>();
  now(): number {
    return this.t;
  }
  setTimeout(fn: () => void, ms: number): unknown {
    const id = ++this.seq;
    this.timers.set(id, { at: this.t + Math.max(0, ms), fn });
    return id;
  }
  clearTimeout(h: unknown): void {
    this.timers.delete(h as number);
  }
  get pending(): number {
    return this.timers.size;
  }
  advance(ms: number): void {
    const end = this.t + ms;
    for (;;) {
      let next: [number, { at: number; fn: () => void }] | undefined;
      for (const e of this.timers) if (e[1].at <= end && (!next || e[1].at < next[1].at || (e[1].at === next[1].at && e[0] < next[0]))) next = e;
      if (!next) break;
      this.timers.delete(next[0]);
      this.t = Math.max(this.t, next[1].at);
      next[1].fn();
    }
    this.t = end;
  }
}

const RATE = 100_000; // bytes/s

test('a new bucket holds BURST_SECONDS of rate, refills at the rate, never beyond the burst', () => {
  const clock = new FakeClock();
  const b = new TokenBucket(RATE, clock);
  const burst = RATE * BURST_SECONDS;
  assert.equal(b.tryTake(1e9), burst);
  assert.equal(b.tryTake(1), 0);
  clock.advance(100);
  assert.equal(b.tryTake(1e9), RATE / 10);
  clock.advance(60_000);
  assert.equal(b.tryTake(1e9), burst, 'capped at the burst after a long idle');
  assert.equal(new TokenBucket(10, clock).tryTake(1e9), MIN_BURST_BYTES, 'tiny rates still pass a packet');
});

test('waiters are granted in order, at the rate, and nothing jumps the queue', () => {
  const clock = new FakeClock();
  const b = new TokenBucket(RATE, clock);
  b.tryTake(1e9); // empty it
  const got: Array<[string, number, number]> = [];
  b.wait(1000, (k) => got.push(['a', k, clock.now()]));
  b.wait(1000, (k) => got.push(['b', k, clock.now()]));
  assert.equal(b.tryTake(10), 0, 'tryTake yields to queued waiters');
  assert.equal(b.tryTakeAll(10), false);
  assert.equal(clock.pending, 1, 'one timer per bucket');
  clock.advance(9);
  assert.equal(got.length, 0);
  clock.advance(1); // 10 ms → 1000 tokens → a
  assert.deepEqual(got.map((g) => [g[0], g[1]]), [['a', 1000]]);
  clock.advance(10);
  assert.deepEqual(got.map((g) => [g[0], g[1]]), [['a', 1000], ['b', 1000]]);
  assert.equal(clock.pending, 0, 'no timer while nobody waits');
});

test('two busy readers share the rate round-robin; the long-run rate holds', () => {
  const clock = new FakeClock();
  const b = new TokenBucket(RATE, clock);
  const total = { a: 0, b: 0 };
  const reader = (name: 'a' | 'b'): void => {
    const ask = (): void => void b.wait(64 * 1024, (k) => {
      total[name] += k;
      ask(); // always wants more, like a fast upstream
    });
    ask();
  };
  b.tryTake(1e9);
  reader('a');
  reader('b');
  clock.advance(10_000);
  const sum = total.a + total.b;
  assert.ok(Math.abs(sum - RATE * 10) <= RATE * 0.02, `granted ${sum} in 10 s at ${RATE}/s`);
  assert.ok(Math.abs(total.a - total.b) <= RATE * 0.05, `unfair split a=${total.a} b=${total.b}`);
  assert.ok(b.waits > 100);
});

test('a cancelled waiter is skipped and gets nothing', () => {
  const clock = new FakeClock();
  const b = new TokenBucket(RATE, clock);
  b.tryTake(1e9);
  let gone = 0;
  let kept = 0;
  const cancel = b.wait(500, (k) => (gone += k));
  b.wait(500, (k) => (kept += k));
  cancel();
  assert.equal(b.waiting, 1);
  clock.advance(1000);
  assert.equal(gone, 0);
  assert.equal(kept, 500);
});

test('datagrams: all or nothing; one bigger than the bucket passes when full and leaves debt', () => {
  const clock = new FakeClock();
  const b = new TokenBucket(10_000, clock); // burst 5000
  assert.equal(b.tryTakeAll(3000), true);
  assert.equal(b.tryTakeAll(3000), false);
  clock.advance(10_000);
  assert.equal(b.tryTakeAll(8000), true, 'full bucket lets a big datagram through');
  assert.equal(Math.round(b.available()), -3000);
  clock.advance(290);
  assert.equal(b.tryTakeAll(1), false, 'still in debt');
  clock.advance(20);
  assert.equal(b.tryTakeAll(1), true, 'debt repaid by time');
});

test('setRate applies to queued waiters at once', () => {
  const clock = new FakeClock();
  const b = new TokenBucket(1000, clock);
  b.tryTake(1e9);
  let got = 0;
  b.wait(1000, (k) => (got += k));
  b.setRate(1_000_000);
  clock.advance(2);
  assert.equal(got, 1000);
  assert.equal(b.bytesPerSec, 1_000_000);
});
