/** Address helpers over ipaddr.js (for range classification) and the CIDR set every allow/deny list uses. */
import ipaddr from 'ipaddr.js';
import { addrOf, CidrTable, parseCidr, type Addr } from './cidr.js';

export type IPAddr = ipaddr.IPv4 | ipaddr.IPv6;

/** Parse an address, folding IPv4-mapped IPv6 (::ffff:1.2.3.4) into IPv4. */
export function parseIp(text: string): IPAddr | undefined {
  if (!ipaddr.isValid(text)) return undefined;
  const a = ipaddr.parse(text);
  if (a.kind() === 'ipv6' && (a as ipaddr.IPv6).isIPv4MappedAddress()) return (a as ipaddr.IPv6).toIPv4Address();
  return a;
}

/** Would {@link CidrSet} take it: an address, or a CIDR (an IPv4-mapped one /96 or longer)? */
export function isCidrOrIp(text: string): boolean {
  return parseCidr(text, true) !== undefined;
}

/**
 * A CIDR list compiled for matching (a view of the longest-prefix-match table
 * in cidr.ts). Plain addresses count as /32 or /128; IPv4-mapped entries and
 * addresses count as IPv4. An entry that is not an address or CIDR throws.
 */
export class CidrSet {
  /** Value: the entry's prefix length, for {@link longestPrefix}. */
  private readonly table = new CidrTable<number>();

  constructor(cidrs: readonly string[]) {
    for (const c of cidrs) {
      const p = parseCidr(c, true);
      if (!p) throw new TypeError(`not an IP address or CIDR: ${c}`);
      this.table.add(p, p.bits);
    }
  }

  /** Distinct entries. */
  get size(): number {
    return this.table.size;
  }

  has(addr: IPAddr | Addr): boolean {
    return this.table.lookup('family' in addr ? addr : addrOf(addr)) !== undefined;
  }

  /** The prefix length of the most specific range holding `addr`, or -1. */
  longestPrefix(addr: IPAddr | Addr): number {
    return this.table.lookup('family' in addr ? addr : addrOf(addr)) ?? -1;
  }

  hasText(text: string): boolean {
    return this.table.lookupText(text) !== undefined;
  }
}

/** `::ffff:1.2.3.4` (an IPv4 peer on a dual-stack socket) → `1.2.3.4`; anything else unchanged. */
export function unmapIPv4(addr: string): string {
  return addr.startsWith('::ffff:') && addr.includes('.') ? addr.slice(7) : addr;
}
