/**
 * The PostgreSQL test database's cleanup is bounded (issue 15, item 5): control-pg-outage once sat
 * 398 s in its `after` hook. DROP SCHEMA … CASCADE waits, by default without end, for every lock on
 * the schema's tables; a session a test left behind inside a transaction (a replica killed mid-query,
 * a forwarder cut) holds one. The schema is this test's own (random name), so such a session is too.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { PG_URL, dialects } from '../helpers/control-fixtures.js';

const pgCase = (await dialects()).find((d) => d.name === 'postgres')!;

test('cleanup drops the schema though a session left behind holds a lock on one of its tables', { skip: pgCase.skip, timeout: 30_000 }, async () => {
  const tdb = await pgCase.make();
  const schema = new URL(tdb.spec).searchParams.get('schema')!;
  const left = new pg.Client({ connectionString: PG_URL });
  left.on('error', () => undefined); // its session is ended by the cleanup
  await left.connect();
  try {
    await left.query(`CREATE SCHEMA "${schema}"`);
    await left.query(`CREATE TABLE "${schema}".t (x int)`);
    await left.query('BEGIN');
    await left.query(`SELECT * FROM "${schema}".t`); // holds ACCESS SHARE on t until the transaction ends: never
    const t0 = Date.now();
    await tdb.cleanup();
    process.stdout.write(`# cleanup took ${Date.now() - t0} ms\n`);
    const c = new pg.Client({ connectionString: PG_URL });
    await c.connect();
    try {
      const { rows } = await c.query<{ n: number }>('SELECT count(*)::int AS n FROM pg_namespace WHERE nspname = $1', [schema]);
      assert.equal(rows[0]!.n, 0, 'the schema is gone');
    } finally {
      await c.end();
    }
  } finally {
    await left.end().catch(() => undefined);
  }
});
