/**
 * Failover notices (docs/CONTROL.md, "Self-service"): when a customer's port is
 * served by a replacement exit — its own exit drained, or down as the ingresses
 * report — the customer gets a notice naming the port, both exits and why, and
 * another when the port has its exit back. `port_failover` holds each port's
 * state, so a notice is written once per transition whatever runs the check
 * (a drain in its own transaction, every replica's statistics round); a port
 * that flaps gets at most two notices (failover, back) per NOTICE_QUIET_MS; later
 * transitions fold into its last notice (`repeats` counts them, the text and kind
 * say the latest state, unread again), so a flapping exit cannot fill anyone's notices.
 */
import { customerPorts, portLabel, type PortContext } from '../customer-ports.js';
import type { PortRow } from '../../shared/routing/port-table.js';
import type { NoticesTable, PortFailoverTable } from '../tables.js';
import { parseJson } from './json-columns.js';
import type { CustomerRecord } from './records.js';
import { newId, type Db, type Tx } from './tx.js';

/** At most one new notice per customer port in this long; later transitions update it. */
export const NOTICE_QUIET_MS = 10 * 60_000;
/** New notices per customer port within NOTICE_QUIET_MS (a failover and its end). */
export const NOTICES_PER_QUIET_WINDOW = 2;
/** Most notices kept per customer (the oldest go first). */
export const MAX_NOTICES_PER_CUSTOMER = 500;

export interface NoticeRecord {
  readonly id: string;
  readonly kind: NoticesTable['kind'];
  readonly port: number | null;
  readonly portLabel: string | null;
  readonly exitId: string | null;
  readonly replacementId: string | null;
  readonly reason: string | null;
  readonly message: string;
  readonly repeats: number;
  readonly createdAt: string;
  readonly updatedAt: string;
  readonly readAt: string | null;
}

function toNotice(r: NoticesTable): NoticeRecord {
  return {
    id: r.id,
    kind: r.kind,
    port: r.port === null ? null : Number(r.port),
    portLabel: r.port_label,
    exitId: r.exit_id,
    replacementId: r.replacement_id,
    reason: r.reason,
    message: r.message,
    repeats: Number(r.repeats),
    createdAt: r.created_at,
    updatedAt: r.updated_at,
    readAt: r.read_at,
  };
}

interface Wanted {
  readonly label: string;
  readonly port: number | null;
  readonly exitId: string;
  readonly replacementId: string | null;
  readonly reason: 'down' | 'drained';
  readonly row: PortRow;
}

function failoverText(w: Wanted): string {
  const why = w.reason === 'drained' ? 'is drained by the operator (it takes no new connections)' : 'is down';
  const served = w.row.servedBy && w.replacementId
    ? `served by exit ${w.replacementId}${w.row.servedBy.egressIp ? ` (egress ${w.row.servedBy.egressIp}${w.row.servedBy.country ? `, ${w.row.servedBy.country}` : ''})` : ''} until it is back`
    : 'none of your other exits can take over: connections on it fail until it is back';
  return `${w.label}: exit ${w.exitId} ${why}; ${served}`;
}

export class FailoverRepo {
  constructor(
    private readonly db: Db,
    private readonly dialect: 'sqlite' | 'postgres',
  ) {}

  /**
   * A transaction for a health-driven check, serialized with configuration changes (on
   * PostgreSQL it holds the revision row without bumping it; SQLite writers are serial).
   */
  async healthTx<T>(fn: (trx: Tx) => Promise<T>): Promise<T> {
    return this.db.transaction().execute(async (trx) => {
      if (this.dialect === 'postgres') await trx.selectFrom('config_state').select('revision').where('id', '=', 1).forUpdate().execute();
      return fn(trx);
    });
  }

  /** Exits some node reported down at or after `since` (older reports are stale: that node is gone or silent). */
  async downExits(since: string, db: Db = this.db): Promise<Set<string>> {
    const rows = await db.selectFrom('node_exit_health').select('down').where('reported_at', '>=', since).execute();
    const out = new Set<string>();
    for (const r of rows) for (const id of parseJson<string[]>(r.down, [])) out.add(id);
    return out;
  }

  /**
   * Bring the failover state of `customers` up to date with their port tables (health:
   * `isDown`) and write a notice per transition. Runs inside the caller's transaction.
   * Returns how many notices were written or updated.
   */
  async sync(trx: Tx, ctx: PortContext, customers: readonly CustomerRecord[], isDown: (exitId: string) => boolean, at: string): Promise<number> {
    if (customers.length === 0) return 0;
    let written = 0;
    const ids = customers.map((c) => c.id);
    const current = new Map<string, Map<string, PortFailoverTable>>();
    for (const r of await this.stateRows(trx, ids)) {
      let m = current.get(r.customer_id);
      if (!m) current.set(r.customer_id, (m = new Map<string, PortFailoverTable>()));
      m.set(r.port_label, r);
    }
    for (const c of customers) {
      const table = customerPorts(ctx, c, isDown);
      const wanted = new Map<string, Wanted>();
      for (const row of table?.rows ?? []) {
        const label = portLabel(row);
        if (!row.exit || label === undefined || wanted.has(label)) continue;
        if (row.state === 'up') continue;
        wanted.set(label, { label, port: row.port, exitId: row.exit.id, replacementId: row.replacement ? row.servedBy!.id : null, reason: row.state === 'drained' ? 'drained' : 'down', row });
      }
      const have = current.get(c.id) ?? new Map<string, PortFailoverTable>();
      for (const w of wanted.values()) {
        const old = have.get(w.label);
        if (old && Number(old.active) === 1 && old.exit_id === w.exitId && old.replacement_id === w.replacementId && old.reason === w.reason) continue;
        const notice = await this.notify(trx, c.id, old, { kind: 'failover', port: w.port, label: w.label, exitId: w.exitId, replacementId: w.replacementId, reason: w.reason, message: failoverText(w) }, at);
        written++;
        const state = { exit_id: w.exitId, replacement_id: w.replacementId, reason: w.reason, active: 1, last_notice_id: notice.id, last_notice_at: notice.at };
        if (old) {
          await trx
            .updateTable('port_failover')
            .set({ ...state, ...(Number(old.active) === 1 ? {} : { since: at }) })
            .where('customer_id', '=', c.id)
            .where('port_label', '=', w.label)
            .execute();
        } else {
          await trx.insertInto('port_failover').values({ customer_id: c.id, port_label: w.label, since: at, ...state }).execute();
        }
      }
      for (const old of have.values()) {
        if (Number(old.active) !== 1 || wanted.has(old.port_label)) continue;
        const port = /^port (\d+)$/.exec(old.port_label);
        const back = table?.rows.find((r) => portLabel(r) === old.port_label);
        const message = back?.exit && back.exit.id === old.exit_id
          ? `${old.port_label}: exit ${old.exit_id} is back and serves the port again${old.replacement_id ? ` (exit ${old.replacement_id} stood in)` : ''}`
          : `${old.port_label}: no longer served by a replacement for exit ${old.exit_id}${back?.exit ? `; its exit is now ${back.exit.id}` : ''}`;
        const notice = await this.notify(trx, c.id, old, { kind: 'restored', port: port ? Number(port[1]) : null, label: old.port_label, exitId: old.exit_id, replacementId: old.replacement_id, reason: old.reason, message }, at);
        written++;
        await trx
          .updateTable('port_failover')
          .set({ active: 0, last_notice_id: notice.id, last_notice_at: notice.at })
          .where('customer_id', '=', c.id)
          .where('port_label', '=', old.port_label)
          .execute();
      }
    }
    return written;
  }

  /** Forget a customer's failover state (their list was rewritten: port labels mean other exits now). */
  async forget(trx: Tx, customerIds: readonly string[]): Promise<void> {
    if (customerIds.length > 0) await trx.deleteFrom('port_failover').where('customer_id', 'in', [...customerIds]).execute();
  }

  /** A notice not tied to port state (an exit taken off the customer's list). */
  async add(trx: Tx, customerId: string, n: { kind: NoticesTable['kind']; port: number | null; label: string | null; exitId: string | null; replacementId: string | null; reason: string | null; message: string }, at: string): Promise<void> {
    await this.insertNotice(trx, customerId, n, at);
  }

  async list(customerId: string, o: { unread?: boolean; limit: number }): Promise<{ notices: NoticeRecord[]; unread: number }> {
    let q = this.db.selectFrom('notices').selectAll().where('customer_id', '=', customerId);
    if (o.unread) q = q.where('read_at', 'is', null);
    const rows = await q.orderBy('updated_at', 'desc').orderBy('id').limit(o.limit).execute();
    const unread = await this.db
      .selectFrom('notices')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('customer_id', '=', customerId)
      .where('read_at', 'is', null)
      .executeTakeFirst();
    return { notices: rows.map(toNotice), unread: Number(unread?.n ?? 0) };
  }

  /** Mark the customer's notices read: the ids given (others' ids are ignored), or all. Returns how many changed. */
  async markRead(customerId: string, ids: readonly string[] | 'all', at: string): Promise<number> {
    if (ids !== 'all' && ids.length === 0) return 0;
    let q = this.db.updateTable('notices').set({ read_at: at }).where('customer_id', '=', customerId).where('read_at', 'is', null);
    if (ids !== 'all') q = q.where('id', 'in', [...ids]);
    const r = await q.executeTakeFirst();
    return Number(r.numUpdatedRows);
  }

  private stateRows(trx: Tx, customerIds: string[]): Promise<PortFailoverTable[]> {
    return trx.selectFrom('port_failover').selectAll().where('customer_id', 'in', customerIds).execute();
  }

  /**
   * A new notice, or — within NOTICE_QUIET_MS of this port's last one — that notice rewritten to
   * the latest transition with `repeats` + 1 and unread again.
   */
  private async notify(
    trx: Tx,
    customerId: string,
    old: { last_notice_id: string | null; last_notice_at: string | null } | undefined,
    n: { kind: NoticesTable['kind']; port: number | null; label: string; exitId: string; replacementId: string | null; reason: string; message: string },
    at: string,
  ): Promise<{ id: string; at: string }> {
    // A failover and its end are two notices; past that, a port's transitions within the quiet window fold into its last one.
    const recent = old?.last_notice_id
      ? await trx
          .selectFrom('notices')
          .select((eb) => eb.fn.countAll<number>().as('n'))
          .where('customer_id', '=', customerId)
          .where('port_label', '=', n.label)
          .where('created_at', '>=', new Date(Date.parse(at) - NOTICE_QUIET_MS).toISOString())
          .executeTakeFirst()
      : undefined;
    if (old?.last_notice_id && Number(recent?.n ?? 0) >= NOTICES_PER_QUIET_WINDOW) {
      const r = await trx
        .updateTable('notices')
        .set((eb) => ({ kind: n.kind, exit_id: n.exitId, replacement_id: n.replacementId, reason: n.reason, message: n.message, repeats: eb('repeats', '+', 1), updated_at: at, read_at: null }))
        .where('id', '=', old.last_notice_id)
        .where('customer_id', '=', customerId)
        .executeTakeFirst();
      if (Number(r.numUpdatedRows) > 0) return { id: old.last_notice_id, at };
    }
    return { id: await this.insertNotice(trx, customerId, n, at), at };
  }

  private async insertNotice(
    trx: Tx,
    customerId: string,
    n: { kind: NoticesTable['kind']; port: number | null; label: string | null; exitId: string | null; replacementId: string | null; reason: string | null; message: string },
    at: string,
  ): Promise<string> {
    const id = newId('ntc');
    await trx
      .insertInto('notices')
      .values({ id, customer_id: customerId, kind: n.kind, port: n.port, port_label: n.label, exit_id: n.exitId, replacement_id: n.replacementId, reason: n.reason, message: n.message.slice(0, 1000), repeats: 0, created_at: at, updated_at: at, read_at: null })
      .execute();
    // Bounded per customer: the oldest beyond the cap go.
    const old = await trx.selectFrom('notices').select('id').where('customer_id', '=', customerId).orderBy('updated_at', 'desc').orderBy('id').offset(MAX_NOTICES_PER_CUSTOMER).limit(1000).execute();
    if (old.length > 0) await trx.deleteFrom('notices').where('id', 'in', old.map((r) => r.id)).execute();
    return id;
  }
}
