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
// Type-only: the NATS modules (and the nats client, ~0.1 s of CPU to load) are imported only when configured.
import type { JetStreamPublisher, JetStreamSinkOptions } from './events/jetstream.js';
import type { NatsRequestConsumer, NatsRequestOptions } from './nats-requests/consumer.js';

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
  /** Login records and per-domain usage are deleted after this many days (default 30). */
  readonly statsRetentionDays?: number;
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
  /** Change messages in over JetStream (docs/EVENTS.md), on the `jetstream` connection; off when absent. */
  readonly natsRequests?: NatsRequestOptions;
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
  readonly natsRequests: NatsRequestConsumer | undefined;
  close(): Promise<void>;
}

/** The JetStream publisher and, for change messages in, the request consumer: loaded only when NATS is configured. */
async function loadNats(requests: boolean) {
  const [{ JetStreamPublisher }, consumer, dispatch] = await Promise.all([
    import('./events/jetstream.js'),
    requests ? import('./nats-requests/consumer.js') : undefined,
    requests ? import('./nats-requests/dispatch.js') : undefined,
  ]);
  return { JetStreamPublisher, requests: consumer && dispatch ? { NatsRequestConsumer: consumer.NatsRequestConsumer, OperationTable: dispatch.OperationTable } : undefined };
}

export async function startControlPlane(o: ControlPlaneOptions): Promise<ControlPlane> {
  if (o.natsRequests && !o.jetstream) throw new Error('change messages in (natsRequests) need a NATS connection (jetstream: --nats-url)');
  // Before anything opens: a failed import leaves nothing to close.
  const nats = o.jetstream ? await loadNats(o.natsRequests !== undefined) : undefined;
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
  const collector = new StatsCollector(store, hub, { metrics, ...(o.logger ? { log: o.logger.child({ component: 'stats' }) } : {}), ...(o.statsIntervalMs ? { intervalMs: o.statsIntervalMs } : {}), ...(o.healthHistoryDays ? { healthHistoryDays: o.healthHistoryDays } : {}), ...(o.statsRetentionDays ? { retentionDays: o.statsRetentionDays } : {}) });
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
  if (o.jetstream && nats) {
    store.outbox.keepUntilPublished = true;
    jetstream = new nats.JetStreamPublisher(store.jetstream, store.outbox, o.jetstream, metrics, o.logger?.child({ component: 'jetstream' }));
  }
  const natsRequests =
    o.natsRequests && o.jetstream && nats?.requests
      ? new nats.requests.NatsRequestConsumer(new nats.requests.OperationTable(server), store.requestKeys, o.jetstream, o.natsRequests, metrics, o.logger?.child({ component: 'nats-requests' }))
      : undefined;
  collector.start();
  legitimacy.start();
  deliverer.start();
  jetstream?.start();
  natsRequests?.start();
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
    natsRequests,
    async close() {
      // Requests first: the one being run finishes against a live API and database.
      await natsRequests?.close();
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
