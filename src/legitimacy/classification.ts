/**
 * Classification (analysis.ts, "Classes of p at ingress i"): one pass over
 * the prefix table in id order (parents first) computes the smoothed
 * P(i | p) of every prefix, its class per ingress, and the candidate rule
 * lists: a prefix is emitted only where its class differs, for enforcement,
 * from what its parent's entry already gives. The latest classification is
 * kept for shift detection and `ruleClassOf`; `classOf` and `probability`
 * are the slow per-key paths for tests and tools.
 */
import { parseCidr } from './prefix.js';
import { maskCidr, type PrefixTable } from './prefix-table.js';
import { mergeList, type PackedRules } from './packed-rules.js';
import type { Policy } from './analysis-options.js';
import type { SourceClass } from './messages.js';

/** Class codes in typed arrays. */
export const UNKNOWN = 0;
export const EXPECTED = 1;
export const UNLIKELY = 2;
export const VIA_PARENT = 3;
export const CLASS_NAMES: readonly SourceClass[] = ['unknown', 'expected', 'unlikely', 'unlikely-via-parent'];
/** Enforcement bucket of a class code: 0 none (expected), 1 unlikely, 2 unknown. */
const BUCKETS = new Uint8Array([2, 0, 1, 1]);

export class Classification {
  // latest classification: cls[pid * clsN + j], effective (as the rules make the ingress see it)
  private cls = new Uint8Array(0);
  /** Ingresses in the latest classification. */
  clsN = 0;
  /** Prefixes in the latest classification (0: none yet). */
  clsP = 0;
  /** Scratch reused between rounds. */
  private buf = { slot: new Int32Array(0), pvec: new Float64Array(0), any: new Uint8Array(0), spare: new Uint8Array(0) };

  constructor(private readonly t: PrefixTable) {}

  /** Is there a latest classification covering ingress j? */
  covers(j: number): boolean {
    return this.clsP > 0 && j < this.clsN;
  }

  /**
   * The core pass over N ingresses (`keep`: it becomes the latest
   * classification). Parents come before children in id order, so each
   * prefix finds its parent's probability vector and effective classes ready.
   */
  run(pol: Policy, N: number, keep: boolean): PackedRules[] {
    const t = this.t;
    const P = t.P;
    const { threshold, minEvidence, alpha } = pol;
    // probability vectors of the parents; slot 0 holds the root (group-wide shares)
    const slot = this.buf.slot.length >= P ? this.buf.slot : (this.buf.slot = new Int32Array(P + (P >> 2)));
    let nPar = 1;
    const pLevel = t.pLevel;
    for (let p = 0; p < P; p++) slot[p] = pLevel[p]! > 0 ? nPar++ : -1;
    const pvec = this.buf.pvec.length >= nPar * N ? this.buf.pvec : (this.buf.pvec = new Float64Array((nPar + (nPar >> 2)) * N));
    pvec.set(t.rootVector(N), 0);
    const anyEv = this.buf.any.length >= P ? this.buf.any : (this.buf.any = new Uint8Array(P + (P >> 2)));
    // the classification is double-buffered: the previous one stays valid until this one is complete
    const cls = keep && this.buf.spare.length >= P * N ? this.buf.spare : new Uint8Array(P * N + ((P * N) >> 2));
    const sc = new Float64Array(N);
    const bucket = BUCKETS;
    // emitted entries: per ingress, per class (1..3), prefix ids
    const emit: Int32Array[] = [];
    const emitN = new Int32Array(N * 4);
    for (let k = 0; k < N * 4; k++) emit.push(new Int32Array(64));
    const pParent = t.pParent;
    const pTot = t.pTot;
    const pHead = t.pHead;
    const rNext = t.rNext;
    const rIng = t.rIng;
    const rCnt = t.rCnt;
    for (let p = 0; p < P; p++) {
      const par = pParent[p]!;
      const base = p * N;
      const tot = pTot[p]!;
      const hasEv = tot >= minEvidence;
      const any = hasEv || (par >= 0 && anyEv[par] === 1);
      const lvl = pLevel[p]!;
      if (!any) {
        // no evidence here or above: unknown everywhere, like the parent (nothing to emit)
        anyEv[p] = 0;
        if (lvl > 0) {
          const own = slot[p]! * N;
          const po = par >= 0 ? slot[par]! * N : 0;
          const inv = 1 / (tot + alpha);
          for (let j = 0; j < N; j++) pvec[own + j] = alpha * pvec[po + j]! * inv;
          for (let r = pHead[p]!; r >= 0; r = rNext[r]!) pvec[own + rIng[r]!] = (rCnt[r]! + alpha * pvec[po + rIng[r]!]!) * inv;
        }
        cls.fill(UNKNOWN, base, base + N);
        continue;
      }
      anyEv[p] = 1;
      const inv = 1 / (tot + alpha);
      const z = alpha * inv;
      const po = par >= 0 ? slot[par]! * N : 0;
      for (let j = 0; j < N; j++) sc[j] = z * pvec[po + j]!;
      for (let r = pHead[p]!; r >= 0; r = rNext[r]!) {
        const j = rIng[r]!;
        sc[j] = (rCnt[r]! + alpha * pvec[po + j]!) * inv;
      }
      if (lvl > 0) {
        const own = slot[p]! * N;
        for (let j = 0; j < N; j++) pvec[own + j] = sc[j]!;
      }
      const low = hasEv && lvl === 0 ? UNLIKELY : VIA_PARENT;
      const pbase = par * N;
      for (let j = 0; j < N; j++) {
        const c = sc[j]! >= threshold ? EXPECTED : low;
        const inherited = par >= 0 ? cls[pbase + j]! : UNKNOWN;
        if (bucket[c] === bucket[inherited]) {
          cls[base + j] = inherited;
          continue;
        }
        cls[base + j] = c;
        const k = j * 4 + c;
        let a = emit[k]!;
        const n = emitN[k]!;
        if (n >= a.length) {
          const b = new Int32Array(a.length * 2);
          b.set(a);
          emit[k] = a = b;
        }
        a[n] = p;
        emitN[k] = n + 1;
      }
    }
    if (keep) {
      this.buf.spare = this.cls;
      this.cls = cls;
      this.clsN = N;
      this.clsP = P;
    }
    // merge each (ingress, class) list per family and level
    const lists: PackedRules[] = [];
    for (let j = 0; j < N; j++) {
      lists.push({
        expected: mergeList(t, emit[j * 4 + EXPECTED]!, emitN[j * 4 + EXPECTED]!),
        unlikely: mergeList(t, emit[j * 4 + UNLIKELY]!, emitN[j * 4 + UNLIKELY]!),
        unlikelyViaParent: mergeList(t, emit[j * 4 + VIA_PARENT]!, emitN[j * 4 + VIA_PARENT]!),
      });
    }
    return lists;
  }


  /** Is a reported key, with its own evidence (≥ minEvidence), classified unlikely at ingress j? */
  unlikelyWithHistory(key: string, j: number, minEvidence: number): boolean {
    const N = this.clsN;
    const c = parseCidr(key);
    if (!c || c.bits !== this.t.levelsOf(c.family)[0]) return false;
    const q = this.t.find(c);
    if (q < 0 || q >= this.clsP || this.t.pTot[q]! < minEvidence) return false;
    const k = this.cls[q * N + j]!;
    return k === UNLIKELY || k === VIA_PARENT;
  }

  /** Effective class code of a reported key at ingress j under the latest classification. */
  classCode(key: string, j: number): number {
    const N = this.clsN;
    const c = parseCidr(key);
    if (!c) return UNKNOWN;
    // the key itself if classified, else its nearest classified parent
    const lv = this.t.levelsOf(c.family);
    for (let l = 0; l < lv.length; l++) {
      const b = lv[l]!;
      if (b > c.bits) continue;
      const q = this.t.find(maskCidr(c, b));
      if (q >= 0 && q < this.clsP) return this.cls[q * N + j]!;
    }
    return UNKNOWN;
  }

  /** After the table's compaction (old id → new id, -1 dropped; nP prefixes now): keep the classification usable. */
  remap(map: Int32Array, nP: number): void {
    const P = map.length;
    if (this.clsP > 0) {
      const N = this.clsN;
      const cls = new Uint8Array(nP * N);
      for (let p = 0; p < Math.min(P, this.clsP); p++) {
        const q = map[p]!;
        if (q >= 0) cls.set(this.cls.subarray(p * N, p * N + N), q * N);
      }
      this.cls = cls;
      this.clsP = nP;
    }
  }
}

/** The model's class of a prefix key at an ingress under the current counts (slow path: tests, tools). */
export function classOf(t: PrefixTable, key: string, j: number | undefined, N: number, pol: Policy): SourceClass {
  const c = parseCidr(key);
  if (!c || j === undefined) return 'unknown';
  const lv = t.levelsOf(c.family);
  const own = c.bits === lv[0] ? t.find(c) : -1;
  const hasEv = own >= 0 && t.pTot[own]! >= pol.minEvidence;
  let anyEv = hasEv;
  for (let l = 1; l < lv.length && !anyEv; l++) {
    const b = lv[l]!;
    if (b > c.bits) continue;
    const q = t.find(maskCidr(c, b));
    if (q >= 0 && t.pTot[q]! >= pol.minEvidence) anyEv = true;
  }
  if (!anyEv) return 'unknown';
  return probability(t, key, j, N, pol.alpha) >= pol.threshold ? 'expected' : hasEv ? 'unlikely' : 'unlikely-via-parent';
}

/** Smoothed P(ingress | prefix) under the current counts (slow path: for tests and tools). */
export function probability(t: PrefixTable, key: string, j: number | undefined, N: number, alpha: number): number {
  if (j === undefined) return 0;
  const pv = t.rootVector(N);
  const c = parseCidr(key);
  if (!c) return pv[j]!;
  // from the top parent down to the deepest interned prefix on the way to `key`
  const chain: number[] = [];
  const lv = t.levelsOf(c.family);
  for (let l = lv.length - 1; l >= 0; l--) {
    const b = lv[l]!;
    if (b > c.bits) continue;
    const q = t.find(maskCidr(c, b));
    if (q >= 0) chain.push(q);
  }
  let vec = pv;
  const a = alpha;
  for (const p of chain) {
    const nv = new Float64Array(N);
    const tot = t.pTot[p]!;
    for (let i = 0; i < N; i++) nv[i] = (a * vec[i]!) / (tot + a);
    for (let r = t.pHead[p]!; r >= 0; r = t.rNext[r]!) nv[t.rIng[r]!] = (t.rCnt[r]! + a * vec[t.rIng[r]!]!) / (tot + a);
    vec = nv;
  }
  return vec[j]!;
}

/** Decayed evidence C(p) of a prefix key (0 if unseen). */
export function evidence(t: PrefixTable, key: string): number {
  const c = parseCidr(key);
  const p = c ? t.find(c) : -1;
  return p < 0 ? 0 : t.pTot[p]!;
}
