/**
 * Databases for the control-plane tests: a temporary SQLite file, and a fresh
 * schema on the machine's PostgreSQL (dropped afterwards, so parallel runs do
 * not collide). PostgreSQL URL: HOPGATE_TEST_PG_URL, default
 * postgres://postgres@127.0.0.1:5432/test.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import pg from 'pg';

export const PG_URL = process.env.HOPGATE_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

/** Why PostgreSQL cannot be used, or undefined when it can. */
export async function pgUnavailable(): Promise<string | undefined> {
  const c = new pg.Client({ connectionString: PG_URL, connectionTimeoutMillis: 2000 });
  try {
    await c.connect();
    await c.query('select 1');
    return undefined;
  } catch (err) {
    return `PostgreSQL at ${PG_URL} is unreachable (${(err as Error).message}); set HOPGATE_TEST_PG_URL`;
  } finally {
    await c.end().catch(() => undefined);
  }
}

export interface TestDb {
  /** What `--db` takes. */
  readonly spec: string;
  readonly dialect: 'sqlite' | 'postgres';
  /** Run SQL straight against the database (checks on stored rows). */
  query<T = Record<string, unknown>>(text: string, params?: unknown[]): Promise<T[]>;
  /** Change stored rows behind the control plane's back (data written before a rule existed). */
  write(text: string, params?: unknown[]): Promise<void>;
  cleanup(): Promise<void>;
}

export async function sqliteDb(): Promise<TestDb> {
  const dir = mkdtempSync(join(tmpdir(), 'hopgate-control-'));
  const file = join(dir, 'control.sqlite');
  const { default: Database } = await import('better-sqlite3');
  return {
    spec: `sqlite:${file}`,
    dialect: 'sqlite',
    async query<T>(text: string, params: unknown[] = []) {
      const db = new Database(file, { readonly: true });
      try {
        return db.prepare(text.replace(/\$\d+/g, '?')).all(...params) as T[];
      } finally {
        db.close();
      }
    },
    async write(text: string, params: unknown[] = []) {
      const db = new Database(file);
      try {
        db.prepare(text.replace(/\$\d+/g, '?')).run(...params);
      } finally {
        db.close();
      }
    },
    async cleanup() {
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export async function postgresDb(): Promise<TestDb> {
  const schema = `hg_test_${randomBytes(6).toString('hex')}`;
  const url = new URL(PG_URL);
  url.searchParams.set('schema', schema);
  const run = async <T>(text: string, params: unknown[] = [], searchPath = true): Promise<T[]> => {
    const c = new pg.Client({ connectionString: PG_URL, connectionTimeoutMillis: 10_000 });
    await c.connect();
    try {
      if (searchPath) await c.query(`SET search_path TO "${schema}"`);
      return (await c.query(text, params)).rows as T[];
    } finally {
      await c.end();
    }
  };
  return {
    spec: url.toString(),
    dialect: 'postgres',
    query: (text, params) => run(text, params),
    write: async (text, params) => void (await run(text, params)),
    cleanup: () => dropSchema(schema),
  };
}

/**
 * DROP SCHEMA … CASCADE waits for every lock on the schema's tables, by default without end: a session
 * a test left behind inside a transaction (a replica killed mid-query, a forwarder cut) holds one, and
 * an `after` hook sat there for minutes (control-pg-outage, 398 s). The schema's name is this run's own,
 * so every session holding a lock in it is too: ended first; the wait is bounded (lock_timeout), and a
 * session that took a lock meanwhile is ended on the next of three tries, after which the error stands.
 */
async function dropSchema(schema: string): Promise<void> {
  const c = new pg.Client({ connectionString: PG_URL, connectionTimeoutMillis: 10_000 });
  c.on('error', () => undefined); // a dropped connection fails the query in flight
  await c.connect();
  try {
    await c.query(`SET lock_timeout = '10s'`);
    for (let attempt = 1; ; attempt++) {
      await c.query(
        `SELECT pg_terminate_backend(l.pid) FROM pg_locks l JOIN pg_class r ON r.oid = l.relation JOIN pg_namespace n ON n.oid = r.relnamespace
         WHERE n.nspname = $1 AND l.pid <> pg_backend_pid()`,
        [schema],
      );
      try {
        await c.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
        return;
      } catch (err) {
        if ((err as { code?: string }).code !== '55P03' || attempt >= 3) throw err; // 55P03: lock_not_available
      }
    }
  } finally {
    await c.end().catch(() => undefined);
  }
}

export interface DialectCase {
  readonly name: 'sqlite' | 'postgres';
  readonly skip: string | false;
  make(): Promise<TestDb>;
}

/** The same suite runs once per entry; PostgreSQL is skipped, saying why, only when unreachable. */
export async function dialects(): Promise<DialectCase[]> {
  const why = await pgUnavailable();
  // CI has PostgreSQL (.ci/run makes sure): there, an unreachable server is a failure, not a skip.
  if (why && process.env.HOPGATE_REQUIRE_PG === '1') throw new Error(why);
  return [
    { name: 'sqlite', skip: false, make: sqliteDb },
    { name: 'postgres', skip: why ?? false, make: postgresDb },
  ];
}

/** Cheap scrypt for tests (still the `$scrypt$` format the ingress accepts). */
export const TEST_COST = { ln: 10, r: 8, p: 1 };

export function tempDir(prefix = 'hopgate-control-state-'): { path: string; remove(): void } {
  const path = mkdtempSync(join(tmpdir(), prefix));
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}

export type AuthApi = (method: string, path: string, authorization: string, body?: unknown) => Promise<{ status: number; body: any }>;

/** One JSON API call with the given Authorization header; the body parsed when there is one. */
export function authApi(base: string): AuthApi {
  return async (method, path, authorization, body) => {
    const res = await fetch(base + path, {
      method,
      headers: { authorization, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : undefined };
  };
}

export const basicAuth = (login: string, password: string): string => `Basic ${Buffer.from(`${login}:${password}`).toString('base64')}`;
