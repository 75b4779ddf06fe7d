/**
 * Candidate rule lists as the classification emits them (classification.ts):
 * merged CIDRs kept as numbers, turned into text only when published, with a
 * cheap signature for change detection (distribution.ts).
 */
import { formatV4, formatV6, mergeV4, mergeV6 } from './prefix.js';
import type { PrefixTable } from './prefix-table.js';
import type { RuleLists } from './analysis-options.js';

/** Merged CIDRs of one list, kept as numbers; turned into text only when published. */
export class PackedList {
  readonly nets4: number[] = [];
  readonly bits4: number[] = [];
  readonly nets6: bigint[] = [];
  readonly bits6: number[] = [];
  private text: string[] | undefined;

  get size(): number {
    return this.nets4.length + this.nets6.length;
  }

  strings(): string[] {
    if (this.text) return this.text;
    const t: string[] = new Array<string>(this.size);
    let k = 0;
    for (let i = 0; i < this.nets4.length; i++) t[k++] = `${formatV4(this.nets4[i]!)}/${this.bits4[i]}`;
    for (let i = 0; i < this.nets6.length; i++) t[k++] = `${formatV6(this.nets6[i]!)}/${this.bits6[i]}`;
    return (this.text = t);
  }

  /** FNV-1a style mix of the entries into h. */
  hash(h: number): number {
    for (let i = 0; i < this.nets4.length; i++) {
      h = Math.imul(h ^ (this.nets4[i]! | 0), 16777619);
      h = Math.imul(h ^ this.bits4[i]!, 16777619);
    }
    for (let i = 0; i < this.nets6.length; i++) {
      h = Math.imul(h ^ Number(this.nets6[i]! & 0xffffffffn), 16777619);
      h = Math.imul(h ^ Number((this.nets6[i]! >> 64n) & 0xffffffffn), 16777619);
      h = Math.imul(h ^ this.bits6[i]!, 16777619);
    }
    return Math.imul(h ^ 124, 16777619);
  }
}

export interface PackedRules {
  expected: PackedList;
  unlikely: PackedList;
  unlikelyViaParent: PackedList;
}

/** Merge the prefixes (ids) of one list, level by level, each level not past its parent level's length. */
export function mergeList(t: PrefixTable, pids: Int32Array, n: number): PackedList {
  const out = new PackedList();
  if (n === 0) return out;
  const L4 = t.levels4.length;
  const cnt4 = new Int32Array(L4);
  let n6 = 0;
  for (let i = 0; i < n; i++) {
    const p = pids[i]!;
    if (t.pFam[p] === 4) cnt4[t.pLevel[p]!]!++;
    else n6++;
  }
  const by4 = Array.from(cnt4, (c) => new Uint32Array(c));
  const fill = new Int32Array(L4);
  const by6: bigint[][] = Array.from({ length: t.levels6.length }, () => []);
  for (let i = 0; i < n; i++) {
    const p = pids[i]!;
    const l = t.pLevel[p]!;
    if (t.pFam[p] === 4) by4[l]![fill[l]!++] = t.pNet4[p]!;
    else if (n6 > 0) by6[l]!.push(t.pNet6[p]!);
  }
  const lv4 = t.levels4;
  for (let l = 0; l < L4; l++) {
    if (cnt4[l] === 0) continue;
    const m = mergeV4(by4[l]!, lv4[l]!, l + 1 < L4 ? lv4[l + 1]! + 1 : 0);
    for (let i = 0; i < m.nets.length; i++) {
      out.nets4.push(m.nets[i]!);
      out.bits4.push(m.bits[i]!);
    }
  }
  const lv6 = t.levels6;
  for (let l = 0; l < by6.length; l++) {
    if (by6[l]!.length === 0) continue;
    const m = mergeV6(by6[l]!, new Array<number>(by6[l]!.length).fill(lv6[l]!), l + 1 < lv6.length ? lv6[l + 1]! + 1 : 0);
    for (let i = 0; i < m.nets.length; i++) {
      out.nets6.push(m.nets[i]!);
      out.bits6.push(m.bits[i]!);
    }
  }
  return out;
}


/** A cheap content signature of packed rule lists. */
export function signature(c: PackedRules): string {
  let h = 0x811c9dc5;
  for (const l of [c.expected, c.unlikely, c.unlikelyViaParent]) h = l.hash(h);
  return `${c.expected.size + c.unlikely.size + c.unlikelyViaParent.size}:${(h >>> 0).toString(16)}`;
}

export const EMPTY_RULES: PackedRules = { expected: new PackedList(), unlikely: new PackedList(), unlikelyViaParent: new PackedList() };

export function unpack(c: PackedRules): RuleLists {
  return { expected: c.expected.strings(), unlikely: c.unlikely.strings(), unlikelyViaParent: c.unlikelyViaParent.strings() };
}
