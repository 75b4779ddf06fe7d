/**
 * Live exit health for the operator (the dashboard's exits page): up, down or draining per exit,
 * from the same source as a customer's port table (the ingresses' latest reports and the drain
 * flags). Its own module so that the health history of issue 16 item 4 can grow beside it.
 */
import { ExitHealthView } from '../exit-health-schema.js';
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
  ];
}
