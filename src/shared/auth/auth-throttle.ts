/**
 * Limits credential guessing. Failures are counted per (source, login) and per
 * source; past the free allowance of either, the next attempt of that pair (or
 * of any login from that source) is refused without a check until a backoff
 * has passed (base doubling per further failure, up to a cap). Refusing up
 * front, not delaying the answer, bounds the guessing rate however many
 * connections an attacker opens in parallel.
 *
 * A success clears only its own (source, login) record: an attacker's valid
 * account does not reset the record of the login he is guessing, and the
 * per-source record only ages out (`windowMs` after its last failure).
 * Several worker processes share the records: each failure and success is
 * also reported (`onEvent`) and applied from the others (`apply`).
 * Bounded: the least recently failing records are forgotten first.
 */
export interface ThrottleSettings {
  /** Failures of one login from one source after which its attempts are held back. */
  readonly free: number;
  /** Failures from one source, any login, after which all its attempts are held back. */
  readonly sourceFree: number;
  readonly baseMs: number;
  readonly maxMs: number;
  /** A record with no failure for this long is forgotten. */
  readonly windowMs: number;
  readonly maxTracked: number;
}

export const THROTTLE_DEFAULTS: ThrottleSettings = Object.freeze({
  free: 5,
  sourceFree: 20,
  baseMs: 1000,
  maxMs: 60_000,
  windowMs: 15 * 60_000,
  maxTracked: 50_000,
});

/** A failure or success, as workers tell each other (the login is the parsed login, without tags). */
export interface ThrottleEvent {
  readonly kind: 'fail' | 'ok';
  readonly source: string;
  readonly login: string;
}

interface Rec {
  count: number;
  last: number;
}

export class AuthThrottle {
  private readonly recs = new Map<string, Rec>();
  /** Called for every local failure and success (a cluster worker forwards it to the others). */
  onEvent: ((e: ThrottleEvent) => void) | undefined;

  constructor(public settings: ThrottleSettings = THROTTLE_DEFAULTS) {}

  /** Milliseconds until an attempt of `login` from `source` may be checked; 0: now. */
  blockedFor(source: string, login: string, now = Date.now()): number {
    const s = this.settings;
    return Math.max(this.wait(`s\0${source}`, s.sourceFree, now), this.wait(`l\0${source}\0${login}`, s.free, now));
  }

  fail(source: string, login: string, now = Date.now()): void {
    this.record('fail', source, login, now);
    this.onEvent?.({ kind: 'fail', source, login });
  }

  succeed(source: string, login: string): void {
    // The common case (no record) costs a lookup, and no message to the other workers: the
    // records are shared, so they hold none either.
    if (!this.recs.delete(`l\0${source}\0${login}`)) return;
    this.onEvent?.({ kind: 'ok', source, login });
  }

  /** Another worker's event. */
  apply(e: ThrottleEvent, now = Date.now()): void {
    this.record(e.kind, e.source, e.login, now);
  }

  get tracked(): number {
    return this.recs.size;
  }

  private record(kind: ThrottleEvent['kind'], source: string, login: string, now: number): void {
    const pair = `l\0${source}\0${login}`;
    if (kind === 'ok') return void this.recs.delete(pair);
    this.bump(`s\0${source}`, now);
    this.bump(pair, now);
  }

  private bump(key: string, now: number): void {
    let r = this.recs.get(key);
    if (!r || now - r.last > this.settings.windowMs) r = { count: 0, last: now };
    r.count++;
    r.last = now;
    this.recs.delete(key); // re-insert: Map order doubles as LRU order
    this.recs.set(key, r);
    while (this.recs.size > this.settings.maxTracked) {
      const oldest = this.recs.keys().next().value;
      if (oldest === undefined) break;
      this.recs.delete(oldest);
    }
  }

  private wait(key: string, free: number, now: number): number {
    const r = this.recs.get(key);
    if (!r || now - r.last > this.settings.windowMs) return 0;
    const over = r.count - free; // the free-th failure starts the first backoff
    if (over < 0) return 0;
    const backoff = Math.min(this.settings.maxMs, this.settings.baseMs * 2 ** Math.min(over, 30));
    return Math.max(0, r.last + backoff - now);
  }
}
