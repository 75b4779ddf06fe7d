/**
 * The events hopgate tells outside systems about: every kind, its payload
 * (zod, the one definition: the store validates what it writes against it,
 * the docs and receivers read it), and the envelope a webhook receives.
 * Payloads carry no secrets (no password hashes, upstream passwords, tokens).
 */
import { z } from 'zod';

const Id = z.string().min(1).max(128);
/** Who made a configuration change: 'operator', 'customer:<id>', 'system:quota'… */
const Actor = z.string().max(128);
/** The configuration revision the change committed as. */
const Revision = z.number().int().positive();

const CustomerRef = z.object({ id: Id, login: z.string(), status: z.enum(['active', 'suspended']) }).strict();

const CustomerChange = z
  .object({
    customer: CustomerRef,
    revision: Revision,
    actor: Actor,
    /** What changed (update only): field names as in the API. */
    changed: z.array(z.string()).optional(),
  })
  .strict();

const ExitRef = z
  .object({
    id: Id,
    kind: z.enum(['hopgate', 'socks5', 'http', 'reverse']),
    country: z.string().nullable(),
    egressIp: z.string().nullable(),
    drain: z.boolean(),
  })
  .strict();

const ExitChange = z.object({ exit: ExitRef, revision: Revision, actor: Actor, changed: z.array(z.string()).optional() }).strict();

const QuotaCrossing = z
  .object({
    customer: z.object({ id: Id, login: z.string() }).strict(),
    /** 80 or 100: the share of the quota reached. */
    level: z.union([z.literal(80), z.literal(100)]),
    quotaBytes: z.number().int().nonnegative(),
    usedBytes: z.number().int().nonnegative(),
    period: z.enum(['hour', 'day', 'month']),
    /** `hour:YYYY-MM-DDTHH`, `day:YYYY-MM-DD` or `month:YYYY-MM` (UTC). */
    periodKey: z.string(),
    /** When the period ends and the count starts again (ISO-8601 UTC). */
    resetsAt: z.string(),
  })
  .strict();

const ExitHealth = z
  .object({
    exit: z.object({ id: Id }).strict(),
    /** Who observed it (an ingress node id), when known. */
    observer: z.string().optional(),
    reason: z.string().max(500),
  })
  .strict();

const Counters = z.object({ bytesUp: z.number().int().nonnegative(), bytesDown: z.number().int().nonnegative(), connections: z.number().int().nonnegative(), failures: z.number().int().nonnegative() }).strict();

const UsageMinute = z
  .object({
    /** `YYYY-MM-DDTHH:MM` (UTC). */
    minute: z.string().regex(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}$/),
    /** The ingress node that counted it. */
    node: z.string(),
    customer: z.object({ id: z.string(), login: z.string() }).strict(),
    /** Counters per exit ('' = direct egress). A delta: sum the events of one (minute, customer) for its total. */
    exits: z.array(Counters.extend({ exitId: z.string() }).strict()),
    total: Counters,
  })
  .strict();

/** Every event kind and its payload schema: the one list. */
export const EVENT_SCHEMAS = {
  'customer.created': CustomerChange,
  'customer.updated': CustomerChange,
  'customer.deleted': CustomerChange,
  'customer.suspended': CustomerChange,
  'customer.resumed': CustomerChange,
  'exit.created': ExitChange,
  'exit.updated': ExitChange,
  'exit.deleted': ExitChange,
  'exit.down': ExitHealth,
  'exit.up': ExitHealth,
  'quota.warning': QuotaCrossing,
  'quota.exceeded': QuotaCrossing,
  'usage.minute': UsageMinute,
} as const;

export type EventKind = keyof typeof EVENT_SCHEMAS;
export type EventData<K extends EventKind> = z.input<(typeof EVENT_SCHEMAS)[K]>;

export const EVENT_KINDS = Object.keys(EVENT_SCHEMAS) as EventKind[];
export const EventKindSchema = z.enum(EVENT_KINDS as [EventKind, ...EventKind[]]);

/** One event to write: the store gives it its id and time. */
export interface NewEvent<K extends EventKind = EventKind> {
  readonly kind: K;
  /** Stable across retries and redeliveries and unique per fact, e.g. `customer.updated:cus_…:42`. */
  readonly idempotencyKey: string;
  readonly data: EventData<K>;
}

/** Build an event, checking its payload against its kind's schema (a malformed event is a bug: it throws, rolling its change back). */
export function newEvent<K extends EventKind>(kind: K, idempotencyKey: string, data: EventData<K>): NewEvent<K> {
  const parsed = EVENT_SCHEMAS[kind].parse(data) as EventData<K>;
  return { kind, idempotencyKey, data: parsed };
}

/** What a webhook receives as the request body (and what GET /v1/events lists). */
export const EventEnvelope = z
  .object({
    /** Increasing in insert order (configuration changes commit in revision order, so theirs also follow commit order). */
    id: z.number().int().positive(),
    kind: EventKindSchema,
    idempotencyKey: z.string(),
    occurredAt: z.string(),
    data: z.record(z.string(), z.unknown()),
  })
  .strict();
export type EventEnvelopeT = z.infer<typeof EventEnvelope>;

/** The kinds a configuration change emits (revision.ts adds the revision and actor, and keys them `kind:entity:revision`). */
export type ChangeEventKind = Extract<EventKind, `customer.${string}` | `exit.${'created' | 'updated' | 'deleted'}`>;
export type ChangeEventData<K extends ChangeEventKind> = Omit<EventData<K>, 'revision' | 'actor'>;
