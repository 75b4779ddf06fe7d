/**
 * Exits (forward proxies and reverse exits): their row, a reverse exit's token
 * hash, and how many customers list each. Every write is one change (revision.ts).
 */
import { ApiError, notFound } from '../errors.js';
import { exitPatchSet, exitRecord, exitView, linkColumns, newExitRow } from './exit-rows.js';
import { generateExitLinkToken, hashIngressToken } from '../token.js';
import type { ExitCreateInput, ExitPatchInput } from '../api-schemas.js';
import { customerExits, exitUse, writeAssignment } from './assignments.js';
import type { ExitRecord } from './records.js';
import { now, type Db, type RunChange, type Tx } from './tx.js';
import { parseJson } from './json-columns.js';
import { customerRef } from './customers.js';
import type { ExitsTable } from '../tables.js';

/** Up to five logins, then an ellipsis: enough to say whom a refusal is about. */
function names(users: ReadonlyArray<{ login: string }>): string {
  return `${users.slice(0, 5).map((u) => u.login).join(', ')}${users.length > 5 ? ', …' : ''}`;
}

const EXIT_REF_COLUMNS = ['id', 'kind', 'country', 'egress_ip', 'drain'] as const;
const LINK_COLUMNS = ['link_port', 'link_fingerprint', 'link_next_fingerprint'] as const;

/** What an event says of an exit: no address, credentials or token. */
function exitRef(r: Pick<ExitsTable, (typeof EXIT_REF_COLUMNS)[number]>): { id: string; kind: ExitsTable['kind']; country: string | null; egressIp: string | null; drain: boolean } {
  return { id: r.id, kind: r.kind, country: r.country, egressIp: r.egress_ip, drain: Number(r.drain) === 1 };
}

/** What the store does beside an exit change, in its transaction (failover notices, store/failovers.ts). */
export interface ExitChangeHooks {
  /** An exit's drain flag changed, or an exit left customers' lists. */
  changed(trx: Tx): Promise<unknown>;
  /** `exitId` is about to leave these customers' lists. */
  removing(trx: Tx, exitId: string, customerIds: readonly string[]): Promise<void>;
}

export class ExitRepo {
  constructor(
    private readonly db: Db,
    private readonly change: RunChange,
    private readonly hooks?: ExitChangeHooks,
  ) {}

  static view = exitView;

  async list(db: Db = this.db): Promise<ExitRecord[]> {
    const [rows, use] = [await db.selectFrom('exits').selectAll().orderBy('id').execute(), await exitUse(db)];
    return rows.map((r) => exitRecord(r, (use.listed.get(r.id) ?? 0) + use.all));
  }

  async get(id: string): Promise<ExitRecord | undefined> {
    const r = await this.db.selectFrom('exits').selectAll().where('id', '=', id).executeTakeFirst();
    if (!r) return undefined;
    const use = await exitUse(this.db);
    return exitRecord(r, (use.listed.get(id) ?? 0) + use.all);
  }

  /** Add an exit. A reverse exit comes with the scrypt hash of the token the caller issued it. */
  async create(input: ExitCreateInput, actor: string, tokenHash?: string): Promise<ExitRecord> {
    await this.change(actor, async (trx, record, emit) => {
      const dup = await trx.selectFrom('exits').select('id').where('id', '=', input.id).executeTakeFirst();
      if (dup) throw new ApiError(409, 'conflict', `exit '${input.id}' exists`, 'body.id');
      const row = newExitRow(input, tokenHash, now());
      await trx.insertInto('exits').values(row).execute();
      record('exit', input.id, 'create');
      emit('exit.created', input.id, { exit: exitRef(row) });
    });
    return (await this.get(input.id))!;
  }

  async update(id: string, patch: ExitPatchInput, actor: string): Promise<ExitRecord> {
    await this.change(actor, async (trx, record, emit) => {
      const found = await trx.selectFrom('exits').select(['kind', ...LINK_COLUMNS]).where('id', '=', id).executeTakeFirst();
      if (!found) throw notFound('exit', id);
      await trx.updateTable('exits').set(exitPatchSet(found, patch, now())).where('id', '=', id).execute();
      record('exit', id, 'update');
      const after = await trx.selectFrom('exits').select(EXIT_REF_COLUMNS).where('id', '=', id).executeTakeFirstOrThrow();
      emit('exit.updated', id, { exit: exitRef(after), changed: Object.keys(patch).filter((k) => patch[k as keyof ExitPatchInput] !== undefined) });
      // A drain moves ports to replacements: their customers learn it in this same transaction.
      if (patch.drain !== undefined) await this.hooks?.changed(trx);
    });
    return (await this.get(id))!;
  }

  /** Replace a reverse exit's token hash (the caller issued the token). 404: no such exit; 400: not a reverse exit. */
  async setTokenHash(id: string, tokenHash: string, actor: string): Promise<void> {
    await this.change(actor, async (trx, record, emit) => {
      const found = await trx.selectFrom('exits').select(EXIT_REF_COLUMNS).where('id', '=', id).executeTakeFirst();
      if (!found) throw notFound('exit', id);
      if (found.kind !== 'reverse') throw new ApiError(400, 'invalid_request', `exit '${id}' is a ${found.kind} exit: only reverse exits have a token`);
      const t = now();
      await trx.updateTable('exits').set({ token_hash: tokenHash, token_changed_at: t, updated_at: t }).where('id', '=', id).execute();
      record('exit', id, 'update');
      emit('exit.updated', id, { exit: exitRef(found), changed: ['token'] });
    });
  }

  /**
   * A link key rotation (docs/EXITS.md "Link keys"). `next`: pin the exit's next certificate
   * beside the current one (both accepted at every ingress); `retire`: the next becomes the
   * only pin and the old one is refused from then on. One change each, streamed to the ingresses.
   */
  async rotateLinkKey(id: string, step: { next: string } | 'retire', actor: string): Promise<ExitRecord> {
    await this.change(actor, async (trx, record, emit) => {
      const found = await trx.selectFrom('exits').select([...EXIT_REF_COLUMNS, ...LINK_COLUMNS]).where('id', '=', id).executeTakeFirst();
      if (!found) throw notFound('exit', id);
      if (found.link_fingerprint === null) throw new ApiError(409, 'no_link_key', `exit '${id}' has no pinned link key to rotate: set one first (PATCH link${found.kind === 'reverse' ? 'Fingerprint' : ''})`);
      let cols;
      if (step === 'retire') {
        if (found.link_next_fingerprint === null) throw new ApiError(409, 'no_next_link_key', `exit '${id}' has no next link key: stage one first (POST /v1/exits/${id}/link-key)`);
        cols = linkColumns(found.kind, { port: found.link_port ?? undefined, fingerprint: found.link_next_fingerprint, next: null });
      } else {
        cols = linkColumns(found.kind, { port: found.link_port ?? undefined, fingerprint: found.link_fingerprint, next: step.next });
      }
      await trx.updateTable('exits').set({ ...cols, updated_at: now() }).where('id', '=', id).execute();
      record('exit', id, 'update');
      emit('exit.updated', id, { exit: exitRef(found), changed: ['link'] });
    });
    return (await this.get(id))!;
  }

  /** A new token for hopgate exit `id` to read the ingresses' link pins with (shown once; the previous one stops working). */
  async issueLinkToken(id: string): Promise<string> {
    const found = await this.db.selectFrom('exits').select('kind').where('id', '=', id).executeTakeFirst();
    if (!found) throw notFound('exit', id);
    if (found.kind !== 'hopgate') throw new ApiError(400, 'invalid_request', `exit '${id}' is a ${found.kind} exit: only hopgate exits read link pins with a token${found.kind === 'reverse' ? ' (a reverse exit dials the ingress)' : ''}`);
    const token = generateExitLinkToken();
    await this.db.updateTable('exits').set({ link_token_hash: hashIngressToken(token), updated_at: now() }).where('id', '=', id).execute();
    return token;
  }

  /** The exit a link token belongs to. */
  async byLinkToken(token: string): Promise<string | undefined> {
    if (!token.startsWith('hgel_')) return undefined;
    // Only a hopgate exit has link pins to read: a token issued before a kind change stops working.
    const r = await this.db.selectFrom('exits').select('id').where('link_token_hash', '=', hashIngressToken(token)).where('kind', '=', 'hopgate').executeTakeFirst();
    return r?.id;
  }

  /**
   * Delete an exit. Customers listing it keep it unless `force`, which takes
   * it out of their lists (one change: the exit and each assignment). Even
   * forced, it is refused when it is the last exit of a customer without a
   * pool: their emptied list would mean every exit, widening their access.
   */
  async delete(id: string, force: boolean, actor: string): Promise<void> {
    await this.change(actor, async (trx, record, emit) => {
      const found = await trx.selectFrom('exits').select(EXIT_REF_COLUMNS).where('id', '=', id).executeTakeFirst();
      if (!found) throw notFound('exit', id);
      const users = await trx
        .selectFrom('customer_exits')
        .innerJoin('customers', 'customers.id', 'customer_exits.customer_id')
        .select(['customers.id', 'customers.login', 'customers.status', 'customers.pools'])
        .where('customer_exits.exit_id', '=', id)
        .orderBy('customers.login')
        .execute();
      if (users.length > 0 && !force) {
        throw new ApiError(
          409,
          'exit_in_use',
          `exit '${id}' is assigned to ${users.length} customer(s) (${names(users)}); drain it, reassign them, or delete with force=true`,
        );
      }
      const lists = await customerExits(trx, users.map((u) => u.id));
      const rest = new Map(users.map((u) => [u.id, lists.get(u.id)?.filter((e) => e !== id) ?? []]));
      const stranded = users.filter((u) => rest.get(u.id)!.length === 0 && parseJson<unknown[]>(u.pools, []).length === 0);
      if (stranded.length > 0) {
        throw new ApiError(
          409,
          'exit_last',
          `exit '${id}' is the only exit of ${stranded.length} customer(s) (${names(stranded)}); an empty exit list means every exit, so deleting it would widen their access: give them another exit or a pool, or suspend or delete them first`,
        );
      }
      await this.hooks?.removing(trx, id, users.map((u) => u.id));
      for (const u of users) {
        await writeAssignment(trx, u.id, rest.get(u.id)!);
        record('assignment', u.id, 'update');
        emit('customer.updated', u.id, { customer: customerRef(u), changed: ['exits'] });
      }
      await trx.deleteFrom('exits').where('id', '=', id).execute();
      record('exit', id, 'delete');
      emit('exit.deleted', id, { exit: exitRef(found) });
      if (users.length > 0) await this.hooks?.changed(trx);
    });
  }
}
