/**
 * Quotas: each customer's bytes used in its current period across all
 * ingresses, and the control plane's over-quota flag (a configuration change,
 * pushed to every ingress).
 */
import { sql } from 'kysely';
import { periodKeysOfMinute } from '../../shared/control-protocol.js';
import type { QuotaStatus } from './records.js';
import { NO_CHANGE, type Db, type RunChange } from './tx.js';

export class QuotaRepo {
  constructor(
    private readonly db: Db,
    private readonly change: RunChange,
  ) {}

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
