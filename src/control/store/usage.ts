/**
 * Usage statistics: what the ingresses' statistics pulls bring in (per-minute
 * and per-period counters, the minutes still open on each ingress, each
 * node's pull cursor) and the usage query over them. Not configuration: no
 * revision bump.
 */
import { sql, type Transaction } from 'kysely';
import { periodKeysOfMinute, type StatsPull } from '../../shared/control-protocol.js';
import type { DbTarget } from '../db.js';
import { notFound } from '../errors.js';
import type { UsageQuery, UsageRow } from './records.js';
import { newEvent, type NewEvent } from '../events/kinds.js';
import { writeEvents } from './outbox.js';
import { now, type Db, type Tx } from './tx.js';
import { ingestLoginDomain } from './login-domain-stats.js';

export class UsageRepo {
  constructor(
    private readonly db: Db,
    private readonly dialect: DbTarget['dialect'],
    private readonly eventsWritten: () => void = () => undefined,
  ) {}

  /** How far node `id`'s statistics are stored (`EPOCH:SEQ`), or undefined before the first pull. */
  async cursor(id: string): Promise<string | undefined> {
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
  async ingest(id: string, pull: StatsPull, at = now()): Promise<{ stored: number; skipped: number; cursor: string }> {
    let events = 0;
    const result = await this.db.transaction().execute(async (trx) => {
      let q = trx.selectFrom('ingress_nodes').select(['stats_epoch', 'stats_seq']).where('id', '=', id);
      if (this.dialect === 'postgres') q = q.forUpdate();
      const node = await q.executeTakeFirst();
      if (!node) throw notFound('ingress node', id);
      const after = node.stats_epoch === pull.epoch ? Number(node.stats_seq ?? 0) : 0;
      const fresh = pull.records.filter((r) => r[0] > after);
      // Logins and domains (an older ingress sends none): same sequence, same cursor, same transaction.
      const freshLogins = (pull.logins ?? []).filter((r) => r[0] > after);
      const freshDomains = (pull.domains ?? []).filter((r) => r[0] > after);
      const ids = await customerIdsByLogin(trx, new Set([...fresh.map((r) => r[2]), ...pull.live.map((r) => r[1]), ...freshLogins.map((r) => r[3]), ...freshDomains.map((r) => r[3])]));
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
      for (const r of freshLogins) lastSeq = Math.max(lastSeq, r[0]);
      for (const r of freshDomains) lastSeq = Math.max(lastSeq, r[0]);
      await ingestLoginDomain(trx, freshLogins, freshDomains, cid);
      await upsertCounters(trx, 'usage_minute', ['minute', 'node_id', 'customer_id', 'exit_id'], [...minutes.values()]);
      await upsertCounters(trx, 'usage_period', ['customer_id', 'period'], [...periods.values()]);

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
      // The minutes stored, as usage.minute events in the same transaction: stored once, told once.
      events = await writeEvents(trx, usageMinuteEvents(id, `${pull.epoch}:${lastSeq}`, [...minutes.values()]), at);
      return { stored: fresh.length, skipped: pull.records.length - fresh.length, cursor: `${pull.epoch}:${lastSeq}` };
    });
    if (events > 0) this.eventsWritten();
    return result;
  }

  /**
   * Usage rows grouped by period (minute … month), customer and exit, from the
   * final minutes and (unless `live` is false) the minutes still open on the ingresses.
   */
  async query(q: UsageQuery): Promise<UsageRow[]> {
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
}

type MinuteRow = { minute: string; customer_id: string; login: string; exit_id: string; bytes_up: number; bytes_down: number; connections: number; failures: number };

/**
 * One usage.minute event per (minute, customer) of a stored pull, keyed by the
 * node and the cursor the pull moved to (a repeated pull stores nothing, so writes no event).
 */
function usageMinuteEvents(node: string, cursor: string, rows: readonly MinuteRow[]): NewEvent[] {
  const groups = new Map<string, MinuteRow[]>();
  for (const r of rows) {
    const k = `${r.minute}\0${r.customer_id}`;
    const g = groups.get(k);
    if (g) g.push(r);
    else groups.set(k, [r]);
  }
  return [...groups.values()].map((g) => {
    const first = g[0]!;
    const exits = g.map((r) => ({ exitId: r.exit_id, bytesUp: r.bytes_up, bytesDown: r.bytes_down, connections: r.connections, failures: r.failures }));
    const total = exits.reduce((t, e) => ({ bytesUp: t.bytesUp + e.bytesUp, bytesDown: t.bytesDown + e.bytesDown, connections: t.connections + e.connections, failures: t.failures + e.failures }), { bytesUp: 0, bytesDown: 0, connections: 0, failures: 0 });
    return newEvent('usage.minute', `usage.minute:${node}:${cursor}:${first.customer_id}:${first.minute}`, { minute: first.minute, node, customer: { id: first.customer_id, login: first.login }, exits, total });
  });
}

async function customerIdsByLogin(db: Db, logins: ReadonlySet<string>): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const all = [...logins];
  for (let i = 0; i < all.length; i += 500) {
    const rows = await db.selectFrom('customers').select(['id', 'login']).where('login', 'in', all.slice(i, i + 500)).execute();
    for (const r of rows) out.set(r.login, r.id);
  }
  return out;
}

/** Multi-row upsert adding the counters to existing rows (rows are unique per key within one call). */
async function upsertCounters(trx: Tx, table: 'usage_minute' | 'usage_period', keys: string[], rows: object[]): Promise<void> {
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
