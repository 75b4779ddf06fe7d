/**
 * A controlled ingress with worker processes: this primary holds the config
 * stream, the statistics ledger and the legitimacy link, and runs no customer
 * listener. Each worker (controlled-worker-main.ts) gets the configuration at
 * boot and every snapshot and delta after, confirms each revision, sends its
 * usage batches and evidence up, and forwards statistics pulls here.
 */
import type { Worker } from 'node:cluster';
import type { BackoffPolicy } from '../shared/backoff.js';
import type { Logger } from '../shared/log.js';
import type { ControlConfigState, LocalOverrides } from '../ingress/control-link/config-state.js';
import type { StatsLedger } from '../ingress/control-link/stats.js';
import { answerStatsPull, internalError, type StatsAnswer } from '../ingress/control-link/stats-pull.js';
import { WorkerExitHealth } from '../ingress/control-link/exit-health-report.js';
import { IngressCluster } from './ingress-cluster.js';
import type { WorkerMessage } from './ipc-messages.js';
import type { Applier, NodeContext } from './controlled-applier.js';

export interface ClusterOptions {
  readonly count: number;
  readonly state: ControlConfigState;
  readonly adminPort: number;
  readonly overrides: LocalOverrides;
  readonly log: Logger;
  readonly ledger: StatsLedger;
  readonly node: NodeContext;
  readonly restart?: BackoffPolicy | undefined;
}

/** How long a revision may wait for every worker's confirmation before it counts as in force anyway. */
const CONFIRM_WITHIN_MS = 5000;

export async function startCluster(o: ClusterOptions): Promise<Applier> {
  const { state, ledger, node } = o;
  /** The revision each worker confirmed. */
  const appliedBy = new Map<number, number>();
  const waiting = new Set<{ revision: number; resolve: () => void }>();
  let boundAdmin: number | undefined;
  let ports: number[] = [];
  const exitHealth = new WorkerExitHealth();

  const settle = (): void => {
    const live = pool.supervisor.workers();
    for (const w of waiting) {
      if (live.every((x) => (appliedBy.get(x.id) ?? -1) >= w.revision)) {
        waiting.delete(w);
        w.resolve();
      }
    }
  };

  const onMessage = (w: Worker, m: WorkerMessage): void => {
    switch (m.type) {
      case 'hopgate:worker:booting': // its message handler is in place: send the configuration
        // Port 0: every worker asks for 0 and shares one port.
        return pool.supervisor.send(w, { type: 'hopgate:control:init', revision: state.revision, config: state.input(), overrides: o.overrides, adminPort: o.adminPort, ...optionalNode(node.nodeId()) });
      case 'hopgate:worker:ready':
        boundAdmin ??= m.adminPort;
        ports = m.ports;
        appliedBy.set(w.id, state.revision);
        for (const r of node.legitimacy()?.replay() ?? []) pool.supervisor.send(w, r); // the rules in force
        return;
      case 'hopgate:legit:evidence':
        return node.legitimacy()?.fromWorker(w.id, m);
      case 'hopgate:stats:batch':
        return ledger.addBatch(m);
      case 'hopgate:exits:down':
        return exitHealth.report(w.id, m.down, m.probes);
      case 'hopgate:stats:pull': {
        const answer = (a: StatsAnswer): void => pool.supervisor.send(w, { type: 'hopgate:stats:answer', id: m.id, status: a.status, body: a.body });
        void answerStatsPull(m.url, m.auth, node.pullToken(), ledger, () => exitHealth.node()).then(answer, (err: unknown) => answer(internalError(err)));
        return;
      }
      case 'hopgate:control:applied':
        appliedBy.set(w.id, m.revision);
        return settle();
      case 'hopgate:control:resync':
        return pool.supervisor.send(w, { type: 'hopgate:control:msg', msg: { type: 'snapshot', revision: state.revision, config: state.input() } });
      default:
        return; // quota, auth, tunnel load (ingress-cluster.ts), failed (the supervisor)
    }
  };

  const pool: IngressCluster = new IngressCluster({
    count: o.count,
    exec: new URL('./controlled-worker-main.js', import.meta.url).pathname,
    log: o.log,
    ...(o.restart ? { restart: o.restart } : {}),
    onMessage,
    onExit: (w) => {
      appliedBy.delete(w.id);
      exitHealth.gone(w.id);
      node.legitimacy()?.workerGone(w.id);
      settle();
    },
  });
  await pool.start(state.config());

  const cfg = state.config();
  return {
    ports: [ports[0] ?? cfg.listen.ports[0], ports.at(-1) ?? cfg.listen.ports[1]],
    workers: o.count,
    adminPort: boundAdmin,
    ingress: undefined,
    get tunnelPort() {
      return pool.tunnelPort;
    },
    relay(m) {
      pool.supervisor.broadcast(m);
    },
    async apply(m, next, revision) {
      await pool.tunnel.follow(next); // the first reverse exit may come in a delta; listening before the workers take it
      pool.supervisor.broadcast({ type: 'hopgate:control:msg', msg: m });
      return new Promise<void>((resolveApplied) => {
        const entry = { revision, resolve: resolveApplied };
        waiting.add(entry);
        settle();
        setTimeout(() => {
          if (waiting.delete(entry)) {
            o.log.warn({ revision }, `not every worker confirmed the revision within ${CONFIRM_WITHIN_MS / 1000} s`);
            resolveApplied();
          }
        }, CONFIRM_WITHIN_MS).unref();
      });
    },
    stop: () => pool.stop(),
  };
}

/** exactOptionalPropertyTypes: no `nodeId: undefined`. */
function optionalNode(nodeId: string | undefined): { nodeId?: string } {
  return nodeId === undefined ? {} : { nodeId };
}
