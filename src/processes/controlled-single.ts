/** A controlled ingress in this one process: the configuration goes straight to Ingress.reload. */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Registry } from 'prom-client';
import { Ingress } from '../ingress/ingress.js';
import type { Logger } from '../shared/log.js';
import type { IngressConfig } from '../shared/schema/ingress-config.js';
import { SessionMeter, type StatsLedger } from '../ingress/control-link/stats.js';
import { answerStatsPull, internalError, sendStatsAnswer } from '../ingress/control-link/stats-pull.js';
import { nodeHealthOf } from '../ingress/control-link/exit-health-report.js';
import type { Applier, NodeContext } from './controlled-applier.js';

export interface SingleOptions {
  readonly config: IngressConfig;
  readonly revision: number;
  readonly adminPort: number;
  readonly log: Logger;
  readonly ledger: StatsLedger;
  readonly node: NodeContext;
  /** The statistics clock (tests move it). */
  readonly now: (() => number) | undefined;
  /** The node's own gauges, on the ingress's registry. */
  readonly addMetrics: (reg: Registry) => void;
}

export async function startSingle(o: SingleOptions): Promise<Applier> {
  let meter: SessionMeter | undefined;
  let ingress: Ingress | undefined;
  const adminHandler = (req: IncomingMessage, res: ServerResponse): boolean => {
    if (req.method !== 'GET' || !req.url?.startsWith('/v1/stats')) return false;
    meter?.flush();
    const rt = ingress?.runtime;
    void answerStatsPull(req.url, req.headers.authorization ?? '', o.node.pullToken(), o.ledger, rt ? () => nodeHealthOf(rt) : undefined).then(
      (a) => sendStatsAnswer(res, a),
      (err: unknown) => sendStatsAnswer(res, internalError(err)),
    );
    return true;
  };
  const started = await Ingress.start(o.config, o.log, { revision: o.revision, adminPort: o.adminPort, adminHandler, metrics: o.addMetrics });
  ingress = started;
  meter = new SessionMeter(started.runtime, (rows) => o.ledger.add(rows), 1000, o.now);
  const bound = started.ports();
  return {
    ports: [bound[0] ?? o.config.listen.ports[0], bound.at(-1) ?? o.config.listen.ports[1]],
    workers: 1,
    adminPort: started.adminPort,
    ingress: started,
    get tunnelPort() {
      return started.runtime.reverse?.tunnelPort;
    },
    async apply(_m, cfg, rev) {
      started.reload(cfg, rev);
    },
    async stop() {
      await started.shutdown();
      meter?.stop();
    },
  };
}
