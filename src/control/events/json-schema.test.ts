/** docs/event-schemas.json is what the code generates: a payload changed in kinds.ts without the doc fails here. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { eventJsonSchemas, eventSchemasDocument } from './json-schema.js';
import { EVENT_KINDS } from './kinds.js';
import { docDrift } from '../generated-doc.js';

const DOC = new URL('../../../../docs/event-schemas.json', import.meta.url);

test('docs/event-schemas.json matches the event schemas in code', () => {
  const drift = docDrift(readFileSync(DOC, 'utf8'), eventSchemasDocument());
  assert.equal(drift, undefined, `docs/event-schemas.json ${drift}; regenerate: npm run build && node dist/src/control/events/json-schema.js > docs/event-schemas.json`);
});

test('every kind has a schema with its kind fixed, the envelope fields required, and a closed payload', () => {
  const schemas = eventJsonSchemas() as Record<string, { properties: { kind: { const: string }; data: { additionalProperties: unknown } }; required: string[] }>;
  assert.deepEqual(Object.keys(schemas).sort(), [...EVENT_KINDS].sort());
  for (const kind of EVENT_KINDS) {
    const s = schemas[kind]!;
    assert.equal(s.properties.kind.const, kind);
    assert.deepEqual([...s.required].sort(), ['data', 'id', 'idempotencyKey', 'kind', 'occurredAt']);
    assert.equal(s.properties.data.additionalProperties, false, `${kind}: a receiver can rely on no undocumented field`);
  }
});
