import { isIPv6 } from 'node:net';

/**
 * The unit per-source limits count by: an IPv4 address, or an IPv6 /64 (one
 * host usually holds a whole /64, so counting single IPv6 addresses would let
 * it take 2^64 shares).
 */
export function sourceKey(source: string): string {
  if (!isIPv6(source)) return source;
  const [head = ''] = source.split('%', 1);
  const parts = head.split('::');
  const left = parts[0] ? parts[0].split(':') : [];
  const right = parts.length > 1 && parts[1] ? parts[1].split(':') : [];
  const groups = parts.length > 1 ? [...left, ...Array<string>(Math.max(0, 8 - left.length - right.length)).fill('0'), ...right] : left;
  return `${groups.slice(0, 4).map((g) => (g.includes('.') ? '0' : (parseInt(g, 16) || 0).toString(16))).join(':')}::/64`;
}
