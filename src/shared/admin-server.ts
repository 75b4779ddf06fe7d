/**
 * A tiny admin HTTP server: /metrics (Prometheus) and /healthz, open (probes and
 * scrapers; neither names a customer), and read-only JSON routes under /v1/ that
 * may (a customer's port table: login, exits), behind a bearer token. Not on the
 * byte path.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { listenOn } from './listen.js';

/** Extra read-only JSON routes: path → body, or undefined for 404. */
export type AdminRoutes = (path: string) => object | undefined;

/** Tried before everything else: true when it answered the request. */
export type AdminRawHandler = (req: IncomingMessage, res: ServerResponse) => boolean;

/** Why a request for a protected route may not have it (status and message), or undefined. */
function refusal(req: IncomingMessage, token: string | undefined): { status: number; message: string } | undefined {
  if (token === undefined) return { status: 403, message: 'the admin API is off: set metrics.token (a bearer token) in the ingress configuration' };
  const given = req.headers.authorization ?? '';
  const digest = (t: string): Buffer => createHash('sha256').update(t).digest(); // equal lengths for the constant-time compare
  if (!timingSafeEqual(digest(given), digest(`Bearer ${token}`))) return { status: 401, message: 'bearer token required (metrics.token)' };
  return undefined;
}

/** What /metrics answers from: a prom-client Registry, or the whole cluster's figures (processes/cluster-metrics.ts). */
export interface MetricsSource {
  readonly contentType: string;
  metrics(): Promise<string>;
}

export async function startAdminServer(
  host: string,
  port: number,
  registry: MetricsSource,
  health: () => object,
  routes?: AdminRoutes,
  raw?: AdminRawHandler,
  /** The token `routes` need (read per request: a reload may change it). */
  routesToken: () => string | undefined = () => undefined,
): Promise<Server> {
  const server = createServer((req, res) => {
    if (raw?.(req, res)) return;
    const path = req.url ? req.url.split('?')[0]! : '';
    if (routes && path.startsWith('/v1/')) {
      // Before the route runs: a refusal says nothing of which logins exist.
      const no = refusal(req, routesToken());
      if (no) {
        res.writeHead(no.status, { 'Content-Type': 'application/json', ...(no.status === 401 ? { 'WWW-Authenticate': 'Bearer realm="hopgate-admin"' } : {}) });
        res.end(JSON.stringify({ error: { code: no.status === 401 ? 'unauthorized' : 'forbidden', message: no.message } }));
        return;
      }
    }
    let decoded: string | undefined;
    try {
      decoded = decodeURIComponent(path);
    } catch {
      decoded = undefined; // a malformed escape is a 404, not a crash
    }
    const extra = req.method === 'GET' && routes && decoded !== undefined ? routes(decoded) : undefined;
    if (extra !== undefined) {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify(extra));
    } else if (req.url === '/metrics') {
      registry.metrics().then(
        (text) => {
          res.writeHead(200, { 'Content-Type': registry.contentType });
          res.end(text);
        },
        () => {
          res.writeHead(500);
          res.end();
        },
      );
    } else if (req.url === '/healthz') {
      // Probes read the status: 503 while the node says it is not ok (draining, no work connection).
      const h = health() as { ok?: unknown };
      res.writeHead(h.ok === false ? 503 : 200, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify(h));
    } else {
      res.writeHead(404);
      res.end();
    }
  });
  await listenOn(server, host, port, 511);
  return server;
}
