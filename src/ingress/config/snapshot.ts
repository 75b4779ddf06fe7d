/**
 * A Snapshot is the compiled, frozen runtime view of an IngressConfig: lookup
 * maps built once, so the connection path never scans. Live sessions keep the
 * snapshot they started with; a reload swaps in a new one.
 */
import { CidrSet } from '../../shared/net-addr.js';
import type { IngressConfig, UserConfig } from '../../shared/schema/ingress-config.js';
import { TargetPolicy } from '../guard/target-policy.js';
import { buildExitIndex, type ExitIndex } from '../route/select-exit.js';

export interface CompiledUser {
  readonly login: string;
  readonly passwordHash: string | undefined;
  readonly sources: CidrSet;
  readonly sourceAuth: boolean;
  readonly maxConnections: number;
  readonly suspended: boolean;
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
}

function compileUser(u: UserConfig, defaultMax: number): CompiledUser {
  return Object.freeze({
    login: u.login,
    passwordHash: u.passwordHash,
    sources: new CidrSet(u.sources),
    sourceAuth: u.sourceAuth,
    maxConnections: u.maxConnections ?? defaultMax,
    suspended: u.status === 'suspended',
  });
}

export function compileSnapshot(config: IngressConfig, revision: number): Snapshot {
  const usersByLogin = new Map<string, CompiledUser>();
  for (const u of config.users) {
    if (usersByLogin.has(u.login)) throw new Error(`users: login '${u.login}' appears twice`);
    usersByLogin.set(u.login, compileUser(u, config.limits.perUserMaxConnections));
  }
  const sourceAuthUsers = [...usersByLogin.values()].filter((u) => u.sourceAuth && u.sources.size > 0);
  return Object.freeze({
    revision,
    config,
    usersByLogin,
    sourceAuthUsers,
    targetPolicy: new TargetPolicy(config.targetPolicy),
    exits: buildExitIndex(config.exits),
    protocols: new Set(config.protocols),
  });
}
