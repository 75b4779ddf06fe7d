/**
 * PostgreSQL: a control plane migrating its schema while other schemas of the
 * same database are dropped (every test suite drops its own at its end; an
 * operator may drop another tenant's). Kysely's migrator introspected every
 * table of every schema (has_schema_privilege and pg_get_serial_sequence by
 * name), so a schema dropped between its catalog scan and those lookups
 * failed the migration with `schema "<the other one>" does not exist`.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { PG_URL, pgUnavailable, postgresDb } from '../helpers/control-fixtures.js';
import { openDb, parseDbTarget } from '../../src/control/db.js';
import { migrateToLatest } from '../../src/control/migrations.js';

const why = await pgUnavailable();
if (why && process.env.HOPGATE_REQUIRE_PG === '1') throw new Error(why);

test('migrations are untouched by other schemas dropped meanwhile', { skip: why ?? false }, async () => {
  const tdb = await postgresDb();
  const admin = new pg.Client({ connectionString: PG_URL });
  await admin.connect();
  const others = Array.from({ length: 40 }, (_, i) => `hg_drop_${process.pid}_${i}`);
  try {
    for (const s of others) await admin.query(`CREATE SCHEMA "${s}"; CREATE TABLE "${s}".t (id serial primary key, a text, b text)`);
    const cdb = await openDb(parseDbTarget(tdb.spec));
    try {
      await migrateToLatest(cdb); // the tables exist: later runs only check (and introspect)
      let dropping = true;
      const dropper = (async () => {
        try {
          for (const s of others) await admin.query(`DROP SCHEMA "${s}" CASCADE`);
        } finally {
          dropping = false;
        }
      })();
      const failures: string[] = [];
      let runs = 0;
      // Bounded by the 40 drops (each a few ms); the migrations run back to back meanwhile.
      while (dropping) {
        runs++;
        await migrateToLatest(cdb).catch((err: unknown) => failures.push((err as Error).message));
      }
      await dropper;
      assert.ok(runs > 0);
      assert.deepEqual(failures, [], `${failures.length} of ${runs} migrations failed`);
    } finally {
      await cdb.close();
    }
  } finally {
    for (const s of others) await admin.query(`DROP SCHEMA IF EXISTS "${s}" CASCADE`);
    await admin.end();
    await tdb.cleanup();
  }
});
