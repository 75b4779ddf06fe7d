/**
 * Addresses and CIDRs as numbers, and the one longest-prefix-match table of
 * the code base ({@link CidrTable}): source ranges, target allow/deny lists,
 * reverse `from` lists (through `CidrSet` in net-addr.ts) and the legitimacy
 * rules all match here.
 *
 * IPv4 values are unsigned 32-bit numbers, IPv6 values 128-bit bigints. An
 * IPv4-mapped IPv6 address (`::ffff:1.2.3.4`, what a dual-stack socket reports
 * for an IPv4 peer) *is* IPv4 everywhere here, and so is a mapped CIDR
 * (`::ffff:10.0.0.0/104` = `10.0.0.0/8`).
 *
 * Parsing: a strict dotted quad is parsed inline (the per-connection case),
 * IPv6 through ipaddr.js. Where the text may come from a user (target hosts,
 * configured lists) the `loose` parse also takes the other IPv4 spellings
 * resolvers honour (`10.1`, `0x7f.1`, `2130706433`, octal `0177.0.0.1`), so a
 * deny list cannot be sidestepped by spelling an address differently.
 */
import ipaddr from 'ipaddr.js';

/** A parsed address: IPv4 (mapped IPv6 folded in) or IPv6. */
export type Addr = { family: 4; v: number } | { family: 6; v: bigint };

/** A parsed CIDR. `net` is already masked to `bits`. */
export type Cidr = { family: 4; net: number; bits: number } | { family: 6; net: bigint; bits: number };

const V6_ALL = (1n << 128n) - 1n;

/** Mask of the top `bits` bits of an IPv4 value, as an unsigned number. */
export function v4Mask(bits: number): number {
  return bits <= 0 ? 0 : bits >= 32 ? 0xffffffff : (0xffffffff << (32 - bits)) >>> 0;
}

/** Mask of the top `bits` bits of an IPv6 value. */
export function v6Mask(bits: number): bigint {
  return bits <= 0 ? 0n : (V6_ALL >> BigInt(128 - bits)) << BigInt(128 - bits);
}

/**
 * Dotted-quad → unsigned 32-bit, or -1. Strict: four decimal parts 0..255, no
 * leading zeros (resolvers read `010` as octal), no `+`/spaces.
 */
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
      if (++digits > 3 || (digits === 2 && part === 0)) return -1;
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

export function formatV6(v: bigint): string {
  const parts: number[] = [];
  for (let i = 7; i >= 0; i--) parts.push(Number((v >> BigInt(i * 16)) & 0xffffn));
  return new ipaddr.IPv6(parts).toRFC5952String();
}

/** An ipaddr.js address as numbers (mapped IPv6 → IPv4). */
export function addrOf(a: ipaddr.IPv4 | ipaddr.IPv6): Addr {
  if (a.kind() === 'ipv4') {
    const o = (a as ipaddr.IPv4).octets;
    return { family: 4, v: ((o[0]! << 24) | (o[1]! << 16) | (o[2]! << 8) | o[3]!) >>> 0 };
  }
  const b = a as ipaddr.IPv6;
  let v = 0n;
  for (const p of b.parts) v = (v << 16n) | BigInt(p);
  return b.isIPv4MappedAddress() ? { family: 4, v: Number(v & 0xffffffffn) } : { family: 6, v };
}

/**
 * Parse an address as a socket reports it (`1.2.3.4`, `::ffff:1.2.3.4`,
 * `2001:db8::1`, `fe80::1%eth0`). IPv4 must be a strict dotted quad unless
 * `loose`: then every spelling ipaddr.js (and a resolver) accepts — `10.1`,
 * `0x7f.1`, `2130706433`, `0177.0.0.1` — counts, as that address.
 */
export function parseAddr(text: string, loose = false): Addr | undefined {
  const v4 = parseV4(text);
  if (v4 >= 0) return { family: 4, v: v4 };
  const colon = text.includes(':');
  if (!colon && !loose) return undefined;
  const pct = colon ? text.indexOf('%') : -1;
  const bare = pct >= 0 ? text.slice(0, pct) : text;
  if (colon) return ipaddr.IPv6.isValid(bare) ? addrOf(ipaddr.IPv6.parse(bare)) : undefined;
  return ipaddr.IPv4.isValid(bare) ? addrOf(ipaddr.IPv4.parse(bare)) : undefined;
}

export function formatCidr(c: Cidr): string {
  return c.family === 4 ? `${formatV4(c.net)}/${c.bits}` : `${formatV6(c.net)}/${c.bits}`;
}

/**
 * Parse `net/bits` (or a bare address as a host route). The network is
 * masked; an IPv4-mapped IPv6 CIDR (`::ffff:10.0.0.0/104`) becomes IPv4, and
 * one shorter than /96 (it would reach outside the mapped range) is refused.
 * `loose`: as for {@link parseAddr}.
 */
export function parseCidr(text: string, loose = false): Cidr | undefined {
  const slash = text.indexOf('/');
  const addr = parseAddr(slash >= 0 ? text.slice(0, slash) : text, loose);
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

/** One prefix length of a table: its entries keyed by the network's top `bits` bits. */
interface Level<K, V> {
  bits: number;
  /** 128 − bits as a bigint, made once (IPv6 keys are `address >> shift`). */
  shift: bigint;
  map: Map<K, V>;
}

/**
 * Longest-prefix match over CIDRs, each carrying a value (a set is a table
 * of `true`s). One hash map per prefix length present. IPv4 lookups (the
 * per-connection case) binary-search a flat list of disjoint ranges, each
 * with the value of the most specific CIDR covering it, built on the first
 * lookup after a change; IPv6 lookups probe the lengths present, longest
 * first. Adding the same CIDR twice keeps the first value. Invalid
 * CIDRs throw a TypeError (text is parsed strictly; parse loosely first to
 * take any spelling).
 */
export class CidrTable<V> {
  /** Longest first. */
  private v4: Array<Level<number, V>> = [];
  private v6: Array<Level<bigint, V>> = [];
  private count = 0;
  /** IPv4 as disjoint ranges: starts ascending, value index (-1: no CIDR) of the range from each start on; undefined when stale. */
  private flat4: { starts: Float64Array; vals: Int32Array; values: V[] } | undefined;

  get size(): number {
    return this.count;
  }

  add(cidr: string | Cidr, value: V): this {
    const c = typeof cidr === 'string' ? parseCidr(cidr) : cidr;
    if (!c) throw new TypeError(`not a CIDR: ${typeof cidr === 'string' ? cidr : formatCidr(cidr)}`);
    if (c.family === 4) {
      const m = level(this.v4, c.bits);
      const k = c.bits === 0 ? 0 : c.net >>> (32 - c.bits);
      if (!m.has(k)) {
        m.set(k, value);
        this.count++;
        this.flat4 = undefined;
      }
    } else {
      const m = level(this.v6, c.bits);
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
    const f = this.flat4 ?? (this.flat4 = flatten4(this.v4));
    const starts = f.starts;
    // the last range starting at or before v
    let lo = 0;
    let hi = starts.length - 1;
    if (hi < 0 || v < starts[0]!) return undefined;
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      if (starts[mid]! <= v) lo = mid;
      else hi = mid - 1;
    }
    const k = f.vals[lo]!;
    return k < 0 ? undefined : f.values[k];
  }

  lookupV6(v: bigint): V | undefined {
    const ls = this.v6;
    for (let i = 0; i < ls.length; i++) {
      const l = ls[i]!;
      const hit = l.map.get(v >> l.shift);
      if (hit !== undefined) return hit;
    }
    return undefined;
  }

  lookup(a: Addr): V | undefined {
    return a.family === 4 ? this.lookupV4(a.v) : this.lookupV6(a.v);
  }

  /** Lookup by address text, any spelling ({@link parseAddr} `loose`); undefined for a non-address too. */
  lookupText(address: string): V | undefined {
    const v4 = parseV4(address);
    if (v4 >= 0) return this.lookupV4(v4);
    const a = parseAddr(address, true);
    return a ? this.lookup(a) : undefined;
  }

  /** Longest match for a CIDR: the most specific entry containing the whole CIDR. */
  lookupCidr(c: Cidr): V | undefined {
    if (c.family === 4) {
      for (const l of this.v4) {
        if (l.bits > c.bits) continue;
        const hit = l.map.get(l.bits === 0 ? 0 : c.net >>> (32 - l.bits));
        if (hit !== undefined) return hit;
      }
    } else {
      for (const l of this.v6) {
        if (l.bits > c.bits) continue;
        const hit = l.map.get(c.net >> BigInt(128 - l.bits));
        if (hit !== undefined) return hit;
      }
    }
    return undefined;
  }
}

/** The map of one prefix length, created (and the lengths kept longest first) on first use. */
function level<K, V>(levels: Array<Level<K, V>>, bits: number): Map<K, V> {
  let l = levels.find((x) => x.bits === bits);
  if (!l) {
    levels.push((l = { bits, shift: BigInt(128 - bits), map: new Map<K, V>() }));
    levels.sort((a, b) => b.bits - a.bits);
  }
  return l.map;
}

/**
 * The IPv4 CIDRs of a table as disjoint ranges, each carrying the value of
 * the longest CIDR covering it. CIDRs nest or are disjoint, so one sweep in
 * (start, length) order with a stack of the open ones does it.
 */
function flatten4<V>(levels: ReadonlyArray<Level<number, V>>): { starts: Float64Array; vals: Int32Array; values: V[] } {
  const lo: number[] = [];
  const hi: number[] = [];
  const bits: number[] = [];
  const values: V[] = [];
  for (const l of levels) {
    const size = 2 ** (32 - l.bits);
    for (const [k, v] of l.map) {
      const start = l.bits === 0 ? 0 : k * size;
      lo.push(start);
      hi.push(start + size - 1);
      bits.push(l.bits);
      values.push(v);
    }
  }
  const order = Array.from(lo.keys()).sort((a, b) => lo[a]! - lo[b]! || bits[a]! - bits[b]!);
  const starts: number[] = [];
  const vals: number[] = [];
  const emit = (start: number, val: number): void => {
    if (start > 0xffffffff) return;
    if (starts.length > 0 && starts[starts.length - 1] === start) vals[vals.length - 1] = val;
    else {
      starts.push(start);
      vals.push(val);
    }
  };
  const open: number[] = [];
  const closeBefore = (at: number): void => {
    while (open.length > 0 && hi[open[open.length - 1]!]! < at) {
      const end = hi[open.pop()!]!;
      emit(end + 1, open.length > 0 ? open[open.length - 1]! : -1);
    }
  };
  for (const i of order) {
    closeBefore(lo[i]!);
    emit(lo[i]!, i);
    open.push(i);
  }
  closeBefore(Infinity);
  return { starts: Float64Array.from(starts), vals: Int32Array.from(vals), values };
}
