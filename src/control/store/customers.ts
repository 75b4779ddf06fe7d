/**
 * Customers: their row (status, sources, limits, quota, port routing), their
 * password hash and their assignment (exits and pools). Every write is one
 * change (revision.ts).
 */
import { sql } from 'kysely';
import { checkSourceClaim } from '../source-claims.js';
import { ApiError, notFound } from '../errors.js';
import { json, parseJson } from './json-columns.js';
import type { CustomersTable } from '../tables.js';
import type { AssignmentInput, CustomerCreateInput, CustomerPatchInput, CustomerViewT } from '../api-schemas.js';
import type { PlaceConfig } from '../../shared/schema/ingress-config.js';
import { checkExitsExist, customerExits, writeAssignment } from './assignments.js';
import type { CustomerRecord } from './records.js';
import { newId, now, type Db, type RunChange, type Tx } from './tx.js';

/** What GET /v1/customers filters on; limit/offset page through the login order. */
export interface CustomerFilter {
  login?: string;
  ids?: readonly string[];
  status?: 'active' | 'suspended';
  search?: string;
  limit?: number;
  offset?: number;
}

/** Who an event is about: no secrets. */
export const customerRef = (r: Pick<CustomersTable, 'id' | 'login' | 'status'>): { id: string; login: string; status: CustomersTable['status'] } => ({ id: r.id, login: r.login, status: r.status });

export class CustomerRepo {
  constructor(
    private readonly db: Db,
    private readonly change: RunChange,
  ) {}

  private toRecord(r: CustomersTable, exits: string[]): CustomerRecord {
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
      exitGrant: parseJson<string[]>(r.exit_grant, []),
      exitHeader: Number(r.exit_header) === 1,
      createdAt: r.created_at,
      updatedAt: r.updated_at,
    };
  }

  static view(this: void, c: CustomerRecord): CustomerViewT {
    const { passwordHash: _omit, ...view } = c;
    return view;
  }

  async list(filter: CustomerFilter = {}, db: Db = this.db): Promise<CustomerRecord[]> {
    if (filter.ids !== undefined && filter.ids.length === 0) return [];
    let q = this.filtered(filter, db).selectAll().orderBy('login');
    if (filter.limit !== undefined) q = q.limit(filter.limit).offset(filter.offset ?? 0);
    const rows = await q.execute();
    const partial = filter.login !== undefined || filter.ids !== undefined || filter.search !== undefined || filter.status !== undefined || filter.limit !== undefined;
    const exits = await customerExits(db, partial ? rows.map((r) => r.id) : undefined);
    return rows.map((r) => this.toRecord(r, exits.get(r.id) ?? []));
  }

  /** How many customers `list(filter)` finds without its limit and offset (a page's "of N"). */
  async count(filter: CustomerFilter = {}, db: Db = this.db): Promise<number> {
    const r = await this.filtered(filter, db).select((eb) => eb.fn.countAll<number | string | bigint>().as('n')).executeTakeFirstOrThrow();
    return Number(r.n);
  }

  private filtered(filter: CustomerFilter, db: Db) {
    let q = db.selectFrom('customers');
    if (filter.login !== undefined) q = q.where('login', '=', filter.login);
    if (filter.ids !== undefined) q = q.where('id', 'in', [...filter.ids]);
    if (filter.status !== undefined) q = q.where('status', '=', filter.status);
    if (filter.search !== undefined && filter.search !== '') {
      // A part of the login (any case; LIKE's wildcards in it taken literally) or the exact id.
      const pattern = `%${filter.search.toLowerCase().replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
      q = q.where((eb) => eb.or([eb(sql<string>`lower(login)`, 'like', sql<string>`${pattern} escape '\\'`), eb('id', '=', filter.search!)]));
    }
    return q;
  }

  async get(id: string, db: Db = this.db): Promise<CustomerRecord | undefined> {
    const r = await db.selectFrom('customers').selectAll().where('id', '=', id).executeTakeFirst();
    if (!r) return undefined;
    return this.toRecord(r, (await customerExits(db, [id])).get(id) ?? []);
  }

  async getByLogin(login: string): Promise<CustomerRecord | undefined> {
    return (await this.list({ login }))[0];
  }

  private async mustRow(trx: Tx, id: string): Promise<CustomersTable> {
    const r = await trx.selectFrom('customers').selectAll().where('id', '=', id).executeTakeFirst();
    if (!r) throw notFound('customer', id);
    return r;
  }

  async create(input: CustomerCreateInput, passwordHash: string, actor: string): Promise<CustomerRecord> {
    const id = newId('cus');
    await this.change(actor, async (trx, record, emit) => {
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
          exit_grant: null,
          exit_header: input.exitHeader ? 1 : 0,
          created_at: t,
          updated_at: t,
        })
        .execute();
      await writeAssignment(trx, id, input.exits);
      record('customer', id, 'create');
      emit('customer.created', id, { customer: { id, login: input.login, status: input.status } });
    });
    return (await this.get(id))!;
  }

  async update(id: string, patch: CustomerPatchInput, actor: string): Promise<CustomerRecord> {
    await this.change(actor, async (trx, record, emit) => {
      const row = await this.mustRow(trx, id);
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
      if (patch.exitHeader !== undefined) set.exit_header = patch.exitHeader ? 1 : 0;
      await trx.updateTable('customers').set(set).where('id', '=', id).execute();
      record('customer', id, 'update');
      const customer = { id, login: row.login, status: patch.status ?? row.status };
      emit('customer.updated', id, { customer, changed: Object.keys(patch).filter((k) => patch[k as keyof CustomerPatchInput] !== undefined) });
      if (customer.status !== row.status) emit(customer.status === 'suspended' ? 'customer.suspended' : 'customer.resumed', id, { customer });
    });
    return (await this.get(id))!;
  }

  async setPasswordHash(id: string, passwordHash: string, actor: string): Promise<void> {
    await this.change(actor, async (trx, record, emit) => {
      const row = await this.mustRow(trx, id);
      const t = now();
      await trx.updateTable('customers').set({ password_hash: passwordHash, password_changed_at: t, updated_at: t }).where('id', '=', id).execute();
      record('customer', id, 'update');
      emit('customer.updated', id, { customer: customerRef(row), changed: ['password'] });
    });
  }

  async setAssignment(id: string, a: AssignmentInput, actor: string): Promise<CustomerRecord> {
    await this.change(actor, async (trx, record, emit) => {
      const row = await this.mustRow(trx, id);
      await writeAssignment(trx, id, a.exits);
      if (a.grant !== undefined) await checkExitsExist(trx, a.grant, 'body.grant');
      await trx
        .updateTable('customers')
        .set({ pools: json(a.pools), ...(a.grant !== undefined ? { exit_grant: json([...new Set(a.grant)]) } : {}), updated_at: now() })
        .where('id', '=', id)
        .execute();
      record('assignment', id, 'update');
      emit('customer.updated', id, { customer: customerRef(row), changed: ['exits', 'pools'] });
    });
    return (await this.get(id))!;
  }

  async delete(id: string, actor: string): Promise<void> {
    await this.change(actor, async (trx, record, emit) => {
      const row = await this.mustRow(trx, id);
      await trx.deleteFrom('customer_exits').where('customer_id', '=', id).execute();
      await trx.deleteFrom('customers').where('id', '=', id).execute();
      record('customer', id, 'delete');
      emit('customer.deleted', id, { customer: customerRef(row) });
    });
  }
}
