/**
 * Kysely's SQLite driver, made safe against a file locked by another process.
 * better-sqlite3 is synchronous: with a busy_timeout, a locked file would
 * stall the whole event loop. So busy_timeout is 0, SQLITE_BUSY comes back at
 * once, and the wait happens here, asynchronously, with backoff, up to a bound.
 *
 * Write transactions begin IMMEDIATE: they take the write lock before running
 * anything, so the only statement that can meet a lock is the BEGIN itself and
 * retrying it retries the transaction whole. Read-only transactions (`accessMode
 * 'read only'`) begin DEFERRED: WAL readers never wait for a writer. Between
 * attempts the connection is released, so other queries (reads, /healthz) run.
 */
import type Database from 'better-sqlite3';
import { CompiledQuery, SqliteDialect, SqliteDriver, type DatabaseConnection, type Driver, type QueryResult, type TransactionSettings } from 'kysely';
import { backoffDelay, type BackoffPolicy } from '../shared/backoff.js';
import { DbUnavailableError, isSqliteBusy } from './db-unavailable.js';

export class WaitingSqliteDialect extends SqliteDialect {
  constructor(
    private readonly sqlite: Database.Database,
    private readonly waitMs: number,
  ) {
    super({ database: sqlite });
  }

  override createDriver(): Driver {
    return new WaitingSqliteDriver(this.sqlite, this.waitMs);
  }
}

/** 2, 4, 8 … 100 ms, jittered down to half so waiting writers do not retry in step. */
const BUSY_BACKOFF: BackoffPolicy = { baseMs: 2, maxMs: 100, jitter: 0.5 };

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

class WaitingSqliteDriver extends SqliteDriver {
  private wrapped: DatabaseConnection | undefined;

  constructor(
    private readonly sqlite: Database.Database,
    private readonly waitMs: number,
  ) {
    super({ database: sqlite });
  }

  override async acquireConnection(): Promise<DatabaseConnection> {
    const inner = await super.acquireConnection();
    this.wrapped ??= {
      executeQuery: <R>(q: CompiledQuery): Promise<QueryResult<R>> => this.executeWaiting(inner, q),
      streamQuery: <R>(q: CompiledQuery, chunkSize?: number): AsyncIterableIterator<QueryResult<R>> => inner.streamQuery<R>(q, chunkSize),
    };
    return this.wrapped;
  }

  override async beginTransaction(connection: DatabaseConnection, settings?: TransactionSettings): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw(settings?.accessMode === 'read only' ? 'begin deferred' : 'begin immediate'));
  }

  /** Run one statement; on SQLITE_BUSY outside a transaction, let go of the connection, wait, and run it again. */
  private async executeWaiting<R>(inner: DatabaseConnection, q: CompiledQuery): Promise<QueryResult<R>> {
    const deadline = performance.now() + this.waitMs;
    for (let attempt = 0; ; attempt++) {
      try {
        return await inner.executeQuery<R>(q);
      } catch (err) {
        if (!isSqliteBusy(err)) throw err;
        const left = deadline - performance.now();
        // Inside a transaction only the whole transaction may be retried: give up, the caller rolls back.
        if (this.sqlite.inTransaction || left <= 0) {
          throw new DbUnavailableError('locked', `the database file is locked by another process (waited ${this.sqlite.inTransaction ? 0 : this.waitMs} ms)`, { cause: err });
        }
        const backoff = backoffDelay(attempt, BUSY_BACKOFF);
        await this.releaseConnection();
        try {
          await sleep(Math.min(backoff, left));
        } finally {
          await super.acquireConnection();
        }
      }
    }
  }
}
