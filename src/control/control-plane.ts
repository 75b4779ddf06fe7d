/** The control plane as one object: store (migrated) + operator token + API server. */
import { join, resolve } from 'node:path';
import type { Logger } from '../shared/log.js';
import type { PrefixBound } from '../shared/source-range.js';
import { describeTarget, parseDbTarget, type DbTarget } from './db.js';
import { ControlServer } from './server.js';
import { ControlStore } from './store/index.js';
import { loadOrCreateAdminToken, type AdminToken } from './token.js';
import { ConfigHub } from './stream.js';
import { StatsCollector } from './collector.js';
import { createControlMetrics, type ControlMetrics } from './metrics.js';
import { StateDir } from '../shared/state-file.js';
import { LegitimacyService, type LegitimacyControlOptions } from './legitimacy.js';
import { WebhookDeliverer, type DelivererOptions } from './events/deliverer.js';
import { JetStreamPublisher, type JetStreamSinkOptions } from './events/jetstream.js';

import { DEFAULT_CONTROL_HOST, DEFAULT_CONTROL_PORT, DEFAULT_DB_FILE } from './defaults.js';

export { DEFAULT_CONTROL_HOST, DEFAULT_CONTROL_PORT, DEFAULT_DB_FILE };

export interface ControlPlaneOptions {
  /** `sqlite:PATH` or `postgres://…`; default: SQLite file in the state dir. */
  readonly db?: string;
  readonly stateDir: string;
  readonly host?: string;
  readonly port?: number;
  /** Overrides the token file (HOPGATE_ADMIN_TOKEN). */
  readonly adminToken?: string;
  readonly logger?: Logger;
  readonly passwordCost?: { ln: number; r: number; p: number };
  /** How often ingresses are pulled for statistics and quotas checked (default 5000 ms). */
  readonly statsIntervalMs?: number;
  /** Exit health history (transitions, probes per minute) is kept this many days (default 30). */
  readonly healthHistoryDays?: number;
  /** Config stream heartbeat (default 15000 ms). */
  readonly heartbeatMs?: number;
  /** Safety poll of the revision, besides this process's own changes and PostgreSQL NOTIFY (default 1000 ms). */
  readonly revisionPollMs?: number;
  /** Source legitimacy across the ingresses (docs/LEGITIMACY.md): group name, analysis intervals, half-life… */
  readonly legitimacy?: LegitimacyControlOptions;
  /** How long a request waits for a locked or unreachable database before it answers 503 (default 2000 ms). */
  readonly dbWaitMs?: number;
  /** Broadest source prefix a customer may set itself (PUT /v1/me/sources); default /24 and /48. */
  readonly selfServiceSourcePrefix?: PrefixBound;
  /** Webhook delivery: poll period, attempts, back-off, bounds (docs/CONTROL.md "Events and webhooks"). */
  readonly webhooks?: Omit<DelivererOptions, 'log'>;
  /** Events to NATS JetStream too (docs/EVENTS.md); off when absent. */
  readonly jetstream?: JetStreamSinkOptions;
  /** The host customers reach the ingresses at, for GET /v1/me/connect (default: the listen host, unless a wildcard). */
  readonly publicHost?: string;
}

export interface ControlPlane {
  readonly url: string;
  readonly store: ControlStore;
  readonly server: ControlServer;
  readonly token: AdminToken;
  readonly target: DbTarget;
  readonly dbDescription: string;
  readonly hub: ConfigHub;
  readonly collector: StatsCollector;
  readonly metrics: ControlMetrics;
  readonly legitimacy: LegitimacyService;
  readonly deliverer: WebhookDeliverer;
  readonly jetstream: JetStreamPublisher | undefined;
  close(): Promise<void>;
}

export async function startControlPlane(o: ControlPlaneOptions): Promise<ControlPlane> {
  const stateDir = resolve(o.stateDir);
  const target = parseDbTarget(o.db ?? `sqlite:${join(stateDir, DEFAULT_DB_FILE)}`);
  const token = loadOrCreateAdminToken(stateDir, o.adminToken);
  const dbLog = o.logger?.child({ component: 'db' });
  const store = await ControlStore.open(target, {
    ...(o.dbWaitMs !== undefined ? { waitMs: o.dbWaitMs } : {}),
    onPoolError: (err) => dbLog?.warn({ err: err.message }, 'database connection lost; the next query opens a new one'),
  });
  const metrics = createControlMetrics();
  const log = o.logger?.child({ component: 'stream' });
  const hub = new ConfigHub(store, { metrics, ...(log ? { log } : {}), ...(o.heartbeatMs ? { heartbeatMs: o.heartbeatMs } : {}), ...(o.revisionPollMs ? { pollMs: o.revisionPollMs } : {}) });
  const collector = new StatsCollector(store, hub, { metrics, ...(o.logger ? { log: o.logger.child({ component: 'stats' }) } : {}), ...(o.statsIntervalMs ? { intervalMs: o.statsIntervalMs } : {}), ...(o.healthHistoryDays ? { healthHistoryDays: o.healthHistoryDays } : {}) });
  const legitimacy = new LegitimacyService(hub, o.legitimacy, o.logger?.child({ component: 'legitimacy' }), metrics, new StateDir(stateDir, o.logger));
  let server: ControlServer;
  try {
    await hub.start();
    server = await ControlServer.start({
      hub,
      collector,
      metrics,
      legitimacy,
      store,
      adminToken: token.token,
      host: o.host ?? DEFAULT_CONTROL_HOST,
      port: o.port ?? DEFAULT_CONTROL_PORT,
      ...(o.logger ? { logger: o.logger } : {}),
      ...(o.passwordCost ? { passwordCost: o.passwordCost } : {}),
      ...(o.selfServiceSourcePrefix ? { selfServiceSourcePrefix: o.selfServiceSourcePrefix } : {}),
      ...(o.publicHost ? { publicHost: o.publicHost } : {}),
    });
  } catch (err) {
    await hub.close();
    await store.close();
    throw err;
  }
  const deliverer = new WebhookDeliverer(store.outbox, { ...o.webhooks, ...(o.logger ? { log: o.logger.child({ component: 'webhooks' }) } : {}) });
  let jetstream: JetStreamPublisher | undefined;
  if (o.jetstream) {
    store.outbox.keepUntilPublished = true;
    jetstream = new JetStreamPublisher(store.jetstream, store.outbox, o.jetstream, metrics, o.logger?.child({ component: 'jetstream' }));
  }
  collector.start();
  legitimacy.start();
  deliverer.start();
  jetstream?.start();
  return {
    url: server.url,
    store,
    server,
    token,
    target,
    dbDescription: describeTarget(target),
    hub,
    collector,
    metrics,
    legitimacy,
    deliverer,
    jetstream,
    async close() {
      await jetstream?.close();
      await deliverer.close();
      await legitimacy.close();
      await collector.close();
      await server.close();
      await hub.close();
      await store.close();
    },
  };
}
