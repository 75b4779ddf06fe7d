/**
 * The OpenAPI 3.1 document, generated from the same zod schemas that validate
 * requests (z.toJSONSchema emits JSON Schema 2020-12, which OpenAPI 3.1 uses).
 */
import { z } from 'zod';
import { ErrorBody } from './api-schemas.js';

/** `exit`: a hopgate exit's link token, or the operator token. */
export type Auth = 'operator' | 'customer' | 'ingress' | 'exit' | 'public';

export interface ResponseSpec {
  readonly description: string;
  readonly schema?: z.ZodType;
  /** Default application/json. */
  readonly contentTypes?: readonly string[];
  /** Describe the body as the schema's input form (e.g. a config document with defaults left out). */
  readonly io?: 'input' | 'output';
}

export interface RouteDoc {
  readonly method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  /** Fastify style: /v1/customers/:id */
  readonly path: string;
  readonly auth: Auth;
  readonly operationId: string;
  readonly summary: string;
  readonly tag: string;
  readonly params?: z.ZodObject;
  readonly query?: z.ZodObject;
  readonly body?: z.ZodType;
  readonly status: number;
  readonly response: ResponseSpec;
  /** Error statuses this route can answer besides 400/401/403 (e.g. 404, 409). */
  readonly errors?: readonly number[];
}

function jsonSchema(schema: z.ZodType, io: 'input' | 'output'): Record<string, unknown> {
  const s = z.toJSONSchema(schema, { io, unrepresentable: 'any', target: 'draft-2020-12' }) as Record<string, unknown>;
  delete s.$schema;
  return s;
}

const ERROR_TEXT: Record<number, string> = {
  400: 'invalid request (the field at fault is named)',
  401: 'missing or wrong credentials',
  403: 'these credentials may not use this endpoint',
  404: 'not found',
  409: 'conflict (duplicate login or id, or in use)',
  500: 'internal error',
  503: 'unavailable: the database is locked or unreachable (code database_unavailable; retry after the Retry-After header), or the service is not running here',
};

export function openApiDocument(routes: readonly RouteDoc[], version: string): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const r of routes) {
    const path = r.path.replace(/:([A-Za-z_]+)/g, '{$1}');
    const parameters: unknown[] = [];
    for (const [where, obj] of [['path', r.params], ['query', r.query]] as const) {
      if (!obj) continue;
      for (const [name, field] of Object.entries(obj.shape)) {
        const f = field as z.ZodType;
        parameters.push({
          name,
          in: where,
          required: where === 'path' || !f.safeParse(undefined).success,
          schema: jsonSchema(f, 'input'),
          ...(f.description ? { description: f.description } : {}),
        });
      }
    }
    const responses: Record<string, unknown> = {};
    const contentTypes = r.response.contentTypes ?? ['application/json'];
    responses[String(r.status)] = {
      description: r.response.description,
      ...(r.response.schema
        ? {
            content: Object.fromEntries(
              contentTypes.map((ct) => [ct, ct === 'application/json' ? { schema: jsonSchema(r.response.schema!, r.response.io ?? 'output') } : { schema: { type: 'string' } }]),
            ),
          }
        : {}),
    };
    const errors = new Set<number>([...(r.body || r.query || r.params ? [400] : []), ...(r.auth === 'public' ? [] : [401, 403]), ...(r.errors ?? []), 503]);
    for (const code of [...errors].sort()) {
      responses[String(code)] = { description: ERROR_TEXT[code] ?? 'error', content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } };
    }
    (paths[path] ??= {})[r.method.toLowerCase()] = {
      operationId: r.operationId,
      summary: r.summary,
      tags: [r.tag],
      security: r.auth === 'operator' ? [{ operatorToken: [] }] : r.auth === 'customer' ? [{ customerPassword: [] }] : r.auth === 'ingress' ? [{ ingressToken: [] }] : r.auth === 'exit' ? [{ exitLinkToken: [] }, { operatorToken: [] }] : [],
      ...(parameters.length > 0 ? { parameters } : {}),
      ...(r.body ? { requestBody: { required: true, content: { 'application/json': { schema: jsonSchema(r.body, 'input') } } } } : {}),
      responses,
    };
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'hopgate control plane',
      version,
      description:
        'Customers, credentials, exits, assignments, ingress nodes and settings of a hopgate network. Operators use the bearer token; customers use their own login and password (Basic) on /v1/me.',
    },
    jsonSchemaDialect: 'https://json-schema.org/draft/2020-12/schema',
    components: {
      securitySchemes: {
        operatorToken: { type: 'http', scheme: 'bearer', description: 'the operator token (state dir file control-admin-token, or HOPGATE_ADMIN_TOKEN)' },
        customerPassword: { type: 'http', scheme: 'basic', description: "a customer's own login and password" },
        ingressToken: { type: 'http', scheme: 'bearer', description: 'an ingress node token (POST /v1/ingress-nodes/{id}/token)' },
        exitLinkToken: { type: 'http', scheme: 'bearer', description: "a hopgate exit's link token (POST /v1/exits/{id}/link-token)" },
      },
      schemas: { Error: jsonSchema(ErrorBody, 'output') },
    },
    paths,
  };
}
