/**
 * Change messages in over JetStream: the request envelope a message carries,
 * the answer published to its reply subject, and their JSON Schema per
 * operation — generated from the REST route table (the same zod schemas that
 * validate the API) into docs/request-schemas.json; a test fails when the file
 * and the code differ.
 *
 *   npm run build && node dist/src/control/nats-requests/schemas.js > docs/request-schemas.json
 */
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { ErrorBody } from '../api-schemas.js';
import type { RouteDoc } from '../openapi.js';

const Scalar = z.union([z.string(), z.number(), z.boolean()]);

/** A request message's body: the REST call's path parameters, query and body, by name. */
export const RequestEnvelope = z.strictObject({
  params: z.record(z.string(), z.union([z.string(), z.number()])).optional(),
  query: z.record(z.string(), z.union([Scalar, z.array(Scalar)])).optional(),
  body: z.unknown().optional(),
});
export type RequestEnvelopeT = z.output<typeof RequestEnvelope>;

/** The answer published to the reply subject: what the REST API would have answered. */
export const Answer = z.object({
  /** The request's Nats-Msg-Id. */
  requestId: z.string(),
  operationId: z.string(),
  /** The HTTP status the REST API answers. */
  status: z.number().int(),
  /** The REST API's JSON body; null for 204. */
  body: z.unknown(),
  /** Seconds to wait before a retry (with 429 and 503), as the Retry-After header. */
  retryAfter: z.number().int().optional(),
  /** True when this is the stored answer of a request already applied (a redelivery or duplicate). */
  replayed: z.boolean().optional(),
  /** Fields shown once (a generated password or token) that a replay leaves out, as paths like body.password. */
  redacted: z.array(z.string()).optional(),
});
export type AnswerT = z.output<typeof Answer>;

/** Callers a message may name: the operator token, or a customer's own login on /v1/me. */
export const NATS_AUTHS: readonly RouteDoc['auth'][] = ['operator', 'customer'];

/** The REST operations offered over JetStream: every operator and self-service route answering JSON. */
export function natsOperations<R extends RouteDoc>(routes: readonly R[]): R[] {
  return routes.filter((r) => NATS_AUTHS.includes(r.auth) && (r.response.contentTypes ?? ['application/json']).includes('application/json'));
}

function jsonSchema(schema: z.ZodType, io: 'input' | 'output'): Record<string, unknown> {
  const s = z.toJSONSchema(schema, { io, unrepresentable: 'any', target: 'draft-2020-12' }) as Record<string, unknown>;
  delete s.$schema;
  return s;
}

/** One operation's request and answer schemas. */
export function operationSchemas(r: RouteDoc, subjectPrefix: string): Record<string, unknown> {
  const request = z.strictObject({
    ...(r.params ? { params: r.params } : {}),
    ...(r.query ? { query: r.query.optional() } : {}),
    ...(r.body ? { body: r.body } : {}),
  });
  const ok = Answer.extend({ operationId: z.literal(r.operationId), status: z.literal(r.status), body: r.status === 204 || !r.response.schema ? z.null() : r.response.schema });
  const failed = Answer.extend({ operationId: z.literal(r.operationId), status: z.number().int().min(400).max(599), body: ErrorBody });
  return {
    subject: `${subjectPrefix}.${r.operationId}`,
    rest: `${r.method} ${r.path}`,
    auth: r.auth,
    summary: r.summary,
    request: { title: `${r.operationId} request`, ...jsonSchema(request, 'input') },
    answer: { title: `${r.operationId} answer`, anyOf: [jsonSchema(ok, r.response.io ?? 'output'), jsonSchema(failed, 'output')] },
  };
}

/** docs/request-schemas.json, as the code says it should be. */
export function requestSchemasDocument(routes: readonly RouteDoc[], subjectPrefix = 'hopgate.requests'): string {
  const operations: Record<string, unknown> = {};
  for (const r of natsOperations(routes)) operations[r.operationId] = operationSchemas(r, subjectPrefix);
  return (
    JSON.stringify(
      {
        description:
          'hopgate change messages in over NATS JetStream (docs/EVENTS.md): per operation, its subject, the REST call it is, the JSON Schema of the request message body and of the answer on the reply subject. Generated from the control API route table.',
        headers: {
          'Nats-Msg-Id': 'required: the idempotency key (a replay is answered, not applied again)',
          Authorization: "required: as the REST API's header: Bearer <operator token>, or Basic <customer login:password> for the /v1/me operations",
          'Hopgate-Reply-To': 'optional: the subject the answer is published to (under _INBOX. or hopgate.replies.)',
        },
        operations,
      },
      null,
      2,
    ) + '\n'
  );
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { controlRoutes } = await import('../server.js');
  process.stdout.write(requestSchemasDocument(controlRoutes()));
}
