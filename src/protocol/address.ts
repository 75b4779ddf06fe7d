import { isIPv4, isIPv6 } from 'node:net';

/** A target as a client named it: an IP literal or a domain name, and a port. */
export interface TargetAddress {
  readonly host: string;
  readonly port: number;
  readonly kind: 'ipv4' | 'ipv6' | 'domain';
}

export function targetKind(host: string): TargetAddress['kind'] {
  if (isIPv4(host)) return 'ipv4';
  if (isIPv6(host)) return 'ipv6';
  return 'domain';
}

/** `host:port` for logs and HTTP messages, bracketing IPv6. */
export function formatTarget(t: { host: string; port: number }): string {
  return isIPv6(t.host) ? `[${t.host}]:${t.port}` : `${t.host}:${t.port}`;
}

/** RFC 1035 name syntax, loosely: what a proxy should be willing to resolve. */
const DOMAIN_RE = /^(?=.{1,253}\.?$)([A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?)(?:\.[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?)*\.?$/;

export function isValidDomain(host: string): boolean {
  return DOMAIN_RE.test(host);
}
