/**
 * The asset store: customers, their credential and assignment, exits, ingress
 * nodes and settings, over either database. Every change runs in one
 * transaction that also bumps the configuration revision by one and appends
 * what changed to the change log, so "revision N" always names one exact
 * state and "changes since N" is complete (the config stream builds on this).
 * Writes are serialized by the revision row: revisions commit in order.
 */
import { randomBytes } from 'node:crypto';
import { sql, type Kysely, type Transaction } from 'kysely';
import { isForeignKeyViolation, isUniqueViolation, openDb, type ControlDb, type DbTarget, type OpenDbOptions } from './db.js';
import { migrateToLatest, type MigrationReport } from './migrations.js';
import type { ChangeLogTable, CustomersTable, DB, IngressNodesTable } from './tables.js';
import { exitPatchSet, exitRecord, exitView, newExitRow, type ExitRecord } from './exit-rows.js';
import { settingsAndExitsProblem } from './render.js';
import { json, parseJson } from './json-columns.js';
import { checkSourceClaim } from './source-claims.js';
import { hashIngressToken, generateIngressToken } from './token.js';
import { periodKeysOfMinute, type StatsPull } from '../shared/control-protocol.js';
import { ApiError, notFound } from './errors.js';
import { DbUnavailableError } from './db-unavailable.js';
import {
  SETTING_KEYS,
  type AssignmentInput,
  type CustomerCreateInput,
  type CustomerPatchInput,
  type CustomerViewT,
  type ExitCreateInput,
  type ExitPatchInput,
  type NodeViewT,
  type SettingKey,
} from './api-schemas.js';
import type { PlaceConfig } from '../shared/schema/ingress-config.js';

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

export type { ExitRecord } from './exit-rows.js';

/** Everything the rendered configuration is made of, read in one transaction. */
export interface StoreSnapshot {
  readonly revision: number;
  readonly customers: CustomerRecord[];
  readonly exits: ExitRecord[];
  readonly settings: Partial<Record<SettingKey, unknown>>;
}

const now = (): string => new Date().toISOString();
/** Thrown inside a change to roll it back without bumping the revision (nothing to do). */
const NO_CHANGE = new Error('no change');

export interface UsageQuery {
  readonly granularity: 'minute' | 'hour' | 'day' | 'month';
  /** Minutes `from` ≤ minute < `to`, as `YYYY-MM-DDTHH:MM` (shorter prefixes compare correctly). */
  readonly from: string;
  readonly to: string;
  readonly customerId?: string;
  readonly exitId?: string;
  readonly nodeId?: string;
  /** Include the minutes still open on the ingresses (default true). */
  readonly live?: boolean;
  readonly limit?: number;
}

export interface UsageRow {
  /** `YYYY-MM-DDTHH:MM`, `YYYY-MM-DDTHH`, `YYYY-MM-DD` or `YYYY-MM`. */
  readonly period: string;
  readonly customerId: string;
  readonly login: string;
  /** '' for direct egress. */
  readonly exitId: string;
  readonly bytesUp: number;
  readonly bytesDown: number;
  readonly connections: number;
  readonly failures: number;
}

export interface QuotaStatus {
  readonly id: string;
  readonly login: string;
  readonly bytes: number;
  readonly period: 'hour' | 'day' | 'month';
  readonly periodKey: string;
  readonly used: number;
  readonly exceededUntil: string | null;
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
  static async open(target: DbTarget, o: OpenDbOptions = {}): Promise<ControlStore> {
    const cdb = await openDb(target, o);
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

  private readonly committedListeners = new Set<(revision: number) => void>();

  /** Called after every committed change in this process, with its revision. Returns an unsubscribe. */
  onCommitted(listener: (revision: number) => void): () => void {
    this.committedListeners.add(listener);
    return () => void this.committedListeners.delete(listener);
  }

  private emitCommitted(revision: number): void {
    for (const l of this.committedListeners) {
      try {
        l(revision);
      } catch {
        /* a listener's problem is its own */
      }
    }
  }

  /** PostgreSQL NOTIFY channel announcing new revisions (one per schema, so schemas do not hear each other). */
  get notifyChannel(): string {
    return `hopgate_revision_${this.target.schema ?? 'public'}`;
  }

  get target(): DbTarget {
    return this.cdb.target;
  }

  /** How long a statement waits for a locked or unreachable database before failing as unavailable. */
  get waitMs(): number {
    return this.cdb.waitMs;
  }

  /** The revision, or DbUnavailableError when the database does not answer within the wait bound (health checks). */
  async revisionWithin(ms = this.waitMs): Promise<number> {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new DbUnavailableError('unreachable', `the database did not answer within ${ms} ms`)), ms);
    });
    const read = this.revision();
    read.catch(() => undefined); // a late failure after the deadline has no one left to tell
    try {
      return await Promise.race([read, late]);
    } finally {
      clearTimeout(timer);
    }
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
    let committed: number | undefined;
    try {
      const result = await this.db.transaction().execute(async (trx) => {
        const bumped = await trx
          .updateTable('config_state')
          .set((eb) => ({ revision: eb('revision', '+', 1) }))
          .where('id', '=', 1)
          .returning('revision')
          .executeTakeFirstOrThrow();
        const revision = Number(bumped.revision);
        const entries: Array<{ entity: Entity; id: string; op: Op }> = [];
        const value = await fn(trx, (entity, id, op) => entries.push({ entity, id, op }));
        // Settings and exits must still make one valid ingress configuration (a reverse exit
        // needs a tunnel certificate, a published site a reverse exit…): refuse here, not at every ingress.
        if (entries.some((e) => e.entity === 'exit' || e.entity === 'setting')) {
          const exits = await trx.selectFrom('exits').select(['id', 'kind', 'egress_ip', 'drain']).execute();
          const problem = settingsAndExitsProblem(
            await this.getSettings(trx),
            exits.map((e) => ({ id: e.id, kind: e.kind, egressIp: e.egress_ip, drain: Number(e.drain) === 1 })),
          );
          if (problem) throw new ApiError(400, 'invalid_configuration', `the ingress configuration would be invalid: ${problem}`);
        }
        if (entries.length > 0) {
          const at = now();
          await trx
            .insertInto('change_log')
            .values(entries.map((e, seq) => ({ revision, seq, at, entity: e.entity, entity_id: e.id, op: e.op, actor })))
            .execute();
        }
        // Other control-plane processes on this database hear of it on commit (LISTEN/NOTIFY).
        if (this.target.dialect === 'postgres') await sql`select pg_notify(${this.notifyChannel}, ${String(revision)})`.execute(trx);
        committed = revision;
        return value;
      });
      if (committed !== undefined) this.emitCommitted(committed);
      return result;
    } catch (err) {
      if (err === NO_CHANGE) return undefined as T;
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
      quotaExceededUntil: r.quota_exceeded_until ?? null,
      createdAt: r.created_at,
      updatedAt: r.updated_at,
    };
  }

  static view(this: void, c: CustomerRecord): CustomerViewT {
    const { passwordHash: _omit, ...view } = c;
    return view;
  }

  async listCustomers(filter: { login?: string; ids?: readonly string[] } = {}, db: Kysely<DB> = this.db): Promise<CustomerRecord[]> {
    if (filter.ids !== undefined && filter.ids.length === 0) return [];
    let q = db.selectFrom('customers').selectAll().orderBy('login');
    if (filter.login !== undefined) q = q.where('login', '=', filter.login);
    if (filter.ids !== undefined) q = q.where('id', 'in', [...filter.ids]);
    const rows = await q.execute();
    const exits = await this.customerExits(db, filter.login !== undefined || filter.ids !== undefined ? rows.map((r) => r.id) : undefined);
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
      await checkSourceClaim(trx, { id, login: input.login, sources: input.sources, sourceAuth: input.sourceAuth }, !actor.startsWith('customer:'));
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
          quota_exceeded_until: null,
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
      const row = await this.mustCustomer(trx, id);
      if (patch.sources !== undefined || patch.sourceAuth === true) {
        const sources = patch.sources ?? parseJson<string[]>(row.sources, []);
        const sourceAuth = patch.sourceAuth ?? Number(row.source_auth) === 1;
        await checkSourceClaim(trx, { id, login: row.login, sources, sourceAuth }, !actor.startsWith('customer:'));
      }
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
        if (patch.quota === null) set.quota_exceeded_until = null; // no quota, nothing exceeded
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

  static exitView = exitView;

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
    return rows.map((r) => exitRecord(r, use.get(r.id) ?? 0));
  }

  async getExit(id: string): Promise<ExitRecord | undefined> {
    const r = await this.db.selectFrom('exits').selectAll().where('id', '=', id).executeTakeFirst();
    if (!r) return undefined;
    return exitRecord(r, (await this.exitUse(this.db)).get(id) ?? 0);
  }

  /** Add an exit. A reverse exit comes with the scrypt hash of the token the caller issued it. */
  async createExit(input: ExitCreateInput, actor: string, tokenHash?: string): Promise<ExitRecord> {
    await this.change(actor, async (trx, record) => {
      const dup = await trx.selectFrom('exits').select('id').where('id', '=', input.id).executeTakeFirst();
      if (dup) throw new ApiError(409, 'conflict', `exit '${input.id}' exists`, 'body.id');
      await trx.insertInto('exits').values(newExitRow(input, tokenHash, now())).execute();
      record('exit', input.id, 'create');
    });
    return (await this.getExit(input.id))!;
  }

  async updateExit(id: string, patch: ExitPatchInput, actor: string): Promise<ExitRecord> {
    await this.change(actor, async (trx, record) => {
      const found = await trx.selectFrom('exits').select('kind').where('id', '=', id).executeTakeFirst();
      if (!found) throw notFound('exit', id);
      await trx.updateTable('exits').set(exitPatchSet(found.kind, patch, now())).where('id', '=', id).execute();
      record('exit', id, 'update');
    });
    return (await this.getExit(id))!;
  }

  /** Replace a reverse exit's token hash (the caller issued the token). 404: no such exit; 400: not a reverse exit. */
  async setExitTokenHash(id: string, tokenHash: string, actor: string): Promise<void> {
    await this.change(actor, async (trx, record) => {
      const found = await trx.selectFrom('exits').select('kind').where('id', '=', id).executeTakeFirst();
      if (!found) throw notFound('exit', id);
      if (found.kind !== 'reverse') throw new ApiError(400, 'invalid_request', `exit '${id}' is a ${found.kind} exit: only reverse exits have a token`);
      const t = now();
      await trx.updateTable('exits').set({ token_hash: tokenHash, token_changed_at: t, updated_at: t }).where('id', '=', id).execute();
      record('exit', id, 'update');
    });
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
      tokenSet: r.token_hash !== null && r.token_hash !== undefined,
      adminUrl: r.admin_url ?? null,
      statsPulledAt: r.stats_pulled_at ?? null,
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
      await trx
        .insertInto('ingress_nodes')
        .values({ id, name: input.name, last_seen_at: null, acked_revision: null, token_hash: null, token_created_at: null, admin_url: null, stats_epoch: null, stats_seq: null, stats_pulled_at: null, created_at: t, updated_at: t })
        .execute();
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
  async recordNodeAck(id: string, revision: number | undefined, adminUrl?: string): Promise<boolean> {
    const set: Partial<IngressNodesTable> = { last_seen_at: now() };
    if (revision !== undefined) set.acked_revision = revision;
    if (adminUrl !== undefined) set.admin_url = adminUrl;
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
    let tx = this.db.transaction().setAccessMode('read only');
    if (this.target.dialect === 'postgres') tx = tx.setIsolationLevel('repeatable read');
    return tx.execute(async (trx) => {
      const revision = await this.revision(trx);
      const customers = await this.listCustomers({}, trx);
      const exits = await this.listExits(trx);
      const settings = await this.getSettings(trx);
      return { revision, customers, exits, settings };
    });
  }

  // ---------------------------------------------------------------- ingress tokens

  /** A new ingress token for node `id` (shown once; the previous one stops working). Undefined: no such node. */
  async issueNodeToken(id: string): Promise<string | undefined> {
    const token = generateIngressToken();
    const t = now();
    const r = await this.db
      .updateTable('ingress_nodes')
      .set({ token_hash: hashIngressToken(token), token_created_at: t, updated_at: t })
      .where('id', '=', id)
      .executeTakeFirst();
    return Number(r.numUpdatedRows) > 0 ? token : undefined;
  }

  /** The node an ingress token belongs to. */
  async nodeByToken(token: string): Promise<NodeViewT | undefined> {
    if (!token.startsWith('hging_')) return undefined;
    const r = await this.db.selectFrom('ingress_nodes').selectAll().where('token_hash', '=', hashIngressToken(token)).executeTakeFirst();
    return r ? this.nodeView(r) : undefined;
  }

  // ---------------------------------------------------------------- statistics

  /** How far node `id`'s statistics are stored (`EPOCH:SEQ`), or undefined before the first pull. */
  async statsCursor(id: string): Promise<string | undefined> {
    const r = await this.db.selectFrom('ingress_nodes').select(['stats_epoch', 'stats_seq']).where('id', '=', id).executeTakeFirst();
    return r?.stats_epoch ? `${r.stats_epoch}:${Number(r.stats_seq ?? 0)}` : undefined;
  }

  /**
   * Store one statistics pull from node `id`, exactly once. In one transaction,
   * holding the node's row: records at or below the stored cursor are skipped
   * (a repeated pull, a pull answered twice, a restart between pull and write),
   * the rest are added to the per-minute and per-period rows, the node's open
   * minute is replaced, and the cursor moves. A failed write moves nothing: the
   * ingress keeps the records until a later pull acknowledges them.
   */
  async ingestStats(id: string, pull: StatsPull, at = now()): Promise<{ stored: number; skipped: number; cursor: string }> {
    return this.db.transaction().execute(async (trx) => {
      let q = trx.selectFrom('ingress_nodes').select(['stats_epoch', 'stats_seq']).where('id', '=', id);
      if (this.target.dialect === 'postgres') q = q.forUpdate();
      const node = await q.executeTakeFirst();
      if (!node) throw notFound('ingress node', id);
      const after = node.stats_epoch === pull.epoch ? Number(node.stats_seq ?? 0) : 0;
      const fresh = pull.records.filter((r) => r[0] > after);
      const ids = await this.customerIdsByLogin(trx, new Set([...fresh.map((r) => r[2]), ...pull.live.map((r) => r[1])]));
      const cid = (login: string): string => ids.get(login) ?? `login:${login}`;

      type Row = { bytes_up: number; bytes_down: number; connections: number; failures: number };
      const add = (row: Row, up: number, down: number, conns: number, fails: number): void => {
        row.bytes_up += up;
        row.bytes_down += down;
        row.connections += conns;
        row.failures += fails;
      };
      const minutes = new Map<string, Row & { minute: string; node_id: string; customer_id: string; login: string; exit_id: string }>();
      const periods = new Map<string, Row & { customer_id: string; period: string }>();
      let lastSeq = after;
      for (const [seq, minute, login, exit, up, down, conns, fails] of fresh) {
        lastSeq = Math.max(lastSeq, seq);
        const customer = cid(login);
        const mk = `${minute}\0${customer}\0${exit}`;
        let m = minutes.get(mk);
        if (!m) minutes.set(mk, (m = { minute, node_id: id, customer_id: customer, login, exit_id: exit, bytes_up: 0, bytes_down: 0, connections: 0, failures: 0 }));
        add(m, up, down, conns, fails);
        for (const period of periodKeysOfMinute(minute)) {
          const pk = `${customer}\0${period}`;
          let p = periods.get(pk);
          if (!p) periods.set(pk, (p = { customer_id: customer, period, bytes_up: 0, bytes_down: 0, connections: 0, failures: 0 }));
          add(p, up, down, conns, fails);
        }
      }
      await this.upsertCounters(trx, 'usage_minute', ['minute', 'node_id', 'customer_id', 'exit_id'], [...minutes.values()]);
      await this.upsertCounters(trx, 'usage_period', ['customer_id', 'period'], [...periods.values()]);

      await trx.deleteFrom('usage_live').where('node_id', '=', id).execute();
      const live = new Map<string, Row & { node_id: string; customer_id: string; login: string; exit_id: string; minute: string }>();
      for (const [minute, login, exit, up, down, conns, fails] of pull.live) {
        const customer = cid(login);
        const k = `${minute}\0${customer}\0${exit}`;
        let l = live.get(k);
        if (!l) live.set(k, (l = { node_id: id, customer_id: customer, login, exit_id: exit, minute, bytes_up: 0, bytes_down: 0, connections: 0, failures: 0 }));
        add(l, up, down, conns, fails);
      }
      const liveRows = [...live.values()];
      for (let i = 0; i < liveRows.length; i += 500) await trx.insertInto('usage_live').values(liveRows.slice(i, i + 500)).execute();

      await trx.updateTable('ingress_nodes').set({ stats_epoch: pull.epoch, stats_seq: lastSeq, stats_pulled_at: at, last_seen_at: at }).where('id', '=', id).execute();
      return { stored: fresh.length, skipped: pull.records.length - fresh.length, cursor: `${pull.epoch}:${lastSeq}` };
    });
  }

  private async customerIdsByLogin(db: Kysely<DB>, logins: ReadonlySet<string>): Promise<Map<string, string>> {
    const out = new Map<string, string>();
    const all = [...logins];
    for (let i = 0; i < all.length; i += 500) {
      const rows = await db.selectFrom('customers').select(['id', 'login']).where('login', 'in', all.slice(i, i + 500)).execute();
      for (const r of rows) out.set(r.login, r.id);
    }
    return out;
  }

  /** Multi-row upsert adding the counters to existing rows (rows are unique per key within one call). */
  private async upsertCounters(trx: Tx, table: 'usage_minute' | 'usage_period', keys: string[], rows: object[]): Promise<void> {
    const t = sql.table(table);
    for (let i = 0; i < rows.length; i += 400) {
      // Kysely cannot type one insert into either of two tables: seen as one loose shape.
      await (trx as unknown as Transaction<Record<string, Record<string, unknown>>>)
        .insertInto(table)
        .values(rows.slice(i, i + 400))
        .onConflict((oc) =>
          oc.columns(keys).doUpdateSet({
            bytes_up: sql`${t}.bytes_up + excluded.bytes_up`,
            bytes_down: sql`${t}.bytes_down + excluded.bytes_down`,
            connections: sql`${t}.connections + excluded.connections`,
            failures: sql`${t}.failures + excluded.failures`,
          }),
        )
        .execute();
    }
  }

  /**
   * Usage rows grouped by period (minute … month), customer and exit, from the
   * final minutes and (unless `live` is false) the minutes still open on the ingresses.
   */
  async usage(q: UsageQuery): Promise<UsageRow[]> {
    const width = { minute: 16, hour: 13, day: 10, month: 7 }[q.granularity];
    const filter = <QB extends { where: (lhs: 'minute' | 'customer_id' | 'exit_id' | 'node_id', op: '>=' | '<' | '=', rhs: string) => QB }>(b: QB): QB => {
      let x = b.where('minute', '>=', q.from).where('minute', '<', q.to);
      if (q.customerId !== undefined) x = x.where('customer_id', '=', q.customerId);
      if (q.exitId !== undefined) x = x.where('exit_id', '=', q.exitId);
      if (q.nodeId !== undefined) x = x.where('node_id', '=', q.nodeId);
      return x;
    };
    const cols = ['minute', 'customer_id', 'login', 'exit_id', 'bytes_up', 'bytes_down', 'connections', 'failures'] as const;
    const finals = filter(this.db.selectFrom('usage_minute').select([...cols]));
    const source = q.live === false ? finals : finals.unionAll(filter(this.db.selectFrom('usage_live').select([...cols])));
    const period = sql<string>`substr(u.minute, 1, ${sql.lit(width)})`;
    const rows = await this.db
      .selectFrom(source.as('u'))
      .select([
        period.as('period'),
        'u.customer_id',
        sql<string>`max(u.login)`.as('login'),
        'u.exit_id',
        sql<number>`sum(u.bytes_up)`.as('bytes_up'),
        sql<number>`sum(u.bytes_down)`.as('bytes_down'),
        sql<number>`sum(u.connections)`.as('connections'),
        sql<number>`sum(u.failures)`.as('failures'),
      ])
      .groupBy([period, 'u.customer_id', 'u.exit_id'])
      .orderBy(period)
      .orderBy(sql`max(u.login)`)
      .orderBy('u.exit_id')
      .limit(q.limit ?? 10_000)
      .execute();
    return rows.map((r) => ({
      period: r.period,
      customerId: r.customer_id,
      login: r.login,
      exitId: r.exit_id,
      bytesUp: Number(r.bytes_up),
      bytesDown: Number(r.bytes_down),
      connections: Number(r.connections),
      failures: Number(r.failures),
    }));
  }

  // ---------------------------------------------------------------- quotas

  /**
   * Every customer with a quota, with the bytes used in the current period
   * across all ingresses: final minutes (per-period totals) plus the minutes
   * still open on the ingresses as of their last pull.
   */
  async quotaStatus(nowMs = Date.now()): Promise<QuotaStatus[]> {
    const customers = await this.db
      .selectFrom('customers')
      .select(['id', 'login', 'status', 'quota_bytes', 'quota_period', 'quota_exceeded_until'])
      .where('quota_bytes', 'is not', null)
      .execute();
    if (customers.length === 0) return [];
    const keys = periodKeysOfMinute(new Date(nowMs).toISOString().slice(0, 16));
    const used = new Map<string, number>();
    const finals = await this.db
      .selectFrom('usage_period')
      .select(['customer_id', 'period', sql<number>`bytes_up + bytes_down`.as('bytes')])
      .where('period', 'in', keys)
      .execute();
    for (const r of finals) used.set(`${r.customer_id}\0${r.period}`, Number(r.bytes));
    const live = await this.db
      .selectFrom('usage_live')
      .select(['customer_id', 'minute', sql<number>`sum(bytes_up + bytes_down)`.as('bytes')])
      .groupBy(['customer_id', 'minute'])
      .execute();
    for (const r of live) {
      for (const k of periodKeysOfMinute(r.minute)) {
        if (!keys.includes(k)) continue;
        const id = `${r.customer_id}\0${k}`;
        used.set(id, (used.get(id) ?? 0) + Number(r.bytes));
      }
    }
    return customers.map((c) => {
      const period = c.quota_period ?? 'month';
      const key = keys[period === 'hour' ? 0 : period === 'day' ? 1 : 2];
      return {
        id: c.id,
        login: c.login,
        bytes: Number(c.quota_bytes),
        period,
        periodKey: key,
        used: used.get(`${c.id}\0${key}`) ?? 0,
        exceededUntil: c.quota_exceeded_until ?? null,
      };
    });
  }

  /**
   * Set or clear the control plane's over-quota flag (null clears). One change
   * (revision bump, pushed to every ingress) when any flag differs; none otherwise,
   * so replicas deciding the same thing together bump once.
   */
  async setQuotaFlags(flags: ReadonlyArray<{ id: string; until: string | null }>): Promise<number> {
    if (flags.length === 0) return 0;
    let changed = 0;
    await this.change('system:quota', async (trx, record) => {
      for (const f of flags) {
        const r = await trx.selectFrom('customers').select('quota_exceeded_until').where('id', '=', f.id).executeTakeFirst();
        if (!r || (r.quota_exceeded_until ?? null) === f.until) continue;
        await trx.updateTable('customers').set({ quota_exceeded_until: f.until }).where('id', '=', f.id).execute();
        record('customer', f.id, 'update');
        changed++;
      }
      if (changed === 0) throw NO_CHANGE;
    });
    return changed;
  }
}
