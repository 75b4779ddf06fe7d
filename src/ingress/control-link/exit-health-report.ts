/**
 * What an ingress node tells the control plane about its exits' health, with every
 * statistics pull: the configured exits it takes as down. In a cluster each worker
 * keeps its own health; the node reports an exit down when every worker that has
 * reported takes it as down (one worker's single failed connection is not the node's view).
 */
import type { IngressRuntime } from '../runtime.js';

/** Most exit ids one report names (a configuration is bounded well below this). */
export const MAX_REPORTED_EXITS = 100_000;

/** The exits of this process's configuration it takes as down now (drained ones are the control plane's own business). */
export function exitsDownOf(rt: IngressRuntime): string[] {
  const out: string[] = [];
  for (const e of rt.snapshot.exits.all) {
    if (!e.drained && !rt.exitHealth.isUp(e.id)) out.push(e.id);
    if (out.length >= MAX_REPORTED_EXITS) break;
  }
  return out;
}

/** Worker → primary, every second: the exits this worker takes as down. */
export interface ExitHealthMsg {
  readonly type: 'hopgate:exits:down';
  readonly down: string[];
}

/** The primary's view over its workers' reports. */
export class WorkerExitHealth {
  private readonly byWorker = new Map<number, ReadonlySet<string>>();

  report(workerId: number, down: readonly string[]): void {
    this.byWorker.set(workerId, new Set(down));
  }

  gone(workerId: number): void {
    this.byWorker.delete(workerId);
  }

  /** Down on every worker that reported. */
  down(): string[] {
    const sets = [...this.byWorker.values()];
    if (sets.length === 0) return [];
    return [...sets[0]!].filter((id) => sets.every((s) => s.has(id)));
  }
}
