/**
 * `/metrics` of a multi-process ingress. Every worker binds the shared admin port, so a
 * scrape lands on any one of them; alone, each would answer with its own figures and a
 * Prometheus series would jump between workers. The worker that got the scrape asks the
 * primary, the primary gathers every live worker's metrics (prom-client's JSON form) and
 * aggregates them the way each metric says (sum by default; `aggregator` on the metric).
 * A worker that does not answer within GATHER_MS is left out, and the answer says how many
 * did (hopgate_ingress_metrics_workers_reporting).
 */
import type { Worker } from 'node:cluster';
import { AggregatorRegistry, type Registry } from 'prom-client';
import type { MetricsSource } from '../shared/admin-server.js';
import type { WorkerSupervisor } from './supervisor.js';
import { onPrimary, toPrimary } from './worker-channel.js';

/** How long the primary waits for the workers' parts, and a worker for the primary's answer. */
export const GATHER_MS = 1000;
const ANSWER_MS = GATHER_MS + 1000;

/**
 * Worker side: answers the primary's gatherings with `registry`, and returns the source the
 * admin server scrapes (the whole ingress; this worker's own figures if the primary is silent).
 */
export function workerMetrics(registry: Registry): MetricsSource {
  let nextId = 0;
  const waiting = new Map<number, (body: string | undefined) => void>();
  onPrimary((m) => {
    if (m.type === 'hopgate:metrics:collect') {
      registry.getMetricsAsJSON().then(
        (metrics) => toPrimary({ type: 'hopgate:metrics:part', id: m.id, metrics: metrics as unknown as Record<string, unknown>[] }),
        () => toPrimary({ type: 'hopgate:metrics:part', id: m.id, metrics: [] }),
      );
    } else if (m.type === 'hopgate:metrics:answer') {
      waiting.get(m.id)?.(m.body);
    }
  }, false);
  return {
    contentType: registry.contentType,
    metrics: async () => {
      const id = nextId++;
      const body = await new Promise<string | undefined>((resolve) => {
        const timer = setTimeout(() => done(undefined), ANSWER_MS);
        const done = (b: string | undefined): void => {
          clearTimeout(timer);
          waiting.delete(id);
          resolve(b);
        };
        waiting.set(id, done);
        toPrimary({ type: 'hopgate:metrics:pull', id });
      });
      // No primary to ask (it is going away): this worker's figures beat no answer.
      return body ?? (await registry.metrics());
    },
  };
}

interface Gathering {
  readonly id: number;
  readonly parts: Record<string, unknown>[][];
  readonly missing: Set<number>;
  readonly live: number;
  /** The workers whose scrapes this gathering answers, with their pull ids. */
  readonly askers: Array<{ readonly worker: Worker; readonly pullId: number }>;
  readonly timer: NodeJS.Timeout;
}

/**
 * Primary side: gathers the workers' parts and answers the asking workers. One gathering
 * at a time: scrapes that come while one runs wait for it, so a flood of scrapes costs
 * the workers one collection per GATHER_MS at most, not one each.
 */
export class MetricsGatherer {
  private nextId = 0;
  private current: Gathering | undefined;
  /** Gatherings done since start: scrapes that waited for one share it. */
  private done = 0;

  constructor(private readonly supervisor: WorkerSupervisor) {}

  pull(from: Worker, pullId: number): void {
    if (this.current) return void this.current.askers.push({ worker: from, pullId });
    const live = this.supervisor.workers();
    const g: Gathering = {
      id: this.nextId++,
      parts: [],
      missing: new Set(live.map((w) => w.id)),
      live: live.length,
      askers: [{ worker: from, pullId }],
      timer: setTimeout(() => this.finish(g), GATHER_MS),
    };
    this.current = g;
    for (const w of live) this.supervisor.send(w, { type: 'hopgate:metrics:collect', id: g.id });
    if (live.length === 0) this.finish(g);
  }

  part(from: Worker, id: number, metrics: Record<string, unknown>[]): void {
    const g = this.current;
    if (!g || g.id !== id || !g.missing.delete(from.id)) return; // late, or twice
    g.parts.push(metrics);
    if (g.missing.size === 0) this.finish(g);
  }

  private finish(g: Gathering): void {
    clearTimeout(g.timer);
    if (this.current !== g) return;
    this.current = undefined;
    this.done++;
    const send = (body: string): void => {
      for (const a of g.askers) this.supervisor.send(a.worker, { type: 'hopgate:metrics:answer', id: a.pullId, body });
    };
    answer(g.parts, g.live - g.missing.size, this.done).then(send, (err: unknown) => send(`# metrics could not be aggregated: ${String(err)}\n`));
  }
}

async function answer(parts: Record<string, unknown>[][], reporting: number, gatherings: number): Promise<string> {
  const text = parts.length > 0 ? await AggregatorRegistry.aggregate(parts).metrics() : '';
  return (
    text +
    '# HELP hopgate_ingress_metrics_workers_reporting Worker processes whose figures are in this scrape\n' +
    '# TYPE hopgate_ingress_metrics_workers_reporting gauge\n' +
    `hopgate_ingress_metrics_workers_reporting ${reporting}\n` +
    '# HELP hopgate_ingress_metrics_gatherings_total Times the primary gathered the workers\' metrics (concurrent scrapes share one)\n' +
    '# TYPE hopgate_ingress_metrics_gatherings_total counter\n' +
    `hopgate_ingress_metrics_gatherings_total ${gatherings}\n`
  );
}
