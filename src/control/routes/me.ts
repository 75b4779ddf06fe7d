/**
 * Self-service (a customer's own login and password): its record, usage, password and sources.
 */
import * as S from '../api-schemas.js';
import { ApiError } from '../errors.js';
import { SELF_SERVICE_PREFIX_DEFAULT, sourceRangeProblem } from '../../shared/source-range.js';
import { ControlStore } from '../store/index.js';
import { actorOf, customerIdOf, mustCustomer, newPassword, route, type ControlServerOptions, type Route } from './route.js';
import { usageList } from './usage.js';

export function selfServiceRoutes(o: ControlServerOptions): Route[] {
  const store = o.store;
  const view = ControlStore.view;
  const selfServiceBound = o.selfServiceSourcePrefix ?? SELF_SERVICE_PREFIX_DEFAULT;
  return [
    route(
      { method: 'GET', path: '/v1/me', auth: 'customer', operationId: 'getMe', summary: 'Your own customer record', tag: 'self-service', status: 200, response: { description: 'you', schema: S.CustomerView } },
      async ({ principal }) => view(await mustCustomer(store, customerIdOf(principal))),
    ),
    route(
      { method: 'GET', path: '/v1/me/usage', auth: 'customer', operationId: 'getMyUsage', summary: 'Your usage per period and exit, and your quota period', tag: 'self-service', query: S.MyUsageQuery, status: 200, response: { description: 'usage', schema: S.UsageView } },
      async ({ principal, query }) => {
        const c = await mustCustomer(store, customerIdOf(principal));
        const list = await usageList(store, { ...query, customerId: c.id, live: 'true' });
        let quotaPeriod = null;
        if (c.quota) {
          const q = (await store.quotaStatus()).find((x) => x.id === c.id);
          if (q) quotaPeriod = { period: q.periodKey, used: q.used, exceededUntil: q.exceededUntil };
        }
        return {
          customerId: c.id,
          login: c.login,
          quota: c.quota,
          quotaPeriod,
          usage: list.rows.map((r) => ({ period: r.period, exitId: r.exitId, bytesUp: r.bytesUp, bytesDown: r.bytesDown, connections: r.connections, failures: r.failures })),
          note: `by ${list.by} from ${list.from} to ${list.to} (UTC); bytes counted on the ingresses, pulled every few seconds`,
        };
      },
    ),
    route(
      { method: 'POST', path: '/v1/me/credentials/rotate', auth: 'customer', operationId: 'rotateMyPassword', summary: 'Replace your password with a new generated one (shown once)', tag: 'self-service', status: 200, response: { description: 'the new password', schema: S.PasswordIssued } },
      async ({ principal }) => {
        const id = customerIdOf(principal);
        const { password, hash } = await newPassword(o);
        await store.setPasswordHash(id, hash, actorOf(principal));
        return { password };
      },
    ),
    route(
      { method: 'PUT', path: '/v1/me/sources', auth: 'customer', operationId: 'setMySources', summary: 'Replace your allowed source addresses (CIDRs)', tag: 'self-service', body: S.SourcesBody, status: 200, response: { description: 'you', schema: S.CustomerView } },
      async ({ principal, body }) => {
        // Tighter than the operators' floor: a customer may name its own offices, not a provider's block.
        for (const [i, text] of body.sources.entries()) {
          const problem = sourceRangeProblem(text, selfServiceBound);
          if (problem) throw new ApiError(400, 'invalid_request', `body.sources.${i}: ${problem}`, `body.sources.${i}`);
        }
        return view(await store.updateCustomer(customerIdOf(principal), { sources: body.sources }, actorOf(principal)));
      },
    ),
  ];
}
