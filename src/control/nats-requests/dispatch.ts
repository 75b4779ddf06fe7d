/**
 * Runs a change message as the REST call it names, through the control API
 * itself (fastify's in-process inject): the same route, auth, zod validation,
 * handler and error answers as over HTTP — one code path, not a copy.
 */
import type { FastifyInstance } from 'fastify';
import { ApiError } from '../errors.js';
import type { RouteDoc } from '../openapi.js';
import { natsOperations, type RequestEnvelopeT } from './schemas.js';

/** What the REST API answered. */
export interface RestAnswer {
  readonly status: number;
  readonly body: unknown;
  readonly retryAfter?: number;
}

/**
 * The source address NATS requests show to the API (auth throttling, logs): one
 * reserved documentation address (TEST-NET-1), never a real client's, so failed
 * logins over NATS are throttled apart from HTTP clients.
 */
export const NATS_SOURCE_ADDRESS = '192.0.2.1';

export class OperationTable {
  private readonly byId: ReadonlyMap<string, RouteDoc>;

  constructor(private readonly api: { readonly app: FastifyInstance; readonly routes: readonly RouteDoc[] }) {
    this.byId = new Map(natsOperations(api.routes).map((r) => [r.operationId, r]));
  }

  get(operationId: string): RouteDoc | undefined {
    return this.byId.get(operationId);
  }

  /** Run `r` with the message's envelope and Authorization header. Never throws for a bad request: that is a 4xx answer. */
  async call(r: RouteDoc, env: RequestEnvelopeT, authorization: string | undefined): Promise<RestAnswer> {
    let url: string;
    try {
      url = urlOf(r, env);
    } catch (err) {
      if (err instanceof ApiError) return { status: err.status, body: err.body() };
      throw err;
    }
    const withBody = env.body !== undefined;
    const res = await this.api.app.inject({
      method: r.method,
      url,
      remoteAddress: NATS_SOURCE_ADDRESS,
      headers: {
        accept: 'application/json',
        ...(authorization !== undefined ? { authorization } : {}),
        ...(withBody ? { 'content-type': 'application/json' } : {}),
      },
      ...(withBody ? { payload: JSON.stringify(env.body) } : {}),
    });
    const type = String(res.headers['content-type'] ?? '');
    const body = res.body.length === 0 ? null : type.includes('json') ? (JSON.parse(res.body) as unknown) : res.body;
    const retry = Number(res.headers['retry-after']);
    return { status: res.statusCode, body, ...(Number.isInteger(retry) && retry > 0 ? { retryAfter: retry } : {}) };
  }
}

/** The REST URL of `r` with the envelope's path parameters and query. */
function urlOf(r: RouteDoc, env: RequestEnvelopeT): string {
  const given = env.params ?? {};
  const names = [...r.path.matchAll(/:([A-Za-z_]+)/g)].map((m) => m[1]!);
  for (const k of Object.keys(given)) if (!names.includes(k)) throw new ApiError(400, 'invalid_request', `params.${k}: ${r.operationId} has no such parameter`, `params.${k}`);
  const path = r.path.replace(/:([A-Za-z_]+)/g, (_, name: string) => {
    const v = given[name];
    if (v === undefined || String(v) === '') throw new ApiError(400, 'invalid_request', `params.${name}: required`, `params.${name}`);
    // Encoding keeps a '/' inside the segment, but the router still resolves a dot segment (/v1/customers/../usage is GET /v1/usage).
    if (String(v) === '.' || String(v) === '..') throw new ApiError(400, 'invalid_request', `params.${name}: '.' and '..' are not identifiers`, `params.${name}`);
    return encodeURIComponent(String(v));
  });
  if (env.body !== undefined && !r.body) throw new ApiError(400, 'invalid_request', `body: ${r.operationId} takes no body`, 'body');
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(env.query ?? {})) for (const x of Array.isArray(v) ? v : [v]) q.append(k, String(x));
  const qs = q.toString();
  return qs ? `${path}?${qs}` : path;
}
