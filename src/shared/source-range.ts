/**
 * Rules for a customer's source ranges (the addresses it may connect from, and
 * with `sourceAuth` the addresses whose connections *are* that customer without
 * credentials). A range too broad turns the network into an open proxy, so:
 * a hard floor on breadth for everyone, unspecified/multicast/broadcast ranges
 * refused, and two source-auth customers' ranges may not overlap (attribution
 * would depend on order). Pure: the API, the ingress schema and the renderer
 * all call these.
 */
import ipaddr from 'ipaddr.js';

export interface SourceRange {
  readonly text: string;
  readonly family: 'ipv4' | 'ipv6';
  readonly network: ipaddr.IPv4 | ipaddr.IPv6;
  /** Prefix length in the range's own family (an IPv4-mapped range counts as IPv4). */
  readonly bits: number;
}

/** Broadest prefix any customer may have (`/8` v4: a whole RIR block; `/16` v6: broader than any one holder's allocation). */
export const SOURCE_PREFIX_FLOOR = { ipv4: 8, ipv6: 16 } as const;
/** Broadest prefix a customer may set for itself (docs/SECURITY.md); operators may change it within the floor. */
export const SELF_SERVICE_PREFIX_DEFAULT = { ipv4: 24, ipv6: 48 } as const;

export type PrefixBound = { readonly ipv4: number; readonly ipv6: number };

const NEVER_A_SOURCE = new Set(['unspecified', 'multicast', 'broadcast']);

/** Parse `ADDR` or `ADDR/BITS`; IPv4-mapped IPv6 folds into IPv4. A string saying why not on failure. */
export function parseSourceRange(text: string): SourceRange | string {
  let addr: ipaddr.IPv4 | ipaddr.IPv6;
  let bits: number;
  try {
    if (text.includes('/')) [addr, bits] = ipaddr.parseCIDR(text);
    else {
      addr = ipaddr.parse(text);
      bits = addr.kind() === 'ipv4' ? 32 : 128;
    }
  } catch {
    return `${text} is not an IP address or CIDR`;
  }
  if (addr.kind() === 'ipv6' && (addr as ipaddr.IPv6).isIPv4MappedAddress()) {
    if (bits < 96) return `${text}: an IPv4-mapped range needs a prefix of /96 or longer`;
    addr = (addr as ipaddr.IPv6).toIPv4Address();
    bits -= 96;
  }
  const family = addr.kind();
  const network = family === 'ipv4' ? ipaddr.IPv4.networkAddressFromCIDR(`${addr.toString()}/${bits}`) : ipaddr.IPv6.networkAddressFromCIDR(`${addr.toString()}/${bits}`);
  return { text, family, network, bits };
}

function lastAddress(r: SourceRange): ipaddr.IPv4 | ipaddr.IPv6 {
  return r.family === 'ipv4' ? ipaddr.IPv4.broadcastAddressFromCIDR(`${r.network.toString()}/${r.bits}`) : ipaddr.IPv6.broadcastAddressFromCIDR(`${r.network.toString()}/${r.bits}`);
}

/** Why `text` may not be a source range under `bound` (the broadest prefix per family), or undefined. */
export function sourceRangeProblem(text: string, bound: PrefixBound = SOURCE_PREFIX_FLOOR): string | undefined {
  const r = parseSourceRange(text);
  if (typeof r === 'string') return r;
  const min = bound[r.family];
  if (r.bits < min) return `${text} is too broad: ${r.family === 'ipv4' ? 'IPv4' : 'IPv6'} source ranges may be /${min} at the broadest`;
  for (const a of [r.network, lastAddress(r)]) {
    const kind = a.range();
    if (NEVER_A_SOURCE.has(kind)) return `${text} is ${kind === 'unspecified' ? 'an unspecified' : `a ${kind}`} range: no connection comes from there`;
  }
  return undefined;
}

export interface SourceClaim {
  /** Who holds the ranges (a login, or a customer id). */
  readonly owner: string;
  readonly ranges: readonly string[];
}

export interface ClaimConflict {
  readonly owner: string;
  readonly range: string;
  readonly otherOwner: string;
  readonly otherRange: string;
}

/**
 * Overlaps between different owners' ranges (unparsable ranges are skipped:
 * they are refused elsewhere). Sorted sweep per family, so a set of n ranges
 * costs O(n log n) plus the conflicts found.
 */
export function findClaimConflicts(claims: readonly SourceClaim[]): ClaimConflict[] {
  const all: Array<{ owner: string; r: SourceRange; first: bigint; last: bigint }> = [];
  for (const c of claims) {
    for (const text of c.ranges) {
      const r = parseSourceRange(text);
      if (typeof r === 'string') continue;
      all.push({ owner: c.owner, r, first: toBig(r.network), last: toBig(lastAddress(r)) });
    }
  }
  all.sort((x, y) => (x.r.family !== y.r.family ? (x.r.family < y.r.family ? -1 : 1) : x.first < y.first ? -1 : x.first > y.first ? 1 : x.r.bits - y.r.bits));
  const out: ClaimConflict[] = [];
  // Open ranges that may still contain later starts (CIDRs nest, so a stack suffices).
  const open: typeof all = [];
  for (const cur of all) {
    while (open.length > 0 && (open[open.length - 1]!.r.family !== cur.r.family || open[open.length - 1]!.last < cur.first)) open.pop();
    for (const o of open) {
      if (o.owner !== cur.owner) out.push({ owner: cur.owner, range: cur.r.text, otherOwner: o.owner, otherRange: o.r.text });
    }
    open.push(cur);
  }
  return out;
}

function toBig(a: ipaddr.IPv4 | ipaddr.IPv6): bigint {
  let n = 0n;
  for (const b of a.toByteArray()) n = (n << 8n) | BigInt(b);
  return n;
}

/** Overlaps between source-auth users' ranges, as sentences naming both logins (the ingress refuses such a configuration). */
export function sourceAuthOverlaps(users: ReadonlyArray<{ readonly login: string; readonly sources: readonly string[]; readonly sourceAuth: boolean }>): Array<{ index: number; message: string }> {
  const claims = users.flatMap((u, i) => (u.sourceAuth ? [{ owner: String(i), ranges: u.sources }] : []));
  return findClaimConflicts(claims).map((k) => {
    const [i, j] = [Number(k.owner), Number(k.otherOwner)];
    return { index: i, message: `source ${k.range} of '${users[i]!.login}' overlaps ${k.otherRange} of '${users[j]!.login}': two sourceAuth users may not share a source` };
  });
}
