/**
 * Source prefixes for the legitimacy model (pure; no I/O).
 *
 * A source address is counted under its *prefix key*: the /24 (IPv4) or /48
 * (IPv6) that contains it, written as a canonical CIDR string
 * (`203.0.113.0/24`, `2001:db8:1::/48`). IPv4-mapped IPv6 (`::ffff:1.2.3.4`,
 * what a dual-stack socket reports for an IPv4 peer) counts as IPv4.
 *
 * For sparse or unseen prefixes the model backs off to *parent* prefixes
 * (by default /20 then /16 for IPv4, /40 then /32 for IPv6).
 *
 * Rule sets are lists of CIDRs; {@link mergeCidrs} turns a set of prefixes into
 * the minimal list of CIDRs covering exactly their union (the enforcer
 * matches them with the shared `CidrTable`, src/shared/cidr.ts).
 *
 * IPv4 values are unsigned 32-bit numbers; IPv6 values are 128-bit bigints.
 */
import { formatCidr, formatV4, formatV6, parseAddr, parseCidr, v4Mask, v6Mask, type Addr, type Cidr } from '../shared/cidr.js';

// The address and CIDR parsing is shared (src/shared/cidr.ts); re-exported for the legitimacy modules and tools.
export { formatCidr, formatV4, formatV6, parseAddr, parseCidr, parseV4, v4Mask, type Addr, type Cidr } from '../shared/cidr.js';

export interface PrefixOptions {
  /** Length of an IPv4 prefix key (default 24). */
  v4Bits: number;
  /** Length of an IPv6 prefix key (default 48). */
  v6Bits: number;
  /** Back-off parents for IPv4 keys, longest first, each shorter than v4Bits (default [20, 16]). */
  v4Parents: readonly number[];
  /** Back-off parents for IPv6 keys, longest first, each shorter than v6Bits (default [40, 32]). */
  v6Parents: readonly number[];
}

export const DEFAULT_PREFIX_OPTIONS: Readonly<PrefixOptions> = Object.freeze({
  v4Bits: 24,
  v6Bits: 48,
  v4Parents: Object.freeze([20, 16]),
  v6Parents: Object.freeze([40, 32]),
});

/** Fill in defaults and check the lengths make sense. Throws on nonsense. */
export function prefixOptions(o: Partial<PrefixOptions> = {}): PrefixOptions {
  const r: PrefixOptions = { ...DEFAULT_PREFIX_OPTIONS, ...o };
  check(r.v4Bits, r.v4Parents, 32, 'IPv4');
  check(r.v6Bits, r.v6Parents, 128, 'IPv6');
  return r;
}

function check(bits: number, parents: readonly number[], max: number, name: string): void {
  if (!Number.isInteger(bits) || bits < 1 || bits > max) throw new RangeError(`${name} prefix length ${bits} out of 1..${max}`);
  let prev = bits;
  for (const p of parents) {
    if (!Number.isInteger(p) || p < 0 || p >= prev) throw new RangeError(`${name} parents must be shorter than the key and strictly decreasing`);
    prev = p;
  }
}

const TWO32 = 4294967296;
/** The CIDR of `bits` that contains an address. */
export function cidrOf(a: Addr, bits: number): Cidr {
  return a.family === 4 ? { family: 4, net: (a.v & v4Mask(bits)) >>> 0, bits } : { family: 6, net: a.v & v6Mask(bits), bits };
}

/** The prefix key (canonical CIDR string) a source address is counted under, or undefined if it is not an address. */
export function prefixKey(address: string, opts: PrefixOptions = DEFAULT_PREFIX_OPTIONS): string | undefined {
  const a = parseAddr(address);
  if (!a) return undefined;
  return formatCidr(cidrOf(a, a.family === 4 ? opts.v4Bits : opts.v6Bits));
}

/** Same as {@link prefixKey} for an IPv4 address given as a number (hot paths, the simulator). */
export function prefixKeyV4(v: number, bits = 24): string {
  return `${formatV4((v & v4Mask(bits)) >>> 0)}/${bits}`;
}

/** Parent prefix lengths used for back-off for this family. */
export function parentBits(family: 4 | 6, opts: PrefixOptions = DEFAULT_PREFIX_OPTIONS): readonly number[] {
  return family === 4 ? opts.v4Parents : opts.v6Parents;
}

/** The back-off parents of a prefix key, nearest first (e.g. `10.1.2.0/24` → `10.1.0.0/20`, `10.1.0.0/16`). Only parents shorter than the key. */
export function parentPrefixes(key: string | Cidr, opts: PrefixOptions = DEFAULT_PREFIX_OPTIONS): string[] {
  const c = typeof key === 'string' ? parseCidr(key) : key;
  if (!c) throw new TypeError(`not a prefix: ${typeof key === 'string' ? key : formatCidr(key)}`);
  const out: string[] = [];
  for (const b of parentBits(c.family, opts)) {
    if (b >= c.bits) continue;
    out.push(formatCidr(c.family === 4 ? { family: 4, net: (c.net & v4Mask(b)) >>> 0, bits: b } : { family: 6, net: c.net & v6Mask(b), bits: b }));
  }
  return out;
}

/** Does CIDR `outer` contain CIDR `inner` (equal counts)? Families must match. */
export function cidrContains(outer: Cidr, inner: Cidr): boolean {
  if (outer.family !== inner.family || outer.bits > inner.bits) return false;
  if (outer.family === 4) return ((inner.net as number) & v4Mask(outer.bits)) >>> 0 === outer.net;
  return ((inner.net as bigint) & v6Mask(outer.bits)) === outer.net;
}

/**
 * Merge IPv4 networks given as (start, length) into the minimal list of CIDRs
 * covering exactly their union, none shorter than `minBits`. `starts` need not
 * be sorted or unique. Returns parallel arrays of network starts and lengths, sorted.
 */
export function mergeV4(starts: ArrayLike<number>, bits: ArrayLike<number> | number, minBits = 0): { nets: number[]; bits: number[] } {
  const n = starts.length;
  if (typeof bits === 'number') return mergeV4Same(starts, bits, minBits);
  // sort ranges by start (then longer range first) through an index permutation
  const lo = new Float64Array(n);
  const hi = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const b = bits[i]!;
    const s = (starts[i]! & v4Mask(b)) >>> 0;
    lo[i] = s;
    hi[i] = s + 2 ** (32 - b) - 1;
  }
  const idx = new Uint32Array(n);
  for (let i = 0; i < n; i++) idx[i] = i;
  idx.sort((a, b) => lo[a]! - lo[b]! || hi[b]! - hi[a]!);
  const outNets: number[] = [];
  const outBits: number[] = [];
  let i = 0;
  while (i < n) {
    const s = lo[idx[i]!]!;
    let e = hi[idx[i]!]!;
    i++;
    while (i < n && lo[idx[i]!]! <= e + 1) {
      if (hi[idx[i]!]! > e) e = hi[idx[i]!]!;
      i++;
    }
    emitV4(s, e, minBits, outNets, outBits);
  }
  return { nets: outNets, bits: outBits };
}

/** {@link mergeV4} when every network has the same length: a native numeric sort, no comparator. */
function mergeV4Same(starts: ArrayLike<number>, bits: number, minBits: number): { nets: number[]; bits: number[] } {
  const n = starts.length;
  const lo = new Uint32Array(n);
  const mask = v4Mask(bits);
  for (let i = 0; i < n; i++) lo[i] = (starts[i]! & mask) >>> 0;
  lo.sort();
  const size = 2 ** (32 - bits);
  const nets: number[] = [];
  const outBits: number[] = [];
  let i = 0;
  while (i < n) {
    const s = lo[i]!;
    let e = s + size - 1;
    i++;
    while (i < n && lo[i]! <= e + 1) {
      if (lo[i]! + size - 1 > e) e = lo[i]! + size - 1;
      i++;
    }
    if (e === s + size - 1 && bits >= minBits) {
      nets.push(s);
      outBits.push(bits);
    } else emitV4(s, e, minBits, nets, outBits);
  }
  return { nets, bits: outBits };
}

function emitV4(s: number, e: number, minBits: number, nets: number[], bits: number[]): void {
  const maxSize = 2 ** (32 - minBits);
  while (s <= e) {
    // largest aligned block at s: lowest set bit of s (s = 0 → the whole space)
    let size = s === 0 ? TWO32 : ((s & -s) >>> 0) || TWO32;
    if (size > maxSize) size = maxSize;
    while (s + size - 1 > e) size /= 2;
    nets.push(s);
    bits.push(32 - Math.log2(size));
    s += size;
  }
}

/** As {@link mergeV4} for IPv6 (bigints). */
export function mergeV6(starts: readonly bigint[], bits: readonly number[], minBits = 0): { nets: bigint[]; bits: number[] } {
  const r = starts.map((s, i) => {
    const b = bits[i]!;
    const lo = s & v6Mask(b);
    return { lo, hi: lo + (1n << BigInt(128 - b)) - 1n };
  });
  r.sort((a, b) => (a.lo < b.lo ? -1 : a.lo > b.lo ? 1 : a.hi > b.hi ? -1 : a.hi < b.hi ? 1 : 0));
  const nets: bigint[] = [];
  const outBits: number[] = [];
  let i = 0;
  const maxSize = 1n << BigInt(128 - minBits);
  while (i < r.length) {
    let s = r[i]!.lo;
    let e = r[i]!.hi;
    i++;
    while (i < r.length && r[i]!.lo <= e + 1n) {
      if (r[i]!.hi > e) e = r[i]!.hi;
      i++;
    }
    while (s <= e) {
      let size = s === 0n ? 1n << 128n : s & -s;
      if (size > maxSize) size = maxSize;
      while (s + size - 1n > e) size >>= 1n;
      nets.push(s);
      let b = 128;
      for (let t = size; t > 1n; t >>= 1n) b--;
      outBits.push(b);
      s += size;
    }
  }
  return { nets, bits: outBits };
}

/**
 * Minimal CIDR list covering exactly the union of the given prefixes (mixed
 * families allowed; IPv4 first). No resulting CIDR is shorter than `minBits`
 * (`minBits` is per family: `{4: n, 6: m}`, or one number for both).
 * Unparsable entries throw.
 */
export function mergeCidrs(prefixes: Iterable<string | Cidr>, minBits: number | { 4?: number; 6?: number } = 0): string[] {
  const v4s: number[] = [];
  const v4b: number[] = [];
  const v6s: bigint[] = [];
  const v6b: number[] = [];
  for (const p of prefixes) {
    const c = typeof p === 'string' ? parseCidr(p) : p;
    if (!c) throw new TypeError(`not a CIDR: ${typeof p === 'string' ? p : formatCidr(p)}`);
    if (c.family === 4) {
      v4s.push(c.net);
      v4b.push(c.bits);
    } else {
      v6s.push(c.net);
      v6b.push(c.bits);
    }
  }
  const min4 = typeof minBits === 'number' ? minBits : (minBits[4] ?? 0);
  const min6 = typeof minBits === 'number' ? minBits : (minBits[6] ?? 0);
  const out: string[] = [];
  const m4 = mergeV4(v4s, v4b, min4);
  for (let i = 0; i < m4.nets.length; i++) out.push(`${formatV4(m4.nets[i]!)}/${m4.bits[i]}`);
  const m6 = mergeV6(v6s, v6b, min6);
  for (let i = 0; i < m6.nets.length; i++) out.push(`${formatV6(m6.nets[i]!)}/${m6.bits[i]}`);
  return out;
}
