/**
 * The asset store: customers, their credential and assignment, exits, ingress
 * nodes and settings, over either database. Every change runs in one
 * transaction that also bumps the configuration revision by one and appends
 * what changed to the change log, so "revision N" always names one exact
 * state and "changes since N" is complete (the config stream builds on this).
 * Writes are serialized by the revision row: revisions commit in order.
 */
import { randomBytes } from 'node:crypto';
import type { Kysely, Transaction } from 'kysely';
import { isForeignKeyViolation, isUniqueViolation, openDb, type ControlDb, type DbTarget } from './db.js';
import { migrateToLatest, type MigrationReport } from './migrations.js';
import type { ChangeLogTable, CustomersTable, DB, ExitsTable, IngressNodesTable } from './tables.js';
import { ApiError, notFound } from './errors.js';
import {
  SETTING_KEYS,
  type AssignmentInput,
  type CustomerCreateInput,
  type CustomerPatchInput,
  type CustomerViewT,
  type ExitCreateInput,
  type ExitPatchInput,
  type ExitViewT,
  type NodeViewT,
  type SettingKey,
} from './api-schemas.js';
import type { HopConfig, PlaceConfig } from '../shared/schema/ingress-config.js';

type Tx = Transaction<DB>;
type Entity = ChangeLogTable['entity'];
type Op = ChangeLogTable['op'];

export interface ChangeRecord {
  readonly revision: number;
  readonly seq: number;
  readonly at: string;
  readonly entity: Entity;
  readonly entityId: string;
  readonly op: Op;
  readonly actor: string;
}

/** A customer as the renderer needs it: with the password hash. */
export interface CustomerRecord extends CustomerViewT {
  readonly passwordHash: string | null;
}

/** An exit with its upstream secrets, for rendering. */
export interface ExitRecord extends ExitViewT {
  readonly password: string | null;
  readonly viaFull: HopConfig[];
}

/** Everything the rendered configuration is made of, read in one transaction. */
export interface StoreSnapshot {
  readonly revision: number;
  readonly customers: CustomerRecord[];
  readonly exits: ExitRecord[];
  readonly settings: Partial<Record<SettingKey, unknown>>;
}

const now = (): string => new Date().toISOString();
const json = (v: unknown): string => JSON.stringify(v);

function parseJson<T>(text: string | null, fallback: T): T {
  if (text === null) return fallback;
  return JSON.parse(text) as T;
}

function newId(prefix: string): string {
  return `${prefix}_${randomBytes(8).toString('hex')}`;
}

export class ControlStore {
  private constructor(
    private readonly cdb: ControlDb,
    readonly migration: MigrationReport,
  ) {}

  /** Open the database and apply pending migrations. */
  static async open(target: DbTarget): Promise<ControlStore> {
    const cdb = await openDb(target);
    try {
      const report = await migrateToLatest(cdb);
      return new ControlStore(cdb, report);
    } catch (err) {
      await cdb.close();
      throw err;
    }
  }

  get db(): Kysely<DB> {
    return this.cdb.db;
  }

  get target(): DbTarget {
    return this.cdb.target;
  }

  close(): Promise<void> {
    return this.cdb.close();
  }

  // ---------------------------------------------------------------- revision

  async revision(db: Kysely<DB> = this.db): Promise<number> {
    const row = await db.selectFrom('config_state').select('revision').where('id', '=', 1).executeTakeFirstOrThrow();
    return Number(row.revision);
  }

  async changes(since: number, limit: number): Promise<ChangeRecord[]> {
    const rows = await this.db
      .selectFrom('change_log')
      .selectAll()
      .where('revision', '>', since)
      .orderBy('revision')
      .orderBy('seq')
      .limit(limit)
      .execute();
    return rows.map((r) => ({
      revision: Number(r.revision),
      seq: r.seq,
      at: r.at,
      entity: r.entity,
      entityId: r.entity_id,
      op: r.op,
      actor: r.actor,
    }));
  }

  /**
   * Run `fn` as one change: bump the revision first (which also serializes
   * writers on PostgreSQL), let `fn` write and record what it touched, then
   * append the change-log entries. A throw rolls everything back.
   */
  private async change<T>(actor: string, fn: (trx: Tx, record: (entity: Entity, id: string, op: Op) => void) => Promise<T>): Promise<T> {
    try {
      return await this.db.transaction().execute(async (trx) => {
        const bumped = await trx
          .updateTable('config_state')
          .set((eb) => ({ revision: eb('revision', '+', 1) }))
          .where('id', '=', 1)
          .returning('revision')
          .executeTakeFirstOrThrow();
        const revision = Number(bumped.revision);
        const entries: Array<{ entity: Entity; id: string; op: Op }> = [];
        const value = await fn(trx, (entity, id, op) => entries.push({ entity, id, op }));
        if (entries.length > 0) {
          const at = now();
          await trx
            .insertInto('change_log')
            .values(entries.map((e, seq) => ({ revision, seq, at, entity: e.entity, entity_id: e.id, op: e.op, actor })))
            .execute();
        }
        return value;
      });
    } catch (err) {
      if (err instanceof ApiError) throw err;
      if (isUniqueViolation(err)) throw new ApiError(409, 'conflict', `already exists (${(err as Error).message})`);
      if (isForeignKeyViolation(err)) throw new ApiError(409, 'conflict', `refers to something that does not exist or is in use (${(err as Error).message})`);
      throw err;
    }
  }

  // ---------------------------------------------------------------- customers

  private async customerExits(db: Kysely<DB>, ids?: string[]): Promise<Map<string, string[]>> {
    let q = db.selectFrom('customer_exits').select(['customer_id', 'exit_id']).orderBy('customer_id').orderBy('position');
    if (ids) {
      if (ids.length === 0) return new Map();
      q = q.where('customer_id', 'in', ids);
    }
    const out = new Map<string, string[]>();
    for (const r of await q.execute()) {
      const list = out.get(r.customer_id);
      if (list) list.push(r.exit_id);
      else out.set(r.customer_id, [r.exit_id]);
    }
    return out;
  }

  private customerRecord(r: CustomersTable, exits: string[]): CustomerRecord {
    const bandwidth =
      r.bandwidth_up === null && r.bandwidth_down === null
        ? null
        : {
            ...(r.bandwidth_up !== null ? { upBytesPerSec: Number(r.bandwidth_up) } : {}),
            ...(r.bandwidth_down !== null ? { downBytesPerSec: Number(r.bandwidth_down) } : {}),
          };
    return {
      id: r.id,
      login: r.login,
      status: r.status,
      passwordSet: r.password_hash !== null,
      passwordChangedAt: r.password_changed_at,
      passwordHash: r.password_hash,
      sources: parseJson<string[]>(r.sources, []),
      sourceAuth: Number(r.source_auth) === 1,
      maxConnections: r.max_connections === null ? null : Number(r.max_connections),
      bandwidth,
      quota: r.quota_bytes === null ? null : { bytes: Number(r.quota_bytes), period: r.quota_period ?? 'month' },
      exits,
      pools: parseJson<PlaceConfig[]>(r.pools, []),
      portBase: r.port_base === null ? null : Number(r.port_base),
      portScheme: r.port_scheme,
      places: parseJson<string[] | null>(r.places, null),
      createdAt: r.created_at,
      updatedAt: r.updated_at,
    };
  }

  static view(c: CustomerRecord): CustomerViewT {
    const { passwordHash: _omit, ...view } = c;
    return view;
  }

  async listCustomers(filter: { login?: string } = {}, db: Kysely<DB> = this.db): Promise<CustomerRecord[]> {
    let q = db.selectFrom('customers').selectAll().orderBy('login');
    if (filter.login !== undefined) q = q.where('login', '=', filter.login);
    const rows = await q.execute();
    const exits = await this.customerExits(db, filter.login !== undefined ? rows.map((r) => r.id) : undefined);
    return rows.map((r) => this.customerRecord(r, exits.get(r.id) ?? []));
  }

  async getCustomer(id: string, db: Kysely<DB> = this.db): Promise<CustomerRecord | undefined> {
    const r = await db.selectFrom('customers').selectAll().where('id', '=', id).executeTakeFirst();
    if (!r) return undefined;
    return this.customerRecord(r, (await this.customerExits(db, [id])).get(id) ?? []);
  }

  async getCustomerByLogin(login: string): Promise<CustomerRecord | undefined> {
    return (await this.listCustomers({ login }))[0];
  }

  private async mustCustomer(trx: Tx, id: string): Promise<CustomersTable> {
    const r = await trx.selectFrom('customers').selectAll().where('id', '=', id).executeTakeFirst();
    if (!r) throw notFound('customer', id);
    return r;
  }

  private async writeAssignment(trx: Tx, customerId: string, exits: readonly string[]): Promise<void> {
    const seen = new Set<string>();
    for (const [i, id] of exits.entries()) {
      if (seen.has(id)) throw new ApiError(400, 'invalid_request', `exit '${id}' is listed twice`, `body.exits.${i}`);
      seen.add(id);
    }
    if (exits.length > 0) {
      const known = new Set((await trx.selectFrom('exits').select('id').where('id', 'in', [...exits]).execute()).map((r) => r.id));
      const i = exits.findIndex((e) => !known.has(e));
      if (i >= 0) throw new ApiError(400, 'unknown_exit', `exit '${exits[i]}' does not exist`, `body.exits.${i}`);
    }
    await trx.deleteFrom('customer_exits').where('customer_id', '=', customerId).execute();
    if (exits.length > 0) {
      await trx
        .insertInto('customer_exits')
        .values(exits.map((exit_id, position) => ({ customer_id: customerId, position, exit_id })))
        .execute();
    }
  }

  async createCustomer(input: CustomerCreateInput, passwordHash: string, actor: string): Promise<CustomerRecord> {
    const id = newId('cus');
    await this.change(actor, async (trx, record) => {
      const dup = await trx.selectFrom('customers').select('id').where('login', '=', input.login).executeTakeFirst();
      if (dup) throw new ApiError(409, 'conflict', `login '${input.login}' is taken`, 'body.login');
      const t = now();
      await trx
        .insertInto('customers')
        .values({
          id,
          login: input.login,
          status: input.status,
          password_hash: passwordHash,
          password_changed_at: t,
          sources: json(input.sources),
          source_auth: input.sourceAuth ? 1 : 0,
          max_connections: input.maxConnections ?? null,
          bandwidth_up: input.bandwidth?.upBytesPerSec ?? null,
          bandwidth_down: input.bandwidth?.downBytesPerSec ?? null,
          quota_bytes: input.quota?.bytes ?? null,
          quota_period: input.quota ? input.quota.period : null,
          pools: json(input.pools),
          port_base: input.portBase ?? null,
          port_scheme: input.portScheme ?? null,
          places: input.places ? json(input.places) : null,
          created_at: t,
          updated_at: t,
        })
        .execute();
      await this.writeAssignment(trx, id, input.exits);
      record('customer', id, 'create');
    });
    return (await this.getCustomer(id))!;
  }

  async updateCustomer(id: string, patch: CustomerPatchInput, actor: string): Promise<CustomerRecord> {
    await this.change(actor, async (trx, record) => {
      await this.mustCustomer(trx, id);
      const set: Partial<CustomersTable> = { updated_at: now() };
      if (patch.status !== undefined) set.status = patch.status;
      if (patch.sources !== undefined) set.sources = json(patch.sources);
      if (patch.sourceAuth !== undefined) set.source_auth = patch.sourceAuth ? 1 : 0;
      if (patch.maxConnections !== undefined) set.max_connections = patch.maxConnections;
      if (patch.bandwidth !== undefined) {
        set.bandwidth_up = patch.bandwidth?.upBytesPerSec ?? null;
        set.bandwidth_down = patch.bandwidth?.downBytesPerSec ?? null;
      }
      if (patch.quota !== undefined) {
        set.quota_bytes = patch.quota?.bytes ?? null;
        set.quota_period = patch.quota?.period ?? null;
      }
      if (patch.portBase !== undefined) set.port_base = patch.portBase;
      if (patch.portScheme !== undefined) set.port_scheme = patch.portScheme;
      if (patch.places !== undefined) set.places = patch.places === null ? null : json(patch.places);
      await trx.updateTable('customers').set(set).where('id', '=', id).execute();
      record('customer', id, 'update');
    });
    return (await this.getCustomer(id))!;
  }

  async setPasswordHash(id: string, passwordHash: string, actor: string): Promise<void> {
    await this.change(actor, async (trx, record) => {
      await this.mustCustomer(trx, id);
      const t = now();
      await trx.updateTable('customers').set({ password_hash: passwordHash, password_changed_at: t, updated_at: t }).where('id', '=', id).execute();
      record('customer', id, 'update');
    });
  }

  async setAssignment(id: string, a: AssignmentInput, actor: string): Promise<CustomerRecord> {
    await this.change(actor, async (trx, record) => {
      await this.mustCustomer(trx, id);
      await this.writeAssignment(trx, id, a.exits);
      await trx.updateTable('customers').set({ pools: json(a.pools), updated_at: now() }).where('id', '=', id).execute();
      record('assignment', id, 'update');
    });
    return (await this.getCustomer(id))!;
  }

  async deleteCustomer(id: string, actor: string): Promise<void> {
    await this.change(actor, async (trx, record) => {
      await this.mustCustomer(trx, id);
      await trx.deleteFrom('customer_exits').where('customer_id', '=', id).execute();
      await trx.deleteFrom('customers').where('id', '=', id).execute();
      record('customer', id, 'delete');
    });
  }

  // ---------------------------------------------------------------- exits

  private exitRecord(r: ExitsTable, customers: number): ExitRecord {
    const viaFull = parseJson<HopConfig[]>(r.via, []);
    return {
      id: r.id,
      kind: r.kind,
      host: r.host,
      port: Number(r.port),
      username: r.username,
      passwordSet: r.password !== null,
      password: r.password,
      egressIp: r.egress_ip,
      country: r.country,
      state: r.state,
      city: r.city,
      asn: r.asn === null ? null : Number(r.asn),
      via: viaFull.map((h) => ({ kind: h.kind, host: h.host, port: h.port, username: h.username ?? null, passwordSet: h.password !== undefined })),
      viaFull,
      drain: Number(r.drain) === 1,
      tags: parseJson<string[]>(r.tags, []),
      customers,
      createdAt: r.created_at,
      updatedAt: r.updated_at,
    };
  }

  static exitView(e: ExitRecord): ExitViewT {
    const { password: _p, viaFull: _v, ...view } = e;
    return view;
  }

  private async exitUse(db: Kysely<DB>): Promise<Map<string, number>> {
    const rows = await db
      .selectFrom('customer_exits')
      .select(['exit_id', (eb) => eb.fn.countAll<number>().as('n')])
      .groupBy('exit_id')
      .execute();
    return new Map(rows.map((r) => [r.exit_id, Number(r.n)]));
  }

  async listExits(db: Kysely<DB> = this.db): Promise<ExitRecord[]> {
    const [rows, use] = [await db.selectFrom('exits').selectAll().orderBy('id').execute(), await this.exitUse(db)];
    return rows.map((r) => this.exitRecord(r, use.get(r.id) ?? 0));
  }

  async getExit(id: string): Promise<ExitRecord | undefined> {
    const r = await this.db.selectFrom('exits').selectAll().where('id', '=', id).executeTakeFirst();
    if (!r) return undefined;
    return this.exitRecord(r, (await this.exitUse(this.db)).get(id) ?? 0);
  }

  async createExit(input: ExitCreateInput, actor: string): Promise<ExitRecord> {
    await this.change(actor, async (trx, record) => {
      const dup = await trx.selectFrom('exits').select('id').where('id', '=', input.id).executeTakeFirst();
      if (dup) throw new ApiError(409, 'conflict', `exit '${input.id}' exists`, 'body.id');
      const t = now();
      await trx
        .insertInto('exits')
        .values({
          id: input.id,
          kind: input.kind,
          host: input.host,
          port: input.port,
          username: input.username ?? null,
          password: input.password ?? null,
          egress_ip: input.egressIp ?? null,
          country: input.country ?? null,
          state: input.state ?? null,
          city: input.city ?? null,
          asn: input.asn ?? null,
          via: json(input.via),
          tags: json(input.tags),
          drain: input.drain ? 1 : 0,
          created_at: t,
          updated_at: t,
        })
        .execute();
      record('exit', input.id, 'create');
    });
    return (await this.getExit(input.id))!;
  }

  async updateExit(id: string, patch: ExitPatchInput, actor: string): Promise<ExitRecord> {
    await this.change(actor, async (trx, record) => {
      const found = await trx.selectFrom('exits').select('id').where('id', '=', id).executeTakeFirst();
      if (!found) throw notFound('exit', id);
      const set: Partial<ExitsTable> = { updated_at: now() };
      if (patch.kind !== undefined) set.kind = patch.kind;
      if (patch.host !== undefined) set.host = patch.host;
      if (patch.port !== undefined) set.port = patch.port;
      if (patch.username !== undefined) set.username = patch.username;
      if (patch.password !== undefined) set.password = patch.password;
      if (patch.egressIp !== undefined) set.egress_ip = patch.egressIp;
      if (patch.country !== undefined) set.country = patch.country;
      if (patch.state !== undefined) set.state = patch.state;
      if (patch.city !== undefined) set.city = patch.city;
      if (patch.asn !== undefined) set.asn = patch.asn;
      if (patch.via !== undefined) set.via = json(patch.via);
      if (patch.tags !== undefined) set.tags = json(patch.tags);
      if (patch.drain !== undefined) set.drain = patch.drain ? 1 : 0;
      await trx.updateTable('exits').set(set).where('id', '=', id).execute();
      record('exit', id, 'update');
    });
    return (await this.getExit(id))!;
  }

  /**
   * Delete an exit. Customers listing it keep it unless `force`, which takes
   * it out of their lists (one change: the exit and each assignment).
   */
  async deleteExit(id: string, force: boolean, actor: string): Promise<void> {
    await this.change(actor, async (trx, record) => {
      const found = await trx.selectFrom('exits').select('id').where('id', '=', id).executeTakeFirst();
      if (!found) throw notFound('exit', id);
      const users = await trx
        .selectFrom('customer_exits')
        .innerJoin('customers', 'customers.id', 'customer_exits.customer_id')
        .select(['customers.id', 'customers.login'])
        .where('customer_exits.exit_id', '=', id)
        .orderBy('customers.login')
        .execute();
      if (users.length > 0 && !force) {
        throw new ApiError(
          409,
          'exit_in_use',
          `exit '${id}' is assigned to ${users.length} customer(s) (${users.slice(0, 5).map((u) => u.login).join(', ')}${users.length > 5 ? ', …' : ''}); drain it, reassign them, or delete with force=true`,
        );
      }
      for (const u of users) {
        const rest = (await this.customerExits(trx, [u.id])).get(u.id)?.filter((e) => e !== id) ?? [];
        await this.writeAssignment(trx, u.id, rest);
        record('assignment', u.id, 'update');
      }
      await trx.deleteFrom('exits').where('id', '=', id).execute();
      record('exit', id, 'delete');
    });
  }

  // ---------------------------------------------------------------- ingress nodes

  private nodeView(r: IngressNodesTable): NodeViewT {
    return {
      id: r.id,
      name: r.name,
      lastSeenAt: r.last_seen_at,
      ackedRevision: r.acked_revision === null ? null : Number(r.acked_revision),
      createdAt: r.created_at,
      updatedAt: r.updated_at,
    };
  }

  async listNodes(): Promise<NodeViewT[]> {
    return (await this.db.selectFrom('ingress_nodes').selectAll().orderBy('id').execute()).map((r) => this.nodeView(r));
  }

  async getNode(id: string): Promise<NodeViewT | undefined> {
    const r = await this.db.selectFrom('ingress_nodes').selectAll().where('id', '=', id).executeTakeFirst();
    return r ? this.nodeView(r) : undefined;
  }

  async createNode(input: { id?: string | undefined; name: string }, actor: string): Promise<NodeViewT> {
    const id = input.id ?? newId('ing');
    await this.change(actor, async (trx, record) => {
      const dup = await trx.selectFrom('ingress_nodes').select('id').where('id', '=', id).executeTakeFirst();
      if (dup) throw new ApiError(409, 'conflict', `ingress node '${id}' exists`, 'body.id');
      const t = now();
      await trx.insertInto('ingress_nodes').values({ id, name: input.name, last_seen_at: null, acked_revision: null, created_at: t, updated_at: t }).execute();
      record('ingress_node', id, 'create');
    });
    return (await this.getNode(id))!;
  }

  async updateNode(id: string, patch: { name: string }, actor: string): Promise<NodeViewT> {
    await this.change(actor, async (trx, record) => {
      const r = await trx.updateTable('ingress_nodes').set({ name: patch.name, updated_at: now() }).where('id', '=', id).executeTakeFirst();
      if (Number(r.numUpdatedRows) === 0) throw notFound('ingress node', id);
      record('ingress_node', id, 'update');
    });
    return (await this.getNode(id))!;
  }

  async deleteNode(id: string, actor: string): Promise<void> {
    await this.change(actor, async (trx, record) => {
      const r = await trx.deleteFrom('ingress_nodes').where('id', '=', id).executeTakeFirst();
      if (Number(r.numDeletedRows) === 0) throw notFound('ingress node', id);
      record('ingress_node', id, 'delete');
    });
  }

  /**
   * What an ingress reports (seen now, applied `revision`). Not a configuration
   * change: no revision bump, no change-log entry (else every ack would need an ack).
   */
  async recordNodeAck(id: string, revision: number | undefined): Promise<boolean> {
    const set: Partial<IngressNodesTable> = { last_seen_at: now() };
    if (revision !== undefined) set.acked_revision = revision;
    const r = await this.db.updateTable('ingress_nodes').set(set).where('id', '=', id).executeTakeFirst();
    return Number(r.numUpdatedRows) > 0;
  }

  // ---------------------------------------------------------------- settings

  async getSettings(db: Kysely<DB> = this.db): Promise<Partial<Record<SettingKey, unknown>>> {
    const rows = await db.selectFrom('settings').selectAll().orderBy('key').execute();
    const out: Partial<Record<SettingKey, unknown>> = {};
    for (const r of rows) if ((SETTING_KEYS as readonly string[]).includes(r.key)) out[r.key as SettingKey] = JSON.parse(r.value);
    return out;
  }

  /** Set (value) or remove (null) settings keys, as one change. Values are validated by the caller. */
  async patchSettings(patch: Partial<Record<SettingKey, unknown>>, actor: string): Promise<void> {
    const keys = Object.keys(patch) as SettingKey[];
    if (keys.length === 0) return;
    await this.change(actor, async (trx, record) => {
      const t = now();
      for (const key of keys) {
        const value = patch[key];
        const existing = await trx.selectFrom('settings').select('key').where('key', '=', key).executeTakeFirst();
        if (value === null || value === undefined) {
          if (existing) {
            await trx.deleteFrom('settings').where('key', '=', key).execute();
            record('setting', key, 'delete');
          }
        } else if (existing) {
          await trx.updateTable('settings').set({ value: json(value), updated_at: t }).where('key', '=', key).execute();
          record('setting', key, 'update');
        } else {
          await trx.insertInto('settings').values({ key, value: json(value), updated_at: t }).execute();
          record('setting', key, 'create');
        }
      }
    });
  }

  // ---------------------------------------------------------------- snapshot

  /** Revision, customers, exits and settings as of one instant. */
  async snapshot(): Promise<StoreSnapshot> {
    let tx = this.db.transaction();
    if (this.target.dialect === 'postgres') tx = tx.setIsolationLevel('repeatable read');
    return tx.execute(async (trx) => {
      const revision = await this.revision(trx);
      const customers = await this.listCustomers({}, trx);
      const exits = await this.listExits(trx);
      const settings = await this.getSettings(trx);
      return { revision, customers, exits, settings };
    });
  }
}
