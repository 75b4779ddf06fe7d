/**
 * May a connection go to this address? Special ranges (private, loopback,
 * link-local, CGNAT, multicast, cloud metadata…) are refused unless allowed by
 * configuration. Checked on the *resolved* address, so a DNS name cannot
 * smuggle an internal target in.
 */
import ipaddr from 'ipaddr.js';
import { CidrSet, parseIp, type IPAddr } from '../net-addr.js';

/** Public-unicast addresses that are still internal services on clouds. */
const ALWAYS_SPECIAL = new CidrSet(['168.63.129.16/32', '100.100.100.200/32', 'fd00:ec2::254/128']);

export type PolicyVerdict = { allowed: true } | { allowed: false; reason: string };

export class TargetPolicy {
  private readonly allow: CidrSet;
  private readonly deny: CidrSet;
  private readonly ports: ReadonlySet<number>;

  constructor(cfg: { allow: readonly string[]; deny: readonly string[]; ports: readonly number[] }) {
    this.allow = new CidrSet(cfg.allow);
    this.deny = new CidrSet(cfg.deny);
    this.ports = new Set(cfg.ports);
  }

  checkPort(port: number): PolicyVerdict {
    if (port === 0) return { allowed: false, reason: 'port 0' };
    if (this.ports.size > 0 && !this.ports.has(port)) return { allowed: false, reason: `port ${port} not allowed` };
    return { allowed: true };
  }

  checkAddress(text: string): PolicyVerdict {
    const addr = parseIp(text);
    if (!addr) return { allowed: false, reason: `not an IP address: ${text}` };
    return this.check(addr);
  }

  check(addr: IPAddr): PolicyVerdict {
    if (this.deny.has(addr)) return { allowed: false, reason: `${addr.toString()} is in a denied range` };
    if (this.allow.has(addr)) return { allowed: true };
    const range = specialRange(addr);
    if (range) return { allowed: false, reason: `${addr.toString()} is ${range} (not allowed by target policy)` };
    return { allowed: true };
  }
}

/** The name of the special range an address is in, or undefined for ordinary public unicast. */
export function specialRange(addr: IPAddr): string | undefined {
  if (ALWAYS_SPECIAL.has(addr)) return 'a cloud metadata address';
  const range = addr.range();
  if (addr.kind() === 'ipv6') {
    const v6 = addr as ipaddr.IPv6;
    // Addresses that embed an IPv4 address are judged by it (NAT64, 6to4, Teredo lead elsewhere).
    if (range === 'rfc6052' || range === 'rfc6145') {
      const b = v6.toByteArray();
      return specialRange(new ipaddr.IPv4(b.slice(12))) ?? undefined;
    }
    if (range === '6to4' || range === 'teredo') return range;
  }
  return range === 'unicast' ? undefined : range;
}
