import { test } from 'node:test';
import assert from 'node:assert/strict';
import { asDbUnavailable, DbUnavailableError, isSqliteBusy } from './db-unavailable.js';

const withCode = (code: string, message = 'x'): Error => Object.assign(new Error(message), { code });

test('SQLite busy is "locked", retry after 1 s; other SQLite errors are not unavailability', () => {
  assert.ok(isSqliteBusy(withCode('SQLITE_BUSY')));
  assert.ok(isSqliteBusy(withCode('SQLITE_BUSY_SNAPSHOT')));
  assert.equal(isSqliteBusy(withCode('SQLITE_CONSTRAINT_UNIQUE')), false);
  const e = asDbUnavailable(withCode('SQLITE_BUSY', 'database is locked'));
  assert.equal(e?.reason, 'locked');
  assert.equal(e?.retryAfterSeconds, 1);
  assert.equal(asDbUnavailable(withCode('SQLITE_CONSTRAINT_UNIQUE')), undefined);
  assert.equal(asDbUnavailable(withCode('SQLITE_ERROR', 'no such table')), undefined);
});

test('PostgreSQL gone, restarting or refusing is "unreachable"; query errors are not', () => {
  for (const code of ['ECONNREFUSED', 'ECONNRESET', '57P01', '57P03', '08006', '53300']) {
    assert.equal(asDbUnavailable(withCode(code))?.reason, 'unreachable', code);
  }
  for (const message of ['Connection terminated unexpectedly', 'timeout exceeded when trying to connect', 'Client has encountered a connection error and is not queryable']) {
    assert.equal(asDbUnavailable(new Error(message))?.reason, 'unreachable', message);
  }
  // A unique violation, a syntax error, a serialization failure: real answers from a working database.
  for (const code of ['23505', '42601', '40001']) assert.equal(asDbUnavailable(withCode(code)), undefined, code);
  assert.equal(asDbUnavailable(new Error('something else')), undefined);
  assert.equal(asDbUnavailable(undefined), undefined);
  assert.equal(asDbUnavailable('text'), undefined);
  const same = new DbUnavailableError('unreachable', 'y');
  assert.equal(asDbUnavailable(same), same);
});
