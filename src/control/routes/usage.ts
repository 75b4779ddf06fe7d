/**
 * Usage (operator): per period, customer and exit; the query shared with self-service (me.ts).
 */
import * as S from '../api-schemas.js';
import type { ControlStore, UsageQuery } from '../store/index.js';
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
        return usageList(store, { ...query, customerId });
      },
    ),
    route(
      { method: 'GET', path: '/v1/customers/:id/usage', auth: 'operator', operationId: 'getCustomerUsage', summary: "One customer's usage per period and exit", tag: 'usage', params: S.IdParam, query: S.MyUsageQuery, status: 200, response: { description: 'rows by period, exit', schema: S.UsageList }, errors: [404] },
      async ({ params, query }) => {
        await mustCustomer(store, params.id);
        return usageList(store, { ...query, customerId: params.id, live: 'true' });
      },
    ),
  ];
}

const WIDTH = { minute: 16, hour: 13, day: 10, month: 7 } as const;

/** Default windows: 60 minutes, 48 hours, 31 days, 12 months back from now. */
function usageWindow(by: keyof typeof WIDTH, from: string | undefined, to: string | undefined, nowMs = Date.now()): { from: string; to: string } {
  const back = { minute: 60 * 60_000, hour: 48 * 3_600_000, day: 31 * 86_400_000, month: 366 * 86_400_000 }[by];
  const norm = (t: string): string => t.replace(/Z$/, '').slice(0, 16);
  const end = to !== undefined ? norm(to) : '9999-12-31T23:59';
  const start = from !== undefined ? norm(from) : new Date(nowMs - back).toISOString().slice(0, WIDTH[by]);
  return { from: start, to: end };
}

export async function usageList(
  store: ControlStore,
  q: { by: keyof typeof WIDTH; from?: string | undefined; to?: string | undefined; customerId?: string | undefined; exit?: string | undefined; node?: string | undefined; live: 'true' | 'false' },
) {
  const w = usageWindow(q.by, q.from, q.to);
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
  return { by: q.by, from: w.from, to: w.to, rows, totals };
}
