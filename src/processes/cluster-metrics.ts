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
  readonly parts: Record<string, unknown>[][];
  readonly missing: Set<number>;
  readonly finish: () => void;
}

/** Primary side: gathers the workers' parts for each pull and answers the asking worker. */
export class MetricsGatherer {
  private nextId = 0;
  private readonly gatherings = new Map<number, Gathering>();

  constructor(private readonly supervisor: WorkerSupervisor) {}

  pull(from: Worker, pullId: number): void {
    const id = this.nextId++;
    const live = this.supervisor.workers();
    const parts: Record<string, unknown>[][] = [];
    const missing = new Set(live.map((w) => w.id));
    const timer = setTimeout(() => finish(), GATHER_MS);
    const finish = (): void => {
      clearTimeout(timer);
      if (!this.gatherings.delete(id)) return;
      answer(parts, live.length - missing.size).then(
        (body) => this.supervisor.send(from, { type: 'hopgate:metrics:answer', id: pullId, body }),
        (err: unknown) => this.supervisor.send(from, { type: 'hopgate:metrics:answer', id: pullId, body: `# metrics could not be aggregated: ${String(err)}\n` }),
      );
    };
    this.gatherings.set(id, { parts, missing, finish });
    for (const w of live) this.supervisor.send(w, { type: 'hopgate:metrics:collect', id });
    if (live.length === 0) finish();
  }

  part(from: Worker, id: number, metrics: Record<string, unknown>[]): void {
    const g = this.gatherings.get(id);
    if (!g || !g.missing.delete(from.id)) return; // late, or twice
    g.parts.push(metrics);
    if (g.missing.size === 0) g.finish();
  }
}

async function answer(parts: Record<string, unknown>[][], reporting: number): Promise<string> {
  const text = parts.length > 0 ? await AggregatorRegistry.aggregate(parts).metrics() : '';
  return (
    text +
    '# HELP hopgate_ingress_metrics_workers_reporting Worker processes whose figures are in this scrape\n' +
    '# TYPE hopgate_ingress_metrics_workers_reporting gauge\n' +
    `hopgate_ingress_metrics_workers_reporting ${reporting}\n`
  );
}
