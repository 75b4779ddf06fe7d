/**
 * Quotas: each customer's bytes used in its current period across all
 * ingresses, and the control plane's over-quota flag (a configuration change,
 * pushed to every ingress).
 */
import { sql } from 'kysely';
import { periodKeysOfMinute } from '../../shared/control-protocol.js';
import type { QuotaStatus } from './records.js';
import { periodEnd } from '../../shared/quota-period.js';
import { newEvent, type NewEvent } from '../events/kinds.js';
import { customerRef } from './customers.js';
import { writeEvents } from './outbox.js';
import { NO_CHANGE, now, type Db, type RunChange } from './tx.js';

/** The shares of a quota announced as events (quota.warning, quota.exceeded). */
export const QUOTA_LEVELS = [80, 100] as const;

export class QuotaRepo {
  constructor(
    private readonly db: Db,
    private readonly change: RunChange,
    private readonly eventsWritten: () => void = () => undefined,
  ) {}

  /**
   * Announce each quota level (80 %, 100 %) a customer reached in its current
   * period, once per (customer, period, quota size): the quota_alerts row and
   * its event are written in one transaction, and a row already there (another
   * replica, an earlier round) means the event exists. A raised quota reached
   * again is a new crossing. Returns the events written.
   */
  async recordCrossings(status: readonly QuotaStatus[], nowMs = Date.now()): Promise<number> {
    const due = status.flatMap((c) => QUOTA_LEVELS.filter((level) => c.bytes > 0 && c.used * 100 >= c.bytes * level).map((level) => ({ c, level })));
    if (due.length === 0) return 0;
    const known = new Set<string>();
    const ids = [...new Set(due.map((d) => d.c.id))];
    for (let i = 0; i < ids.length; i += 500) {
      const rows = await this.db.selectFrom('quota_alerts').select(['customer_id', 'period_key', 'quota_bytes', 'level']).where('customer_id', 'in', ids.slice(i, i + 500)).execute();
      for (const r of rows) known.add(`${r.customer_id}\0${r.period_key}\0${Number(r.quota_bytes)}\0${Number(r.level)}`);
    }
    const fresh = due.filter((d) => !known.has(`${d.c.id}\0${d.c.periodKey}\0${d.c.bytes}\0${d.level}`));
    if (fresh.length === 0) return 0;
    const written = await this.db.transaction().execute(async (trx) => {
      const at = now();
      const events: NewEvent[] = [];
      for (const { c, level } of fresh) {
        const r = await trx
          .insertInto('quota_alerts')
          .values({ customer_id: c.id, period_key: c.periodKey, quota_bytes: c.bytes, level, at })
          .onConflict((oc) => oc.columns(['customer_id', 'period_key', 'quota_bytes', 'level']).doNothing())
          .executeTakeFirst();
        if (Number(r.numInsertedOrUpdatedRows ?? 0n) === 0) continue; // another replica announced it
        const kind = level === 100 ? 'quota.exceeded' : 'quota.warning';
        events.push(
          newEvent(kind, `${kind}:${c.id}:${c.periodKey}:${c.bytes}`, {
            customer: { id: c.id, login: c.login },
            level,
            quotaBytes: c.bytes,
            usedBytes: c.used,
            period: c.period,
            periodKey: c.periodKey,
            resetsAt: new Date(periodEnd(c.period, nowMs)).toISOString(),
          }),
        );
      }
      return writeEvents(trx, events, at);
    });
    if (written > 0) this.eventsWritten();
    return written;
  }

  /**
   * Every customer with a quota, with the bytes used in the current period
   * across all ingresses: final minutes (per-period totals) plus the minutes
   * still open on the ingresses as of their last pull.
   */
  async status(nowMs = Date.now()): Promise<QuotaStatus[]> {
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
  async setFlags(flags: ReadonlyArray<{ id: string; until: string | null }>): Promise<number> {
    if (flags.length === 0) return 0;
    let changed = 0;
    await this.change('system:quota', async (trx, record, emit) => {
      for (const f of flags) {
        const r = await trx.selectFrom('customers').select(['id', 'login', 'status', 'quota_exceeded_until']).where('id', '=', f.id).executeTakeFirst();
        if (!r || (r.quota_exceeded_until ?? null) === f.until) continue;
        await trx.updateTable('customers').set({ quota_exceeded_until: f.until }).where('id', '=', f.id).execute();
        record('customer', f.id, 'update');
        emit('customer.updated', f.id, { customer: customerRef(r), changed: ['quotaExceededUntil'] });
        changed++;
      }
      if (changed === 0) throw NO_CHANGE;
    });
    return changed;
  }
}
