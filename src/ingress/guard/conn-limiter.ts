/**
 * Concurrent-connection counts: global, per user, and per source before
 * authentication (so one source's silent sockets cannot take the global
 * budget). Slots are released exactly once by the session.
 */
/** Counts per key, bounded by a maximum checked on acquire; a key at zero is forgotten. */
class KeyedCounts {
  private readonly counts = new Map<string, number>();

  tryAcquire(key: string, max: number): boolean {
    const n = this.counts.get(key) ?? 0;
    if (n >= max) return false;
    this.counts.set(key, n + 1);
    return true;
  }

  release(key: string): void {
    const n = (this.counts.get(key) ?? 1) - 1;
    if (n <= 0) this.counts.delete(key);
    else this.counts.set(key, n);
  }

  of(key: string): number {
    return this.counts.get(key) ?? 0;
  }

  get keys(): number {
    return this.counts.size;
  }
}

export class ConnLimiter {
  private total = 0;
  private readonly perUser = new KeyedCounts();
  private readonly preAuth = new KeyedCounts();

  get active(): number {
    return this.total;
  }

  tryAcquireGlobal(max: number): boolean {
    if (this.total >= max) return false;
    this.total++;
    return true;
  }

  releaseGlobal(): void {
    this.total--;
  }

  tryAcquireUser(login: string, max: number): boolean {
    return this.perUser.tryAcquire(login, max);
  }

  releaseUser(login: string): void {
    this.perUser.release(login);
  }

  userActive(login: string): number {
    return this.perUser.of(login);
  }

  /** `key`: the source's key (shared/source-key.ts). */
  tryAcquirePreAuth(key: string, max: number): boolean {
    return this.preAuth.tryAcquire(key, max);
  }

  releasePreAuth(key: string): void {
    this.preAuth.release(key);
  }

  /** Sources holding unauthenticated connections now (bounded by the global limit). */
  get preAuthSources(): number {
    return this.preAuth.keys;
  }
}
