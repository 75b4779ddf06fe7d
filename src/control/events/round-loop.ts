/**
 * How an outbox sender (webhooks, JetStream) runs its rounds: one at a time,
 * again at once while a round says there may be more or a kick came during it
 * (at most 100 in a row), then wait for the next kick (a written event or the
 * poll timer). A failing round (the database or the broker down) is said once
 * when rounds start failing and once when they succeed again, not every poll.
 */
export interface RoundLog {
  failing(err: Error): void;
  recovered(failedRounds: number): void;
}

export class RoundLoop {
  private running: Promise<void> | undefined;
  private again = false;
  private closed = false;
  private failing = 0;

  /** `round`: true when there may be more to do now. */
  constructor(
    private readonly round: () => Promise<boolean>,
    private readonly log: RoundLog,
  ) {}

  /** Run a round now (or right after the one running). */
  kick(): void {
    if (this.closed) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = this.loop().finally(() => (this.running = undefined));
  }

  /** Rounds failed in a row so far (0 while healthy). */
  get failedRounds(): number {
    return this.failing;
  }

  /** No more rounds; resolves once the one running has ended. */
  async close(): Promise<void> {
    this.closed = true;
    await this.running;
  }

  private async loop(): Promise<void> {
    for (let i = 0; i < 100 && !this.closed; i++) {
      this.again = false;
      let busy: boolean;
      try {
        busy = await this.round();
      } catch (err) {
        if (this.failing++ === 0) this.log.failing(err as Error);
        return;
      }
      if (this.failing > 0) {
        this.log.recovered(this.failing);
        this.failing = 0;
      }
      if (!busy && !this.again) return;
    }
  }
}
