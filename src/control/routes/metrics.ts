/**
 * GET /metrics (Prometheus text, unauthenticated like the usual scrape
 * target) and the per-request counting behind it. Plain fastify routes: not
 * part of the JSON API, so not in the OpenAPI document.
 */
import type { FastifyInstance } from 'fastify';
import type { ControlMetrics } from '../metrics.js';

export function registerMetrics(app: FastifyInstance, metrics: ControlMetrics): void {
  app.get('/metrics', async (_req, reply) => reply.type(metrics.registry.contentType).send(await metrics.registry.metrics()));
  app.addHook('onResponse', async (req, reply) => {
    const route = req.routeOptions.url ?? 'unknown';
    if (route === '/metrics') return;
    metrics.apiRequests.inc({ method: req.method, route, status: String(reply.statusCode) });
    metrics.apiSeconds.observe({ method: req.method, route }, reply.elapsedTime / 1000);
  });
}
