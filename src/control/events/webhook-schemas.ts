/** The webhook API's shapes (routes/webhooks.ts, the CLI, the OpenAPI document). */
import { z } from 'zod';
import { EventKindSchema } from './kinds.js';

/**
 * Where events go: http or https only. Operator-set, so any host is allowed
 * (loopback included: a receiver beside the control plane is a normal setup);
 * other schemes, credentials in the URL and fragments are refused.
 */
export const WebhookUrl = z
  .string()
  .max(2048)
  .refine((s) => URL.canParse(s), { message: 'must be an absolute URL' })
  .refine((s) => !URL.canParse(s) || ['http:', 'https:'].includes(new URL(s).protocol), { message: 'must be an http:// or https:// URL' })
  .refine((s) => !URL.canParse(s) || (new URL(s).username === '' && new URL(s).password === ''), { message: 'must not carry credentials (receivers authenticate requests by their signature)' })
  .refine((s) => !URL.canParse(s) || new URL(s).hash === '', { message: 'must not have a #fragment' });

const Secret = z.string().min(16, 'at least 16 characters').max(255);
const Kinds = z.array(EventKindSchema).max(64).describe('event kinds to receive; empty: every kind');

export const WebhookCreate = z
  .object({
    url: WebhookUrl,
    /** HMAC key; generated when omitted (shown in the answer, once). */
    secret: Secret.optional(),
    kinds: Kinds.default([]),
    enabled: z.boolean().default(true),
    description: z.string().max(255).optional(),
  })
  .strict();
export type WebhookCreateInput = z.output<typeof WebhookCreate>;

export const WebhookPatch = z
  .object({ url: WebhookUrl.optional(), secret: Secret.optional(), kinds: Kinds.optional(), enabled: z.boolean().optional(), description: z.string().max(255).nullable().optional() })
  .strict();
export type WebhookPatchInput = z.output<typeof WebhookPatch>;

export const WebhookCounts = z.object({ pending: z.number(), delivered: z.number(), failed: z.number() });

export const WebhookView = z.object({
  id: z.string(),
  url: z.string(),
  kinds: z.array(z.string()),
  enabled: z.boolean(),
  description: z.string().nullable(),
  deliveries: WebhookCounts,
  createdAt: z.string(),
  updatedAt: z.string(),
});
export type WebhookViewT = z.infer<typeof WebhookView>;

export const WebhookCreated = WebhookView.extend({ secret: z.string().describe('the signing secret: shown once') });
export const WebhookList = z.object({ webhooks: z.array(WebhookView) });

export const DeliveryLogEntry = z.object({
  deliveryId: z.number(),
  eventId: z.number(),
  kind: z.string(),
  state: z.enum(['pending', 'delivered', 'failed']),
  attempt: z.number(),
  at: z.string(),
  statusCode: z.number().nullable(),
  latencyMs: z.number(),
  error: z.string().nullable(),
});
export const DeliveryLog = z.object({ deliveries: z.array(DeliveryLogEntry) });
export const DeliveriesQuery = z.object({ limit: z.coerce.number().int().min(1).max(1000).optional(), event: z.coerce.number().int().positive().optional() }).strict();

export const EventIdParam = z.object({ id: z.coerce.number().int().positive() }).strict();
export const EventsQuery = z.object({ after: z.coerce.number().int().nonnegative().optional(), limit: z.coerce.number().int().min(1).max(1000).optional(), kind: EventKindSchema.optional() }).strict();
export const RedeliverBody = z.object({ webhookId: z.string().max(64).optional() }).strict();
export const DeliveryStates = z.object({
  deliveries: z.array(z.object({ deliveryId: z.number(), webhookId: z.string(), eventId: z.number(), state: z.enum(['pending', 'delivered', 'failed']), attempts: z.number() })),
});
