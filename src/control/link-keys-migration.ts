/** Migration 0011_link_keys (migrations.ts keeps the order): kept apart as migrations.ts is long. */
import type { Kysely, Migration } from 'kysely';

// Migrations run against a database whose shape they create: `any` on purpose.
/* eslint-disable @typescript-eslint/no-explicit-any */
type AnyDb = Kysely<any>;

/**
 * Link keys (issue 19, docs/EXITS.md "Link keys"): a hopgate exit's link port and pinned
 * certificate fingerprints (current, and the next one during a rotation), a reverse exit's
 * pins, the token a hopgate exit reads the ingresses' pins with (sha256), and each ingress
 * node's link fingerprints as it reported them.
 */
export const linkKeys: Migration = {
  async up(db: AnyDb) {
    await db.schema.alterTable('exits').addColumn('link_port', 'integer').execute();
    await db.schema.alterTable('exits').addColumn('link_fingerprint', 'varchar(100)').execute();
    await db.schema.alterTable('exits').addColumn('link_next_fingerprint', 'varchar(100)').execute();
    await db.schema.alterTable('exits').addColumn('link_token_hash', 'varchar(64)').execute();
    await db.schema.createIndex('exits_link_token').on('exits').column('link_token_hash').execute();
    await db.schema.alterTable('ingress_nodes').addColumn('link_fingerprint', 'varchar(100)').execute();
    await db.schema.alterTable('ingress_nodes').addColumn('link_next_fingerprint', 'varchar(100)').execute();
    await db.schema.alterTable('ingress_nodes').addColumn('link_reported_at', 'varchar(40)').execute();
  },
  async down(db: AnyDb) {
    for (const c of ['link_reported_at', 'link_next_fingerprint', 'link_fingerprint']) await db.schema.alterTable('ingress_nodes').dropColumn(c).execute();
    await db.schema.dropIndex('exits_link_token').execute();
    for (const c of ['link_token_hash', 'link_next_fingerprint', 'link_fingerprint', 'link_port']) await db.schema.alterTable('exits').dropColumn(c).execute();
  },
};
