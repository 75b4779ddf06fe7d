/**
 * Judging a target by the target policy: its port and literal address before
 * anything is resolved, then every address its name resolves to. The ingress
 * dials with it and so does an exit.
 */
import { lookup } from 'node:dns/promises';
import { ProxyError } from '../errors.js';
import type { TargetPolicy } from './target-policy.js';

/**
 * The part of protocol/address.ts's TargetAddress that judging needs, spelt
 * out here because shared sits below protocol (TargetAddress fits it as is).
 */
export interface JudgedTarget {
  readonly host: string;
  readonly port: number;
  readonly kind: 'ipv4' | 'ipv6' | 'domain';
}

/**
 * What can be judged without resolving: the port, and the address when it is a
 * literal. Throws TARGET_FORBIDDEN. Names are judged after resolution, by
 * whoever resolves them (here, or the exit).
 */
export function checkUnresolvedTarget(target: JudgedTarget, policy: TargetPolicy): void {
  const why = unresolvedTargetRefusal(target, policy);
  if (why !== undefined) throw new ProxyError('TARGET_FORBIDDEN', why);
}

/** The same check as a value: why the target is refused, or undefined (per UDP datagram: no throw and catch apiece). */
export function unresolvedTargetRefusal(target: JudgedTarget, policy: TargetPolicy): string | undefined {
  const port = policy.checkPort(target.port);
  if (!port.allowed) return port.reason;
  if (target.kind !== 'domain') {
    const v = policy.checkAddress(target.host);
    if (!v.allowed) return v.reason;
  }
  return undefined;
}

/** Resolve a target to the addresses the policy allows (at least one, or a ProxyError). */
export async function resolveAllowed(target: JudgedTarget, policy: TargetPolicy): Promise<string[]> {
  checkUnresolvedTarget(target, policy);
  if (target.kind !== 'domain') return [target.host];
  let found: { address: string }[];
  try {
    found = await lookup(target.host, { all: true, verbatim: true });
  } catch (err) {
    throw new ProxyError('DNS_FAILED', `cannot resolve ${target.host}`, { cause: err });
  }
  const allowed: string[] = [];
  let lastReason = '';
  for (const { address } of found) {
    const v = policy.checkAddress(address);
    if (v.allowed) allowed.push(address);
    else lastReason = v.reason;
  }
  if (allowed.length === 0) {
    throw new ProxyError('TARGET_FORBIDDEN', found.length ? `${target.host} resolves to ${lastReason}` : `cannot resolve ${target.host}`);
  }
  return allowed;
}
