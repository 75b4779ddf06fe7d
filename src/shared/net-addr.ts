/** Address helpers over ipaddr.js: parse once, match CIDR lists fast. */
import ipaddr from 'ipaddr.js';

export type IPAddr = ipaddr.IPv4 | ipaddr.IPv6;

/** Parse an address, folding IPv4-mapped IPv6 (::ffff:1.2.3.4) into IPv4. */
export function parseIp(text: string): IPAddr | undefined {
  if (!ipaddr.isValid(text)) return undefined;
  const a = ipaddr.parse(text);
  if (a.kind() === 'ipv6' && (a as ipaddr.IPv6).isIPv4MappedAddress()) return (a as ipaddr.IPv6).toIPv4Address();
  return a;
}

export function isCidrOrIp(text: string): boolean {
  if (text.includes('/')) {
    try {
      ipaddr.parseCIDR(text);
      return true;
    } catch {
      return false;
    }
  }
  return ipaddr.isValid(text);
}

/** A CIDR list compiled for matching. Plain addresses count as /32 or /128. */
export class CidrSet {
  private readonly v4: Array<[ipaddr.IPv4, number]> = [];
  private readonly v6: Array<[ipaddr.IPv6, number]> = [];

  constructor(cidrs: readonly string[]) {
    for (const c of cidrs) {
      const [addr, bits] = c.includes('/') ? ipaddr.parseCIDR(c) : [ipaddr.parse(c), -1];
      const a = addr.kind() === 'ipv6' && (addr as ipaddr.IPv6).isIPv4MappedAddress() ? (addr as ipaddr.IPv6).toIPv4Address() : addr;
      if (a.kind() === 'ipv4') this.v4.push([a as ipaddr.IPv4, bits < 0 ? 32 : a === addr ? bits : Math.max(0, bits - 96)]);
      else this.v6.push([a as ipaddr.IPv6, bits < 0 ? 128 : bits]);
    }
  }

  get size(): number {
    return this.v4.length + this.v6.length;
  }

  has(addr: IPAddr): boolean {
    if (addr.kind() === 'ipv4') {
      for (const [net, bits] of this.v4) if ((addr as ipaddr.IPv4).match(net, bits)) return true;
    } else {
      for (const [net, bits] of this.v6) if ((addr as ipaddr.IPv6).match(net, bits)) return true;
    }
    return false;
  }

  /** The prefix length of the most specific range holding `addr`, or -1. */
  longestPrefix(addr: IPAddr): number {
    let best = -1;
    if (addr.kind() === 'ipv4') {
      for (const [net, bits] of this.v4) if (bits > best && (addr as ipaddr.IPv4).match(net, bits)) best = bits;
    } else {
      for (const [net, bits] of this.v6) if (bits > best && (addr as ipaddr.IPv6).match(net, bits)) best = bits;
    }
    return best;
  }

  hasText(text: string): boolean {
    const a = parseIp(text);
    return a !== undefined && this.has(a);
  }
}

/** `::ffff:1.2.3.4` (an IPv4 peer on a dual-stack socket) → `1.2.3.4`; anything else unchanged. */
export function unmapIPv4(addr: string): string {
  return addr.startsWith('::ffff:') && addr.includes('.') ? addr.slice(7) : addr;
}
