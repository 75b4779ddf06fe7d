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
  /** Running per key. */
  private readonly runningOf = new Map<string, number>();
  private readonly waiting = new Map<string, Array<() => void>>();
  /** Keys with waiters, in turn order. */
  private readonly turns: string[] = [];
  /** Slots one key may run at once: the others stay free for a newcomer (at least 1). */
  private readonly runShare: number;

  constructor(
    private readonly max: number,
    public perKey: number,
    private readonly maxQueue: number,
  ) {
    this.runShare = Math.max(1, Math.ceil(max / 2));
  }

  get running(): number {
    return this.active;
  }

  get pending(): number {
    return this.queued;
  }

  async run<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const mine = this.held.get(key) ?? 0;
    if (mine >= this.perKey) throw new ProxyError('RATE_LIMITED', 'too many pending credential checks from this source');
    if (this.active < this.max && (this.runningOf.get(key) ?? 0) < this.runShare) {
      this.held.set(key, mine + 1);
      this.start(key);
    } else {
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
    }
    try {
      return await fn();
    } finally {
      decrement(this.held, key);
      decrement(this.runningOf, key);
      this.active--;
      this.next();
    }
  }

  private start(key: string): void {
    this.active++;
    this.runningOf.set(key, (this.runningOf.get(key) ?? 0) + 1);
  }

  /** Slots are free: waiting keys under their share take them in turn. */
  private next(): void {
    for (let looked = 0; this.active < this.max && looked < this.turns.length; ) {
      const key = this.turns.shift()!;
      if ((this.runningOf.get(key) ?? 0) >= this.runShare) {
        this.turns.push(key); // at its share: its turn waits
        looked++;
        continue;
      }
      const q = this.waiting.get(key)!;
      const wake = q.shift()!;
      if (q.length > 0) this.turns.push(key);
      else this.waiting.delete(key);
      this.queued--;
      this.start(key);
      wake();
      looked = 0;
    }
  }
}

function decrement(m: Map<string, number>, key: string): void {
  const n = (m.get(key) ?? 1) - 1;
  if (n <= 0) m.delete(key);
  else m.set(key, n);
}
