/** A tiny admin HTTP server: /metrics (Prometheus) and /healthz. Not on the byte path. */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Registry } from 'prom-client';
import { listenOn } from './listen.js';

/** Extra read-only JSON routes: path → body, or undefined for 404. */
export type AdminRoutes = (path: string) => object | undefined;

/** Tried before everything else: true when it answered the request. */
export type AdminRawHandler = (req: IncomingMessage, res: ServerResponse) => boolean;

export async function startAdminServer(host: string, port: number, registry: Registry, health: () => object, routes?: AdminRoutes, raw?: AdminRawHandler): Promise<Server> {
  const server = createServer((req, res) => {
    if (raw?.(req, res)) return;
    const extra = req.method === 'GET' && routes && req.url ? routes(decodeURIComponent(req.url.split('?')[0]!)) : undefined;
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
