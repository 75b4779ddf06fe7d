/**
 * Slows down credential guessing: after `free` failures from one source within
 * the window, every further failure reply is delayed, doubling up to `maxDelayMs`.
 * Bounded: the oldest sources are forgotten first.
 */
export class AuthThrottle {
  private readonly failures = new Map<string, { count: number; since: number }>();

  constructor(
    private readonly free: number,
    private readonly maxTracked: number,
    private readonly windowMs = 10 * 60_000,
    private readonly baseDelayMs = 250,
    private readonly maxDelayMs = 8_000,
  ) {}

  /** Record a failure; returns how long to wait before answering it. */
  fail(source: string, now = Date.now()): number {
    let f = this.failures.get(source);
    if (!f || now - f.since > this.windowMs) {
      f = { count: 0, since: now };
    }
    f.count++;
    this.failures.delete(source); // re-insert: Map order doubles as LRU order
    this.failures.set(source, f);
    if (this.failures.size > this.maxTracked) {
      const oldest = this.failures.keys().next().value;
      if (oldest !== undefined) this.failures.delete(oldest);
    }
    const over = f.count - this.free;
    return over <= 0 ? 0 : Math.min(this.maxDelayMs, this.baseDelayMs * 2 ** (over - 1));
  }

  succeed(source: string): void {
    this.failures.delete(source);
  }

  get tracked(): number {
    return this.failures.size;
  }
}
