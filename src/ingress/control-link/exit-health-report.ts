/**
 * What an ingress node tells the control plane about its exits' health, with every
 * statistics pull: the configured exits it takes as down. In a cluster each worker
 * keeps its own health; the node reports an exit down when every worker that has
 * reported takes it as down (one worker's single failed connection is not the node's view).
 */
import type { IngressRuntime } from '../runtime.js';
import type { ExitProbeReport } from '../../shared/control-protocol.js';
import { mergeProbeReports } from '../route/probe-log.js';

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

/** What the node reports with a pull: the exits down now, and what its probes found. */
export interface NodeExitHealth {
  readonly down: string[];
  readonly probes: ExitProbeReport[];
}

/** This process's probe results of its configured exits (probe-log.ts). */
export function exitProbesOf(rt: IngressRuntime): ExitProbeReport[] {
  return rt.exitHealth.probes.report().slice(0, MAX_REPORTED_EXITS);
}

export function nodeHealthOf(rt: IngressRuntime): NodeExitHealth {
  return { down: exitsDownOf(rt), probes: exitProbesOf(rt) };
}

/** Worker → primary, every second when it changed: the exits this worker takes as down, and its probe results. */
export interface ExitHealthMsg {
  readonly type: 'hopgate:exits:down';
  readonly down: string[];
  readonly probes?: ExitProbeReport[];
}

/** The primary's view over its workers' reports. */
export class WorkerExitHealth {
  private readonly byWorker = new Map<number, ReadonlySet<string>>();
  private readonly probesByWorker = new Map<number, readonly ExitProbeReport[]>();

  report(workerId: number, down: readonly string[], probes?: readonly ExitProbeReport[]): void {
    this.byWorker.set(workerId, new Set(down));
    if (probes) this.probesByWorker.set(workerId, probes);
  }

  gone(workerId: number): void {
    this.byWorker.delete(workerId);
    this.probesByWorker.delete(workerId);
  }

  /** Every worker's probes, summed per exit and minute. */
  probes(): ExitProbeReport[] {
    return mergeProbeReports([...this.probesByWorker.values()]);
  }

  node(): NodeExitHealth {
    return { down: this.down(), probes: this.probes() };
  }

  /** Down on every worker that reported. */
  down(): string[] {
    const sets = [...this.byWorker.values()];
    if (sets.length === 0) return [];
    return [...sets[0]!].filter((id) => sets.every((s) => s.has(id)));
  }
}
