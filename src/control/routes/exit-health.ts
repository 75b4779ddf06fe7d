/**
 * Exit health for the operator: live (the dashboard's exits page: up, down or draining per exit,
 * from the same source as a customer's port table — the ingresses' latest reports and the drain
 * flags) and its history (issue 16: each node's up/down transitions and the probes per minute,
 * store/health-history.ts) over a window bounded like usage's (usage-window.ts).
 */
import { ExitHealthView, HealthHistoryQuery, HealthHistoryView } from '../exit-health-schema.js';
import { IdParam } from '../api-schemas.js';
import { notFound } from '../errors.js';
import { usageWindow } from './usage-window.js';
import { route, type ControlServerOptions, type Route } from './route.js';

export function exitHealthRoutes(o: ControlServerOptions): Route[] {
  const store = o.store;
  return [
    route(
      { method: 'GET', path: '/v1/exit-health', auth: 'operator', operationId: 'listExitHealth', summary: 'Every exit: up, down (as the ingresses last reported) or draining', tag: 'exits', status: 200, response: { description: 'health by exit id', schema: ExitHealthView } },
      async () => {
        const [exits, down] = [await store.listExits(), await store.downExits()];
        return {
          exits: exits.map((e) => ({ id: e.id, health: e.drain ? ('draining' as const) : down.has(e.id) ? ('down' as const) : ('up' as const) })),
          note: 'as the ingresses last reported with their statistics (every few seconds), and the drain flags',
        };
      },
    ),
    route(
      {
        method: 'GET',
        path: '/v1/exits/:id/health-history',
        auth: 'operator',
        operationId: 'getExitHealthHistory',
        summary: "One exit's health history: up/down transitions per ingress node, probes per minute (ok, failed, mean latency), each node's latest probe",
        tag: 'exits',
        params: IdParam,
        query: HealthHistoryQuery,
        status: 200,
        response: { description: 'transitions, per-minute probe series and node states', schema: HealthHistoryView },
        errors: [404],
      },
      async ({ params, query }) => {
        // The window first: a bad or too long one is a 400 before anything is read.
        const w = usageWindow('minute', query.range === undefined && query.from === undefined ? { ...query, range: '24h' } : query, Date.now());
        const exit = await store.getExit(params.id);
        if (!exit) throw notFound('exit', params.id);
        const [h, down] = [await store.exitHealthHistory(exit.id, w.from, w.to), await store.downExits()];
        return { exit: exit.id, health: exit.drain ? ('draining' as const) : down.has(exit.id) ? ('down' as const) : ('up' as const), from: w.from, to: w.to, ...h };
      },
    ),
  ];
}
