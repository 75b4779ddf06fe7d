/**
 * The control-plane HTTP API (fastify): this module composes it. Each resource
 * declares its routes in routes/ (once, with the zod schemas that validate the
 * request and make the OpenAPI document served at GET /openapi.json); who may
 * call what is api-auth.ts. Operators authenticate with the bearer token;
 * customers with their own login and password (Basic) on /v1/me/… only.
 */
import type { AddressInfo } from 'node:net';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { z } from 'zod';
import { SOURCE_PREFIX_FLOOR } from '../shared/source-range.js';
import { ApiError } from './errors.js';
import { asDbUnavailable } from './db-unavailable.js';
import { openApiDocument, type RouteDoc } from './openapi.js';
import { apiAuthorizer } from './api-auth.js';
import { registerDashboard } from './dashboard/serve.js';
import { registerMetrics } from './routes/metrics.js';
import type { ControlServerOptions, Route } from './routes/route.js';
import { systemRoutes } from './routes/system.js';
import { customerRoutes } from './routes/customers.js';
import { exitRoutes } from './routes/exits.js';
import { exitHealthRoutes } from './routes/exit-health.js';
import { ingressNodeRoutes } from './routes/ingress-nodes.js';
import { streamRoutes } from './routes/stream.js';
import { legitimacyRoutes } from './routes/legitimacy.js';
import { usageRoutes } from './routes/usage.js';
import { loginDomainRoutes } from './routes/login-domain.js';
import { settingsRoutes } from './routes/settings.js';
import { selfServiceRoutes } from './routes/me.js';
import { webhookRoutes } from './routes/webhooks.js';

export type { ControlServerOptions } from './routes/route.js';

export const API_VERSION = '0.1.0';

/** Every route, in the order the OpenAPI document lists them. */
function buildRoutes(o: ControlServerOptions): Route[] {
  return [
    ...systemRoutes(o),
    ...customerRoutes(o),
    ...exitRoutes(o),
    ...exitHealthRoutes(o),
    ...ingressNodeRoutes(o),
    ...streamRoutes(o),
    ...legitimacyRoutes(o),
    ...usageRoutes(o),
    ...loginDomainRoutes(o),
    ...settingsRoutes(o),
    ...webhookRoutes(o),
    ...selfServiceRoutes(o),
  ];
}

/** The route table alone, for its schemas and docs (docs/request-schemas.json): handlers need a server's options. */
export function controlRoutes(): Route[] {
  return buildRoutes({} as ControlServerOptions);
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
    // Built at the first request for it, not at every start: the conversion of every schema costs ~0.1 s of CPU.
    let doc: Record<string, unknown> | undefined;
    const authorize = apiAuthorizer(o);

    for (const r of routes) {
      app.route({
        method: r.method,
        url: r.path,
        handler: async (req, reply) => {
          const principal = await authorize(r.auth, req, reply);
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
    app.get('/openapi.json', async () => (doc ??= openApiDocument(routes, API_VERSION)));
    registerDashboard(app); // GET /dashboard: static files; the page uses the API above with the credentials typed into it
    if (o.metrics) registerMetrics(app, o.metrics);
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
