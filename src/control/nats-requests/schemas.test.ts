/** docs/request-schemas.json is what the code generates: a route or schema changed without the doc fails here. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { controlRoutes } from '../server.js';
import { natsOperations, requestSchemasDocument } from './schemas.js';
import { storedAnswer } from './redact.js';
import { docDrift } from '../generated-doc.js';

const DOC = new URL('../../../../docs/request-schemas.json', import.meta.url);

test('docs/request-schemas.json matches the route table', () => {
  const drift = docDrift(readFileSync(DOC, 'utf8'), requestSchemasDocument(controlRoutes()));
  assert.equal(drift, undefined, `docs/request-schemas.json ${drift}; regenerate: npm run build && node dist/src/control/nats-requests/schemas.js > docs/request-schemas.json`);
});

test('operator and self-service JSON operations are offered; ingress-only and public ones are not', () => {
  const ops = natsOperations(controlRoutes()).map((r) => r.operationId);
  for (const id of ['createCustomer', 'updateCustomer', 'createExit', 'getMe', 'patchMe', 'listCustomers']) assert.ok(ops.includes(id), id);
  for (const id of ['configStream', 'ackRevision', 'postLegitimacy', 'health']) assert.ok(!ops.includes(id), id);
  const doc = JSON.parse(requestSchemasDocument(controlRoutes())) as { operations: Record<string, { subject: string; request: { additionalProperties: boolean; required?: string[] } }> };
  assert.equal(doc.operations.createCustomer!.subject, 'hopgate.requests.createCustomer');
  assert.equal(doc.operations.createCustomer!.request.additionalProperties, false);
  assert.deepEqual(doc.operations.updateCustomer!.request.required, ['params', 'body']);
});

test('an answer is stored without the secrets shown once, and says which', () => {
  const { stored, redacted } = storedAnswer({ requestId: 'k', operationId: 'createCustomer', status: 201, body: { customer: { id: 'c1', login: 'a' }, password: 'p4ss' } });
  assert.deepEqual(stored.body, { customer: { id: 'c1', login: 'a' } });
  assert.deepEqual(redacted, ['body.password']);
  assert.equal(JSON.stringify(stored).includes('p4ss'), false);
});
