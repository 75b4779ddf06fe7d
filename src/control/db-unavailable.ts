/**
 * "The database cannot answer right now": a SQLite file locked by another
 * process past the wait bound, or PostgreSQL unreachable (refused, reset,
 * restarting). The API answers these 503 + Retry-After, never 500.
 */
export type UnavailableReason = 'locked' | 'unreachable';

export class DbUnavailableError extends Error {
  override readonly name = 'DbUnavailableError';
  constructor(
    readonly reason: UnavailableReason,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }

  /** Seconds a client should wait before trying again. */
  get retryAfterSeconds(): number {
    return this.reason === 'locked' ? 1 : 2;
  }
}

/** SQLite's "someone else holds the lock" (busy_timeout is 0: it answers at once). */
export function isSqliteBusy(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && (code === 'SQLITE_BUSY' || code.startsWith('SQLITE_BUSY_'));
}

// SQLSTATE classes/codes meaning "no usable server right now": connection exceptions, shutting down, starting up, too many connections.
const PG_UNAVAILABLE_STATES = new Set(['57P01', '57P02', '57P03', '53300']);
const NET_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN', 'ENOTFOUND', 'ECONNABORTED']);
// pg's own errors carry no code; these are its wordings for a dead or never-made connection.
const PG_CONNECTION_MESSAGES = /Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error|Client was closed|is not queryable|Connection ended/;

/** The same error as a DbUnavailableError when it means "database unavailable", else undefined. */
export function asDbUnavailable(err: unknown): DbUnavailableError | undefined {
  if (err instanceof DbUnavailableError) return err;
  if (err === null || typeof err !== 'object') return undefined;
  const { code, message } = err as { code?: unknown; message?: unknown };
  const text = typeof message === 'string' ? message : '';
  if (isSqliteBusy(err) || code === 'SQLITE_LOCKED') return new DbUnavailableError('locked', `the database is locked (${text})`, { cause: err });
  if (typeof code === 'string' && (code.startsWith('08') || PG_UNAVAILABLE_STATES.has(code) || NET_CODES.has(code))) {
    return new DbUnavailableError('unreachable', `the database is unreachable (${text || code})`, { cause: err });
  }
  if (PG_CONNECTION_MESSAGES.test(text)) return new DbUnavailableError('unreachable', `the database is unreachable (${text})`, { cause: err });
  return undefined;
}
