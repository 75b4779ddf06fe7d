/**
 * Keeps the configuration in force on disk (control-snapshot.json), so a
 * node that restarts while the control plane is unreachable boots from it.
 * One write at a time (the fsyncs run off the event loop); a change during a
 * write writes again after it; changes in quick succession write once.
 */
import type { Logger } from '../shared/log.js';
import type { StateDir } from '../shared/state-file.js';
import { writeSavedSnapshot, type SavedSnapshot } from '../ingress/control-link/config-state.js';

export class SnapshotKeeper {
  private timer: NodeJS.Timeout | undefined;
  private writing: Promise<void> | undefined;
  private again = false;

  constructor(
    private readonly dir: StateDir,
    private readonly log: Logger,
    private readonly snapshot: () => SavedSnapshot,
  ) {}

  /** Write soon (200 ms: a burst of deltas writes once). */
  schedule(): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.save(), 200);
    this.timer.unref();
  }

  /** Write now (after the write in flight, if any). */
  save(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.writing) {
      this.again = true;
      return;
    }
    this.writing = writeSavedSnapshot(this.dir, this.snapshot())
      .then(
        () => undefined,
        (err: unknown) => this.log.error({ err: (err as Error).message }, 'could not keep the snapshot on disk'),
      )
      .finally(() => {
        this.writing = undefined;
        if (this.again) {
          this.again = false;
          this.save();
        }
      });
  }

  /** A scheduled write happens now; resolves when nothing is being written. */
  async settle(): Promise<void> {
    if (this.timer) this.save();
    while (this.writing) await this.writing;
  }
}
