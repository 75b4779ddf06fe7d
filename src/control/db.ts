/**
 * The control plane's database: one Kysely instance over either an embedded
 * SQLite file (better-sqlite3) or PostgreSQL (pg). Everything above this file
 * is dialect-neutral; the few differences (error codes, isolation) live here.
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import Database from 'better-sqlite3';
import { CompiledQuery, Kysely, PostgresDialect, sql, type DatabaseIntrospector, type DatabaseMetadata, type PostgresDialectConfig, type SchemaMetadata, type TableMetadata } from 'kysely';
import type { DB } from './tables.js';
import { WaitingSqliteDialect } from './sqlite-driver.js';

export type Dialect = 'sqlite' | 'postgres';

export interface DbTarget {
  readonly dialect: Dialect;
  /** SQLite: absolute file path (or ':memory:'). PostgreSQL: the connection URL without `schema`. */
  readonly location: string;
  /** PostgreSQL schema holding every table (created if missing); default `public`. */
  readonly schema?: string;
}

const INT8_OID = 20;
const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

/**
 * `sqlite:PATH`, a bare path, `postgres://…` / `postgresql://…`. A `schema`
 * query parameter on a PostgreSQL URL selects the schema (tests use one per run).
 */
export function parseDbTarget(spec: string): DbTarget {
  if (/^postgres(ql)?:\/\//.test(spec)) {
    const url = new URL(spec);
    const schema = url.searchParams.get('schema') ?? undefined;
    url.searchParams.delete('schema');
    if (schema !== undefined && !SCHEMA_NAME.test(schema)) throw new Error(`--db: schema '${schema}' must match ${SCHEMA_NAME}`);
    return { dialect: 'postgres', location: url.toString(), ...(schema ? { schema } : {}) };
  }
  const path = spec.startsWith('sqlite:') ? spec.slice('sqlite:'.length) : spec;
  if (path === '') throw new Error('--db: sqlite:PATH needs a path');
  return { dialect: 'sqlite', location: path === ':memory:' ? path : resolve(path) };
}

export function describeTarget(t: DbTarget): string {
  if (t.dialect === 'sqlite') return `sqlite ${t.location}`;
  const u = new URL(t.location);
  if (u.password) u.password = '***';
  return `postgres ${u.toString()}${t.schema ? ` (schema ${t.schema})` : ''}`;
}

export interface ControlDb {
  readonly db: Kysely<DB>;
  readonly target: DbTarget;
  /** How long a statement waits for a locked or unreachable database (OpenDbOptions.waitMs). */
  readonly waitMs: number;
  close(): Promise<void>;
}

export interface OpenDbOptions {
  /** How long a statement waits for a SQLite file locked by another process, and for a PostgreSQL connection, before failing as unavailable (default 2000 ms). */
  readonly waitMs?: number;
  /** Where pool-level PostgreSQL errors (a dropped idle connection) are reported; they must never go unhandled. */
  readonly onPoolError?: (err: Error) => void;
}

export const DEFAULT_DB_WAIT_MS = 2000;

export async function openDb(target: DbTarget, o: OpenDbOptions = {}): Promise<ControlDb> {
  const waitMs = o.waitMs ?? DEFAULT_DB_WAIT_MS;
  if (target.dialect === 'sqlite') {
    if (target.location !== ':memory:') {
      mkdirSync(dirname(target.location), { recursive: true, mode: 0o700 });
      // It holds forward exits' upstream passwords: owner only. SQLite gives its -wal and -shm the same mode.
      if (!existsSync(target.location)) writeFileSync(target.location, '', { mode: 0o600, flag: 'wx' });
    }
    const sqlite = new Database(target.location);
    // Opening may block briefly on another process (nothing is served yet); from then on nothing may.
    sqlite.pragma('busy_timeout = 5000');
    sqlite.pragma('journal_mode = WAL');
    sqlite.pragma('foreign_keys = ON');
    sqlite.pragma('synchronous = NORMAL');
    // A busy_timeout would block the event loop (better-sqlite3 is synchronous): the driver waits asynchronously instead.
    sqlite.pragma('busy_timeout = 0');
    const db = new Kysely<DB>({ dialect: new WaitingSqliteDialect(sqlite, waitMs) });
    return { db, target, waitMs, close: () => db.destroy() };
  }
  // Loaded here, not at the top: the SQLite control plane (most starts, every `hopgate up`) never needs pg (~0.1 s of CPU to load).
  const { default: pg } = await import('pg');
  const schema = target.schema ?? 'public';
  // Make the schema before the pool sets search_path to it.
  const boot = new pg.Client({ connectionString: target.location, connectionTimeoutMillis: Math.max(waitMs, 5000) });
  await boot.connect();
  try {
    await boot.query(`CREATE SCHEMA IF NOT EXISTS "${schema}"`);
  } catch (err) {
    // Two processes starting together can both try to create it.
    const code = (err as { code?: string }).code;
    if (code !== '23505' && code !== '42P06') throw err;
  } finally {
    await boot.end();
  }
  const pool = new pg.Pool({
    connectionString: target.location,
    max: 10,
    // During an outage a request fails after this, not when the kernel gives up on the connect.
    connectionTimeoutMillis: waitMs,
    keepAlive: true,
    // bigint columns (revision, byte sizes) as numbers, for this pool only.
    types: { getTypeParser: ((oid: number, format?: 'text' | 'binary') => (oid === INT8_OID ? Number : (pg.types.getTypeParser(oid, format) as (value: string) => unknown))) as typeof pg.types.getTypeParser },
  });
  // pg emits 'error' on a pooled client whose connection drops (a PostgreSQL restart): unhandled, that
  // would end the process. The pool drops such a client by itself; the next query opens a fresh one.
  const onPoolError = o.onPoolError ?? ((): void => undefined);
  pool.on('error', onPoolError);
  // A client checked out between two queries has no pool listener: give each one a quiet one (the query
  // in flight, or the next, fails by itself; while idle the pool's listener reports it).
  pool.on('connect', (client) => client.on('error', () => undefined));
  const db = new Kysely<DB>({
    dialect: new OwnSchemaPostgresDialect(schema, {
      pool,
      onCreateConnection: async (conn) => {
        await conn.executeQuery(CompiledQuery.raw(`SET search_path TO "${schema}"`));
      },
    }),
  });
  return { db, target, waitMs, close: () => db.destroy() };
}

/**
 * PostgreSQL with an introspector that sees only `schema`. Kysely's own lists
 * every table of every schema in the database, calling has_schema_privilege and
 * pg_get_serial_sequence by name for each: a schema another process drops
 * meanwhile (a test suite's cleanup, another tenant's) fails that query with
 * `schema "<theirs>" does not exist`, and the migrator (the only user here, on
 * every start) with it.
 */
class OwnSchemaPostgresDialect extends PostgresDialect {
  constructor(
    private readonly schema: string,
    config: PostgresDialectConfig,
  ) {
    super(config);
  }

  override createIntrospector(db: Kysely<unknown>): DatabaseIntrospector {
    return new OwnSchemaIntrospector(db, this.schema);
  }
}

class OwnSchemaIntrospector implements DatabaseIntrospector {
  constructor(
    private readonly db: Kysely<unknown>,
    private readonly schema: string,
  ) {}

  async getSchemas(): Promise<SchemaMetadata[]> {
    const r = await sql<{ name: string }>`select nspname as name from pg_catalog.pg_namespace where nspname = ${this.schema}`.execute(this.db);
    return r.rows;
  }

  /** The schema's tables and views, without columns (the migrator asks only whether its tables exist). */
  async getTables(): Promise<TableMetadata[]> {
    const r = await sql<{ name: string; kind: string }>`
      select c.relname as name, c.relkind as kind from pg_catalog.pg_class c
      join pg_catalog.pg_namespace ns on ns.oid = c.relnamespace
      where ns.nspname = ${this.schema} and c.relkind in ('r', 'p', 'v', 'm', 'f')`.execute(this.db);
    return r.rows.map((t) => ({ name: t.name, schema: this.schema, isView: t.kind === 'v' || t.kind === 'm', columns: [] }));
  }

  async getMetadata(): Promise<DatabaseMetadata> {
    return { tables: await this.getTables() };
  }
}

/** A unique-key violation (duplicate login, exit id…), in either dialect. */
export function isUniqueViolation(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return code === '23505' || code === 'SQLITE_CONSTRAINT_UNIQUE' || code === 'SQLITE_CONSTRAINT_PRIMARYKEY';
}

/** A foreign-key violation, in either dialect. */
export function isForeignKeyViolation(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return code === '23503' || code === 'SQLITE_CONSTRAINT_FOREIGNKEY';
}
