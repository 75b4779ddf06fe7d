/**
 * Login outcomes and target domains per minute (issue 16): written by the
 * statistics ingest in the transaction that stores the usage records
 * (usage.ts, exactly once by the same cursor), read by the logins and domains
 * routes, pruned after the retention (the collector). Not configuration.
 */
import { sql } from 'kysely';
import { isDomainRecord, isLoginRecord, type DomainRecord, type LoginRecord } from '../../shared/control-protocol.js';
import type { Db, Tx } from './tx.js';

export interface LoginPoint {
  readonly period: string;
  readonly ok: number;
  readonly failed: number;
}

export interface LoginPrefixRow {
  readonly prefix: string;
  readonly ok: number;
  readonly failed: number;
  /** Counts by outcome (ok, bad_password, …). */
  readonly outcomes: Record<string, number>;
}

export interface DomainRow {
  readonly domain: string;
  readonly bytesUp: number;
  readonly bytesDown: number;
  readonly connections: number;
}

/** Most prefixes one logins answer lists (by failures, then successes). */
export const MAX_PREFIXES = 200;

/** Add one pull's fresh login and domain records (`cid`: login → customer id). Inside the ingest's transaction. */
export async function ingestLoginDomain(trx: Tx, logins: readonly LoginRecord[], domains: readonly DomainRecord[], cid: (login: string) => string): Promise<void> {
  const lrows = new Map<string, { minute: string; customer_id: string; login: string; prefix: string; outcome: string; count: number }>();
  for (const [, , minute, login, prefix, outcome, n] of logins) {
    const customer = login === '' ? '' : cid(login);
    const k = `${minute}\0${customer}\0${prefix}\0${outcome}`;
    const r = lrows.get(k);
    if (r) r.count += n;
    else lrows.set(k, { minute, customer_id: customer, login, prefix, outcome, count: n });
  }
  const drows = new Map<string, { minute: string; customer_id: string; login: string; domain: string; bytes_up: number; bytes_down: number; connections: number }>();
  for (const [, , minute, login, domain, up, down, conns] of domains) {
    const customer = cid(login);
    const k = `${minute}\0${customer}\0${domain}`;
    const r = drows.get(k);
    if (r) {
      r.bytes_up += up;
      r.bytes_down += down;
      r.connections += conns;
    } else drows.set(k, { minute, customer_id: customer, login, domain, bytes_up: up, bytes_down: down, connections: conns });
  }
  const L = [...lrows.values()];
  for (let i = 0; i < L.length; i += 400) {
    await trx
      .insertInto('login_minute')
      .values(L.slice(i, i + 400))
      .onConflict((oc) => oc.columns(['minute', 'customer_id', 'prefix', 'outcome']).doUpdateSet({ count: sql`login_minute.count + excluded.count` }))
      .execute();
  }
  const D = [...drows.values()];
  for (let i = 0; i < D.length; i += 400) {
    await trx
      .insertInto('domain_minute')
      .values(D.slice(i, i + 400))
      .onConflict((oc) =>
        oc.columns(['minute', 'customer_id', 'domain']).doUpdateSet({
          bytes_up: sql`domain_minute.bytes_up + excluded.bytes_up`,
          bytes_down: sql`domain_minute.bytes_down + excluded.bytes_down`,
          connections: sql`domain_minute.connections + excluded.connections`,
        }),
      )
      .execute();
  }
}

export class LoginDomainRepo {
  constructor(private readonly db: Db) {}

  /**
   * One customer's logins ('' = attempts naming no customer) from `from` to `to`
   * (minutes, `to` exclusive): ok/failed per period of `width` characters of the
   * minute key, and per source prefix (the MAX_PREFIXES with the most failures).
   */
  async logins(customerId: string, from: string, to: string, width: number): Promise<{ series: LoginPoint[]; prefixes: LoginPrefixRow[]; prefixesOmitted: number }> {
    const base = this.db.selectFrom('login_minute').where('customer_id', '=', customerId).where('minute', '>=', from).where('minute', '<', to);
    const period = sql<string>`substr(minute, 1, ${sql.lit(width)})`;
    const okSum = sql<number>`sum(case when outcome = 'ok' then count else 0 end)`;
    const failSum = sql<number>`sum(case when outcome = 'ok' then 0 else count end)`;
    const series = await base.select([period.as('period'), okSum.as('ok'), failSum.as('failed')]).groupBy(period).orderBy(period).execute();
    const top = await base
      .select(['prefix', okSum.as('ok'), failSum.as('failed')])
      .groupBy('prefix')
      .orderBy(failSum, 'desc')
      .orderBy(okSum, 'desc')
      .orderBy('prefix')
      .limit(MAX_PREFIXES + 1)
      .execute();
    const shown = top.slice(0, MAX_PREFIXES);
    const outcomes = new Map<string, Record<string, number>>();
    if (shown.length > 0) {
      const rows = await base
        .select(['prefix', 'outcome', sql<number>`sum(count)`.as('n')])
        .where('prefix', 'in', shown.map((r) => r.prefix))
        .groupBy(['prefix', 'outcome'])
        .execute();
      for (const r of rows) {
        let o = outcomes.get(r.prefix);
        if (!o) outcomes.set(r.prefix, (o = {}));
        o[r.outcome] = Number(r.n);
      }
    }
    let omitted = 0;
    if (top.length > MAX_PREFIXES) {
      const c = await base.select(sql<number>`count(distinct prefix)`.as('n')).executeTakeFirst();
      omitted = Number(c?.n ?? 0) - MAX_PREFIXES;
    }
    return {
      series: series.map((r) => ({ period: r.period, ok: Number(r.ok), failed: Number(r.failed) })),
      prefixes: shown.map((r) => ({ prefix: r.prefix, ok: Number(r.ok), failed: Number(r.failed), outcomes: outcomes.get(r.prefix) ?? {} })),
      prefixesOmitted: omitted,
    };
  }

  /** One customer's top `limit` domains by bytes (both ways) from `from` to `to`, and the totals of all of them. */
  async domains(customerId: string, from: string, to: string, limit: number): Promise<{ domains: DomainRow[]; totals: Omit<DomainRow, 'domain'> & { domains: number } }> {
    const base = this.db.selectFrom('domain_minute').where('customer_id', '=', customerId).where('minute', '>=', from).where('minute', '<', to);
    const up = sql<number>`sum(bytes_up)`;
    const down = sql<number>`sum(bytes_down)`;
    const conns = sql<number>`sum(connections)`;
    const rows = await base
      .select(['domain', up.as('up'), down.as('down'), conns.as('conns')])
      .groupBy('domain')
      .orderBy(sql`sum(bytes_up) + sum(bytes_down)`, 'desc')
      .orderBy(conns, 'desc')
      .orderBy('domain')
      .limit(limit)
      .execute();
    const t = await base.select([up.as('up'), down.as('down'), conns.as('conns'), sql<number>`count(distinct domain)`.as('n')]).executeTakeFirst();
    return {
      domains: rows.map((r) => ({ domain: r.domain, bytesUp: Number(r.up), bytesDown: Number(r.down), connections: Number(r.conns) })),
      totals: { bytesUp: Number(t?.up ?? 0), bytesDown: Number(t?.down ?? 0), connections: Number(t?.conns ?? 0), domains: Number(t?.n ?? 0) },
    };
  }

  /** Delete the minutes before `minute` (the retention); the rows removed. */
  async prune(minute: string): Promise<number> {
    const a = await this.db.deleteFrom('login_minute').where('minute', '<', minute).executeTakeFirst();
    const b = await this.db.deleteFrom('domain_minute').where('minute', '<', minute).executeTakeFirst();
    return Number(a.numDeletedRows) + Number(b.numDeletedRows);
  }
}

/**
 * The login and domain records of a pull that fit the columns (an ingress is not
 * trusted blindly: one bad record must neither fail the pull forever nor be stored).
 */
export function checkedLoginDomain(pull: { logins?: unknown; domains?: unknown }): { logins: LoginRecord[]; domains: DomainRecord[]; dropped: number } {
  const ls = Array.isArray(pull.logins) ? (pull.logins as unknown[]) : [];
  const ds = Array.isArray(pull.domains) ? (pull.domains as unknown[]) : [];
  const logins = ls.filter(isLoginRecord);
  const domains = ds.filter(isDomainRecord);
  return { logins, domains, dropped: ls.length - logins.length + ds.length - domains.length };
}
