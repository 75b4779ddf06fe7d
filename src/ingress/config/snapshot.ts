/**
 * A Snapshot is the compiled, frozen runtime view of an IngressConfig: lookup
 * maps built once, so the connection path never scans. Live sessions keep the
 * snapshot they started with; a reload swaps in a new one.
 */
import { CidrSet } from '../../shared/net-addr.js';
import { sourceAuthOverlaps } from '../../shared/source-range.js';
import type { IngressConfig, UserConfig } from '../../shared/schema/ingress-config.js';
import { TargetPolicy } from '../../shared/net/target-policy.js';
import { ExitIndex } from '../../shared/exits/exit-index.js';
import { RouteCompiler, type CustomerRoute } from '../../shared/routing/customer-routes.js';
import { checkReverseConfig } from '../../shared/schema/check-reverse-config.js';

export interface CompiledUser {
  readonly login: string;
  readonly passwordHash: string | undefined;
  readonly sources: CidrSet;
  readonly sourceAuth: boolean;
  readonly maxConnections: number;
  readonly suspended: boolean;
  /** Bytes per second per direction (up = client → target); undefined: no limit. */
  readonly bandwidth: { readonly up: number | undefined; readonly down: number | undefined } | undefined;
  /** Data quota, both directions, per UTC calendar period. */
  readonly quota: { readonly bytes: number; readonly period: 'hour' | 'day' | 'month' } | undefined;
  /** Control plane: the quota is used across all ingresses until this time (ms since epoch). */
  readonly quotaExceededUntil: number | undefined;
  /** The customer's exits and port scheme. */
  readonly route: CustomerRoute;
  /** The configuration this was compiled from (identity lets a rebuild reuse it). */
  readonly config: UserConfig;
}

export interface Snapshot {
  readonly revision: number;
  readonly config: IngressConfig;
  readonly usersByLogin: ReadonlyMap<string, CompiledUser>;
  /** Users that may connect without credentials from their sources, checked in order. */
  readonly sourceAuthUsers: readonly CompiledUser[];
  readonly targetPolicy: TargetPolicy;
  readonly exits: ExitIndex;
  readonly protocols: ReadonlySet<string>;
  /** Load balancers whose connections must start with a PROXY protocol header (and nobody else's may). */
  readonly proxyTrusted: CidrSet;
}

function compileUser(u: UserConfig, defaultMax: number, routes: RouteCompiler): CompiledUser {
  return Object.freeze({
    config: u,
    route: routes.compile(u),
    login: u.login,
    passwordHash: u.passwordHash,
    sources: new CidrSet(u.sources),
    sourceAuth: u.sourceAuth,
    maxConnections: u.maxConnections ?? defaultMax,
    suspended: u.status === 'suspended',
    bandwidth:
      u.bandwidth && (u.bandwidth.upBytesPerSec !== undefined || u.bandwidth.downBytesPerSec !== undefined)
        ? Object.freeze({ up: u.bandwidth.upBytesPerSec, down: u.bandwidth.downBytesPerSec })
        : undefined,
    quota: u.quota ? Object.freeze({ bytes: u.quota.bytes, period: u.quota.period }) : undefined,
    quotaExceededUntil: u.quotaExceededUntil !== undefined ? Date.parse(u.quotaExceededUntil) : undefined,
  });
}

/**
 * Compile a configuration. With `previous`, parts whose inputs are the very same
 * objects are reused: a change to one customer (the control plane's deltas keep
 * every other object) rebuilds one customer, not all of them.
 */
export function compileSnapshot(config: IngressConfig, revision: number, previous?: Snapshot): Snapshot {
  const prev = previous?.config;
  checkReverseConfig(config);
  const sameExits = prev !== undefined && prev.exits === config.exits;
  const exits = sameExits ? previous!.exits : new ExitIndex(config.exits);
  const reuseUsers =
    sameExits &&
    prev.limits.perUserMaxConnections === config.limits.perUserMaxConnections &&
    JSON.stringify(prev.routing) === JSON.stringify(config.routing) &&
    prev.listen.ports[0] === config.listen.ports[0];
  const routes = new RouteCompiler(exits, config);
  const usersByLogin = new Map<string, CompiledUser>();
  for (const u of config.users) {
    if (usersByLogin.has(u.login)) throw new Error(`users: login '${u.login}' appears twice`);
    const old = reuseUsers ? previous!.usersByLogin.get(u.login) : undefined;
    usersByLogin.set(u.login, old?.config === u ? old : compileUser(u, config.limits.perUserMaxConnections, routes));
  }
  const sourceAuthUsers = [...usersByLogin.values()].filter((u) => u.sourceAuth && u.sources.size > 0);
  // Also here, not only in the schema: a control-plane-fed ingress assembles its users one by one.
  const overlap = sourceAuthOverlaps(sourceAuthUsers.map((u) => u.config))[0];
  if (overlap) throw new Error(`users: ${overlap.message}`);
  return Object.freeze({
    revision,
    config,
    usersByLogin,
    sourceAuthUsers,
    targetPolicy: new TargetPolicy(config.targetPolicy),
    exits,
    protocols: new Set(config.protocols),
    proxyTrusted: new CidrSet(config.proxyProtocol.trusted),
  });
}
