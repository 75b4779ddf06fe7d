/**
 * Who is calling the control API: the operator (bearer token), an ingress
 * (bearer ingress token) or a customer (Basic login:password, /v1/me only),
 * and whether that kind of caller may call the route (its declared `auth`).
 *
 * Under attack (issue 18): Basic checks pay scrypt in a fair queue (one
 * source holds at most its share of the slots and places; past that it is
 * answered 429 at once), an unknown login or a customer without a password
 * pays the same scrypt against a dummy hash and gets the same answer, and
 * failures are throttled per (source, login) and per source (429 with
 * Retry-After, no check) — limits in docs/CONTROL.md.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { verifyPassword } from '../shared/auth/password-hash.js';
import { AuthThrottle, THROTTLE_DEFAULTS, type ThrottleSettings } from '../shared/auth/auth-throttle.js';
import { FairSemaphore } from '../shared/fair-semaphore.js';
import { isProxyError } from '../shared/errors.js';
import { sourceKey } from '../shared/source-key.js';
import { unmapIPv4 } from '../shared/net-addr.js';
import * as S from './api-schemas.js';
import { ApiError } from './errors.js';
import type { ControlStore } from './store/index.js';
import { tokensEqual } from './token.js';
import type { Auth } from './openapi.js';

/** Concurrent scrypt checks (the libuv pool has 4 threads), places per source, places in all. */
export const API_AUTH_LIMITS = Object.freeze({ checks: 4, checksPerSource: 4, queue: 256 });
/** Failure throttling of the API: as the ingress's defaults (docs/CONFIGURATION.md). */
export const API_THROTTLE: ThrottleSettings = THROTTLE_DEFAULTS;

/**
 * Successful Basic checks are remembered (keyed by login and a hash of the
 * password, valid while the stored hash is unchanged) so self-service calls
 * do not pay scrypt each time.
 */
class CustomerAuthCache {
  private readonly ok = new Map<string, string>();
  key(login: string, password: string): string {
    return `${login}\0${createHash('sha256').update(password).digest('base64')}`;
  }
  has(key: string, storedHash: string): boolean {
    return this.ok.get(key) === storedHash;
  }
  add(key: string, storedHash: string): void {
    if (this.ok.size >= 10_000) this.ok.clear();
    this.ok.set(key, storedHash);
  }
}

export interface ApiAuthOptions {
  readonly store: ControlStore;
  readonly adminToken: string;
  readonly passwordCost?: { ln: number; r: number; p: number };
  readonly throttle?: ThrottleSettings;
}

export type Principal =
  | { readonly kind: 'anonymous' }
  | { readonly kind: 'operator' }
  | { readonly kind: 'customer'; readonly id: string; readonly login: string }
  | { readonly kind: 'ingress'; readonly nodeId: string }
  | { readonly kind: 'exit'; readonly exitId: string };

export type ApiAuthenticate = (req: FastifyRequest, reply: FastifyReply) => Promise<Principal>;

/** Who may call a route declared `auth`: authenticates the request, then 403 for the wrong kind of caller. */
export type ApiAuthorize = (auth: Auth, req: FastifyRequest, reply: FastifyReply) => Promise<Principal>;

export function apiAuthorizer(o: ApiAuthOptions): ApiAuthorize {
  const authenticate = apiAuthenticator(o);
  return async (auth, req, reply) => {
    if (auth === 'public') return { kind: 'anonymous' };
    const principal = await authenticate(req, reply);
    if (auth === 'operator' && principal.kind !== 'operator') {
      throw new ApiError(403, 'forbidden', 'this endpoint needs the operator token; customers use /v1/me');
    }
    if (auth === 'customer' && principal.kind !== 'customer') {
      throw new ApiError(403, 'forbidden', "self-service endpoints take a customer's own login and password; operators use /v1/customers/{id}");
    }
    if (auth === 'ingress' && principal.kind !== 'ingress') {
      throw new ApiError(403, 'forbidden', 'this endpoint takes an ingress token (POST /v1/ingress-nodes/{id}/token)');
    }
    if (auth === 'exit' && principal.kind !== 'exit' && principal.kind !== 'operator') {
      throw new ApiError(403, 'forbidden', "this endpoint takes an exit's link token (POST /v1/exits/{id}/link-token) or the operator token");
    }
    // A link token reads link pins, nothing else.
    if (principal.kind === 'exit' && auth !== 'exit') throw new ApiError(403, 'forbidden', "an exit's link token only reads link pins (GET /v1/link-pins)");
    return principal;
  };
}

export function apiAuthenticator(o: ApiAuthOptions): ApiAuthenticate {
  const cache = new CustomerAuthCache();
  const throttle = new AuthThrottle(o.throttle ?? API_THROTTLE);
  const slow = new FairSemaphore(API_AUTH_LIMITS.checks, API_AUTH_LIMITS.checksPerSource, API_AUTH_LIMITS.queue);
  // A hash of the customers' cost (routes/route.ts hashes theirs with it) that no password matches: random salt and key.
  const cost = o.passwordCost ?? { ln: 15, r: 8, p: 1 };
  const dummyHash = `$scrypt$ln=${cost.ln},r=${cost.r},p=${cost.p}$${randomBytes(16).toString('base64')}$${randomBytes(32).toString('base64')}`;

  const held = (reply: FastifyReply, key: string, login: string): void => {
    const wait = throttle.blockedFor(key, login);
    if (wait <= 0) return;
    const s = Math.ceil(wait / 1000);
    void reply.header('retry-after', String(s));
    throw new ApiError(429, 'rate_limited', `too many failed logins from this address; retry in ${s} s`);
  };
  const checkPassword = async (reply: FastifyReply, key: string, password: string, hash: string): Promise<boolean> => {
    try {
      return await slow.run(key, () => verifyPassword(password, hash));
    } catch (err) {
      if (!isProxyError(err)) throw err;
      void reply.header('retry-after', '1');
      throw new ApiError(429, 'rate_limited', 'too many password checks pending from this address; retry shortly');
    }
  };

  return async (req, reply) => {
    const key = sourceKey(unmapIPv4(req.socket.remoteAddress ?? ''));
    const h = req.headers.authorization;
    if (!h) throw new ApiError(401, 'unauthorized', 'credentials required: Authorization: Bearer <operator token>, or Basic with a customer login');
    const [scheme, value = ''] = h.split(/\s+/, 2) as [string, string?];
    if (scheme.toLowerCase() === 'bearer') {
      // The operator's token is checked first (constant time, no lookup): an attacker at its
      // address cannot hold the operator out.
      if (tokensEqual(value, o.adminToken)) return { kind: 'operator' };
      held(reply, key, '');
      if (value.startsWith('hging_')) {
        const node = await o.store.nodeByToken(value);
        if (node) return { kind: 'ingress', nodeId: node.id };
        throttle.fail(key, '');
        throw new ApiError(401, 'unauthorized', 'unknown ingress token');
      }
      if (value.startsWith('hgel_')) {
        const exitId = await o.store.exitByLinkToken(value);
        if (exitId !== undefined) return { kind: 'exit', exitId };
        throttle.fail(key, '');
        throw new ApiError(401, 'unauthorized', 'unknown exit link token');
      }
      throttle.fail(key, '');
      throw new ApiError(401, 'unauthorized', 'wrong operator token');
    }
    if (scheme.toLowerCase() === 'basic') {
      const decoded = Buffer.from(value, 'base64').toString('utf8');
      const colon = decoded.indexOf(':');
      if (colon < 0) throw new ApiError(401, 'unauthorized', 'Basic credentials must be login:password');
      const login = decoded.slice(0, colon);
      const password = decoded.slice(colon + 1);
      held(reply, key, login);
      const customer = S.Login.safeParse(login).success ? await o.store.getCustomerByLogin(login) : undefined;
      const stored = customer?.passwordHash ?? undefined;
      const cached = stored !== undefined && cache.has(cache.key(login, password), stored);
      // Unknown, passwordless and wrong all pay one scrypt and get one answer.
      const ok = cached || (await checkPassword(reply, key, password, stored ?? dummyHash));
      if (!ok || !customer || stored === undefined) {
        throttle.fail(key, login);
        throw new ApiError(401, 'unauthorized', 'wrong login or password');
      }
      if (!cached) cache.add(cache.key(login, password), stored);
      throttle.succeed(key, login);
      return { kind: 'customer', id: customer.id, login: customer.login };
    }
    throw new ApiError(401, 'unauthorized', `unsupported authorization scheme '${scheme}'`);
  };
}
