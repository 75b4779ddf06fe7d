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
 * the minimal list of CIDRs covering exactly their union, and
 * {@link CidrMatcher} answers longest-prefix-match lookups.
 *
 * IPv4 values are unsigned 32-bit numbers; IPv6 values are 128-bit bigints.
 */
import ipaddr from 'ipaddr.js';

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

/** A parsed CIDR. `net` is already masked to `bits`. */
export type Cidr = { family: 4; net: number; bits: number } | { family: 6; net: bigint; bits: number };

const TWO32 = 4294967296;
const V6_ALL = (1n << 128n) - 1n;

/** Mask of the top `bits` bits of an IPv4 value, as an unsigned number. */
export function v4Mask(bits: number): number {
  return bits <= 0 ? 0 : bits >= 32 ? 0xffffffff : (0xffffffff << (32 - bits)) >>> 0;
}

function v6Mask(bits: number): bigint {
  return bits <= 0 ? 0n : (V6_ALL >> BigInt(128 - bits)) << BigInt(128 - bits);
}

/** Dotted-quad → unsigned 32-bit, or -1. Strict: four decimal parts 0..255, no leading `+`/spaces. */
export function parseV4(text: string): number {
  let v = 0;
  let part = 0;
  let digits = 0;
  let dots = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 46) {
      if (digits === 0 || ++dots > 3) return -1;
      v = v * 256 + part;
      part = 0;
      digits = 0;
    } else if (c >= 48 && c <= 57) {
      if (++digits > 3) return -1;
      part = part * 10 + (c - 48);
      if (part > 255) return -1;
    } else return -1;
  }
  if (dots !== 3 || digits === 0) return -1;
  return v * 256 + part;
}

export function formatV4(v: number): string {
  return `${(v >>> 24) & 255}.${(v >>> 16) & 255}.${(v >>> 8) & 255}.${v & 255}`;
}

function v6FromParts(parts: readonly number[]): bigint {
  let v = 0n;
  for (const p of parts) v = (v << 16n) | BigInt(p);
  return v;
}

export function formatV6(v: bigint): string {
  const parts: number[] = [];
  for (let i = 7; i >= 0; i--) parts.push(Number((v >> BigInt(i * 16)) & 0xffffn));
  return new ipaddr.IPv6(parts).toRFC5952String();
}

/** A parsed source address: IPv4 (mapped IPv6 folded in) or IPv6. */
export type Addr = { family: 4; v: number } | { family: 6; v: bigint };

/** Parse an address as a socket reports it (`1.2.3.4`, `::ffff:1.2.3.4`, `2001:db8::1`, `fe80::1%eth0`). */
export function parseAddr(text: string): Addr | undefined {
  const v4 = parseV4(text);
  if (v4 >= 0) return { family: 4, v: v4 };
  if (!text.includes(':')) return undefined;
  const pct = text.indexOf('%');
  const bare = pct >= 0 ? text.slice(0, pct) : text;
  if (!ipaddr.IPv6.isValid(bare)) return undefined;
  const a = ipaddr.IPv6.parse(bare);
  if (a.isIPv4MappedAddress()) return { family: 4, v: Number(v6FromParts(a.parts) & 0xffffffffn) };
  return { family: 6, v: v6FromParts(a.parts) };
}

export function formatCidr(c: Cidr): string {
  return c.family === 4 ? `${formatV4(c.net)}/${c.bits}` : `${formatV6(c.net)}/${c.bits}`;
}

/**
 * Parse `net/bits` (or a bare address as a host route). The network is
 * masked; an IPv4-mapped IPv6 CIDR (`::ffff:10.0.0.0/104`) becomes IPv4.
 */
export function parseCidr(text: string): Cidr | undefined {
  const slash = text.indexOf('/');
  const addr = parseAddr(slash >= 0 ? text.slice(0, slash) : text);
  if (!addr) return undefined;
  const mapped = addr.family === 4 && text.includes(':');
  let bits: number;
  if (slash < 0) bits = addr.family === 4 ? 32 : 128;
  else {
    const b = text.slice(slash + 1);
    if (!/^\d{1,3}$/.test(b)) return undefined;
    bits = Number(b);
    if (mapped) {
      if (bits < 96) return undefined;
      bits -= 96;
    }
  }
  if (addr.family === 4) return bits > 32 ? undefined : { family: 4, net: (addr.v & v4Mask(bits)) >>> 0, bits };
  return bits > 128 ? undefined : { family: 6, net: addr.v & v6Mask(bits), bits };
}

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

/**
 * Longest-prefix match over a set of CIDRs, each carrying a value. One hash
 * map per prefix length present; a lookup probes the lengths present, longest
 * first (a rule set has a handful of lengths). Adding the same CIDR twice keeps
 * the first value.
 */
export class CidrMatcher<V> {
  private readonly v4 = new Map<number, Map<number, V>>();
  private v4Lens: number[] = [];
  private readonly v6 = new Map<number, Map<bigint, V>>();
  private v6Lens: number[] = [];
  private count = 0;

  get size(): number {
    return this.count;
  }

  add(cidr: string | Cidr, value: V): this {
    const c = typeof cidr === 'string' ? parseCidr(cidr) : cidr;
    if (!c) throw new TypeError(`not a CIDR: ${typeof cidr === 'string' ? cidr : formatCidr(cidr)}`);
    if (c.family === 4) {
      let m = this.v4.get(c.bits);
      if (!m) {
        this.v4.set(c.bits, (m = new Map<number, V>()));
        this.v4Lens = [...this.v4.keys()].sort((a, b) => b - a);
      }
      const k = c.bits === 0 ? 0 : c.net >>> (32 - c.bits);
      if (!m.has(k)) {
        m.set(k, value);
        this.count++;
      }
    } else {
      let m = this.v6.get(c.bits);
      if (!m) {
        this.v6.set(c.bits, (m = new Map<bigint, V>()));
        this.v6Lens = [...this.v6.keys()].sort((a, b) => b - a);
      }
      const k = c.net >> BigInt(128 - c.bits);
      if (!m.has(k)) {
        m.set(k, value);
        this.count++;
      }
    }
    return this;
  }

  /** Value of the longest CIDR containing the IPv4 address `v` (unsigned 32-bit). */
  lookupV4(v: number): V | undefined {
    for (const b of this.v4Lens) {
      const hit = this.v4.get(b)!.get(b === 0 ? 0 : v >>> (32 - b));
      if (hit !== undefined) return hit;
    }
    return undefined;
  }

  lookupV6(v: bigint): V | undefined {
    for (const b of this.v6Lens) {
      const hit = this.v6.get(b)!.get(v >> BigInt(128 - b));
      if (hit !== undefined) return hit;
    }
    return undefined;
  }

  lookup(a: Addr): V | undefined {
    return a.family === 4 ? this.lookupV4(a.v) : this.lookupV6(a.v);
  }

  /** Lookup by address text; undefined for a non-address too. */
  lookupText(address: string): V | undefined {
    const a = parseAddr(address);
    return a ? this.lookup(a) : undefined;
  }

  /** Longest match for a CIDR: the most specific entry containing the whole CIDR. */
  lookupCidr(c: Cidr): V | undefined {
    if (c.family === 4) {
      for (const b of this.v4Lens) {
        if (b > c.bits) continue;
        const hit = this.v4.get(b)!.get(b === 0 ? 0 : c.net >>> (32 - b));
        if (hit !== undefined) return hit;
      }
    } else {
      for (const b of this.v6Lens) {
        if (b > c.bits) continue;
        const hit = this.v6.get(b)!.get(c.net >> BigInt(128 - b));
        if (hit !== undefined) return hit;
      }
    }
    return undefined;
  }
}
