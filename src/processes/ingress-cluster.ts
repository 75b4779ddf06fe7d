/**
 * What every multi-process ingress (YAML file or control plane) does in its
 * primary around the supervisor: sum quota usage across workers (each hears
 * what the others used, every SYNC_INTERVAL_MS), relay auth-throttle events
 * so N workers do not give a guesser N allowances, and hold the reverse
 * tunnel port, handing its connections to the workers (tunnel-dispatch.ts);
 * answer a scrape of the shared admin port with every worker's metrics (cluster-metrics.ts).
 */
import type { Worker } from 'node:cluster';
import type { IngressConfig } from '../shared/schema/ingress-config.js';
import { QuotaAggregator, SYNC_INTERVAL_MS } from '../ingress/guard/quota.js';
import { primaryTunnel } from '../ingress/reverse/tunnel-dispatch.js';
import { WorkerSupervisor, type SupervisorOptions } from './supervisor.js';
import { MetricsGatherer } from './cluster-metrics.js';
import type { WorkerMessage } from './ipc-messages.js';

export interface IngressClusterOptions extends Omit<SupervisorOptions, 'onMessage'> {
  /** The messages this mode handles itself (the quota, auth and ready bookkeeping is done here first). */
  readonly onMessage?: (worker: Worker, msg: WorkerMessage) => void;
}

export class IngressCluster {
  readonly supervisor: WorkerSupervisor;
  /** The primary's reverse tunnel port, opened by the first configuration with reverse exits. */
  readonly tunnel: ReturnType<typeof primaryTunnel>;
  private readonly quota = new QuotaAggregator();
  /** Workers that have not heard the current figures yet (a restarted worker starts at zero). */
  private readonly fresh = new Set<number>();
  private quotaTimer: NodeJS.Timeout | undefined;
  private readonly metrics: MetricsGatherer;

  constructor(o: IngressClusterOptions) {
    this.supervisor = new WorkerSupervisor({
      ...o,
      onMessage: (w, m) => {
        if (m.type === 'hopgate:quota:usage') return this.quota.add(w.id, m);
        if (m.type === 'hopgate:auth:event') return this.supervisor.broadcast(m, w); // to every other worker
        if (m.type === 'hopgate:reverse:load') return this.tunnel.value?.report(w, m); // none before the port is open
        if (m.type === 'hopgate:metrics:pull') return this.metrics.pull(w, m.id);
        if (m.type === 'hopgate:metrics:part') return this.metrics.part(w, m.id, m.metrics);
        if (m.type === 'hopgate:worker:ready') this.fresh.add(w.id); // it hears every current figure at the next flush
        o.onMessage?.(w, m);
      },
    });
    this.tunnel = primaryTunnel(o.log, this.supervisor);
    this.metrics = new MetricsGatherer(this.supervisor);
  }

  /** Open the tunnel port if `config` has reverse exits, then start every worker. */
  async start(config: IngressConfig): Promise<void> {
    await this.tunnel.follow(config, true);
    this.quotaTimer = setInterval(() => this.flushQuota(), SYNC_INTERVAL_MS);
    this.quotaTimer.unref();
    try {
      await this.supervisor.start();
    } catch (err) {
      this.close();
      throw err;
    }
  }

  get tunnelPort(): number | undefined {
    return this.tunnel.value?.port;
  }

  /** Drain and end every worker. */
  async stop(): Promise<void> {
    this.close();
    await this.supervisor.stop();
  }

  private close(): void {
    this.tunnel.close();
    clearInterval(this.quotaTimer);
  }

  /** Quota across workers: usage deltas came in; each worker's "used by the others" goes out. */
  private flushQuota(): void {
    const live = this.supervisor.workers();
    const out = this.quota.flush(
      live.map((w) => w.id),
      this.fresh,
    );
    this.fresh.clear();
    for (const w of live) {
      const msg = out.get(w.id);
      if (msg) this.supervisor.send(w, msg);
    }
  }
}
