/**
 * The control plane's database: one Kysely instance over either an embedded
 * SQLite file (better-sqlite3) or PostgreSQL (pg). Everything above this file
 * is dialect-neutral; the few differences (error codes, isolation) live here.
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import { CompiledQuery, Kysely, PostgresDialect, SqliteDialect } from 'kysely';
import type { DB } from './tables.js';

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
  close(): Promise<void>;
}

export async function openDb(target: DbTarget): Promise<ControlDb> {
  if (target.dialect === 'sqlite') {
    if (target.location !== ':memory:') {
      mkdirSync(dirname(target.location), { recursive: true, mode: 0o700 });
      // It holds forward exits' upstream passwords: owner only. SQLite gives its -wal and -shm the same mode.
      if (!existsSync(target.location)) writeFileSync(target.location, '', { mode: 0o600, flag: 'wx' });
    }
    const sqlite = new Database(target.location);
    sqlite.pragma('journal_mode = WAL');
    sqlite.pragma('busy_timeout = 5000');
    sqlite.pragma('foreign_keys = ON');
    sqlite.pragma('synchronous = NORMAL');
    const db = new Kysely<DB>({ dialect: new SqliteDialect({ database: sqlite }) });
    return { db, target, close: () => db.destroy() };
  }
  const schema = target.schema ?? 'public';
  // Make the schema before the pool sets search_path to it.
  const boot = new pg.Client({ connectionString: target.location });
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
    // bigint columns (revision, byte sizes) as numbers, for this pool only.
    types: { getTypeParser: ((oid: number, format?: 'text' | 'binary') => (oid === INT8_OID ? Number : (pg.types.getTypeParser(oid, format) as (value: string) => unknown))) as typeof pg.types.getTypeParser },
  });
  const db = new Kysely<DB>({
    dialect: new PostgresDialect({
      pool,
      onCreateConnection: async (conn) => {
        await conn.executeQuery(CompiledQuery.raw(`SET search_path TO "${schema}"`));
      },
    }),
  });
  return { db, target, close: () => db.destroy() };
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
