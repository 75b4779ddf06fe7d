/**
 * Self-service (a customer's own login and password): its record, usage, password and sources.
 */
import * as S from '../api-schemas.js';
import { ApiError } from '../errors.js';
import { SELF_SERVICE_PREFIX_DEFAULT, sourceRangeProblem } from '../../shared/source-range.js';
import { ControlStore } from '../store/index.js';
import { actorOf, customerIdOf, mustCustomer, newPassword, route, type ControlServerOptions, type Route } from './route.js';
import { usageList } from './usage.js';
import { periodEnd } from '../../shared/quota-period.js';
import { customerPorts, portContext } from '../customer-ports.js';
import { connectSnippets } from '../connect-snippets.js';
import { parseBasicCredentials } from '../../protocol/http/proxy-authorization.js';
import { IngressConfigSchema } from '../../shared/schema/ingress-config.js';
import { grantedExits, usageSeries } from './me-helpers.js';

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
      {
        method: 'GET',
        path: '/v1/me/usage',
        auth: 'customer',
        operationId: 'getMyUsage',
        summary: 'Your usage over time (range/step, or by/from/to), per exit and as one series, with quota % used and when it resets',
        tag: 'self-service',
        query: S.MyUsageSeriesQuery,
        status: 200,
        response: { description: 'usage', schema: S.MyUsageView },
      },
      async ({ principal, query }) => {
        const c = await mustCustomer(store, customerIdOf(principal));
        const step = query.step ?? query.by;
        const nowMs = Date.now();
        const list = await usageList(store, { by: step, range: query.range, from: query.from, to: query.to, customerId: c.id, live: 'true' }, nowMs);
        let quotaPeriod = null;
        if (c.quota) {
          const q = (await store.quotaStatus(nowMs)).find((x) => x.id === c.id);
          if (q) {
            quotaPeriod = {
              period: q.periodKey,
              used: q.used,
              exceededUntil: q.exceededUntil,
              percentUsed: Math.round((q.used / c.quota.bytes) * 1000) / 10,
              resetsAt: new Date(periodEnd(c.quota.period, nowMs)).toISOString(),
            };
          }
        }
        return {
          customerId: c.id,
          login: c.login,
          quota: c.quota,
          quotaPeriod,
          step,
          from: list.from,
          to: list.to,
          usage: list.rows.map((r) => ({ period: r.period, exitId: r.exitId, bytesUp: r.bytesUp, bytesDown: r.bytesDown, connections: r.connections, failures: r.failures })),
          series: usageSeries(step, list.from, list.seriesEnd, list.rows),
          note: `by ${step} from ${list.from} to ${list.to} (UTC); bytes counted on the ingresses, pulled every few seconds`,
        };
      },
    ),
    route(
      { method: 'GET', path: '/v1/me/ports', auth: 'customer', operationId: 'getMyPorts', summary: 'Your ports: which exit each serves, its place, egress addresses and health, and whether a replacement stands in', tag: 'self-service', status: 200, response: { description: 'your port table', schema: S.MyPortsView } },
      async ({ principal }) => {
        const c = await mustCustomer(store, customerIdOf(principal));
        const [exits, settings, down] = [await store.listExits(), await store.getSettings(), await store.downExits()];
        const ctx = portContext(exits, settings);
        const table = customerPorts(ctx, c, (id) => down.has(id));
        const drained = new Set(exits.filter((e) => e.drain).map((e) => e.id));
        const health = (id: string): 'up' | 'down' | 'draining' => (drained.has(id) ? 'draining' : down.has(id) ? 'down' : 'up');
        return {
          login: c.login,
          scheme: table?.scheme ?? 'sequential',
          portBase: table?.portBase ?? null,
          listen: { host: ctx.config.listen.host, ports: ctx.config.listen.ports },
          rows: (table?.rows ?? []).map((r) => ({ ...r, health: r.exit ? health(r.exit.id) : null })),
          note: table
            ? 'health as the ingresses last reported it (with their statistics, every few seconds) and the drain flags; computed with the ingress\'s own routing code'
            : 'your account cannot be routed as it stands (no usable exit or source): ask your operator',
        };
      },
    ),
    route(
      {
        method: 'GET',
        path: '/v1/me/connect',
        auth: 'customer',
        operationId: 'getMyConnect',
        summary: 'Ready-to-paste proxy URLs and snippets (curl, Python requests, Node undici, Playwright); the password only with withPassword=1',
        tag: 'self-service',
        query: S.MyConnectQuery,
        status: 200,
        response: { description: 'connection strings', schema: S.MyConnectView },
      },
      async ({ principal, query, req, reply }) => {
        const c = await mustCustomer(store, customerIdOf(principal));
        const settings = await store.getSettings();
        const cfg = IngressConfigSchema.parse({ version: 1, ...settings, users: [], exits: [] });
        const wildcard = cfg.listen.host === '0.0.0.0' || cfg.listen.host === '::';
        const host = o.publicHost ?? (wildcard ? 'PROXY_HOST' : cfg.listen.host);
        const base = c.portBase ?? cfg.routing.portBase ?? cfg.listen.ports[0];
        const port = query.port ?? base;
        // The password is the one this very request authenticated with: never stored in clear, never guessed.
        const password = query.withPassword === '1' ? parseBasicCredentials(req.headers.authorization ?? '')?.password : undefined;
        reply.header('cache-control', 'no-store');
        const notes = [
          `port ${port}${port === base ? ' is your base port: a random exit of yours; base+N is your N-th exit (GET /v1/me/ports)' : ''}`,
          password === undefined ? 'PASSWORD stands for your password (add ?withPassword=1 to have it filled in)' : 'the snippets hold your password: keep them private',
          ...(host === 'PROXY_HOST' ? ['PROXY_HOST: the ingress listens on every address and the operator set no public host'] : []),
          ...(port === 0 ? ['the ingress listens on an ephemeral port (tests): ask your operator for the address'] : []),
        ];
        return { ...connectSnippets({ login: c.login, password, host, port, tls: cfg.tls !== undefined }), note: notes.join('; ') };
      },
    ),
    route(
      { method: 'GET', path: '/v1/me/notices', auth: 'customer', operationId: 'getMyNotices', summary: 'Your notices (failover of your ports and its end, exits taken off your list), newest first', tag: 'self-service', query: S.NoticesQuery, status: 200, response: { description: 'notices', schema: S.NoticesView } },
      async ({ principal, query }) => store.listNotices(customerIdOf(principal), { unread: query.unread === 'true', limit: query.limit }),
    ),
    route(
      { method: 'POST', path: '/v1/me/notices/read', auth: 'customer', operationId: 'markMyNoticesRead', summary: 'Mark notices read: {"ids":[…]} or {"all":true}', tag: 'self-service', body: S.NoticesReadBody, status: 200, response: { description: 'how many were marked', schema: S.NoticesReadView } },
      async ({ principal, body }) => ({ marked: await store.markNoticesRead(customerIdOf(principal), 'ids' in body ? body.ids : 'all', new Date().toISOString()) }),
    ),
    route(
      { method: 'PATCH', path: '/v1/me', auth: 'customer', operationId: 'patchMe', summary: 'Your own settings: exitHeader (X-Hopgate-Exit on HTTP proxy answers)', tag: 'self-service', body: S.MePatch, status: 200, response: { description: 'you', schema: S.CustomerView } },
      async ({ principal, body }) => view(await store.updateCustomer(customerIdOf(principal), { exitHeader: body.exitHeader }, actorOf(principal))),
    ),
    route(
      { method: 'GET', path: '/v1/me/exits', auth: 'customer', operationId: 'getMyExits', summary: 'Your ordered exits and every exit you may order onto your ports', tag: 'self-service', status: 200, response: { description: 'your exits', schema: S.MyExitsView } },
      async ({ principal }) => {
        const c = await mustCustomer(store, customerIdOf(principal));
        return { exits: c.exits, granted: grantedExits(c, await store.listExits()) };
      },
    ),
    route(
      {
        method: 'PUT',
        path: '/v1/me/exits',
        auth: 'customer',
        operationId: 'setMyExits',
        summary: 'Order your exits onto your ports (port base+1 is the first), within what the operator granted',
        tag: 'self-service',
        body: S.MyExitsBody,
        status: 200,
        response: { description: 'your exits', schema: S.MyExitsView },
        errors: [403],
      },
      async ({ principal, body }) => {
        const id = customerIdOf(principal);
        const updated = await store.setOwnExits(id, body.exits, actorOf(principal));
        return { exits: updated.exits, granted: grantedExits(updated, await store.listExits()) };
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
