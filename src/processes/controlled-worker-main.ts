/**
 * Entry of a worker process of a control-plane-fed ingress (forked by
 * controlled-cluster.ts): gets its configuration and every delta from the
 * primary over IPC, reports when each is in force, sends usage batches,
 * quota usage and legitimacy evidence up, and forwards statistics pulls that
 * reach its admin port to the primary. Drains on SIGTERM; SIGINT is the
 * primary's to decide.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Ingress } from '../ingress/ingress.js';
import { createLogger } from '../shared/log.js';
import { ControlConfigState } from '../ingress/control-link/config-state.js';
import { SessionMeter } from '../ingress/control-link/stats.js';
import { sendStatsAnswer } from '../ingress/control-link/stats-pull.js';
import type { LegitimacyGate } from '../ingress/guard/legitimacy-gate.js';
import { shareThrottle } from '../ingress/auth/throttle-sync.js';
import type { IngressConfig } from '../shared/schema/ingress-config.js';
import { syncLegitimacy } from './legitimacy-sync.js';
import { onPrimary, toPrimary, workerQuotaSync, workerReverseLink, workerThrottleSync } from './worker-channel.js';
import { exitsDownOf, exitProbesOf } from '../ingress/control-link/exit-health-report.js';
import type { PrimaryMessage } from './ipc-messages.js';
import { workerMetrics } from './cluster-metrics.js';

type Msg<T extends PrimaryMessage['type']> = Extract<PrimaryMessage, { type: T }>;

class ControlledWorker {
  private ingress: Ingress | undefined;
  private meter: SessionMeter | undefined;
  private state: ControlConfigState | undefined;
  private nodeId: string | undefined;
  private legitTimer: NodeJS.Timeout | undefined;
  private nextPull = 1;
  private readonly pulls = new Map<number, ServerResponse>();
  /** Configuration messages apply one after the other, in order. */
  private queue: Promise<void> = Promise.resolve();

  readonly onMessage = (m: PrimaryMessage): void => {
    switch (m.type) {
      case 'hopgate:control:init':
        return void (this.queue = this.queue.then(() => this.init(m)));
      case 'hopgate:control:msg':
        return void (this.queue = this.queue.then(() => this.apply(m)));
      case 'hopgate:legit:rules':
        this.ingress?.runtime.legitimacy?.apply(m.msg); // the primary has ACKed it
        return;
      case 'hopgate:stats:answer': {
        const res = this.pulls.get(m.id);
        this.pulls.delete(m.id);
        if (res) sendStatsAnswer(res, m);
        return;
      }
      default:
        return; // the tunnel intake's, the quota's and the throttle's own
    }
  };

  private async init(m: Msg<'hopgate:control:init'>): Promise<void> {
    try {
      this.state = new ControlConfigState(m.overrides);
      const config = this.state.applySnapshot({ revision: m.revision, config: m.config });
      const log = createLogger(config.log.level, { role: 'ingress' });
      const ingress = await Ingress.start(config, log, { revision: m.revision, adminPort: m.adminPort, adminHandler: this.adminHandler, reverseFromPrimary: workerReverseLink(), scrape: workerMetrics });
      this.ingress = ingress;
      ingress.runtime.quota.attach(workerQuotaSync());
      shareThrottle(ingress.runtime.auth.throttle, 'proxy', workerThrottleSync()); // auth failures count across workers
      this.nodeId = m.nodeId;
      this.legitimacyFollows(config);
      this.meter = new SessionMeter(ingress.runtime, (b) => toPrimary({ type: 'hopgate:stats:batch', ...b }));
      this.healthTimer = setInterval(() => this.reportExitHealth(false), 1000);
      this.healthTimer.unref();
      toPrimary({ type: 'hopgate:worker:ready', ports: ingress.ports(), ...(ingress.adminPort !== undefined ? { adminPort: ingress.adminPort } : {}) });
    } catch (err) {
      toPrimary({ type: 'hopgate:worker:failed', error: (err as Error).message }, () => process.exit(1));
    }
  }

  private apply(m: Msg<'hopgate:control:msg'>): void {
    if (!this.state || !this.ingress) return;
    try {
      const cfg = m.msg.type === 'snapshot' ? this.state.applySnapshot(m.msg) : this.state.applyDelta(m.msg);
      if (!cfg) return void toPrimary({ type: 'hopgate:control:resync' });
      this.ingress.reload(cfg, m.msg.revision);
      this.legitimacyFollows(cfg);
      toPrimary({ type: 'hopgate:control:applied', revision: m.msg.revision });
    } catch (err) {
      // The primary validated it; a failure here is local. Ask for the whole document again.
      process.stderr.write(`hopgate worker: revision ${m.msg.revision} not applied: ${(err as Error).message}\n`);
      toPrimary({ type: 'hopgate:control:resync' });
    }
  }

  /** Its own gate (buckets apply per worker); evidence and attack state go to the primary every second. */
  private legitimacyFollows(cfg: IngressConfig): void {
    const r = syncLegitimacy(this.ingress?.runtime, cfg, this.nodeId);
    if (r === 'off') {
      clearInterval(this.legitTimer);
      this.legitTimer = undefined;
    } else if (r !== 'on') this.reportEvidence(r);
  }

  private reportEvidence(gate: LegitimacyGate): void {
    const rt = this.ingress!.runtime;
    let lastAttack = false;
    const send = (): void => {
      const g = rt.legitimacy;
      if (!g) return;
      g.advance();
      const counts = g.drainEvidence();
      const attack = g.enforcer.attackMode;
      const limited = g.enforcer.limitedTotal();
      if (counts.length === 0 && attack === lastAttack && !attack) return;
      lastAttack = attack;
      toPrimary({ type: 'hopgate:legit:evidence', counts, attack, limited });
    };
    gate.onAttackChange = () => send();
    clearInterval(this.legitTimer);
    this.legitTimer = setInterval(send, 1000);
    this.legitTimer.unref();
  }

  private healthTimer: NodeJS.Timeout | undefined;
  private lastDown = '';

  /** The exits this worker takes as down, to the primary when they changed (or `always`: before a pull). */
  private reportExitHealth(always: boolean): void {
    if (!this.ingress) return;
    const down = exitsDownOf(this.ingress.runtime);
    const probes = exitProbesOf(this.ingress.runtime);
    // The probe counts change with every probe round: sent when they did (at most once a second).
    const key = JSON.stringify([down, probes]);
    if (!always && key === this.lastDown) return;
    this.lastDown = key;
    toPrimary({ type: 'hopgate:exits:down', down, probes });
  }

  private readonly adminHandler = (req: IncomingMessage, res: ServerResponse): boolean => {
    if (req.method !== 'GET' || !req.url?.startsWith('/v1/stats')) return false;
    this.meter?.flush();
    this.reportExitHealth(true);
    const id = this.nextPull++;
    this.pulls.set(id, res);
    res.on('close', () => this.pulls.delete(id));
    // After this worker's latest usage batch (IPC keeps order).
    toPrimary({ type: 'hopgate:stats:pull', id, auth: req.headers.authorization ?? '', url: req.url });
    return true;
  };

  /** Drain: the configuration queue, the listeners and connections, then the last usage batch to the primary. */
  async drain(): Promise<void> {
    await this.queue;
    clearInterval(this.legitTimer);
    clearInterval(this.healthTimer);
    await this.ingress?.shutdown();
    this.meter?.stop(); // the last batch goes to the primary before we leave
    await new Promise<void>((resolve) => toPrimary({ type: 'hopgate:stats:batch', rows: [] }, resolve));
  }
}

const worker = new ControlledWorker();
onPrimary(worker.onMessage);
process.once('SIGTERM', () => {
  worker.drain().then(
    () => process.exit(0),
    (err: unknown) => {
      process.stderr.write(`hopgate worker: shutdown failed: ${String(err)}\n`);
      process.exit(1);
    },
  );
});
process.once('SIGINT', () => undefined);
toPrimary({ type: 'hopgate:worker:booting' });
