/**
 * How a control-API route is declared (once, with its zod schemas: they
 * validate the request and make the OpenAPI document) and what every route
 * module is given: the server's options and the helpers several resources share.
 */
import { randomBytes } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { z } from 'zod';
import { hashPassword } from '../../shared/auth/password-hash.js';
import type { PrefixBound } from '../../shared/source-range.js';
import type { Logger } from '../../shared/log.js';
import type { Principal } from '../api-auth.js';
import { ApiError, notFound } from '../errors.js';
import type { RouteDoc } from '../openapi.js';
import { generateExitToken } from '../token.js';
import type { ControlStore, CustomerRecord } from '../store/index.js';
import type { ConfigHub } from '../stream.js';
import type { StatsCollector } from '../collector.js';
import type { ControlMetrics } from '../metrics.js';
import type { LegitimacyService } from '../legitimacy.js';

type Out<T> = T extends z.ZodType ? z.output<T> : undefined;

export interface Ctx<P, Q, B> {
  readonly params: P;
  readonly query: Q;
  readonly body: B;
  readonly principal: Principal;
  readonly req: FastifyRequest;
  readonly reply: FastifyReply;
}

export interface Route extends RouteDoc {
  handler(ctx: Ctx<unknown, unknown, unknown>): Promise<unknown>;
}

export function route<PS extends z.ZodObject | undefined = undefined, QS extends z.ZodObject | undefined = undefined, BS extends z.ZodType | undefined = undefined>(
  doc: Omit<RouteDoc, 'params' | 'query' | 'body'> & { params?: PS; query?: QS; body?: BS },
  handler: (ctx: Ctx<Out<PS>, Out<QS>, Out<BS>>) => Promise<unknown>,
): Route {
  return { ...(doc as RouteDoc), handler: handler };
}

export interface ControlServerOptions {
  readonly store: ControlStore;
  readonly adminToken: string;
  readonly host?: string;
  readonly port?: number;
  readonly logger?: Logger;
  /** scrypt cost of generated customer passwords (tests lower it). */
  readonly passwordCost?: { ln: number; r: number; p: number };
  /** The config stream (GET /v1/stream); without it the stream routes answer 503. */
  readonly hub?: ConfigHub;
  /** Statistics and quotas; a quota change is re-checked at once when present. */
  readonly collector?: StatsCollector;
  /** GET /metrics and request counting. */
  readonly metrics?: ControlMetrics;
  /** Source legitimacy (reports, rules, events); without it those routes answer 503. */
  readonly legitimacy?: LegitimacyService;
  /** Broadest source prefix a customer may set itself (default /24 and /48; never broader than SOURCE_PREFIX_FLOOR). */
  readonly selfServiceSourcePrefix?: PrefixBound;
  /** The host customers reach the ingresses at (GET /v1/me/connect). */
  readonly publicHost?: string;
}

/** A generated customer password: 24 URL-safe characters (144 bits). */
export function generatePassword(): string {
  return randomBytes(18).toString('base64url');
}

/** Who the change log names for a change made by `p`. */
export const actorOf = (p: Principal): string => (p.kind === 'customer' ? `customer:${p.id}` : p.kind === 'exit' ? `exit:${p.exitId}` : p.kind);

/** The calling customer's id (routes declared auth: 'customer'). */
export function customerIdOf(p: Principal): string {
  if (p.kind !== 'customer') throw new ApiError(403, 'forbidden', 'customer credentials required');
  return p.id;
}

/** The calling ingress's node id (routes declared auth: 'ingress'). */
export const nodeIdOf = (p: Principal): string => (p as { nodeId: string }).nodeId;

export async function mustCustomer(store: ControlStore, id: string): Promise<CustomerRecord> {
  const c = await store.getCustomer(id);
  if (!c) throw notFound('customer', id);
  return c;
}

/** A generated password and its scrypt hash (at the server's cost). */
export async function newPassword(o: ControlServerOptions): Promise<{ password: string; hash: string }> {
  const password = generatePassword();
  return { password, hash: await hashPassword(password, o.passwordCost) };
}

/** A generated reverse-exit token and its scrypt hash. */
export async function newExitToken(o: ControlServerOptions): Promise<{ token: string; hash: string }> {
  const token = generateExitToken();
  return { token, hash: await hashPassword(token, o.passwordCost) };
}
