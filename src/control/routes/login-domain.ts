/**
 * Login records and top target domains (issue 16): GET /v1/customers/{id}/logins and
 * /domains for the operator, GET /v1/me/domains and /v1/me/logins for the customer
 * themself. Windows are bounded before anything is read (usage-window.ts).
 */
import * as S from '../api-schemas.js';
import * as L from '../login-domain-schemas.js';
import { ApiError, notFound } from '../errors.js';
import type { ControlStore, CustomerRecord } from '../store/index.js';
import { periods } from './me-helpers.js';
import { KEY_WIDTH, MAX_RANGE_MS, OPEN_END, usageWindow } from './usage-window.js';
import { customerIdOf, mustCustomer, route, type ControlServerOptions, type Route } from './route.js';
import type { z } from 'zod';

const minuteKey = (ms: number): string => new Date(ms).toISOString().slice(0, 16);

/** The customer by id or login (404 otherwise). */
async function customerByIdOrLogin(store: ControlStore, idOrLogin: string): Promise<CustomerRecord> {
  const c = (await store.getCustomer(idOrLogin)) ?? (await store.getCustomerByLogin(idOrLogin));
  if (!c) throw notFound('customer', idOrLogin);
  return c;
}

export async function loginsView(store: ControlStore, c: CustomerRecord, q: z.infer<typeof L.LoginsQuery>, nowMs = Date.now()): Promise<z.infer<typeof L.LoginsView>> {
  const w = usageWindow(q.by, q, nowMs);
  const r = await store.loginDomains.logins(c.id, w.from, w.to, KEY_WIDTH[q.by]);
  const by = new Map(periods(q.by, w.from, w.seriesEnd).map((p) => [p, { period: p, ok: 0, failed: 0 }]));
  const totals = { ok: 0, failed: 0 };
  for (const p of r.series) {
    totals.ok += p.ok;
    totals.failed += p.failed;
    const slot = by.get(p.period);
    if (slot) [slot.ok, slot.failed] = [p.ok, p.failed];
  }
  return { customerId: c.id, login: c.login, by: q.by, from: w.from, to: w.to, series: [...by.values()], prefixes: r.prefixes, prefixesOmitted: r.prefixesOmitted, totals };
}

/** The window of a domains query: a range back from now, a calendar period, or from/to (hours), at most ~400 days. */
export function domainsWindow(q: { period?: string | undefined; from?: string | undefined; to?: string | undefined }, nowMs: number): { from: string; to: string } {
  if (q.period !== undefined && (q.from !== undefined || q.to !== undefined)) throw new ApiError(400, 'invalid_request', 'query.period: give period or from/to, not both', 'query.period');
  if (q.from !== undefined || q.to !== undefined) {
    const w = usageWindow('hour', q, nowMs);
    return { from: w.from, to: w.to };
  }
  const period = q.period ?? '24h';
  const range = /^(\d{1,4})([mhd])$/.exec(period);
  if (range) {
    const ms = Number(range[1]) * { m: 60_000, h: 3_600_000, d: 86_400_000 }[range[2] as 'm' | 'h' | 'd'];
    if (!(ms > 0 && ms <= MAX_RANGE_MS)) throw new ApiError(400, 'invalid_request', 'query.period: a range from 1 minute to 400 days (like 24h, 7d, 30d)', 'query.period');
    return { from: minuteKey(nowMs - ms), to: OPEN_END };
  }
  const [y, mo, d, h] = [period.slice(0, 4), period.slice(5, 7), period.slice(8, 10), period.slice(11, 13)].map(Number) as [number, number, number, number];
  const start = Date.UTC(y, mo - 1, period.length >= 10 ? d : 1, period.length >= 13 ? h : 0);
  const end = period.length === 7 ? Date.UTC(y, mo, 1) : start + (period.length === 10 ? 86_400_000 : 3_600_000);
  if (!Number.isFinite(start) || minuteKey(start).slice(0, period.length) !== period) throw new ApiError(400, 'invalid_request', 'query.period: not a valid UTC period', 'query.period');
  return { from: minuteKey(start), to: minuteKey(end) };
}

export async function domainsView(store: ControlStore, c: CustomerRecord, q: z.infer<typeof L.DomainsQuery>, nowMs = Date.now()): Promise<z.infer<typeof L.DomainsView>> {
  const w = domainsWindow(q, nowMs);
  const r = await store.loginDomains.domains(c.id, w.from, w.to, q.limit);
  return { customerId: c.id, login: c.login, from: w.from, to: w.to, limit: q.limit, domains: r.domains, totals: r.totals };
}

export function loginDomainRoutes(o: ControlServerOptions): Route[] {
  const store = o.store;
  return [
    route(
      { method: 'GET', path: '/v1/customers/:id/logins', auth: 'operator', operationId: 'getCustomerLogins', summary: "One customer's logins (id or login): ok/failed per period and by source prefix (/24, /48) and outcome", tag: 'usage', params: S.IdParam, query: L.LoginsQuery, status: 200, response: { description: 'login records', schema: L.LoginsView }, errors: [404] },
      async ({ params, query }) => loginsView(store, await customerByIdOrLogin(store, params.id), query),
    ),
    route(
      { method: 'GET', path: '/v1/customers/:id/domains', auth: 'operator', operationId: 'getCustomerDomains', summary: "One customer's top target domains by bytes over a period (id or login)", tag: 'usage', params: S.IdParam, query: L.DomainsQuery, status: 200, response: { description: 'top domains', schema: L.DomainsView }, errors: [404] },
      async ({ params, query }) => domainsView(store, await customerByIdOrLogin(store, params.id), query),
    ),
    route(
      { method: 'GET', path: '/v1/me/domains', auth: 'customer', operationId: 'getMyDomains', summary: 'Your top target domains by bytes over a period', tag: 'self-service', query: L.DomainsQuery, status: 200, response: { description: 'top domains', schema: L.DomainsView } },
      async ({ principal, query }) => domainsView(store, await mustCustomer(store, customerIdOf(principal)), query),
    ),
    route(
      { method: 'GET', path: '/v1/me/logins', auth: 'customer', operationId: 'getMyLogins', summary: 'Logins with your username: ok/failed per period and by source prefix and outcome', tag: 'self-service', query: L.LoginsQuery, status: 200, response: { description: 'login records', schema: L.LoginsView } },
      async ({ principal, query }) => loginsView(store, await mustCustomer(store, customerIdOf(principal)), query),
    ),
  ];
}
