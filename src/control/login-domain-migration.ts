/**
 * Migration 0009 (issue 16): login outcomes per customer, source prefix and
 * minute, and traffic per customer, target domain and minute, as the
 * ingresses' statistics pulls bring them (store/login-domain-stats.ts).
 * Summed across ingresses (no node column): each ingress bounds its own rows
 * per minute, so a minute holds at most that bound times the ingresses.
 */
import type { Kysely, Migration } from 'kysely';

// Migrations run against a database whose shape they create: `any` on purpose.
/* eslint-disable @typescript-eslint/no-explicit-any */
export const loginDomainStats: Migration = {
  async up(db: Kysely<any>) {
    await db.schema
      .createTable('login_minute')
      .addColumn('minute', 'varchar(16)', (c) => c.notNull())
      // '' for attempts naming no existing customer; `login:NAME` for one deleted since.
      .addColumn('customer_id', 'varchar(80)', (c) => c.notNull())
      .addColumn('login', 'varchar(64)', (c) => c.notNull())
      .addColumn('prefix', 'varchar(64)', (c) => c.notNull())
      .addColumn('outcome', 'varchar(24)', (c) => c.notNull())
      .addColumn('count', 'bigint', (c) => c.notNull())
      .addPrimaryKeyConstraint('login_minute_pk', ['minute', 'customer_id', 'prefix', 'outcome'])
      .execute();
    await db.schema.createIndex('login_minute_by_customer').on('login_minute').columns(['customer_id', 'minute']).execute();
    await db.schema
      .createTable('domain_minute')
      .addColumn('minute', 'varchar(16)', (c) => c.notNull())
      .addColumn('customer_id', 'varchar(80)', (c) => c.notNull())
      .addColumn('login', 'varchar(64)', (c) => c.notNull())
      .addColumn('domain', 'varchar(256)', (c) => c.notNull())
      .addColumn('bytes_up', 'bigint', (c) => c.notNull())
      .addColumn('bytes_down', 'bigint', (c) => c.notNull())
      .addColumn('connections', 'bigint', (c) => c.notNull())
      .addPrimaryKeyConstraint('domain_minute_pk', ['minute', 'customer_id', 'domain'])
      .execute();
    await db.schema.createIndex('domain_minute_by_customer').on('domain_minute').columns(['customer_id', 'minute']).execute();
  },
  async down(db: Kysely<any>) {
    await db.schema.dropTable('domain_minute').ifExists().execute();
    await db.schema.dropTable('login_minute').ifExists().execute();
  },
};
