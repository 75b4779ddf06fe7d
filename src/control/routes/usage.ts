/**
 * Usage (operator): per period, customer and exit; the query shared with self-service (me.ts).
 */
import * as S from '../api-schemas.js';
import type { ControlStore, UsageQuery } from '../store/index.js';
import { usageWindow, type Step } from './usage-window.js';
import { mustCustomer, route, type ControlServerOptions, type Route } from './route.js';

export function usageRoutes(o: ControlServerOptions): Route[] {
  const store = o.store;
  return [
    route(
      { method: 'GET', path: '/v1/usage', auth: 'operator', operationId: 'queryUsage', summary: 'Usage per period (minute … month), customer and exit, optionally for one customer, exit or ingress', tag: 'usage', query: S.UsageQuerySchema, status: 200, response: { description: 'rows by period, login, exit', schema: S.UsageList } },
      async ({ query }) => {
        let customerId: string | undefined;
        if (query.customer !== undefined) {
          const c = (await store.getCustomer(query.customer)) ?? (await store.getCustomerByLogin(query.customer));
          customerId = c?.id ?? (query.customer.startsWith('login:') ? query.customer : `login:${query.customer}`);
        }
        const { seriesEnd: _, ...list } = await usageList(store, { ...query, customerId });
        return list;
      },
    ),
    route(
      { method: 'GET', path: '/v1/customers/:id/usage', auth: 'operator', operationId: 'getCustomerUsage', summary: "One customer's usage per period and exit", tag: 'usage', params: S.IdParam, query: S.MyUsageQuery, status: 200, response: { description: 'rows by period, exit', schema: S.UsageList }, errors: [404] },
      async ({ params, query }) => {
        await mustCustomer(store, params.id);
        const { seriesEnd: _, ...list } = await usageList(store, { ...query, customerId: params.id, live: 'true' });
        return list;
      },
    ),
  ];
}

/**
 * Usage rows and totals for a window that is computed and bounded first (usage-window.ts),
 * so a huge range by a tiny step is a 400 before anything is read.
 */
export async function usageList(
  store: ControlStore,
  q: { by: Step; range?: string | undefined; from?: string | undefined; to?: string | undefined; customerId?: string | undefined; exit?: string | undefined; node?: string | undefined; live: 'true' | 'false' },
  nowMs = Date.now(),
) {
  const w = usageWindow(q.by, q, nowMs);
  const query: UsageQuery = {
    granularity: q.by,
    from: w.from,
    to: w.to,
    live: q.live === 'true',
    ...(q.customerId !== undefined ? { customerId: q.customerId } : {}),
    ...(q.exit !== undefined ? { exitId: q.exit === 'direct' ? '' : q.exit } : {}),
    ...(q.node !== undefined ? { nodeId: q.node } : {}),
  };
  const rows = await store.usage(query);
  const totals = { bytesUp: 0, bytesDown: 0, connections: 0, failures: 0 };
  for (const r of rows) {
    totals.bytesUp += r.bytesUp;
    totals.bytesDown += r.bytesDown;
    totals.connections += r.connections;
    totals.failures += r.failures;
  }
  return { by: q.by, from: w.from, to: w.to, seriesEnd: w.seriesEnd, rows, totals };
}
