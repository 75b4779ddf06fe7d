/**
 * Concurrent-connection counts: global, per user, and per source before
 * authentication (so one source's silent sockets cannot take the global
 * budget). Slots are released exactly once by the session.
 */
export class ConnLimiter {
  private total = 0;
  private readonly perUser = new Map<string, number>();
  private readonly preAuth = new Map<string, number>();

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
    const n = this.perUser.get(login) ?? 0;
    if (n >= max) return false;
    this.perUser.set(login, n + 1);
    return true;
  }

  releaseUser(login: string): void {
    const n = (this.perUser.get(login) ?? 1) - 1;
    if (n <= 0) this.perUser.delete(login);
    else this.perUser.set(login, n);
  }

  userActive(login: string): number {
    return this.perUser.get(login) ?? 0;
  }

  /** `key`: the source's key (shared/source-key.ts). */
  tryAcquirePreAuth(key: string, max: number): boolean {
    const n = this.preAuth.get(key) ?? 0;
    if (n >= max) return false;
    this.preAuth.set(key, n + 1);
    return true;
  }

  releasePreAuth(key: string): void {
    const n = (this.preAuth.get(key) ?? 1) - 1;
    if (n <= 0) this.preAuth.delete(key);
    else this.preAuth.set(key, n);
  }

  /** Sources holding unauthenticated connections now (bounded by the global limit). */
  get preAuthSources(): number {
    return this.preAuth.size;
  }
}
