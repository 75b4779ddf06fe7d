import { ProxyError } from './errors.js';

/**
 * Bounded concurrency shared fairly between keys (client sources): each key
 * holds at most `perKey` places (running or queued), so one source cannot
 * fill the queue; when a slot frees, the keys that wait take turns (round
 * robin), so a newcomer waits for about one slot, not behind a flood.
 * Past its share or the global queue a caller is refused at once (RATE_LIMITED).
 * Memory is bounded by `max + maxQueue` entries.
 */
export class FairSemaphore {
  private active = 0;
  private queued = 0;
  /** Places (running + queued) per key; a key is gone when it holds none. */
  private readonly held = new Map<string, number>();
  private readonly waiting = new Map<string, Array<() => void>>();
  /** Keys with waiters, in turn order. */
  private readonly turns: string[] = [];

  constructor(
    private readonly max: number,
    public perKey: number,
    private readonly maxQueue: number,
  ) {}

  get running(): number {
    return this.active;
  }

  get pending(): number {
    return this.queued;
  }

  async run<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const mine = this.held.get(key) ?? 0;
    if (mine >= this.perKey) throw new ProxyError('RATE_LIMITED', 'too many pending credential checks from this source');
    if (this.active >= this.max) {
      if (this.queued >= this.maxQueue) throw new ProxyError('RATE_LIMITED', 'too many pending credential checks');
      this.held.set(key, mine + 1);
      this.queued++;
      await new Promise<void>((resolve) => {
        let q = this.waiting.get(key);
        if (!q) {
          this.waiting.set(key, (q = []));
          this.turns.push(key);
        }
        q.push(resolve);
      });
    } else {
      this.held.set(key, mine + 1);
      this.active++;
    }
    try {
      return await fn();
    } finally {
      const n = (this.held.get(key) ?? 1) - 1;
      if (n <= 0) this.held.delete(key);
      else this.held.set(key, n);
      this.next();
    }
  }

  /** A slot is free: the next key in turn takes it (its slot count stays as it was), else it is released. */
  private next(): void {
    const key = this.turns.shift();
    if (key === undefined) {
      this.active--;
      return;
    }
    const q = this.waiting.get(key)!;
    const wake = q.shift()!;
    if (q.length > 0) this.turns.push(key);
    else this.waiting.delete(key);
    this.queued--;
    wake();
  }
}
