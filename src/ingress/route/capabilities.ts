/**
 * Can exit E serve request R? (docs/ROUTING.md, "Capabilities"). Random,
 * sticky and failover choices consider only exits that can; an exit the
 * customer pinned (exit IP, port, index) and that cannot is refused with a
 * precise code instead of being swapped silently:
 *   - UDP: socks5 and hopgate exits carry it, reverse exits only over links (runtime state: `reverseUdp`),
 *     HTTP exits never → COMMAND_UNSUPPORTED (SOCKS5 REP 7);
 *   - address family: a literal IPv4/IPv6 target needs an exit with an egress of that family;
 *     names are resolved at the exit, which picks among its own families → FAMILY_UNSUPPORTED (REP 8, HTTP 502);
 *   - a reverse exit's `targets:` (the networks and ports it serves, e.g. the site behind it) → TARGET_FORBIDDEN;
 *   - health is the caller's `usable` (exit-health.ts), checked alongside.
 */
import { isIP, isIPv6 } from 'node:net';
import { ProxyError, type ErrorCode } from '../../shared/errors.js';
import type { TargetAddress } from '../../protocol/address.js';
import type { ExitConfig } from '../../shared/schema/ingress-config.js';
import { checkReverseTargets } from '../reverse/dial-reverse.js';
import type { Exit } from '../../shared/exits/exit-index.js';

/** What this request needs from its exit; an empty need is served by any exit. */
export interface RouteNeed {
  /** A SOCKS5 UDP association. */
  readonly udp?: boolean | undefined;
  /** The target as the client named it (an associate has none: its datagrams name their own). */
  readonly target?: TargetAddress | undefined;
  /**
   * Whether reverse exit `id` can carry UDP now: only over links, which an exit of the older
   * work-connection protocol has none of (its registry knows: ReverseRegistry.carriesUdp). Given
   * with `udp` by chooseExit (pipeline-stages.ts); without it a reverse exit carries no UDP.
   */
  readonly reverseUdp?: ((id: string) => boolean) | undefined;
}

export interface Refusal {
  readonly code: ErrorCode;
  readonly reason: string;
}

type Family = 4 | 6;

interface Caps {
  readonly udp: boolean;
  /** Families it egresses; both when it declares no egress address (the exit alone knows). */
  readonly families: ReadonlySet<Family>;
}

const capsCache = new WeakMap<ExitConfig, Caps>();

function capsOf(c: ExitConfig): Caps {
  let caps = capsCache.get(c);
  if (caps) return caps;
  const families = new Set<Family>();
  const v = c.egressIp !== undefined ? isIP(c.egressIp) : 0;
  if (v === 4 || v === 6) families.add(v);
  if (c.egressIp6 !== undefined) families.add(6);
  // No (or no literal) egress address declared: nothing to go by, so it is asked for either family.
  if (v === 0 && c.egressIp6 === undefined) families.add(4).add(6);
  // A reverse exit's UDP depends on how it is connected now, not on its configuration: whyCannot asks.
  caps = { udp: c.kind !== 'http', families };
  capsCache.set(c, caps);
  return caps;
}

export function familyOfTarget(t: TargetAddress | undefined): Family | undefined {
  return t?.kind === 'ipv4' ? 4 : t?.kind === 'ipv6' ? (isMappedV4(t.host) ? 4 : 6) : undefined;
}

/** `::ffff:a.b.c.d` is an IPv4 target in IPv6 clothing. */
function isMappedV4(host: string): boolean {
  return isIPv6(host) && /^::ffff:(\d+\.){3}\d+$/i.test(host);
}

const familyName = (f: Family): string => (f === 4 ? 'IPv4' : 'IPv6');

/** Why exit `e` cannot serve `need`, or undefined when it can. */
export function whyCannot(e: Exit, need: RouteNeed): Refusal | undefined {
  const c = e.config;
  const caps = capsOf(c);
  if (need.udp && !caps.udp) return { code: 'COMMAND_UNSUPPORTED', reason: `exit ${e.id} carries no UDP (an HTTP proxy)` };
  if (need.udp && c.kind === 'reverse' && need.reverseUdp?.(e.id) !== true) {
    return { code: 'COMMAND_UNSUPPORTED', reason: `exit ${e.id} carries no UDP (a reverse exit connected without links: the older work-connection protocol)` };
  }
  const f = familyOfTarget(need.target);
  if (f !== undefined && !caps.families.has(f)) {
    return { code: 'FAMILY_UNSUPPORTED', reason: `exit ${e.id} has no ${familyName(f)} egress, and ${need.target!.host} is ${familyName(f)}` };
  }
  if (c.kind === 'reverse' && need.target) {
    try {
      checkReverseTargets(c, need.target);
    } catch (err) {
      return { code: (err as ProxyError).code, reason: (err as Error).message };
    }
  }
  return undefined;
}

export function canServe(e: Exit, need: RouteNeed | undefined): boolean {
  return need === undefined || whyCannot(e, need) === undefined;
}

/** `usable` (health, tried) narrowed to the exits that can serve `need`. */
export function capableAnd(usable: (e: Exit) => boolean, need: RouteNeed | undefined): (e: Exit) => boolean {
  return need === undefined ? usable : (e) => usable(e) && canServe(e, need);
}

/** A pinned exit that cannot serve this request: refused with its reason. */
export function refuseUnlessCapable(e: Exit, need: RouteNeed | undefined, what: string): void {
  const r = need && whyCannot(e, need);
  if (r) throw new ProxyError(r.code, `${what}: ${r.reason}`);
}

/**
 * None of `candidates` can serve `need` (health aside): the refusal naming why (the first
 * exit's reason); undefined when at least one can. Stops at the first capable exit.
 */
export function noneCapable(candidates: { readonly size: number; at(i: number): Exit | undefined }, need: RouteNeed | undefined, where: string): ProxyError | undefined {
  if (need === undefined) return undefined;
  let first: Refusal | undefined;
  for (let i = 0; i < candidates.size; i++) {
    const r = whyCannot(candidates.at(i)!, need);
    if (!r) return undefined;
    first ??= r;
  }
  if (!first) return undefined;
  const n = candidates.size;
  const why =
    first.code === 'COMMAND_UNSUPPORTED'
      ? 'carries UDP'
      : first.code === 'FAMILY_UNSUPPORTED'
        ? `has ${familyName(familyOfTarget(need.target)!)} egress (target ${need.target!.host})`
        : `serves ${need.target ? need.target.host : 'this target'} (${first.reason})`;
  return new ProxyError(first.code, `none of your ${n} exit${n === 1 ? '' : 's'} in ${where} ${why}`);
}
