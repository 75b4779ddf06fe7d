/**
 * The analysis's counts (analysis.ts): interned prefixes and (prefix,
 * ingress, decayed count) rows in typed arrays, no object per row.
 *
 * Prefixes get dense ids; a parent always gets a smaller id than its
 * children, so one pass in id order sees parents first (classification.ts
 * relies on it). The rows of one prefix form a singly linked list through
 * `rNext`. A flow learned at a leaf is also added to every back-off parent
 * and to the group-wide root counts.
 *
 * The arrays are public for the classification's hot loop; only this module
 * writes them.
 */
import { parseCidr, v4Mask, type Cidr } from './prefix.js';
import { packArray, unpackArray, type AnalysisState } from './analysis-state.js';

const V6_ALL = (1n << 128n) - 1n;

/** The CIDR of length `bits` (≤ c.bits) containing c. */
export function maskCidr(c: Cidr, bits: number): Cidr {
  return c.family === 4 ? { family: 4, net: (c.net & v4Mask(bits)) >>> 0, bits } : { family: 6, net: bits === 0 ? 0n : c.net & ((V6_ALL >> BigInt(128 - bits)) << BigInt(128 - bits)), bits };
}

function key6(net: bigint, bits: number): string {
  return `${net.toString(16)}/${bits}`;
}

/** Grow a typed array to hold n elements (doubling), keeping its content. */
class Grow {
  static f64(a: Float64Array<ArrayBuffer>, n: number): Float64Array<ArrayBuffer> {
    if (n <= a.length) return a;
    const b = new Float64Array(Math.max(n, a.length * 2));
    b.set(a);
    return b;
  }
  static i32(a: Int32Array<ArrayBuffer>, n: number, fill = 0): Int32Array<ArrayBuffer> {
    if (n <= a.length) return a;
    const b = new Int32Array(Math.max(n, a.length * 2));
    if (fill !== 0) b.fill(fill);
    b.set(a);
    return b;
  }
  static u8(a: Uint8Array<ArrayBuffer>, n: number): Uint8Array<ArrayBuffer> {
    if (n <= a.length) return a;
    const b = new Uint8Array(Math.max(n, a.length * 2));
    b.set(a);
    return b;
  }
}

export type PrefixTables = Pick<AnalysisState, 'prefixes' | 'rows' | 'rootCnt'>;

export class PrefixTable {
  // prefixes: IPv4 by (length, network >>> (32 − length)), IPv6 by text
  private idx4: Array<Map<number, number> | undefined> = [];
  private idx6 = new Map<string, number>();
  pParent = new Int32Array(1024);
  pLevel = new Uint8Array(1024);
  pFam = new Uint8Array(1024);
  pNet4 = new Float64Array(1024);
  pNet6: bigint[] = [];
  pTot = new Float64Array(1024);
  pHead = new Int32Array(1024).fill(-1);
  /** Number of prefixes. */
  P = 0;

  // rows
  rPid = new Int32Array(4096);
  rIng = new Int32Array(4096);
  rCnt = new Float64Array(4096);
  rNext = new Int32Array(4096);
  /** Number of rows. */
  R = 0;

  /** Group-wide decayed flows per ingress index. */
  rootCnt = new Float64Array(8);
  /** Time the counts are decayed to (NaN before the first decay). */
  decayedTo = Number.NaN;

  /** Bits per level, per family: [leaf, parent1, parent2…]. */
  constructor(
    readonly levels4: number[],
    readonly levels6: number[],
  ) {}

  levelsOf(fam: number): number[] {
    return fam === 4 ? this.levels4 : this.levels6;
  }

  /** Room for n ingresses in the root counts. */
  ensureIngresses(n: number): void {
    if (this.rootCnt.length < n) {
      const r = new Float64Array(n * 2);
      r.set(this.rootCnt);
      this.rootCnt = r;
    }
  }

  /** Id of an interned CIDR, or -1. */
  find(c: Cidr): number {
    if (c.family === 4) {
      const m = this.idx4[c.bits];
      const got = m?.get(c.bits === 0 ? 0 : c.net >>> (32 - c.bits));
      return got === undefined ? -1 : got;
    }
    const got = this.idx6.get(key6(c.net, c.bits));
    return got === undefined ? -1 : got;
  }

  private setIndex(c: Cidr, pid: number): void {
    if (c.family === 4) {
      let m = this.idx4[c.bits];
      if (!m) this.idx4[c.bits] = m = new Map();
      m.set(c.bits === 0 ? 0 : c.net >>> (32 - c.bits), pid);
    } else this.idx6.set(key6(c.net, c.bits), pid);
  }

  cidrOfPid(p: number): Cidr {
    const lv = this.levelsOf(this.pFam[p]!);
    const bits = lv[this.pLevel[p]!]!;
    return this.pFam[p] === 4 ? { family: 4, net: this.pNet4[p]!, bits } : { family: 6, net: this.pNet6[p]!, bits };
  }

  /** Intern a CIDR at a given level (parents first). */
  private intern(c: Cidr, level: number): number {
    const got = this.find(c);
    if (got >= 0) return got;
    const lv = this.levelsOf(c.family);
    let parent = -1;
    if (level + 1 < lv.length) parent = this.intern(maskCidr(c, lv[level + 1]!), level + 1);
    const pid = this.P++;
    if (pid >= this.pParent.length) {
      const n = pid + 1;
      this.pParent = Grow.i32(this.pParent, n);
      this.pLevel = Grow.u8(this.pLevel, n);
      this.pFam = Grow.u8(this.pFam, n);
      this.pNet4 = Grow.f64(this.pNet4, n);
      this.pTot = Grow.f64(this.pTot, n);
      this.pHead = Grow.i32(this.pHead, n, -1);
    }
    this.pParent[pid] = parent;
    this.pLevel[pid] = level;
    this.pFam[pid] = c.family;
    if (c.family === 4) this.pNet4[pid] = c.net;
    else this.pNet6[pid] = c.net;
    this.pTot[pid] = 0;
    this.pHead[pid] = -1;
    this.setIndex(c, pid);
    return pid;
  }

  /** Leaf pid for a reported key, or -1 when the key is not a leaf prefix of this configuration. */
  leafPid(key: string): number {
    const c = parseCidr(key);
    if (!c || c.bits !== this.levelsOf(c.family)[0] || !key.includes('/')) return -1;
    return this.intern(c, 0);
  }

  private addRow(pid: number, j: number, w: number): void {
    for (let r = this.pHead[pid]!; r >= 0; r = this.rNext[r]!) {
      if (this.rIng[r] === j) {
        this.rCnt[r]! += w;
        this.pTot[pid]! += w;
        return;
      }
    }
    const r = this.R++;
    if (r >= this.rPid.length) {
      const n = r + 1;
      this.rPid = Grow.i32(this.rPid, n);
      this.rIng = Grow.i32(this.rIng, n);
      this.rCnt = Grow.f64(this.rCnt, n);
      this.rNext = Grow.i32(this.rNext, n);
    }
    this.rPid[r] = pid;
    this.rIng[r] = j;
    this.rCnt[r] = w;
    this.rNext[r] = this.pHead[pid]!;
    this.pHead[pid] = r;
    this.pTot[pid]! += w;
  }

  /** Add w decayed flows of leaf `pid` at ingress j to the leaf and all its parents. */
  learn(pid: number, j: number, w: number): void {
    for (let p = pid; p >= 0; p = this.pParent[p]!) this.addRow(p, j, w);
    this.rootCnt[j]! += w;
  }

  /** Bring all counts of `ingresses` ingresses to time `now`. */
  decay(now: number, halfLifeMs: number, ingresses: number): void {
    if (Number.isNaN(this.decayedTo)) {
      this.decayedTo = now;
      return;
    }
    const dt = now - this.decayedTo;
    if (dt <= 0) return;
    this.decayedTo = now;
    const f = Math.pow(2, -dt / halfLifeMs);
    const cnt = this.rCnt;
    for (let r = 0, n = this.R; r < n; r++) cnt[r]! *= f;
    const tot = this.pTot;
    for (let p = 0, n = this.P; p < n; p++) tot[p]! *= f;
    for (let j = 0; j < ingresses; j++) this.rootCnt[j]! *= f;
  }

  /** Prefixes decayed below `keep` flows. */
  countDead(keep: number): number {
    let n = 0;
    for (let p = 0; p < this.P; p++) if (this.pTot[p]! < keep) n++;
    return n;
  }

  /**
   * Drop prefixes below `keep` flows and rows below keep/8: rebuild the arrays
   * in the same (parents-first) order. Returns old id → new id (-1: dropped).
   */
  compact(keep: number): Int32Array {
    const P = this.P;
    const map = new Int32Array(P).fill(-1);
    let nP = 0;
    for (let p = 0; p < P; p++) {
      const par = this.pParent[p]!;
      // a parent's total is the sum of its children's, so a live child always has a live parent
      if (this.pTot[p]! >= keep && (par < 0 || map[par]! >= 0)) map[p] = nP++;
    }
    const oParent = this.pParent;
    const oLevel = this.pLevel;
    const oFam = this.pFam;
    const oNet4 = this.pNet4;
    const oNet6 = this.pNet6;
    const oHead = this.pHead;
    const oPid = this.rPid;
    const oIng = this.rIng;
    const oCnt = this.rCnt;
    const oNext = this.rNext;
    const cap = Math.max(1024, nP);
    this.idx4 = [];
    this.idx6 = new Map();
    this.pParent = new Int32Array(cap);
    this.pLevel = new Uint8Array(cap);
    this.pFam = new Uint8Array(cap);
    this.pNet4 = new Float64Array(cap);
    this.pNet6 = [];
    this.pTot = new Float64Array(cap);
    this.pHead = new Int32Array(cap).fill(-1);
    let nR = 0;
    for (let r = 0; r < this.R; r++) if (map[oPid[r]!]! >= 0 && oCnt[r]! >= keep / 8) nR++;
    const rcap = Math.max(4096, nR);
    this.rPid = new Int32Array(rcap);
    this.rIng = new Int32Array(rcap);
    this.rCnt = new Float64Array(rcap);
    this.rNext = new Int32Array(rcap);
    this.R = 0;
    for (let p = 0; p < P; p++) {
      const q = map[p]!;
      if (q < 0) continue;
      const par = oParent[p]!;
      this.pParent[q] = par < 0 ? -1 : map[par]!;
      this.pLevel[q] = oLevel[p]!;
      this.pFam[q] = oFam[p]!;
      this.pNet4[q] = oNet4[p]!;
      if (oFam[p] === 6) this.pNet6[q] = oNet6[p]!;
      this.setIndex(this.cidrOfPid(q), q);
      let tot = 0;
      for (let r = oHead[p]!; r >= 0; r = oNext[r]!) {
        if (oCnt[r]! < keep / 8) continue;
        const s = this.R++;
        this.rPid[s] = q;
        this.rIng[s] = oIng[r]!;
        this.rCnt[s] = oCnt[r]!;
        this.rNext[s] = this.pHead[q]!;
        this.pHead[q] = s;
        tot += oCnt[r]!;
      }
      this.pTot[q] = tot;
    }
    this.P = nP;
    return map;
  }

  /** P(ingress) group-wide over `n` ingresses (Laplace): the top of the smoothing chain. */
  rootVector(n: number): Float64Array {
    const v = new Float64Array(n);
    let tot = 0;
    for (let j = 0; j < n; j++) tot += this.rootCnt[j]!;
    for (let j = 0; j < n; j++) v[j] = (this.rootCnt[j]! + 1) / (tot + n);
    return v;
  }

  /** The tables as plain data, for `ingresses` ingresses (analysis-state.ts). */
  exportTables(ingresses: number): PrefixTables {
    const net6: Array<[number, string]> = [];
    for (let p = 0; p < this.P; p++) if (this.pFam[p] === 6) net6.push([p, this.pNet6[p]!.toString(16)]);
    return {
      rootCnt: Array.from(this.rootCnt.subarray(0, ingresses)),
      prefixes: { count: this.P, parent: packArray(this.pParent, this.P), level: packArray(this.pLevel, this.P), fam: packArray(this.pFam, this.P), net4: packArray(this.pNet4, this.P), tot: packArray(this.pTot, this.P), net6 },
      rows: { count: this.R, pid: packArray(this.rPid, this.R), ing: packArray(this.rIng, this.R), cnt: packArray(this.rCnt, this.R) },
    };
  }

  /**
   * Take over saved tables of `ingresses` ingresses into an empty table.
   * Every id is checked before anything is taken: parents first, levels in
   * range, rows pointing at real prefixes and ingresses. Returns why not, or
   * undefined.
   */
  importTables(st: PrefixTables, ingresses: number): string | undefined {
    const P = st.prefixes.count;
    const R = st.rows.count;
    const parent = unpackArray(st.prefixes.parent, P, (n) => new Int32Array(n));
    const level = unpackArray(st.prefixes.level, P, (n) => new Uint8Array(n));
    const fam = unpackArray(st.prefixes.fam, P, (n) => new Uint8Array(n));
    const net4 = unpackArray(st.prefixes.net4, P, (n) => new Float64Array(n));
    const tot = unpackArray(st.prefixes.tot, P, (n) => new Float64Array(n));
    const rPid = unpackArray(st.rows.pid, R, (n) => new Int32Array(n));
    const rIng = unpackArray(st.rows.ing, R, (n) => new Int32Array(n));
    const rCnt = unpackArray(st.rows.cnt, R, (n) => new Float64Array(n));
    if (!parent || !level || !fam || !net4 || !tot || !rPid || !rIng || !rCnt) return 'a table has the wrong length';
    const net6: bigint[] = [];
    for (const [p, hex] of st.prefixes.net6) if (p < P) net6[p] = BigInt(`0x${hex}`);
    for (let p = 0; p < P; p++) {
      const f = fam[p]!;
      const lv = f === 4 ? this.levels4 : f === 6 ? this.levels6 : undefined;
      if (!lv || level[p]! >= lv.length || parent[p]! >= p || parent[p]! < -1) return `prefix ${p} is malformed`;
      if ((parent[p]! < 0) !== (level[p]! === lv.length - 1) || (parent[p]! >= 0 && level[parent[p]!] !== level[p]! + 1)) return `prefix ${p} has a wrong parent`;
      if (f === 4 ? !(Number.isInteger(net4[p]!) && net4[p]! >= 0 && net4[p]! < 2 ** 32) : net6[p] === undefined) return `prefix ${p} has no network`;
      if (!(tot[p]! >= 0)) return `prefix ${p} has a bad total`;
    }
    for (let r = 0; r < R; r++) if (rPid[r]! < 0 || rPid[r]! >= P || rIng[r]! < 0 || rIng[r]! >= ingresses || !(rCnt[r]! >= 0)) return `row ${r} points nowhere`;

    this.pParent = parent;
    this.pLevel = level;
    this.pFam = fam;
    this.pNet4 = net4;
    this.pNet6 = net6;
    this.pTot = tot;
    this.pHead = new Int32Array(Math.max(P, 1024)).fill(-1);
    this.P = P;
    for (let p = 0; p < P; p++) this.setIndex(this.cidrOfPid(p), p);
    this.rPid = rPid;
    this.rIng = rIng;
    this.rCnt = rCnt;
    this.rNext = new Int32Array(Math.max(R, 4096));
    this.R = R;
    for (let r = 0; r < R; r++) {
      const p = rPid[r]!;
      this.rNext[r] = this.pHead[p]!;
      this.pHead[p] = r;
    }
    this.ensureIngresses(ingresses);
    st.rootCnt.forEach((v, j) => (this.rootCnt[j] = v));
    return undefined;
  }
}
