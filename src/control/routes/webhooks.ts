/**
 * Events and webhooks (operator): the outbox's events, the webhooks they are
 * sent to, each webhook's delivery log, and redelivery (docs/CONTROL.md
 * "Events and webhooks").
 */
import { eventJsonSchemas } from '../events/json-schema.js';
import { z } from 'zod';
import { EventEnvelope } from '../events/kinds.js';
import * as W from '../events/webhook-schemas.js';
import { IdParam } from '../api-schemas.js';
import { notFound } from '../errors.js';
import type { ControlStore } from '../store/index.js';
import type { WebhookRecord } from '../store/webhooks.js';
import { route, type ControlServerOptions, type Route } from './route.js';

export function webhookRoutes(o: ControlServerOptions): Route[] {
  const store = o.store;
  const views = async (hooks: WebhookRecord[]): Promise<W.WebhookViewT[]> => {
    const counts = await store.outbox.counts();
    return hooks.map((h) => view(h, counts.get(h.id)));
  };
  return [
    route(
      { method: 'GET', path: '/v1/webhooks', auth: 'operator', operationId: 'listWebhooks', summary: 'List webhooks (without their secrets) with their deliveries by state', tag: 'events', status: 200, response: { description: 'webhooks', schema: W.WebhookList } },
      async () => ({ webhooks: await views(await store.webhooks.list()) }),
    ),
    route(
      { method: 'POST', path: '/v1/webhooks', auth: 'operator', operationId: 'createWebhook', summary: 'Add a webhook (http or https URL; the signing secret is generated unless given, and shown once)', tag: 'events', body: W.WebhookCreate, status: 201, response: { description: 'created, with its secret', schema: W.WebhookCreated } },
      async ({ body }) => {
        const h = await store.webhooks.create(body);
        return { ...view(h, undefined), secret: h.secret };
      },
    ),
    route(
      { method: 'GET', path: '/v1/webhooks/:id', auth: 'operator', operationId: 'getWebhook', summary: 'One webhook', tag: 'events', params: IdParam, status: 200, response: { description: 'the webhook', schema: W.WebhookView }, errors: [404] },
      async ({ params }) => (await views([await mustWebhook(store, params.id)]))[0],
    ),
    route(
      { method: 'PATCH', path: '/v1/webhooks/:id', auth: 'operator', operationId: 'updateWebhook', summary: 'Change a webhook: URL, secret, kinds, enabled', tag: 'events', params: IdParam, body: W.WebhookPatch, status: 200, response: { description: 'the webhook', schema: W.WebhookView }, errors: [404] },
      async ({ params, body }) => (await views([await store.webhooks.update(params.id, body)]))[0],
    ),
    route(
      { method: 'DELETE', path: '/v1/webhooks/:id', auth: 'operator', operationId: 'deleteWebhook', summary: 'Delete a webhook with its deliveries and their log', tag: 'events', params: IdParam, status: 204, response: { description: 'deleted' }, errors: [404] },
      async ({ params }) => store.webhooks.delete(params.id),
    ),
    route(
      { method: 'GET', path: '/v1/webhooks/:id/deliveries', auth: 'operator', operationId: 'listWebhookDeliveries', summary: "A webhook's delivery log, newest attempt first: attempt, status code, latency, error", tag: 'events', params: IdParam, query: W.DeliveriesQuery, status: 200, response: { description: 'attempts', schema: W.DeliveryLog }, errors: [404] },
      async ({ params, query }) => {
        await mustWebhook(store, params.id);
        return { deliveries: await store.outbox.log(params.id, { ...(query.limit !== undefined ? { limit: query.limit } : {}), ...(query.event !== undefined ? { eventId: query.event } : {}) }) };
      },
    ),
    route(
      { method: 'GET', path: '/v1/events', auth: 'operator', operationId: 'listEvents', summary: 'Events in the outbox, oldest first (after: an event id; kind: one kind)', tag: 'events', query: W.EventsQuery, status: 200, response: { description: 'events', schema: z.object({ events: z.array(EventEnvelope) }) } },
      async ({ query }) => ({ events: await store.outbox.list(query) }),
    ),
    route(
      { method: 'GET', path: '/v1/events/schemas', auth: 'operator', operationId: 'eventSchemas', summary: 'The JSON Schema of each event kind: the body a webhook receives, the message JetStream carries (docs/event-schemas.json)', tag: 'events', status: 200, response: { description: 'a schema per kind', schema: z.object({ kinds: z.record(z.string(), z.record(z.string(), z.unknown())) }) } },
      async () => ({ kinds: eventJsonSchemas() }),
    ),
    route(
      { method: 'GET', path: '/v1/events/:id', auth: 'operator', operationId: 'getEvent', summary: 'One event', tag: 'events', params: W.EventIdParam, status: 200, response: { description: 'the event', schema: EventEnvelope }, errors: [404] },
      async ({ params }) => {
        const e = await store.outbox.get(params.id);
        if (!e) throw notFound('event', String(params.id));
        return e;
      },
    ),
    route(
      { method: 'POST', path: '/v1/events/:id/redeliver', auth: 'operator', operationId: 'redeliverEvent', summary: 'Send an event again: to every webhook that had it and every enabled one that wants its kind, or only to body.webhookId', tag: 'events', params: W.EventIdParam, body: W.RedeliverBody.optional(), status: 202, response: { description: 'its deliveries, pending again', schema: W.DeliveryStates }, errors: [404] },
      async ({ params, body }) => ({ deliveries: await store.outbox.redeliver(params.id, body?.webhookId) }),
    ),
  ];
}

async function mustWebhook(store: ControlStore, id: string): Promise<WebhookRecord> {
  const h = await store.webhooks.get(id);
  if (!h) throw notFound('webhook', id);
  return h;
}

function view(h: WebhookRecord, counts: { pending: number; delivered: number; failed: number } | undefined): W.WebhookViewT {
  return { id: h.id, url: h.url, kinds: h.kinds, enabled: h.enabled, description: h.description, deliveries: counts ?? { pending: 0, delivered: 0, failed: 0 }, createdAt: h.createdAt, updatedAt: h.updatedAt };
}
