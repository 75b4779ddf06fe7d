/**
 * The config stream (ingress token): subscribe, and acknowledge an applied revision.
 */
import { z } from 'zod';
import * as S from '../api-schemas.js';
import { ApiError } from '../errors.js';
import { nodeIdOf, route, type ControlServerOptions, type Route } from './route.js';

export function streamRoutes(o: ControlServerOptions): Route[] {
  const store = o.store;
  return [
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
        const nodeId = nodeIdOf(principal);
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
        const nodeId = nodeIdOf(principal);
        await store.recordNodeAck(nodeId, body.revision, body.adminUrl, body.linkFingerprints);
        o.hub?.noteAck(nodeId, body.revision, body.adminUrl);
      },
    ),
  ];
}
