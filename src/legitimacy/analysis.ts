/**
 * Source-legitimacy analysis for one anycast group (pure, deterministic; runs
 * in the control plane). No I/O and no timers: the caller feeds reports,
 * events and the time, and sends the messages it gets back.
 *
 * Model. For every source prefix p and ingress i the analysis keeps c(p,i),
 * accepted flows decayed with a half-life, also summed into each back-off
 * parent of p. The probability that a flow from p arrives at i is smoothed
 * towards the parent's distribution (hierarchical additive smoothing):
 *
 *     P(i | p) = (c(p,i) + α · P(i | parent(p))) / (C(p) + α),   C(p) = Σ_i c(p,i)
 *
 * and at the top, P(i | root) is the group-wide share of ingress i (Laplace).
 * An unseen or sparse prefix therefore inherits its parent's distribution.
 *
 * Classes of p at ingress i:
 *   - `unknown`: neither p nor any parent has C ≥ minEvidence — never unlikely;
 *   - `expected`: P(i | p) ≥ threshold;
 *   - `unlikely`: P(i | p) < threshold and p itself has C(p) ≥ minEvidence;
 *   - `unlikely-via-parent`: P(i | p) < threshold on the strength of a parent.
 *
 * Rules per ingress are CIDR lists by class with longest-prefix-match
 * semantics (no match → unknown). A prefix is listed only where its class
 * differs, for enforcement, from what its parent's entry already gives (the
 * enforcer treats `unlikely` and `unlikely-via-parent` alike), then each
 * (class, level) list is merged into minimal CIDRs, never so short that it
 * would swallow a parent-level entry.
 *
 * Network events suspend the rules of the whole group: an ingress going down
 * or coming back (announced, or seen as a silent / newly reporting ingress),
 * an operator's event, and a catchment shift detected from the reports — a
 * report whose accepted flows come, for a share above `shift.minShare` and
 * `shift.factor` × that ingress's usual share, from prefixes currently
 * classified unlikely there. While suspended the analysis keeps learning from
 * non-paused reports; the rules come back when every live ingress has sent
 * `suspend.calmReports` reports in a row without a shift (against the freshly
 * learned classification) and the minimum suspension time has passed.
 *
 * Data layout (one round over 10⁶ rows well under a second): prefixes are
 * interned to dense ids (parents always get smaller ids than their children,
 * so one pass in id order sees parents first); per-prefix fields and the rows
 * (prefix, ingress, count) live in typed arrays, the rows of one prefix in a
 * singly linked list through `rowNext`. No object per row.
 */
import {
  DEFAULT_PREFIX_OPTIONS,
  formatV4,
  formatV6,
  mergeV4,
  mergeV6,
  parseCidr,
  prefixOptions,
  v4Mask,
  type Cidr,
  type PrefixOptions,
} from './prefix.js';
import type { EvidenceReport } from './evidence.js';
import { endianness } from 'node:os';
import { packArray, unpackArray, type AnalysisState } from './analysis-state.js';
import type { NetworkEvent, Outbound, RuleSet, RulesAck, SourceClass } from './messages.js';

export interface ShiftOptions {
  /** Share of a report's accepted flows from prefixes classified unlikely here that counts as a shift (default 0.03). */
  minShare: number;
  /** …and at least this many times the ingress's usual share (default 4). */
  factor: number;
  /** …and at least this many such flows in the report (default 30). */
  minFlows: number;
  /** EWMA weight of one report in the usual share (default 0.05). */
  baselineWeight: number;
  /**
   * In a paused report (the ingress is in attack mode and limits unlikely
   * sources, so few of them complete a connection) the share says little; a
   * shift there is this many accepted flows from unlikely prefixes, and
   * `factor` × the usual count in paused reports (default 5).
   */
  minFlowsPaused: number;
  /**
   * …and from at least this many distinct prefixes (default 3): a route change
   * moves many prefixes at once, while a few real hosts in one prefix that is
   * legitimately rare here (e.g. a flapping one) must not suspend the group.
   */
  minPrefixes: number;
}

export interface SuspendOptions {
  /** Shortest suspension after any event (default 120 s): routing takes time to settle. */
  minMs: number;
  /** Reports in a row without a shift, from every live ingress, before the rules come back (default 3). */
  calmReports: number;
}

export interface AnalysisOptions {
  /** Name of the anycast group (copied into every rule set). */
  group: string;
  /** Known members; more are added when they report. */
  ingresses: string[];
  prefix: Partial<PrefixOptions>;
  /** Half-life of the counts (default 6 h). */
  halfLifeMs: number;
  /** Smoothing pseudo-count α (default 2). */
  alpha: number;
  /** P(ingress | prefix) below this is unlikely (default 0.02; chosen from the simulator's ROC, docs/LEGITIMACY.md). */
  threshold: number;
  /** Decayed flows a prefix needs before its own distribution is trusted (default 10). */
  minEvidence: number;
  /** Expected time between two reports of an ingress (default 10 s). */
  intervalMs: number;
  /** An ingress silent this long is treated as down (default 3 intervals). */
  silentAfterMs: number;
  /** Rule sets expire this long after the last refresh; ingresses then fail open (default 60 s). */
  ruleTtlMs: number;
  /** Changed rules are published at most this often, suspensions and resumptions at once (default 60 s). */
  publishGapMs: number;
  /** Learning before the first rules (default 6 h). */
  warmupMs: number;
  shift: ShiftOptions;
  suspend: SuspendOptions;
  /** Rows and prefixes decayed below this many flows are dropped (default 0.05). */
  pruneBelow: number;
  /** Reports whose interval ended longer ago than this are acknowledged but not learned (default 2 half-lives). */
  maxReportAgeMs: number;
}

export const DEFAULT_ANALYSIS_OPTIONS: Omit<AnalysisOptions, 'group' | 'ingresses'> = {
  prefix: {},
  halfLifeMs: 6 * 3600_000,
  alpha: 2,
  threshold: 0.02,
  minEvidence: 10,
  intervalMs: 10_000,
  silentAfterMs: 30_000,
  ruleTtlMs: 60_000,
  publishGapMs: 60_000,
  warmupMs: 6 * 3600_000,
  shift: { minShare: 0.03, factor: 4, minFlows: 30, baselineWeight: 0.05, minFlowsPaused: 5, minPrefixes: 3 },
  suspend: { minMs: 120_000, calmReports: 3 },
  pruneBelow: 0.05,
  maxReportAgeMs: 12 * 3600_000,
};

export type AnalysisInit = Pick<AnalysisOptions, 'group'> & Partial<Omit<AnalysisOptions, 'group' | 'shift' | 'suspend'>> & { shift?: Partial<ShiftOptions>; suspend?: Partial<SuspendOptions> };

/** Merged CIDRs of one list, kept as numbers; turned into text only when published. */
class PackedList {
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

interface PackedRules {
  expected: PackedList;
  unlikely: PackedList;
  unlikelyViaParent: PackedList;
}

/** Class codes in typed arrays. */
const UNKNOWN = 0;
const EXPECTED = 1;
const UNLIKELY = 2;
const VIA_PARENT = 3;
const CLASS_NAMES: readonly SourceClass[] = ['unknown', 'expected', 'unlikely', 'unlikely-via-parent'];
/** Enforcement bucket of a class code: 0 none (expected), 1 unlikely, 2 unknown. */
const BUCKETS = new Uint8Array([2, 0, 1, 1]);

export type Mode = 'warmup' | 'active' | 'suspended';

export interface IngestResult {
  status: 'accepted' | 'duplicate' | 'stale' | 'invalid';
  reason?: string;
  /** Acknowledge this to the ingress (also for duplicates and stale reports, so it stops resending). */
  ack?: { ingressId: string; epoch: number; seq: number };
  /** Share of the report's accepted flows from prefixes classified unlikely at that ingress (undefined before the first round). */
  unlikelyShare?: number;
  shift: boolean;
  /** Messages to send now (a suspension reaches every ingress at once). */
  messages: Outbound[];
}

export interface RoundResult {
  messages: Outbound[];
  /** Milliseconds of CPU (wall time) the round took. */
  ms: number;
  prefixes: number;
  rows: number;
  /** Entries per ingress in the candidate rules. */
  ruleEntries: Record<string, number>;
  mode: Mode;
}

/** A candidate rule set's lists, before publishing. */
export interface RuleLists {
  expected: string[];
  unlikely: string[];
  unlikelyViaParent: string[];
}

export interface Policy {
  threshold: number;
  minEvidence: number;
  alpha: number;
}

interface IngressState {
  id: string;
  down: boolean;
  lastReportAt: number;
  epoch: number;
  maxSeq: number;
  seen: Set<number>;
  baseline: number;
  /** Usual count of accepted flows from unlikely prefixes in paused reports. */
  baselinePaused: number;
  calm: number;
  revision: number;
  /** What was last sent in full, for change detection. */
  sentSig: string;
  sentSuspended: boolean;
  lastContentAt: number;
  needFull: boolean;
  ackedRevision: number;
  nacks: number;
}

const SEQ_WINDOW = 4096;

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

export class LegitimacyAnalysis {
  readonly opts: AnalysisOptions;
  private readonly pfxOpts: PrefixOptions;
  /** bits per level, per family: [leaf, parent1, parent2…] */
  private readonly levels4: number[];
  private readonly levels6: number[];

  // prefixes: IPv4 by (length, network >>> (32 − length)), IPv6 by text
  private idx4: Array<Map<number, number> | undefined> = [];
  private idx6 = new Map<string, number>();
  private pParent = new Int32Array(1024);
  private pLevel = new Uint8Array(1024);
  private pFam = new Uint8Array(1024);
  private pNet4 = new Float64Array(1024);
  private pNet6: bigint[] = [];
  private pTot = new Float64Array(1024);
  private pHead = new Int32Array(1024).fill(-1);
  private P = 0;

  // rows
  private rPid = new Int32Array(4096);
  private rIng = new Int32Array(4096);
  private rCnt = new Float64Array(4096);
  private rNext = new Int32Array(4096);
  private R = 0;

  private rootCnt = new Float64Array(8);
  private decayedTo = Number.NaN;

  // ingresses
  private readonly ing: IngressState[] = [];
  private readonly ingIndex = new Map<string, number>();

  // latest classification: cls[pid * clsN + j], effective (as the rules make the ingress see it)
  private cls = new Uint8Array(0);
  private clsN = 0;
  private clsP = 0;
  private candidate: PackedRules[] = [];
  /** Scratch reused between rounds. */
  private buf = { slot: new Int32Array(0), pvec: new Float64Array(0), any: new Uint8Array(0), spare: new Uint8Array(0) };

  private modeNow: Mode = 'warmup';
  private since = Number.NaN;
  private holdUntil = Number.NaN;
  private reasonNow = 'warmup';
  private roundsSinceSuspend = 0;
  private started = Number.NaN;

  /** Counters for metrics. */
  readonly stats = { reports: 0, duplicates: 0, stale: 0, invalid: 0, invalidPrefixes: 0, shifts: 0, suspensions: 0, resumptions: 0, rounds: 0, lastRoundMs: 0, compactions: 0 };

  constructor(init: AnalysisInit) {
    const d = DEFAULT_ANALYSIS_OPTIONS;
    this.opts = {
      ...d,
      ...init,
      ingresses: init.ingresses ?? [],
      prefix: init.prefix ?? {},
      shift: { ...d.shift, ...init.shift },
      suspend: { ...d.suspend, ...init.suspend },
    };
    if (init.silentAfterMs === undefined && init.intervalMs !== undefined) this.opts.silentAfterMs = 3 * init.intervalMs;
    this.pfxOpts = prefixOptions(this.opts.prefix);
    this.levels4 = [this.pfxOpts.v4Bits, ...this.pfxOpts.v4Parents];
    this.levels6 = [this.pfxOpts.v6Bits, ...this.pfxOpts.v6Parents];
    for (const id of this.opts.ingresses) this.addIngress(id, true);
  }

  get mode(): Mode {
    return this.modeNow;
  }

  get reason(): string {
    return this.reasonNow;
  }

  get prefixCount(): number {
    return this.P;
  }

  get rowCount(): number {
    return this.R;
  }

  ingressIds(): string[] {
    return this.ing.map((s) => s.id);
  }

  private addIngress(id: string, down: boolean): number {
    let j = this.ingIndex.get(id);
    if (j !== undefined) return j;
    j = this.ing.length;
    this.ing.push({ id, down, lastReportAt: Number.NaN, epoch: -1, maxSeq: 0, seen: new Set(), baseline: 0, baselinePaused: 0, calm: 0, revision: 0, sentSig: '', sentSuspended: false, lastContentAt: Number.NaN, needFull: true, ackedRevision: 0, nacks: 0 });
    this.ingIndex.set(id, j);
    if (this.rootCnt.length < this.ing.length) {
      const r = new Float64Array(this.ing.length * 2);
      r.set(this.rootCnt);
      this.rootCnt = r;
    }
    return j;
  }

  // ---------------------------------------------------------------- persistence

  /** Everything learned, as plain data (analysis-state.ts): counts, ingresses, mode. */
  exportState(now: number): AnalysisState {
    const nan = (v: number): number | null => (Number.isNaN(v) ? null : v);
    const net6: Array<[number, string]> = [];
    for (let p = 0; p < this.P; p++) if (this.pFam[p] === 6) net6.push([p, this.pNet6[p]!.toString(16)]);
    return {
      v: 2,
      endian: 'LE',
      group: this.opts.group,
      savedAt: now,
      levels4: [...this.levels4],
      levels6: [...this.levels6],
      mode: this.modeNow,
      reason: this.reasonNow,
      since: nan(this.since),
      holdUntil: nan(this.holdUntil),
      started: nan(this.started),
      decayedTo: nan(this.decayedTo),
      roundsSinceSuspend: this.roundsSinceSuspend,
      rootCnt: Array.from(this.rootCnt.subarray(0, this.ing.length)),
      ingresses: this.ing.map((s) => ({ id: s.id, down: s.down, epoch: s.epoch, maxSeq: s.maxSeq, seen: [...s.seen], baseline: s.baseline, baselinePaused: s.baselinePaused, calm: s.calm, revision: s.revision, ackedRevision: s.ackedRevision })),
      prefixes: { count: this.P, parent: packArray(this.pParent, this.P), level: packArray(this.pLevel, this.P), fam: packArray(this.pFam, this.P), net4: packArray(this.pNet4, this.P), tot: packArray(this.pTot, this.P), net6 },
      rows: { count: this.R, pid: packArray(this.rPid, this.R), ing: packArray(this.rIng, this.R), cnt: packArray(this.rCnt, this.R) },
    };
  }

  /**
   * Take over a saved state (on start, before any report). Returns why it was
   * not used, or undefined. Every ingress gets a full rule set at the next
   * round (new revision), with the mode the state was in.
   */
  importState(st: AnalysisState): string | undefined {
    if (this.P > 0 || this.R > 0) return 'the analysis has already learned';
    if (st.group !== this.opts.group) return `saved for group '${st.group}', not '${this.opts.group}'`;
    if (st.levels4.join() !== this.levels4.join() || st.levels6.join() !== this.levels6.join()) return 'learned under other prefix settings';
    if (st.endian !== (endianness() === 'LE' ? 'LE' : 'BE')) return 'saved on a machine of other byte order';
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
    // Check every id before taking anything: parents first, levels in range, rows pointing at real prefixes and ingresses.
    for (let p = 0; p < P; p++) {
      const f = fam[p]!;
      const lv = f === 4 ? this.levels4 : f === 6 ? this.levels6 : undefined;
      if (!lv || level[p]! >= lv.length || parent[p]! >= p || parent[p]! < -1) return `prefix ${p} is malformed`;
      if ((parent[p]! < 0) !== (level[p]! === lv.length - 1) || (parent[p]! >= 0 && level[parent[p]!] !== level[p]! + 1)) return `prefix ${p} has a wrong parent`;
      if (f === 4 ? !(Number.isInteger(net4[p]!) && net4[p]! >= 0 && net4[p]! < 2 ** 32) : net6[p] === undefined) return `prefix ${p} has no network`;
      if (!(tot[p]! >= 0)) return `prefix ${p} has a bad total`;
    }
    for (let r = 0; r < R; r++) if (rPid[r]! < 0 || rPid[r]! >= P || rIng[r]! < 0 || rIng[r]! >= st.ingresses.length || !(rCnt[r]! >= 0)) return `row ${r} points nowhere`;

    for (const s of st.ingresses) this.addIngress(s.id, s.down);
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
    st.rootCnt.forEach((v, j) => (this.rootCnt[j] = v));
    st.ingresses.forEach((saved, j) => {
      const s = this.ing[j]!;
      Object.assign(s, { down: saved.down, epoch: saved.epoch, maxSeq: saved.maxSeq, seen: new Set(saved.seen), baseline: saved.baseline, baselinePaused: saved.baselinePaused, calm: saved.calm });
      // lastReportAt stays unknown: an ingress is not called silent before it had the chance to report to this process
      s.revision = saved.revision;
      s.ackedRevision = saved.ackedRevision;
      s.needFull = true;
    });
    const num = (v: number | null): number => (v === null ? Number.NaN : v);
    this.modeNow = st.mode;
    this.reasonNow = st.reason;
    this.since = num(st.since);
    this.holdUntil = num(st.holdUntil);
    this.started = num(st.started);
    this.decayedTo = num(st.decayedTo);
    this.roundsSinceSuspend = st.roundsSinceSuspend;
    // The classification the rules came from, so a shift is detected from the first report on.
    this.candidate = this.classify({ threshold: this.opts.threshold, minEvidence: this.opts.minEvidence, alpha: this.opts.alpha }, true);
    return undefined;
  }

  // ---------------------------------------------------------------- prefixes and rows

  private levelsOf(fam: number): number[] {
    return fam === 4 ? this.levels4 : this.levels6;
  }

  /** Id of an interned CIDR, or -1. */
  private find(c: Cidr): number {
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

  private cidrOfPid(p: number): Cidr {
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
  private leafPid(key: string): number {
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
  private learn(pid: number, j: number, w: number): void {
    for (let p = pid; p >= 0; p = this.pParent[p]!) this.addRow(p, j, w);
    this.rootCnt[j]! += w;
  }

  /** Bring all counts to time `now`. */
  private decay(now: number): void {
    if (Number.isNaN(this.decayedTo)) {
      this.decayedTo = now;
      return;
    }
    const dt = now - this.decayedTo;
    if (dt <= 0) return;
    this.decayedTo = now;
    const f = Math.pow(2, -dt / this.opts.halfLifeMs);
    const cnt = this.rCnt;
    for (let r = 0, n = this.R; r < n; r++) cnt[r]! *= f;
    const tot = this.pTot;
    for (let p = 0, n = this.P; p < n; p++) tot[p]! *= f;
    for (let j = 0; j < this.ing.length; j++) this.rootCnt[j]! *= f;
  }

  /** Drop decayed-away prefixes and rows: rebuild the arrays in the same (parents-first) order. */
  private compact(): void {
    const keep = this.opts.pruneBelow;
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
    // the classification refers to old ids: keep it usable by remapping
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
    this.stats.compactions++;
  }

  // ---------------------------------------------------------------- reports

  /**
   * Take one report. Idempotent on (ingressId, epoch, seq). Learns from it
   * unless it is paused; checks it for a catchment shift in every case.
   */
  ingest(report: EvidenceReport, now: number): IngestResult {
    if (Number.isNaN(this.started)) this.started = now;
    const out: IngestResult = { status: 'accepted', shift: false, messages: [] };
    if (typeof report?.ingressId !== 'string' || !Number.isInteger(report.seq) || !Array.isArray(report.counts)) {
      this.stats.invalid++;
      return { ...out, status: 'invalid', reason: 'malformed' };
    }
    const wasKnown = this.ingIndex.has(report.ingressId);
    const j = this.addIngress(report.ingressId, true);
    const s = this.ing[j]!;
    const ack = { ingressId: s.id, epoch: report.epoch, seq: report.seq };
    out.ack = ack;
    if (report.epoch < s.epoch) {
      this.stats.stale++;
      return { ...out, status: 'stale', reason: 'old epoch' };
    }
    if (report.epoch > s.epoch) {
      s.epoch = report.epoch;
      s.seen.clear();
      s.maxSeq = 0;
    }
    if (s.seen.has(report.seq) || report.seq <= s.maxSeq - SEQ_WINDOW) {
      this.stats.duplicates++;
      return { ...out, status: 'duplicate' };
    }
    s.seen.add(report.seq);
    if (report.seq > s.maxSeq) {
      s.maxSeq = report.seq;
      if (s.seen.size > SEQ_WINDOW) for (const q of s.seen) if (q <= s.maxSeq - SEQ_WINDOW) s.seen.delete(q);
    }
    this.stats.reports++;
    s.lastReportAt = now;

    // an ingress that was down (or is new) reports again: its catchment returns → event
    if (s.down) {
      s.down = false;
      if (this.modeNow !== 'warmup' && (wasKnown || this.ing.length > 1)) {
        out.messages.push(...this.suspendAll(`ingress-up ${s.id}`, now));
      }
    }

    // catchment shift: accepted flows from prefixes that have their own
    // history and are classified unlikely here. Prefixes never seen do not
    // count, so hosts in fresh prefixes (a botnet) cannot fake a shift.
    let unl = 0;
    let unlPrefixes = 0;
    let classified = 0;
    if (this.clsP > 0 && j < this.clsN) {
      const N = this.clsN;
      for (const e of report.counts) {
        const n = e[1];
        classified += n;
        if (n > 0 && this.unlikelyWithHistory(e[0], j, N)) {
          unl += n;
          unlPrefixes++;
        }
      }
      const share = classified > 0 ? unl / classified : 0;
      out.unlikelyShare = share;
      const sh = this.opts.shift;
      const isShift =
        unlPrefixes >= sh.minPrefixes &&
        (report.paused ? unl >= sh.minFlowsPaused && unl >= sh.factor * s.baselinePaused : unl >= sh.minFlows && share >= sh.minShare && share >= sh.factor * s.baseline);
      if (isShift) {
        out.shift = true;
        s.calm = 0;
        if (this.modeNow === 'active') {
          this.stats.shifts++;
          out.messages.push(...this.suspendAll(`shift at ${s.id}: ${(share * 100).toFixed(1)}% of accepted flows from unlikely prefixes`, now));
        }
      } else {
        s.calm++;
        if (this.modeNow === 'active') {
          if (report.paused) s.baselinePaused += sh.baselineWeight * (unl - s.baselinePaused);
          else s.baseline += sh.baselineWeight * (share - s.baseline);
        }
      }
    }

    // learn
    if (!report.paused) {
      const age = Math.max(0, (Number.isNaN(this.decayedTo) ? now : this.decayedTo) - report.intervalEnd);
      if (age <= this.opts.maxReportAgeMs) {
        const w0 = Math.pow(2, -age / this.opts.halfLifeMs);
        for (const e of report.counts) {
          const n = e[1];
          if (!(n > 0) || !Number.isFinite(n)) continue;
          const pid = this.leafPid(e[0]);
          if (pid < 0) {
            this.stats.invalidPrefixes++;
            continue;
          }
          this.learn(pid, j, n * w0);
        }
      } else this.stats.stale++;
    }
    return out;
  }

  private unlikelyWithHistory(key: string, j: number, N: number): boolean {
    const c = parseCidr(key);
    if (!c || c.bits !== this.levelsOf(c.family)[0]) return false;
    const q = this.find(c);
    if (q < 0 || q >= this.clsP || this.pTot[q]! < this.opts.minEvidence) return false;
    const k = this.cls[q * N + j]!;
    return k === UNLIKELY || k === VIA_PARENT;
  }

  /** Effective class code of a reported key at ingress j under the latest classification. */
  private classCode(key: string, j: number, N: number): number {
    const c = parseCidr(key);
    if (!c) return UNKNOWN;
    // the key itself if classified, else its nearest classified parent
    const lv = this.levelsOf(c.family);
    for (let l = 0; l < lv.length; l++) {
      const b = lv[l]!;
      if (b > c.bits) continue;
      const q = this.find(maskCidr(c, b));
      if (q >= 0 && q < this.clsP) return this.cls[q * N + j]!;
    }
    return UNKNOWN;
  }

  /**
   * The class a prefix key gets at an ingress *in the rules* of the latest
   * round (what longest-prefix match over that ingress's lists returns; a leaf
   * that is unlikely on its own evidence shows as `unlikely-via-parent` when
   * its parent's entry already limits it).
   */
  ruleClassOf(key: string, ingressId: string): SourceClass {
    const j = this.ingIndex.get(ingressId);
    if (j === undefined || j >= this.clsN || this.clsP === 0) return 'unknown';
    return CLASS_NAMES[this.classCode(key, j, this.clsN)]!;
  }

  /** The model's class of a prefix key at an ingress under the current counts (slow path: tests, tools). */
  classOf(key: string, ingressId: string, pol: Policy = this.opts): SourceClass {
    const c = parseCidr(key);
    if (!c || !this.ingIndex.has(ingressId)) return 'unknown';
    const lv = this.levelsOf(c.family);
    const own = c.bits === lv[0] ? this.find(c) : -1;
    const hasEv = own >= 0 && this.pTot[own]! >= pol.minEvidence;
    let anyEv = hasEv;
    for (let l = 1; l < lv.length && !anyEv; l++) {
      const b = lv[l]!;
      if (b > c.bits) continue;
      const q = this.find(maskCidr(c, b));
      if (q >= 0 && this.pTot[q]! >= pol.minEvidence) anyEv = true;
    }
    if (!anyEv) return 'unknown';
    return this.probability(key, ingressId, pol.alpha) >= pol.threshold ? 'expected' : hasEv ? 'unlikely' : 'unlikely-via-parent';
  }

  /** Smoothed P(ingress | prefix) under the current counts (slow path: for tests and tools). */
  probability(key: string, ingressId: string, alpha = this.opts.alpha): number {
    const j = this.ingIndex.get(ingressId);
    const N = this.ing.length;
    if (j === undefined) return 0;
    const pv = this.rootVector();
    const c = parseCidr(key);
    if (!c) return pv[j]!;
    // from the top parent down to the deepest interned prefix on the way to `key`
    const chain: number[] = [];
    const lv = this.levelsOf(c.family);
    for (let l = lv.length - 1; l >= 0; l--) {
      const b = lv[l]!;
      if (b > c.bits) continue;
      const q = this.find(maskCidr(c, b));
      if (q >= 0) chain.push(q);
    }
    let vec = pv;
    const a = alpha;
    for (const p of chain) {
      const nv = new Float64Array(N);
      const tot = this.pTot[p]!;
      for (let i = 0; i < N; i++) nv[i] = (a * vec[i]!) / (tot + a);
      for (let r = this.pHead[p]!; r >= 0; r = this.rNext[r]!) nv[this.rIng[r]!] = (this.rCnt[r]! + a * vec[this.rIng[r]!]!) / (tot + a);
      vec = nv;
    }
    return vec[j]!;
  }

  /** Decayed evidence C(p) of a prefix key (0 if unseen). */
  evidence(key: string): number {
    const c = parseCidr(key);
    const p = c ? this.find(c) : -1;
    return p < 0 ? 0 : this.pTot[p]!;
  }

  private rootVector(): Float64Array {
    const N = this.ing.length;
    const v = new Float64Array(N);
    let tot = 0;
    for (let j = 0; j < N; j++) tot += this.rootCnt[j]!;
    for (let j = 0; j < N; j++) v[j] = (this.rootCnt[j]! + 1) / (tot + N);
    return v;
  }

  // ---------------------------------------------------------------- events and suspension

  /** An announced network event: suspends the rules of the whole group at once. */
  event(e: NetworkEvent, now: number): Outbound[] {
    if (Number.isNaN(this.started)) this.started = now;
    if (e.type === 'ingress-down' || e.type === 'ingress-up') {
      const j = this.addIngress(e.ingressId, e.type === 'ingress-down');
      const s = this.ing[j]!;
      s.down = e.type === 'ingress-down';
      if (e.type === 'ingress-up') s.lastReportAt = now; // give it time to report before calling it silent
      return this.suspendAll(`${e.type} ${e.ingressId}${e.reason ? `: ${e.reason}` : ''}`, now);
    }
    if (e.holdMs) this.holdUntil = Math.max(Number.isNaN(this.holdUntil) ? 0 : this.holdUntil, now + e.holdMs);
    return this.suspendAll(`operator: ${e.reason}`, now);
  }

  private suspendAll(reason: string, now: number): Outbound[] {
    if (this.modeNow === 'warmup') {
      this.reasonNow = `warmup (${reason})`;
      for (const s of this.ing) s.calm = 0;
      return [];
    }
    if (this.modeNow === 'active') this.stats.suspensions++;
    this.modeNow = 'suspended';
    this.since = now;
    this.reasonNow = reason;
    this.roundsSinceSuspend = 0;
    for (const s of this.ing) s.calm = 0;
    const out: Outbound[] = [];
    for (const s of this.ing) out.push({ to: s.id, msg: this.fullMessage(s, now, true) });
    return out;
  }

  /** Ingresses that have been silent too long are down (an unannounced outage). */
  private checkSilence(now: number): Outbound[] {
    const out: Outbound[] = [];
    for (const s of this.ing) {
      if (s.down || Number.isNaN(s.lastReportAt)) continue;
      if (now - s.lastReportAt > this.opts.silentAfterMs) {
        s.down = true;
        out.push(...this.suspendAll(`ingress-down ${s.id}: silent for ${Math.round((now - s.lastReportAt) / 1000)} s`, now));
      }
    }
    return out.length ? dedupeLast(out) : out;
  }

  private mayResume(now: number): boolean {
    if (this.modeNow === 'active' || this.roundsSinceSuspend < 1) return false;
    const minMs = this.modeNow === 'warmup' ? this.opts.warmupMs : this.opts.suspend.minMs;
    const from = this.modeNow === 'warmup' ? this.started : this.since;
    if (now - from < minMs) return false;
    if (!Number.isNaN(this.holdUntil) && now < this.holdUntil) return false;
    let live = 0;
    for (const s of this.ing) {
      if (s.down) continue;
      live++;
      if (s.calm < this.opts.suspend.calmReports) return false;
    }
    return live > 0;
  }

  // ---------------------------------------------------------------- rounds

  /**
   * One analysis round: decay to `now`, classify every (prefix, ingress),
   * rebuild the candidate rules, resume when re-converged, and return the
   * messages for the ingresses (full rule sets where the content changed and
   * the publish gap allows, refreshes otherwise).
   */
  round(now: number): RoundResult {
    const t0 = performance.now();
    if (Number.isNaN(this.started)) this.started = now;
    const messages: Outbound[] = this.checkSilence(now);
    this.decay(now);
    if (this.P > 4096 && this.countDead() > this.P / 4) this.compact();
    this.candidate = this.classify({ threshold: this.opts.threshold, minEvidence: this.opts.minEvidence, alpha: this.opts.alpha }, true);
    this.roundsSinceSuspend++;
    this.stats.rounds++;
    let resumed = false;
    if (this.mayResume(now)) {
      if (this.modeNow === 'suspended') this.stats.resumptions++;
      this.modeNow = 'active';
      this.reasonNow = '';
      this.holdUntil = Number.NaN;
      resumed = true;
      for (const s of this.ing) s.baseline = 0;
    }
    const ruleEntries: Record<string, number> = {};
    for (let j = 0; j < this.ing.length; j++) {
      const s = this.ing[j]!;
      const c = this.candidate[j] ?? EMPTY_RULES;
      ruleEntries[s.id] = c.expected.size + c.unlikely.size + c.unlikelyViaParent.size;
      if (this.modeNow !== 'active') {
        if (!s.sentSuspended || s.needFull || s.revision === 0) messages.push({ to: s.id, msg: this.fullMessage(s, now, true) });
        else messages.push({ to: s.id, msg: this.refresh(s, now) });
        continue;
      }
      const sig = signature(c);
      const changed = sig !== s.sentSig || s.sentSuspended;
      const gapOk = Number.isNaN(s.lastContentAt) || now - s.lastContentAt >= this.opts.publishGapMs;
      if (resumed || s.needFull || (changed && (gapOk || s.sentSuspended))) messages.push({ to: s.id, msg: this.fullMessage(s, now, false, sig) });
      else messages.push({ to: s.id, msg: this.refresh(s, now) });
    }
    const ms = performance.now() - t0;
    this.stats.lastRoundMs = ms;
    return { messages, ms, prefixes: this.P, rows: this.R, ruleEntries, mode: this.modeNow };
  }

  private countDead(): number {
    let n = 0;
    const k = this.opts.pruneBelow;
    for (let p = 0; p < this.P; p++) if (this.pTot[p]! < k) n++;
    return n;
  }

  private nextRevision(s: IngressState, now: number): number {
    s.revision = Math.max(s.revision + 1, Math.floor(now));
    return s.revision;
  }

  private fullMessage(s: IngressState, now: number, suspended: boolean, sig?: string): RuleSet {
    const j = this.ingIndex.get(s.id)!;
    const packed = this.candidate[j] ?? EMPTY_RULES;
    const c = suspended ? undefined : unpack(packed);
    const rs: RuleSet = {
      v: 1,
      type: 'legitimacy.rules',
      group: this.opts.group,
      ingressId: s.id,
      revision: this.nextRevision(s, now),
      issuedAt: now,
      expiresAt: now + this.opts.ruleTtlMs,
      suspended,
      reason: suspended ? this.reasonNow : '',
      expected: suspended || !c ? [] : c.expected,
      unlikely: suspended || !c ? [] : c.unlikely,
      unlikelyViaParent: suspended || !c ? [] : c.unlikelyViaParent,
    };
    s.sentSuspended = suspended;
    s.sentSig = suspended ? '' : (sig ?? signature(packed));
    s.needFull = false;
    if (!suspended) s.lastContentAt = now;
    return rs;
  }

  private refresh(s: IngressState, now: number): Outbound['msg'] {
    return { v: 1, type: 'legitimacy.refresh', group: this.opts.group, ingressId: s.id, revision: s.revision, expiresAt: now + this.opts.ruleTtlMs };
  }

  /** An ingress's ACK or NACK. A NACK makes the next round send the whole set again (new revision). */
  ack(a: RulesAck): void {
    const j = this.ingIndex.get(a.ingressId);
    if (j === undefined) return;
    const s = this.ing[j]!;
    if (a.ok) s.ackedRevision = Math.max(s.ackedRevision, a.revision);
    else {
      s.nacks++;
      s.needFull = true;
    }
  }

  /** Per-ingress state for metrics and the API. */
  ingressState(): Array<{ id: string; down: boolean; revision: number; ackedRevision: number; nacks: number; baselineShare: number; calmReports: number }> {
    return this.ing.map((s) => ({ id: s.id, down: s.down, revision: s.revision, ackedRevision: s.ackedRevision, nacks: s.nacks, baselineShare: s.baseline, calmReports: s.calm }));
  }

  /** The latest candidate rules for an ingress (also while suspended: what would apply). */
  candidateRules(ingressId: string): RuleLists | undefined {
    const j = this.ingIndex.get(ingressId);
    const c = j === undefined ? undefined : this.candidate[j];
    return c && unpack(c);
  }

  /**
   * Classify under another policy without touching state (no decay, nothing
   * published): for the ROC in the simulator and for operators trying a
   * threshold. Returns rule lists per ingress, in `ingressIds()` order.
   */
  rulesFor(policy: Policy): RuleLists[] {
    return this.classify(policy, false).map(unpack);
  }

  /**
   * The core pass. Parents come before children in id order, so each prefix
   * finds its parent's probability vector and effective classes ready.
   */
  private classify(pol: Policy, keep: boolean): PackedRules[] {
    const N = this.ing.length;
    const P = this.P;
    const { threshold, minEvidence, alpha } = pol;
    // probability vectors of the parents; slot 0 holds the root (group-wide shares)
    const slot = this.buf.slot.length >= P ? this.buf.slot : (this.buf.slot = new Int32Array(P + (P >> 2)));
    let nPar = 1;
    const pLevel = this.pLevel;
    for (let p = 0; p < P; p++) slot[p] = pLevel[p]! > 0 ? nPar++ : -1;
    const pvec = this.buf.pvec.length >= nPar * N ? this.buf.pvec : (this.buf.pvec = new Float64Array((nPar + (nPar >> 2)) * N));
    pvec.set(this.rootVector(), 0);
    const anyEv = this.buf.any.length >= P ? this.buf.any : (this.buf.any = new Uint8Array(P + (P >> 2)));
    // the classification is double-buffered: the previous one stays valid until this one is complete
    const cls = keep && this.buf.spare.length >= P * N ? this.buf.spare : new Uint8Array(P * N + ((P * N) >> 2));
    const sc = new Float64Array(N);
    const bucket = BUCKETS;
    // emitted entries: per ingress, per class (1..3), prefix ids
    const emit: Int32Array[] = [];
    const emitN = new Int32Array(N * 4);
    for (let k = 0; k < N * 4; k++) emit.push(new Int32Array(64));
    const pParent = this.pParent;
    const pTot = this.pTot;
    const pHead = this.pHead;
    const rNext = this.rNext;
    const rIng = this.rIng;
    const rCnt = this.rCnt;
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
        expected: this.mergeList(emit[j * 4 + EXPECTED]!, emitN[j * 4 + EXPECTED]!),
        unlikely: this.mergeList(emit[j * 4 + UNLIKELY]!, emitN[j * 4 + UNLIKELY]!),
        unlikelyViaParent: this.mergeList(emit[j * 4 + VIA_PARENT]!, emitN[j * 4 + VIA_PARENT]!),
      });
    }
    return lists;
  }

  /** Merge the prefixes (ids) of one list, level by level, each level not past its parent level's length. */
  private mergeList(pids: Int32Array, n: number): PackedList {
    const out = new PackedList();
    if (n === 0) return out;
    const L4 = this.levels4.length;
    const cnt4 = new Int32Array(L4);
    let n6 = 0;
    for (let i = 0; i < n; i++) {
      const p = pids[i]!;
      if (this.pFam[p] === 4) cnt4[this.pLevel[p]!]!++;
      else n6++;
    }
    const by4 = Array.from(cnt4, (c) => new Uint32Array(c));
    const fill = new Int32Array(L4);
    const by6: bigint[][] = Array.from({ length: this.levels6.length }, () => []);
    for (let i = 0; i < n; i++) {
      const p = pids[i]!;
      const l = this.pLevel[p]!;
      if (this.pFam[p] === 4) by4[l]![fill[l]!++] = this.pNet4[p]!;
      else if (n6 > 0) by6[l]!.push(this.pNet6[p]!);
    }
    const lv4 = this.levels4;
    for (let l = 0; l < L4; l++) {
      if (cnt4[l] === 0) continue;
      const m = mergeV4(by4[l]!, lv4[l]!, l + 1 < L4 ? lv4[l + 1]! + 1 : 0);
      for (let i = 0; i < m.nets.length; i++) {
        out.nets4.push(m.nets[i]!);
        out.bits4.push(m.bits[i]!);
      }
    }
    const lv6 = this.levels6;
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

  /** Time since the suspension started (NaN when active). */
  suspendedFor(now: number): number {
    return this.modeNow === 'suspended' ? now - this.since : Number.NaN;
  }
}

const V6_ALL = (1n << 128n) - 1n;

/** The CIDR of length `bits` (≤ c.bits) containing c. */
function maskCidr(c: Cidr, bits: number): Cidr {
  return c.family === 4 ? { family: 4, net: (c.net & v4Mask(bits)) >>> 0, bits } : { family: 6, net: bits === 0 ? 0n : c.net & ((V6_ALL >> BigInt(128 - bits)) << BigInt(128 - bits)), bits };
}

function key6(net: bigint, bits: number): string {
  return `${net.toString(16)}/${bits}`;
}

/** A cheap content signature of packed rule lists. */
function signature(c: PackedRules): string {
  let h = 0x811c9dc5;
  for (const l of [c.expected, c.unlikely, c.unlikelyViaParent]) h = l.hash(h);
  return `${c.expected.size + c.unlikely.size + c.unlikelyViaParent.size}:${(h >>> 0).toString(16)}`;
}

const EMPTY_RULES: PackedRules = { expected: new PackedList(), unlikely: new PackedList(), unlikelyViaParent: new PackedList() };

function unpack(c: PackedRules): RuleLists {
  return { expected: c.expected.strings(), unlikely: c.unlikely.strings(), unlikelyViaParent: c.unlikelyViaParent.strings() };
}

/** Keep only the last message per ingress. */
function dedupeLast(out: Outbound[]): Outbound[] {
  const last = new Map<string, Outbound>();
  for (const o of out) last.set(o.to, o);
  return [...last.values()];
}

export { CLASS_NAMES };
export const DEFAULT_POLICY: Policy = { threshold: DEFAULT_ANALYSIS_OPTIONS.threshold, minEvidence: DEFAULT_ANALYSIS_OPTIONS.minEvidence, alpha: DEFAULT_ANALYSIS_OPTIONS.alpha };
export { DEFAULT_PREFIX_OPTIONS };
