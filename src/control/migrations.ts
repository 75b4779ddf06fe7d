/**
 * One set of migrations for SQLite and PostgreSQL, written with Kysely's
 * schema builder and portable column types only. Applied in name order on
 * every start; a migration that has been released is never edited — a
 * change is a new entry appended to MIGRATIONS.
 */
import { inspect } from 'node:util';
import { Migrator, PostgresAdapter, type ColumnDefinitionBuilder, type CreateTableBuilder, type Kysely, type Migration } from 'kysely';
import type { ControlDb } from './db.js';
import { loginDomainStats } from './login-domain-migration.js';
import { linkKeys } from './link-keys-migration.js';

export const MIGRATION_TABLE = 'hopgate_migration';
export const MIGRATION_LOCK_TABLE = 'hopgate_migration_lock';

// Migrations run against a database whose shape they create: `any` on purpose.
/* eslint-disable @typescript-eslint/no-explicit-any */
type AnyDb = Kysely<any>;

const foundation: Migration = {
  async up(db: AnyDb) {
    await db.schema
      .createTable('config_state')
      .addColumn('id', 'integer', (c) => c.primaryKey())
      .addColumn('revision', 'bigint', (c) => c.notNull())
      .execute();
    await db.insertInto('config_state').values({ id: 1, revision: 0 }).execute();

    await db.schema
      .createTable('change_log')
      .addColumn('revision', 'bigint', (c) => c.notNull())
      .addColumn('seq', 'integer', (c) => c.notNull())
      .addColumn('at', 'varchar(40)', (c) => c.notNull())
      .addColumn('entity', 'varchar(32)', (c) => c.notNull())
      .addColumn('entity_id', 'varchar(128)', (c) => c.notNull())
      .addColumn('op', 'varchar(16)', (c) => c.notNull())
      .addColumn('actor', 'varchar(128)', (c) => c.notNull())
      .addPrimaryKeyConstraint('change_log_pk', ['revision', 'seq'])
      .execute();

    await db.schema
      .createTable('customers')
      .addColumn('id', 'varchar(64)', (c) => c.primaryKey())
      .addColumn('login', 'varchar(64)', (c) => c.notNull().unique())
      .addColumn('status', 'varchar(16)', (c) => c.notNull())
      .addColumn('password_hash', 'text')
      .addColumn('password_changed_at', 'varchar(40)')
      .addColumn('sources', 'text', (c) => c.notNull())
      .addColumn('source_auth', 'integer', (c) => c.notNull().defaultTo(0))
      .addColumn('max_connections', 'integer')
      .addColumn('bandwidth_up', 'bigint')
      .addColumn('bandwidth_down', 'bigint')
      .addColumn('quota_bytes', 'bigint')
      .addColumn('quota_period', 'varchar(16)')
      .addColumn('pools', 'text', (c) => c.notNull())
      .addColumn('port_base', 'integer')
      .addColumn('port_scheme', 'varchar(16)')
      .addColumn('places', 'text')
      .addColumn('created_at', 'varchar(40)', (c) => c.notNull())
      .addColumn('updated_at', 'varchar(40)', (c) => c.notNull())
      .execute();

    await db.schema
      .createTable('exits')
      .addColumn('id', 'varchar(64)', (c) => c.primaryKey())
      .addColumn('kind', 'varchar(16)', (c) => c.notNull())
      .addColumn('host', 'varchar(255)', (c) => c.notNull())
      .addColumn('port', 'integer', (c) => c.notNull())
      .addColumn('username', 'varchar(255)')
      .addColumn('password', 'varchar(255)')
      .addColumn('egress_ip', 'varchar(64)')
      .addColumn('country', 'varchar(2)')
      .addColumn('state', 'varchar(128)')
      .addColumn('city', 'varchar(128)')
      .addColumn('asn', 'bigint')
      .addColumn('via', 'text', (c) => c.notNull())
      .addColumn('tags', 'text', (c) => c.notNull())
      .addColumn('drain', 'integer', (c) => c.notNull().defaultTo(0))
      .addColumn('created_at', 'varchar(40)', (c) => c.notNull())
      .addColumn('updated_at', 'varchar(40)', (c) => c.notNull())
      .execute();

    await db.schema
      .createTable('customer_exits')
      .addColumn('customer_id', 'varchar(64)', (c) => c.notNull().references('customers.id').onDelete('cascade'))
      .addColumn('position', 'integer', (c) => c.notNull())
      .addColumn('exit_id', 'varchar(64)', (c) => c.notNull().references('exits.id'))
      .addPrimaryKeyConstraint('customer_exits_pk', ['customer_id', 'position'])
      .addUniqueConstraint('customer_exits_once', ['customer_id', 'exit_id'])
      .execute();
    await db.schema.createIndex('customer_exits_by_exit').on('customer_exits').column('exit_id').execute();

    await db.schema
      .createTable('ingress_nodes')
      .addColumn('id', 'varchar(64)', (c) => c.primaryKey())
      .addColumn('name', 'varchar(255)', (c) => c.notNull())
      .addColumn('last_seen_at', 'varchar(40)')
      .addColumn('acked_revision', 'bigint')
      .addColumn('created_at', 'varchar(40)', (c) => c.notNull())
      .addColumn('updated_at', 'varchar(40)', (c) => c.notNull())
      .execute();

    await db.schema
      .createTable('settings')
      .addColumn('key', 'varchar(64)', (c) => c.primaryKey())
      .addColumn('value', 'text', (c) => c.notNull())
      .addColumn('updated_at', 'varchar(40)', (c) => c.notNull())
      .execute();
  },
  async down(db: AnyDb) {
    for (const t of ['settings', 'ingress_nodes', 'customer_exits', 'exits', 'customers', 'change_log', 'config_state']) {
      await db.schema.dropTable(t).ifExists().execute();
    }
  },
};

/**
 * The config stream, statistics and quotas: ingress tokens (hashed), the
 * address the control plane pulls statistics from and how far it has read,
 * per-minute usage (final rows and the open minute), per-period totals for
 * quotas, and the control plane's over-quota flag on customers.
 */
const streamStats: Migration = {
  async up(db: AnyDb) {
    // SQLite takes one ADD COLUMN per statement.
    for (const [name, type] of [
      ['token_hash', 'varchar(64)'],
      ['token_created_at', 'varchar(40)'],
      ['admin_url', 'varchar(255)'],
      ['stats_epoch', 'varchar(64)'],
      ['stats_seq', 'bigint'],
      ['stats_pulled_at', 'varchar(40)'],
    ] as const) {
      await db.schema.alterTable('ingress_nodes').addColumn(name, type).execute();
    }
    await db.schema.createIndex('ingress_nodes_by_token').unique().on('ingress_nodes').column('token_hash').execute();
    await db.schema.alterTable('customers').addColumn('quota_exceeded_until', 'varchar(40)').execute();

    const counters = <TB extends string, C extends string>(t: CreateTableBuilder<TB, C>) =>
      t
        .addColumn('bytes_up', 'bigint', (c) => c.notNull())
        .addColumn('bytes_down', 'bigint', (c) => c.notNull())
        .addColumn('connections', 'bigint', (c) => c.notNull())
        .addColumn('failures', 'bigint', (c) => c.notNull());

    // Final per-minute rows: one per (minute, ingress node, customer, exit).
    await counters(
      db.schema
        .createTable('usage_minute')
        .addColumn('minute', 'varchar(16)', (c) => c.notNull())
        .addColumn('node_id', 'varchar(64)', (c) => c.notNull())
        .addColumn('customer_id', 'varchar(80)', (c) => c.notNull())
        .addColumn('login', 'varchar(64)', (c) => c.notNull())
        .addColumn('exit_id', 'varchar(64)', (c) => c.notNull()),
    )
      .addPrimaryKeyConstraint('usage_minute_pk', ['minute', 'node_id', 'customer_id', 'exit_id'])
      .execute();
    await db.schema.createIndex('usage_minute_by_customer').on('usage_minute').columns(['customer_id', 'minute']).execute();
    await db.schema.createIndex('usage_minute_by_exit').on('usage_minute').columns(['exit_id', 'minute']).execute();

    // Per customer per calendar period (hour:…, day:…, month:…), written with the minute rows: what quotas read.
    await counters(
      db.schema
        .createTable('usage_period')
        .addColumn('customer_id', 'varchar(80)', (c) => c.notNull())
        .addColumn('period', 'varchar(24)', (c) => c.notNull()),
    )
      .addPrimaryKeyConstraint('usage_period_pk', ['customer_id', 'period'])
      .execute();

    // The minute still open on each ingress, as of its last pull (replaced by every pull).
    await counters(
      db.schema
        .createTable('usage_live')
        .addColumn('node_id', 'varchar(64)', (c) => c.notNull())
        .addColumn('customer_id', 'varchar(80)', (c) => c.notNull())
        .addColumn('login', 'varchar(64)', (c) => c.notNull())
        .addColumn('exit_id', 'varchar(64)', (c) => c.notNull())
        .addColumn('minute', 'varchar(16)', (c) => c.notNull()),
    )
      .addPrimaryKeyConstraint('usage_live_pk', ['node_id', 'customer_id', 'exit_id', 'minute'])
      .execute();
  },
  async down(db: AnyDb) {
    for (const t of ['usage_live', 'usage_period', 'usage_minute']) await db.schema.dropTable(t).ifExists().execute();
  },
};

/**
 * Reverse-connected exits in the inventory: their token (scrypt hash), the
 * sources they may register from, their work-connection bound and target
 * rule. Their host and port stay '' and 0 (the columns are NOT NULL).
 */
const reverseExits: Migration = {
  async up(db: AnyDb) {
    for (const [name, type] of [
      ['token_hash', 'text'],
      ['token_changed_at', 'varchar(40)'],
      ['reverse_from', 'text'],
      ['max_work_connections', 'integer'],
      ['reverse_targets', 'text'],
    ] as const) {
      await db.schema.alterTable('exits').addColumn(name, type).execute();
    }
  },
  async down(db: AnyDb) {
    for (const name of ['token_hash', 'token_changed_at', 'reverse_from', 'max_work_connections', 'reverse_targets']) {
      await db.schema.alterTable('exits').dropColumn(name).execute();
    }
  },
};

/** Dual-stack exits: an IPv6 egress address beside egress_ip (docs/EXITS.md). */
const exitEgress6: Migration = {
  async up(db: AnyDb) {
    await db.schema.alterTable('exits').addColumn('egress_ip6', 'varchar(64)').execute();
  },
  async down(db: AnyDb) {
    await db.schema.alterTable('exits').dropColumn('egress_ip6').execute();
  },
};

/**
 * Events to outside systems (docs/CONTROL.md "Events and webhooks"): the
 * outbox, written in the same transaction as the change it tells of; the
 * webhooks; one delivery per (webhook, event) with its retry state (next_at
 * doubles as the lease of the replica sending it); the log of every attempt;
 * and which quota levels were announced per customer, period and quota (so
 * replicas announce each crossing once).
 */
/** An increasing id: SQLite's AUTOINCREMENT rowid (never reused), PostgreSQL's identity. */
const isPostgres = (db: AnyDb): boolean => db.getExecutor().adapter instanceof PostgresAdapter;
const serialType = (db: AnyDb): 'integer' | 'bigint' => (isPostgres(db) ? 'bigint' : 'integer');
const serialId =
  (db: AnyDb) =>
  (c: ColumnDefinitionBuilder): ColumnDefinitionBuilder =>
    isPostgres(db) ? c.primaryKey().generatedByDefaultAsIdentity() : c.primaryKey().autoIncrement();

const outboxWebhooks: Migration = {
  async up(db: AnyDb) {
    await db.schema
      .createTable('outbox')
      .addColumn('id', serialType(db), serialId(db))
      .addColumn('idempotency_key', 'varchar(255)', (c) => c.notNull().unique())
      .addColumn('kind', 'varchar(32)', (c) => c.notNull())
      .addColumn('occurred_at', 'varchar(40)', (c) => c.notNull())
      .addColumn('payload', 'text', (c) => c.notNull())
      .addColumn('dispatched', 'integer', (c) => c.notNull().defaultTo(0))
      .execute();
    await db.schema.createIndex('outbox_undispatched').on('outbox').columns(['dispatched', 'id']).execute();

    await db.schema
      .createTable('webhooks')
      .addColumn('id', 'varchar(64)', (c) => c.primaryKey())
      .addColumn('url', 'varchar(2048)', (c) => c.notNull())
      .addColumn('secret', 'varchar(255)', (c) => c.notNull())
      .addColumn('kinds', 'text', (c) => c.notNull())
      .addColumn('enabled', 'integer', (c) => c.notNull().defaultTo(1))
      .addColumn('description', 'varchar(255)')
      .addColumn('created_at', 'varchar(40)', (c) => c.notNull())
      .addColumn('updated_at', 'varchar(40)', (c) => c.notNull())
      .execute();

    await db.schema
      .createTable('webhook_deliveries')
      .addColumn('id', serialType(db), serialId(db))
      .addColumn('webhook_id', 'varchar(64)', (c) => c.notNull().references('webhooks.id').onDelete('cascade'))
      .addColumn('event_id', 'bigint', (c) => c.notNull().references('outbox.id').onDelete('cascade'))
      .addColumn('state', 'varchar(16)', (c) => c.notNull())
      .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
      .addColumn('next_at', 'bigint', (c) => c.notNull())
      .addColumn('last_status', 'integer')
      .addColumn('last_error', 'varchar(500)')
      .addColumn('delivered_at', 'varchar(40)')
      .addColumn('created_at', 'varchar(40)', (c) => c.notNull())
      .addUniqueConstraint('webhook_deliveries_once', ['webhook_id', 'event_id'])
      .execute();
    await db.schema.createIndex('webhook_deliveries_due').on('webhook_deliveries').columns(['state', 'next_at']).execute();
    await db.schema.createIndex('webhook_deliveries_by_event').on('webhook_deliveries').column('event_id').execute();

    await db.schema
      .createTable('webhook_attempts')
      .addColumn('id', serialType(db), serialId(db))
      .addColumn('delivery_id', 'bigint', (c) => c.notNull().references('webhook_deliveries.id').onDelete('cascade'))
      .addColumn('webhook_id', 'varchar(64)', (c) => c.notNull())
      .addColumn('event_id', 'bigint', (c) => c.notNull())
      .addColumn('attempt', 'integer', (c) => c.notNull())
      .addColumn('at', 'varchar(40)', (c) => c.notNull())
      .addColumn('status_code', 'integer')
      .addColumn('latency_ms', 'integer', (c) => c.notNull())
      .addColumn('error', 'varchar(500)')
      .execute();
    await db.schema.createIndex('webhook_attempts_by_webhook').on('webhook_attempts').columns(['webhook_id', 'id']).execute();
    await db.schema.createIndex('webhook_attempts_by_delivery').on('webhook_attempts').column('delivery_id').execute();

    await db.schema
      .createTable('quota_alerts')
      .addColumn('customer_id', 'varchar(64)', (c) => c.notNull())
      .addColumn('period_key', 'varchar(24)', (c) => c.notNull())
      .addColumn('quota_bytes', 'bigint', (c) => c.notNull())
      .addColumn('level', 'integer', (c) => c.notNull())
      .addColumn('at', 'varchar(40)', (c) => c.notNull())
      .addPrimaryKeyConstraint('quota_alerts_pk', ['customer_id', 'period_key', 'quota_bytes', 'level'])
      .execute();
  },
  async down(db: AnyDb) {
    for (const t of ['quota_alerts', 'webhook_attempts', 'webhook_deliveries', 'webhooks', 'outbox']) await db.schema.dropTable(t).ifExists().execute();
  },
};

/**
 * Self-service (issue 16): customers' notices (failover and its end), the failover state
 * each notice is a transition of (one row per customer port while it is replaced), what
 * each ingress last reported of its exits' health, the exits an operator grants a customer
 * to order on their own ports, and the customer's opt-in to the X-Hopgate-Exit header.
 */
const selfServiceNotices: Migration = {
  async up(db: AnyDb) {
    await db.schema
      .createTable('notices')
      .addColumn('id', 'varchar(40)', (c) => c.primaryKey())
      .addColumn('customer_id', 'varchar(64)', (c) => c.notNull().references('customers.id').onDelete('cascade'))
      .addColumn('kind', 'varchar(32)', (c) => c.notNull())
      .addColumn('port', 'integer')
      .addColumn('port_label', 'varchar(64)')
      .addColumn('exit_id', 'varchar(128)')
      .addColumn('replacement_id', 'varchar(128)')
      .addColumn('reason', 'varchar(32)')
      .addColumn('message', 'varchar(1000)', (c) => c.notNull())
      .addColumn('repeats', 'integer', (c) => c.notNull().defaultTo(0))
      .addColumn('created_at', 'varchar(40)', (c) => c.notNull())
      .addColumn('updated_at', 'varchar(40)', (c) => c.notNull())
      .addColumn('read_at', 'varchar(40)')
      .execute();
    await db.schema.createIndex('notices_customer_created').on('notices').columns(['customer_id', 'created_at']).execute();
    await db.schema
      .createTable('port_failover')
      .addColumn('customer_id', 'varchar(64)', (c) => c.notNull().references('customers.id').onDelete('cascade'))
      .addColumn('port_label', 'varchar(64)', (c) => c.notNull())
      .addColumn('exit_id', 'varchar(128)', (c) => c.notNull())
      .addColumn('replacement_id', 'varchar(128)')
      .addColumn('reason', 'varchar(32)', (c) => c.notNull())
      .addColumn('active', 'integer', (c) => c.notNull())
      .addColumn('since', 'varchar(40)', (c) => c.notNull())
      .addColumn('last_notice_id', 'varchar(40)')
      .addColumn('last_notice_at', 'varchar(40)')
      .addPrimaryKeyConstraint('port_failover_pk', ['customer_id', 'port_label'])
      .execute();
    await db.schema
      .createTable('node_exit_health')
      .addColumn('node_id', 'varchar(128)', (c) => c.primaryKey())
      .addColumn('down', 'text', (c) => c.notNull())
      .addColumn('reported_at', 'varchar(40)', (c) => c.notNull())
      .execute();
    await db.schema.alterTable('customers').addColumn('exit_grant', 'text').execute();
    await db.schema.alterTable('customers').addColumn('exit_header', 'integer', (c) => c.notNull().defaultTo(0)).execute();
  },
  async down(db: AnyDb) {
    await db.schema.alterTable('customers').dropColumn('exit_header').execute();
    await db.schema.alterTable('customers').dropColumn('exit_grant').execute();
    await db.schema.dropTable('node_exit_health').execute();
    await db.schema.dropTable('port_failover').execute();
    await db.schema.dropTable('notices').execute();
  },
};

/**
 * Events to NATS JetStream (issue 16, docs/EVENTS.md): each outbox event is
 * published once acked (js_published = 1); js_next_at is the claiming
 * replica's lease, as next_at is for webhook deliveries.
 */
const jetstream: Migration = {
  async up(db: AnyDb) {
    await db.schema.alterTable('outbox').addColumn('js_published', 'integer', (c) => c.notNull().defaultTo(0)).execute();
    await db.schema.alterTable('outbox').addColumn('js_next_at', 'bigint', (c) => c.notNull().defaultTo(0)).execute();
    await db.schema.createIndex('outbox_js_unpublished').on('outbox').columns(['js_published', 'id']).execute();
  },
  async down(db: AnyDb) {
    await db.schema.dropIndex('outbox_js_unpublished').execute();
    await db.schema.alterTable('outbox').dropColumn('js_next_at').execute();
    await db.schema.alterTable('outbox').dropColumn('js_published').execute();
  },
};

/**
 * Exit health history (issue 16, docs/CONTROL.md "Exit health history"): each node's up/down
 * transitions per exit, its probes per exit and minute, and its latest probe per exit.
 */
const exitHealthHistory: Migration = {
  async up(db: AnyDb) {
    await db.schema
      .createTable('exit_health_transitions')
      .addColumn('id', 'varchar(40)', (c) => c.primaryKey())
      .addColumn('exit_id', 'varchar(128)', (c) => c.notNull())
      .addColumn('node_id', 'varchar(128)', (c) => c.notNull())
      .addColumn('from_state', 'varchar(8)', (c) => c.notNull())
      .addColumn('to_state', 'varchar(8)', (c) => c.notNull())
      .addColumn('at', 'varchar(40)', (c) => c.notNull())
      .addColumn('reason', 'varchar(200)', (c) => c.notNull())
      .execute();
    await db.schema.createIndex('exit_health_transitions_exit_at').on('exit_health_transitions').columns(['exit_id', 'at']).execute();
    await db.schema.createIndex('exit_health_transitions_at').on('exit_health_transitions').column('at').execute();
    await db.schema
      .createTable('exit_probe_minutes')
      .addColumn('exit_id', 'varchar(128)', (c) => c.notNull())
      .addColumn('node_id', 'varchar(128)', (c) => c.notNull())
      .addColumn('minute', 'varchar(16)', (c) => c.notNull())
      .addColumn('probes_ok', 'integer', (c) => c.notNull())
      .addColumn('probes_failed', 'integer', (c) => c.notNull())
      .addColumn('latency_ms_sum', 'double precision', (c) => c.notNull())
      .addPrimaryKeyConstraint('exit_probe_minutes_pk', ['exit_id', 'minute', 'node_id'])
      .execute();
    await db.schema.createIndex('exit_probe_minutes_minute').on('exit_probe_minutes').column('minute').execute();
    await db.schema.alterTable('node_exit_health').addColumn('last_probes', 'text').execute();
  },
  async down(db: AnyDb) {
    await db.schema.alterTable('node_exit_health').dropColumn('last_probes').execute();
    await db.schema.dropTable('exit_probe_minutes').execute();
    await db.schema.dropTable('exit_health_transitions').execute();
  },
};

/**
 * Change messages in over JetStream (docs/EVENTS.md "Change messages in"): one
 * row per request key (its Nats-Msg-Id), claimed before the operation runs and
 * holding the answer after, so a redelivered or duplicated request is answered
 * from here instead of applied again — on every replica (the key is the primary key).
 */
const jetstreamRequests: Migration = {
  async up(db: AnyDb) {
    await db.schema
      .createTable('jetstream_requests')
      .addColumn('msg_id', 'varchar(256)', (c) => c.primaryKey())
      .addColumn('operation', 'varchar(64)', (c) => c.notNull())
      .addColumn('state', 'varchar(8)', (c) => c.notNull())
      .addColumn('answer', 'text')
      .addColumn('claimed_at', 'bigint', (c) => c.notNull())
      .addColumn('done_at', 'bigint')
      .execute();
    await db.schema.createIndex('jetstream_requests_done').on('jetstream_requests').columns(['done_at']).execute();
  },
  async down(db: AnyDb) {
    await db.schema.dropTable('jetstream_requests').execute();
  },
};

/** Append only. Names sort in application order. */
export const MIGRATIONS: Readonly<Record<string, Migration>> = Object.freeze({
  '0001_foundation': foundation,
  '0002_stream_stats': streamStats,
  '0003_reverse_exits': reverseExits,
  '0004_exit_egress_ip6': exitEgress6,
  '0005_outbox_webhooks': outboxWebhooks,
  '0006_self_service_notices': selfServiceNotices,
  '0007_jetstream': jetstream,
  '0008_exit_health_history': exitHealthHistory,
  '0009_login_domain_stats': loginDomainStats,
  '0010_jetstream_requests': jetstreamRequests,
  '0011_link_keys': linkKeys,
});

export interface MigrationReport {
  /** Migrations applied by this call, in order. */
  readonly applied: string[];
  readonly ms: number;
}

/** Bring the database up to the latest migration. Safe to run concurrently (Kysely's lock table). */
export async function migrateToLatest(cdb: ControlDb): Promise<MigrationReport> {
  const started = performance.now();
  const migrator = new Migrator({
    db: cdb.db,
    provider: { getMigrations: async () => ({ ...MIGRATIONS }) },
    migrationTableName: MIGRATION_TABLE,
    migrationLockTableName: MIGRATION_LOCK_TABLE,
    // PostgreSQL: pin the schema, or the migrator would see another schema's tables.
    ...(cdb.target.dialect === 'postgres' ? { migrationTableSchema: cdb.target.schema ?? 'public' } : {}),
  });
  const { error, results } = await migrator.migrateToLatest();
  if (error) {
    const failed = results?.find((r) => r.status === 'Error')?.migrationName;
    throw new Error(`database migration${failed ? ` ${failed}` : ''} failed: ${error instanceof Error ? error.message : inspect(error)}`, { cause: error });
  }
  return { applied: (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName), ms: performance.now() - started };
}
