/**
 * The JSON Schema of every event a receiver can get: the envelope of a webhook
 * body or a JetStream message with its kind fixed and `data` that kind's
 * payload. Generated from the zod schemas in kinds.ts (the one definition),
 * served at GET /v1/events/schemas and kept in docs/event-schemas.json; a
 * test fails when that file and the code differ.
 *
 *   npm run build && node dist/src/control/events/json-schema.js > docs/event-schemas.json
 */
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { EVENT_KINDS, EVENT_SCHEMAS, EventEnvelope, type EventKind } from './kinds.js';

export function eventJsonSchemas(): Record<EventKind, Record<string, unknown>> {
  const out = {} as Record<EventKind, Record<string, unknown>>;
  for (const kind of EVENT_KINDS) {
    const envelope = EventEnvelope.extend({ kind: z.literal(kind), data: EVENT_SCHEMAS[kind] });
    out[kind] = { title: kind, ...z.toJSONSchema(envelope, { io: 'output' }) };
  }
  return out;
}

/** docs/event-schemas.json, as the code says it should be. */
export function eventSchemasDocument(): string {
  return JSON.stringify({ description: 'hopgate events: one JSON Schema per kind (webhook body, JetStream message). Generated from src/control/events/kinds.ts.', kinds: eventJsonSchemas() }, null, 2) + '\n';
}

if (process.argv[1] === fileURLToPath(import.meta.url)) process.stdout.write(eventSchemasDocument());
