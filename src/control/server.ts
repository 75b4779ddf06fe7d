/**
 * The control-plane HTTP API (fastify). Every route is declared once with its
 * zod schemas: they validate the request and make the OpenAPI document served
 * at GET /openapi.json. Operators authenticate with the bearer token; customers
 * with their own login and password (Basic) on /v1/me/… only.
 */
import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { z } from 'zod';
import { hashPassword } from '../shared/auth/password-hash.js';
import { IngressConfigSchema } from '../shared/schema/ingress-config.js';
import type { Logger } from '../shared/log.js';
import * as S from './api-schemas.js';
import { ApiError, notFound } from './errors.js';
import { asDbUnavailable } from './db-unavailable.js';
import { openApiDocument, type RouteDoc } from './openapi.js';
import { renderIngressConfig, renderYaml } from './render.js';
import { SELF_SERVICE_PREFIX_DEFAULT, SOURCE_PREFIX_FLOOR, sourceRangeProblem, type PrefixBound } from '../shared/source-range.js';
import { ControlStore, type CustomerRecord, type UsageQuery } from './store.js';
import { generateExitToken } from './token.js';
import { apiAuthenticator } from './api-auth.js';
import type { ConfigHub } from './stream.js';
import type { StatsCollector } from './collector.js';
import type { ControlMetrics } from './metrics.js';
import type { LegitimacyService } from './legitimacy.js';
import { registerDashboard } from './dashboard/serve.js';

export const API_VERSION = '0.1.0';

export type Principal =
  | { readonly kind: 'anonymous' }
  | { readonly kind: 'operator' }
  | { readonly kind: 'customer'; readonly id: string; readonly login: string }
  | { readonly kind: 'ingress'; readonly nodeId: string };

type Out<T> = T extends z.ZodType ? z.output<T> : undefined;

interface Ctx<P, Q, B> {
  readonly params: P;
  readonly query: Q;
  readonly body: B;
  readonly principal: Principal;
  readonly req: FastifyRequest;
  readonly reply: FastifyReply;
}

interface Route extends RouteDoc {
  handler(ctx: Ctx<unknown, unknown, unknown>): Promise<unknown>;
}

function route<PS extends z.ZodObject | undefined = undefined, QS extends z.ZodObject | undefined = undefined, BS extends z.ZodType | undefined = undefined>(
  doc: Omit<RouteDoc, 'params' | 'query' | 'body'> & { params?: PS; query?: QS; body?: BS },
  handler: (ctx: Ctx<Out<PS>, Out<QS>, Out<BS>>) => Promise<unknown>,
): Route {
  return { ...(doc as RouteDoc), handler: handler };
}

export interface ControlServerOptions {
  readonly store: ControlStore;
  readonly adminToken: string;
  readonly host?: string;
  readonly port?: number;
  readonly logger?: Logger;
  /** scrypt cost of generated customer passwords (tests lower it). */
  readonly passwordCost?: { ln: number; r: number; p: number };
  /** The config stream (GET /v1/stream); without it the stream routes answer 503. */
  readonly hub?: ConfigHub;
  /** Statistics and quotas; a quota change is re-checked at once when present. */
  readonly collector?: StatsCollector;
  /** GET /metrics and request counting. */
  readonly metrics?: ControlMetrics;
  /** Source legitimacy (reports, rules, events); without it those routes answer 503. */
  readonly legitimacy?: LegitimacyService;
  /** Broadest source prefix a customer may set itself (default /24 and /48; never broader than SOURCE_PREFIX_FLOOR). */
  readonly selfServiceSourcePrefix?: PrefixBound;
}

/** A generated customer password: 24 URL-safe characters (144 bits). */
export function generatePassword(): string {
  return randomBytes(18).toString('base64url');
}

function describeZodError(where: string, err: z.ZodError): ApiError {
  const parts = err.issues.map((i) => {
    const path = [where, ...i.path.map(String)];
    if (i.code === 'unrecognized_keys' && i.keys.length > 0) path.push(i.keys[0]!);
    return { field: path.join('.'), message: i.message };
  });
  const first = parts[0] ?? { field: where, message: 'invalid' };
  return new ApiError(400, 'invalid_request', parts.map((p) => `${p.field}: ${p.message}`).join('; '), first.field);
}

function parseWith<T extends z.ZodType>(schema: T | undefined, value: unknown, where: string): unknown {
  if (!schema) return undefined;
  const r = schema.safeParse(value);
  if (!r.success) throw describeZodError(where, r.error);
  return r.data;
}

export class ControlServer {
  private constructor(
    readonly app: FastifyInstance,
    readonly url: string,
    readonly routes: readonly RouteDoc[],
  ) {}

  get port(): number {
    return Number(new URL(this.url).port);
  }

  static async start(o: ControlServerOptions): Promise<ControlServer> {
    const b = o.selfServiceSourcePrefix;
    if (b && !(b.ipv4 >= SOURCE_PREFIX_FLOOR.ipv4 && b.ipv4 <= 32 && b.ipv6 >= SOURCE_PREFIX_FLOOR.ipv6 && b.ipv6 <= 128)) {
      throw new Error(`the self-service source prefix must be /${SOURCE_PREFIX_FLOOR.ipv4}../32 for IPv4 and /${SOURCE_PREFIX_FLOOR.ipv6}../128 for IPv6 (got /${b.ipv4}, /${b.ipv6})`);
    }
    const app = Fastify({
      ...(o.logger ? { loggerInstance: o.logger as unknown as FastifyBaseLogger } : { logger: false }),
      logController: new LogController({ disableRequestLogging: true }),
      bodyLimit: 1 << 20,
    });
    const routes = buildRoutes(o);
    const doc = openApiDocument(routes, API_VERSION);
    const authenticate = apiAuthenticator(o);

    for (const r of routes) {
      app.route({
        method: r.method,
        url: r.path,
        handler: async (req, reply) => {
          let principal: Principal = { kind: 'anonymous' };
          if (r.auth !== 'public') {
            principal = await authenticate(req, reply);
            if (r.auth === 'operator' && principal.kind !== 'operator') {
              throw new ApiError(403, 'forbidden', 'this endpoint needs the operator token; customers use /v1/me');
            }
            if (r.auth === 'customer' && principal.kind !== 'customer') {
              throw new ApiError(403, 'forbidden', "self-service endpoints take a customer's own login and password; operators use /v1/customers/{id}");
            }
            if (r.auth === 'ingress' && principal.kind !== 'ingress') {
              throw new ApiError(403, 'forbidden', 'this endpoint takes an ingress token (POST /v1/ingress-nodes/{id}/token)');
            }
          }
          const params = parseWith(r.params, req.params, 'params');
          const query = parseWith(r.query, req.query, 'query');
          const body = parseWith(r.body, req.body, 'body');
          const result = await r.handler({ params, query, body, principal, req, reply });
          if (reply.sent) return reply;
          reply.code(r.status);
          if (r.status === 204) return reply.send();
          return result;
        },
      });
    }
    app.get('/openapi.json', async () => doc);
    registerDashboard(app); // GET /dashboard: static files; the page uses the API above with the credentials typed into it
    const metrics = o.metrics;
    if (metrics) {
      app.get('/metrics', async (_req, reply) => reply.type(metrics.registry.contentType).send(await metrics.registry.metrics()));
      app.addHook('onResponse', async (req, reply) => {
        const route = req.routeOptions.url ?? 'unknown';
        if (route === '/metrics') return;
        metrics.apiRequests.inc({ method: req.method, route, status: String(reply.statusCode) });
        metrics.apiSeconds.observe({ method: req.method, route }, reply.elapsedTime / 1000);
      });
    }
    // Long-lived streams would hold close() forever: end them first.
    app.addHook('preClose', async () => {
      for (const sub of [...(o.hub?.subscribers ?? [])]) sub.close();
    });

    app.setNotFoundHandler((req, reply) => {
      void reply.code(404).send(new ApiError(404, 'not_found', `no route ${req.method} ${req.url.split('?')[0]}`).body());
    });
    app.setErrorHandler((err, req, reply) => {
      if (err instanceof ApiError) {
        if (err.status === 401) void reply.header('www-authenticate', 'Bearer, Basic realm="hopgate"');
        return reply.code(err.status).send(err.body());
      }
      const down = asDbUnavailable(err);
      if (down) {
        // Locked or unreachable database: the client may retry; nothing was written.
        req.log.warn({ err: down.message }, 'database unavailable');
        void reply.header('retry-after', String(down.retryAfterSeconds));
        return reply.code(503).send(new ApiError(503, 'database_unavailable', down.message).body());
      }
      const e = err as { statusCode?: number; code?: string; message?: string };
      if (typeof e.statusCode === 'number' && e.statusCode >= 400 && e.statusCode < 500) {
        // fastify's own: malformed JSON, unsupported media type, body too large…
        return reply.code(e.statusCode).send(new ApiError(e.statusCode, 'invalid_request', e.message ?? 'bad request', 'body').body());
      }
      req.log.error({ err }, 'control API error');
      return reply.code(500).send(new ApiError(500, 'internal', 'internal error').body());
    });

    await app.listen({ host: o.host ?? '127.0.0.1', port: o.port ?? 7700 });
    const a = app.server.address() as AddressInfo;
    const host = a.family === 'IPv6' ? `[${a.address}]` : a.address;
    return new ControlServer(app, `http://${host}:${a.port}`, routes);
  }

  close(): Promise<void> {
    return this.app.close();
  }
}

function buildRoutes(o: ControlServerOptions): Route[] {
  const store = o.store;
  const selfServiceBound = o.selfServiceSourcePrefix ?? SELF_SERVICE_PREFIX_DEFAULT;
  const actorOf = (p: Principal): string => (p.kind === 'customer' ? `customer:${p.id}` : p.kind);
  const mustCustomer = async (id: string): Promise<CustomerRecord> => {
    const c = await store.getCustomer(id);
    if (!c) throw notFound('customer', id);
    return c;
  };
  const newPassword = async (): Promise<{ password: string; hash: string }> => {
    const password = generatePassword();
    return { password, hash: await hashPassword(password, o.passwordCost) };
  };
  const newExitToken = async (): Promise<{ token: string; hash: string }> => {
    const token = generateExitToken();
    return { token, hash: await hashPassword(token, o.passwordCost) };
  };
  const view = ControlStore.view;
  const exitView = ControlStore.exitView;
  const customerId = (p: Principal): string => {
    if (p.kind !== 'customer') throw new ApiError(403, 'forbidden', 'customer credentials required');
    return p.id;
  };

  return [
    // ------------------------------------------------------------ public
    route(
      { method: 'GET', path: '/healthz', auth: 'public', operationId: 'health', summary: 'Health: the current revision when the database answers (else 503 database_unavailable)', tag: 'system', status: 200, response: { description: 'up', schema: S.HealthView } },
      // Bounded: a load balancer's probe gets 503 database_unavailable within the wait bound, never a hang.
      async () => ({ ok: true, revision: await store.revisionWithin() }),
    ),

    // ------------------------------------------------------------ revision, change log
    route(
      { method: 'GET', path: '/v1/revision', auth: 'operator', operationId: 'getRevision', summary: 'The configuration revision (bumped by every change)', tag: 'system', status: 200, response: { description: 'revision', schema: S.RevisionView } },
      async () => ({ revision: await store.revision() }),
    ),
    route(
      { method: 'GET', path: '/v1/changes', auth: 'operator', operationId: 'listChanges', summary: 'Change log entries after a revision', tag: 'system', query: S.ChangesQuery, status: 200, response: { description: 'entries in revision order', schema: S.ChangesView } },
      async ({ query }) => {
        const [revision, changes] = [await store.revision(), await store.changes(query.since, query.limit)];
        return { revision, changes };
      },
    ),

    // ------------------------------------------------------------ customers
    route(
      { method: 'GET', path: '/v1/customers', auth: 'operator', operationId: 'listCustomers', summary: 'List customers (optionally by login)', tag: 'customers', query: S.CustomerListQuery, status: 200, response: { description: 'customers by login', schema: S.CustomerList } },
      async ({ query }) => ({ customers: (await store.listCustomers(query.login !== undefined ? { login: query.login } : {})).map(view) }),
    ),
    route(
      { method: 'POST', path: '/v1/customers', auth: 'operator', operationId: 'createCustomer', summary: 'Create a customer; the generated password is in this answer only', tag: 'customers', body: S.CustomerCreate, status: 201, response: { description: 'created', schema: S.CustomerCreated }, errors: [409] },
      async ({ body, principal }) => {
        const { password, hash } = await newPassword();
        const c = await store.createCustomer(body, hash, actorOf(principal));
        return { customer: view(c), password };
      },
    ),
    route(
      { method: 'GET', path: '/v1/customers/:id', auth: 'operator', operationId: 'getCustomer', summary: 'One customer', tag: 'customers', params: S.IdParam, status: 200, response: { description: 'the customer', schema: S.CustomerView }, errors: [404] },
      async ({ params }) => view(await mustCustomer(params.id)),
    ),
    route(
      { method: 'PATCH', path: '/v1/customers/:id', auth: 'operator', operationId: 'updateCustomer', summary: 'Change status, sources, limits or port routing (null clears a field)', tag: 'customers', params: S.IdParam, body: S.CustomerPatch, status: 200, response: { description: 'the customer', schema: S.CustomerView }, errors: [404] },
      async ({ params, body, principal }) => {
        const c = await store.updateCustomer(params.id, body, actorOf(principal));
        if (body.quota !== undefined && o.collector) {
          await o.collector.enforceQuotas(); // a raised quota restores service now, a lowered one cuts now
          return view((await store.getCustomer(params.id)) ?? c);
        }
        return view(c);
      },
    ),
    route(
      { method: 'DELETE', path: '/v1/customers/:id', auth: 'operator', operationId: 'deleteCustomer', summary: 'Delete a customer', tag: 'customers', params: S.IdParam, status: 204, response: { description: 'deleted' }, errors: [404] },
      async ({ params, principal }) => store.deleteCustomer(params.id, actorOf(principal)),
    ),
    route(
      { method: 'POST', path: '/v1/customers/:id/credentials/rotate', auth: 'operator', operationId: 'rotateCustomerPassword', summary: 'Replace the password with a new generated one (shown once)', tag: 'customers', params: S.IdParam, status: 200, response: { description: 'the new password', schema: S.PasswordIssued }, errors: [404] },
      async ({ params, principal }) => {
        await mustCustomer(params.id);
        const { password, hash } = await newPassword();
        await store.setPasswordHash(params.id, hash, actorOf(principal));
        return { password };
      },
    ),
    route(
      { method: 'GET', path: '/v1/customers/:id/assignment', auth: 'operator', operationId: 'getAssignment', summary: "The customer's ordered exit list and pools", tag: 'assignments', params: S.IdParam, status: 200, response: { description: 'assignment', schema: S.Assignment }, errors: [404] },
      async ({ params }) => {
        const c = await mustCustomer(params.id);
        return { exits: c.exits, pools: c.pools };
      },
    ),
    route(
      { method: 'PUT', path: '/v1/customers/:id/assignment', auth: 'operator', operationId: 'setAssignment', summary: "Replace the customer's exit list (ordered: port base+1 is the first) and pools", tag: 'assignments', params: S.IdParam, body: S.Assignment, status: 200, response: { description: 'the customer', schema: S.CustomerView }, errors: [404] },
      async ({ params, body, principal }) => view(await store.setAssignment(params.id, body, actorOf(principal))),
    ),

    // ------------------------------------------------------------ exits
    route(
      { method: 'GET', path: '/v1/exits', auth: 'operator', operationId: 'listExits', summary: 'List exits', tag: 'exits', status: 200, response: { description: 'exits by id', schema: S.ExitList } },
      async () => ({ exits: (await store.listExits()).map(exitView) }),
    ),
    route(
      { method: 'POST', path: '/v1/exits', auth: 'operator', operationId: 'createExit', summary: 'Add an exit (a reverse exit gets its token in the answer, once)', tag: 'exits', body: S.ExitCreate, status: 201, response: { description: 'created', schema: S.ExitCreated }, errors: [409] },
      async ({ body, principal }) => {
        if (body.kind !== 'reverse') return exitView(await store.createExit(body, actorOf(principal)));
        const t = await newExitToken();
        return { ...exitView(await store.createExit(body, actorOf(principal), t.hash)), token: t.token };
      },
    ),
    route(
      { method: 'POST', path: '/v1/exits/:id/token', auth: 'operator', operationId: 'issueExitToken', summary: "Issue a reverse exit's token (shown once; the previous one stops working at every ingress)", tag: 'exits', params: S.IdParam, status: 200, response: { description: 'the token', schema: S.ExitToken }, errors: [404] },
      async ({ params, principal }) => {
        const t = await newExitToken();
        await store.setExitTokenHash(params.id, t.hash, actorOf(principal));
        return { token: t.token };
      },
    ),
    route(
      { method: 'GET', path: '/v1/exits/:id', auth: 'operator', operationId: 'getExit', summary: 'One exit', tag: 'exits', params: S.IdParam, status: 200, response: { description: 'the exit', schema: S.ExitView }, errors: [404] },
      async ({ params }) => {
        const e = await store.getExit(params.id);
        if (!e) throw notFound('exit', params.id);
        return exitView(e);
      },
    ),
    route(
      { method: 'PATCH', path: '/v1/exits/:id', auth: 'operator', operationId: 'updateExit', summary: 'Change an exit: address, credentials, place, tags, drain', tag: 'exits', params: S.IdParam, body: S.ExitPatch, status: 200, response: { description: 'the exit', schema: S.ExitView }, errors: [404] },
      async ({ params, body, principal }) => exitView(await store.updateExit(params.id, body, actorOf(principal))),
    ),
    route(
      { method: 'DELETE', path: '/v1/exits/:id', auth: 'operator', operationId: 'deleteExit', summary: 'Delete an exit (409 while customers list it, unless force=true)', tag: 'exits', params: S.IdParam, query: S.ExitDeleteQuery, status: 204, response: { description: 'deleted' }, errors: [404, 409] },
      async ({ params, query, principal }) => store.deleteExit(params.id, query.force === 'true', actorOf(principal)),
    ),

    // ------------------------------------------------------------ ingress nodes
    route(
      { method: 'GET', path: '/v1/ingress-nodes', auth: 'operator', operationId: 'listIngressNodes', summary: 'List ingress nodes', tag: 'ingress nodes', status: 200, response: { description: 'nodes by id', schema: S.NodeList } },
      async () => ({ nodes: await store.listNodes() }),
    ),
    route(
      { method: 'POST', path: '/v1/ingress-nodes', auth: 'operator', operationId: 'createIngressNode', summary: 'Register an ingress node', tag: 'ingress nodes', body: S.NodeCreate, status: 201, response: { description: 'created', schema: S.NodeView }, errors: [409] },
      async ({ body, principal }) => store.createNode(body, actorOf(principal)),
    ),
    route(
      { method: 'GET', path: '/v1/ingress-nodes/:id', auth: 'operator', operationId: 'getIngressNode', summary: 'One ingress node', tag: 'ingress nodes', params: S.IdParam, status: 200, response: { description: 'the node', schema: S.NodeView }, errors: [404] },
      async ({ params }) => {
        const n = await store.getNode(params.id);
        if (!n) throw notFound('ingress node', params.id);
        return n;
      },
    ),
    route(
      { method: 'PATCH', path: '/v1/ingress-nodes/:id', auth: 'operator', operationId: 'updateIngressNode', summary: 'Rename an ingress node', tag: 'ingress nodes', params: S.IdParam, body: S.NodePatch, status: 200, response: { description: 'the node', schema: S.NodeView }, errors: [404] },
      async ({ params, body, principal }) => store.updateNode(params.id, body, actorOf(principal)),
    ),
    route(
      { method: 'DELETE', path: '/v1/ingress-nodes/:id', auth: 'operator', operationId: 'deleteIngressNode', summary: 'Forget an ingress node', tag: 'ingress nodes', params: S.IdParam, status: 204, response: { description: 'deleted' }, errors: [404] },
      async ({ params, principal }) => store.deleteNode(params.id, actorOf(principal)),
    ),

    route(
      { method: 'POST', path: '/v1/ingress-nodes/:id/token', auth: 'operator', operationId: 'issueIngressToken', summary: "Issue the node's ingress token for the config stream (shown once; replaces the previous one)", tag: 'ingress nodes', params: S.IdParam, status: 200, response: { description: 'the token', schema: S.NodeToken }, errors: [404] },
      async ({ params }) => {
        const token = await store.issueNodeToken(params.id);
        if (!token) throw notFound('ingress node', params.id);
        return { token };
      },
    ),

    // ------------------------------------------------------------ config stream (ingress token)
    route(
      {
        method: 'GET',
        path: '/v1/stream',
        auth: 'ingress',
        operationId: 'configStream',
        summary: 'The config stream: NDJSON lines — hello, the full snapshot, then deltas and pings as they happen (docs/CONTROL.md)',
        tag: 'config stream',
        query: S.StreamQuery,
        status: 200,
        response: { description: 'application/x-ndjson, open until either side closes', contentTypes: ['application/x-ndjson'], schema: z.object({ type: z.enum(['hello', 'snapshot', 'delta', 'ping', 'legitimacy.rules', 'legitimacy.refresh']) }) },
        errors: [503],
      },
      async ({ principal, reply }) => {
        const hub = o.hub;
        if (!hub) throw new ApiError(503, 'unavailable', 'the config stream is not running on this control plane');
        const nodeId = (principal as { nodeId: string }).nodeId;
        reply.hijack();
        const res = reply.raw;
        res.writeHead(200, { 'content-type': 'application/x-ndjson', 'cache-control': 'no-store', 'x-accel-buffering': 'no' });
        res.socket?.setNoDelay(true);
        res.socket?.setKeepAlive(true, 30_000);
        await store.recordNodeAck(nodeId, undefined);
        await hub.subscribe(nodeId, res);
        return undefined;
      },
    ),
    route(
      { method: 'POST', path: '/v1/stream/ack', auth: 'ingress', operationId: 'ackRevision', summary: 'The ingress applied a revision (and where it answers statistics pulls)', tag: 'config stream', body: S.AckBody, status: 204, response: { description: 'recorded' } },
      async ({ principal, body }) => {
        const nodeId = (principal as { nodeId: string }).nodeId;
        await store.recordNodeAck(nodeId, body.revision, body.adminUrl);
        o.hub?.noteAck(nodeId, body.revision, body.adminUrl);
      },
    ),
    ...legitimacyRoutes(o),

    // ------------------------------------------------------------ usage
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
        await mustCustomer(params.id);
        return usageList(store, { ...query, customerId: params.id, live: 'true' });
      },
    ),

    // ------------------------------------------------------------ settings and the rendered configuration
    route(
      { method: 'GET', path: '/v1/settings', auth: 'operator', operationId: 'getSettings', summary: 'Ingress settings (listen, limits, targetPolicy…) as stored', tag: 'settings', status: 200, response: { description: 'settings', schema: S.SettingsView } },
      async () => settingsView(store),
    ),
    route(
      { method: 'PATCH', path: '/v1/settings', auth: 'operator', operationId: 'patchSettings', summary: 'Set settings keys (each as in the ingress YAML); null removes a key', tag: 'settings', body: S.SettingsPatch, status: 200, response: { description: 'settings', schema: S.SettingsView } },
      async ({ req, principal }) => {
        // Validated by SettingsPatch; stored as written so ingress defaults stay defaults.
        await store.patchSettings(req.body as Partial<Record<S.SettingKey, unknown>>, actorOf(principal));
        return settingsView(store);
      },
    ),
    route(
      {
        method: 'GET',
        path: '/v1/ingress-config',
        auth: 'operator',
        operationId: 'renderIngressConfig',
        summary: 'The standalone ingress configuration (YAML; JSON with Accept: application/json or ?format=json)',
        tag: 'settings',
        query: z.object({ format: z.enum(['yaml', 'json']).optional() }).strict(),
        status: 200,
        response: { description: 'the configuration; X-Hopgate-Revision names its revision', schema: IngressConfigSchema, io: 'input', contentTypes: ['application/yaml', 'application/json'] },
        errors: [500],
      },
      async ({ req, reply, query }) => {
        const rendered = renderIngressConfig(await store.snapshot());
        const wantJson = query.format === 'json' || (query.format === undefined && /application\/json/i.test(req.headers.accept ?? ''));
        void reply.header('x-hopgate-revision', String(rendered.revision)).header('etag', `"rev-${rendered.revision}"`);
        if (rendered.warnings.length > 0) void reply.header('x-hopgate-warnings', rendered.warnings.join('; '));
        if (wantJson) return reply.code(200).type('application/json').send(rendered.config);
        return reply.code(200).type('application/yaml; charset=utf-8').send(renderYaml(rendered));
      },
    ),

    // ------------------------------------------------------------ self-service
    route(
      { method: 'GET', path: '/v1/me', auth: 'customer', operationId: 'getMe', summary: 'Your own customer record', tag: 'self-service', status: 200, response: { description: 'you', schema: S.CustomerView } },
      async ({ principal }) => view(await mustCustomer(customerId(principal))),
    ),
    route(
      { method: 'GET', path: '/v1/me/usage', auth: 'customer', operationId: 'getMyUsage', summary: 'Your usage per period and exit, and your quota period', tag: 'self-service', query: S.MyUsageQuery, status: 200, response: { description: 'usage', schema: S.UsageView } },
      async ({ principal, query }) => {
        const c = await mustCustomer(customerId(principal));
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
        const id = customerId(principal);
        const { password, hash } = await newPassword();
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
        return view(await store.updateCustomer(customerId(principal), { sources: body.sources }, actorOf(principal)));
      },
    ),
  ];
}

/** Source legitimacy (docs/LEGITIMACY.md): the ingresses' reports and ACKs, the operator's view and events. */
function legitimacyRoutes(o: ControlServerOptions): Route[] {
  const svc = (): LegitimacyService => {
    if (!o.legitimacy) throw new ApiError(503, 'unavailable', 'source legitimacy is not running on this control plane');
    return o.legitimacy;
  };
  return [
    route(
      { method: 'POST', path: '/v1/stream/legitimacy', auth: 'ingress', operationId: 'postLegitimacy', summary: 'Evidence reports (idempotent on ingressId + epoch + seq), rule-set ACK/NACKs and state of the ingress; the answer lists the reports to stop resending. 409 when this process does not hold the node\'s config stream (another replica does: send again)', tag: 'config stream', body: S.LegitimacyPost, status: 200, response: { description: 'reports acknowledged', schema: S.LegitimacyPostAnswer }, errors: [409, 503] },
      async ({ principal, body }) => {
        const nodeId = (principal as { nodeId: string }).nodeId;
        const s = svc();
        if (!s.holdsStream(nodeId)) throw new ApiError(409, 'not_subscribed', 'this control-plane process does not hold the config stream of this node; send again (to the replica holding it)');
        return s.post(nodeId, body as Parameters<LegitimacyService['post']>[1]);
      },
    ),
    route(
      { method: 'GET', path: '/v1/legitimacy', auth: 'operator', operationId: 'getLegitimacy', summary: 'Source legitimacy: mode (warmup, active, suspended), why, and per ingress the rule revision, ACKs, attack mode and limited decisions', tag: 'legitimacy', status: 200, response: { description: 'the state', schema: S.LegitimacyView }, errors: [503] },
      async () => svc().view(),
    ),
    route(
      { method: 'POST', path: '/v1/legitimacy/events', auth: 'operator', operationId: 'postLegitimacyEvent', summary: 'Announce a network event (route withdrawn, ingress down…): the rules of every ingress are suspended at once and come back once learning re-converges', tag: 'legitimacy', body: S.LegitimacyEvent, status: 200, response: { description: 'the state after the event', schema: S.LegitimacyView }, errors: [503] },
      async ({ body }) => {
        const s = svc();
        s.operatorEvent(body);
        return s.view();
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

async function usageList(
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

/** Settings and the revision they belong to, read together (not the whole store). */
async function settingsView(store: ControlStore): Promise<{ revision: number; settings: Record<string, unknown> }> {
  let tx = store.db.transaction();
  if (store.target.dialect === 'postgres') tx = tx.setIsolationLevel('repeatable read');
  return tx.execute(async (trx) => ({ revision: await store.revision(trx), settings: await store.getSettings(trx) }));
}
