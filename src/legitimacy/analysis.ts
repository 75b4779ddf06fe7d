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
 * singly linked list through `rNext`. No object per row.
 *
 * This module is the front door: it composes the parts and is what callers
 * import. The parts: analysis-options.ts (options, defaults, result types),
 * prefix-table.ts (the counts), classification.ts (the classes and candidate
 * lists), packed-rules.ts (the lists as numbers), suspension.ts (the mode
 * state machine and the shift test), distribution.ts (rule sets, refreshes,
 * ACKs), ingress-state.ts (per-ingress state, report sequencing) and
 * analysis-state.ts (persistence format).
 */
import { endianness } from 'node:os';
import { DEFAULT_PREFIX_OPTIONS, prefixOptions } from './prefix.js';
import type { EvidenceReport } from './evidence.js';
import type { AnalysisState } from './analysis-state.js';
import type { NetworkEvent, Outbound, RulesAck, SourceClass } from './messages.js';
import { resolveOptions, type AnalysisInit, type AnalysisOptions, type IngestResult, type Mode, type Policy, type RoundResult, type RuleLists } from './analysis-options.js';
import { PrefixTable } from './prefix-table.js';
import { CLASS_NAMES, Classification, classOf, evidence, probability } from './classification.js';
import { EMPTY_RULES, unpack, type PackedRules } from './packed-rules.js';
import { Suspension, checkShift } from './suspension.js';
import { admitSeq, newIngressState, type IngressState } from './ingress-state.js';
import { applyAck, dedupeLast, fullMessage, roundMessage } from './distribution.js';

export * from './analysis-options.js';
export { CLASS_NAMES, DEFAULT_PREFIX_OPTIONS };

export class LegitimacyAnalysis {
  readonly opts: AnalysisOptions;
  private readonly table: PrefixTable;
  private readonly classes: Classification;
  private readonly susp: Suspension;
  private readonly ing: IngressState[] = [];
  private readonly ingIndex = new Map<string, number>();
  private candidate: PackedRules[] = [];

  /** Counters for metrics. */
  readonly stats = { reports: 0, duplicates: 0, stale: 0, invalid: 0, invalidPrefixes: 0, shifts: 0, suspensions: 0, resumptions: 0, rounds: 0, lastRoundMs: 0, compactions: 0 };

  constructor(init: AnalysisInit) {
    this.opts = resolveOptions(init);
    const pfx = prefixOptions(this.opts.prefix);
    this.table = new PrefixTable([pfx.v4Bits, ...pfx.v4Parents], [pfx.v6Bits, ...pfx.v6Parents]);
    this.classes = new Classification(this.table);
    this.susp = new Suspension(this.opts, this.stats);
    for (const id of this.opts.ingresses) this.addIngress(id, true);
  }

  get mode(): Mode {
    return this.susp.mode;
  }

  get reason(): string {
    return this.susp.reason;
  }

  get prefixCount(): number {
    return this.table.P;
  }

  get rowCount(): number {
    return this.table.R;
  }

  ingressIds(): string[] {
    return this.ing.map((s) => s.id);
  }

  private addIngress(id: string, down: boolean): number {
    let j = this.ingIndex.get(id);
    if (j !== undefined) return j;
    j = this.ing.length;
    this.ing.push(newIngressState(id, down));
    this.ingIndex.set(id, j);
    this.table.ensureIngresses(this.ing.length);
    return j;
  }

  private policy(): Policy {
    return { threshold: this.opts.threshold, minEvidence: this.opts.minEvidence, alpha: this.opts.alpha };
  }

  // ---------------------------------------------------------------- persistence

  /** Everything learned, as plain data (analysis-state.ts): counts, ingresses, mode. */
  exportState(now: number): AnalysisState {
    const nan = (v: number): number | null => (Number.isNaN(v) ? null : v);
    const m = this.susp;
    return {
      v: 2,
      endian: 'LE',
      group: this.opts.group,
      savedAt: now,
      levels4: [...this.table.levels4],
      levels6: [...this.table.levels6],
      mode: m.mode,
      reason: m.reason,
      since: nan(m.since),
      holdUntil: nan(m.holdUntil),
      started: nan(m.started),
      decayedTo: nan(this.table.decayedTo),
      roundsSinceSuspend: m.roundsSinceSuspend,
      ingresses: this.ing.map((s) => ({ id: s.id, down: s.down, epoch: s.epoch, maxSeq: s.maxSeq, seen: [...s.seen], baseline: s.baseline, baselinePaused: s.baselinePaused, calm: s.calm, revision: s.revision, ackedRevision: s.ackedRevision })),
      ...this.table.exportTables(this.ing.length),
    };
  }

  /**
   * Take over a saved state (on start, before any report). Returns why it was
   * not used, or undefined. Every ingress gets a full rule set at the next
   * round (new revision), with the mode the state was in.
   */
  importState(st: AnalysisState): string | undefined {
    const t = this.table;
    if (t.P > 0 || t.R > 0) return 'the analysis has already learned';
    if (st.group !== this.opts.group) return `saved for group '${st.group}', not '${this.opts.group}'`;
    if (st.levels4.join() !== t.levels4.join() || st.levels6.join() !== t.levels6.join()) return 'learned under other prefix settings';
    if (st.endian !== (endianness() === 'LE' ? 'LE' : 'BE')) return 'saved on a machine of other byte order';
    const bad = t.importTables(st, st.ingresses.length);
    if (bad) return bad;
    for (const s of st.ingresses) this.addIngress(s.id, s.down);
    st.ingresses.forEach((saved, j) => {
      const s = this.ing[j]!;
      Object.assign(s, { down: saved.down, epoch: saved.epoch, maxSeq: saved.maxSeq, seen: new Set(saved.seen), baseline: saved.baseline, baselinePaused: saved.baselinePaused, calm: saved.calm });
      // lastReportAt stays unknown: an ingress is not called silent before it had the chance to report to this process
      s.revision = saved.revision;
      s.ackedRevision = saved.ackedRevision;
      s.needFull = true;
    });
    const num = (v: number | null): number => (v === null ? Number.NaN : v);
    const m = this.susp;
    m.mode = st.mode;
    m.reason = st.reason;
    m.since = num(st.since);
    m.holdUntil = num(st.holdUntil);
    m.started = num(st.started);
    t.decayedTo = num(st.decayedTo);
    m.roundsSinceSuspend = st.roundsSinceSuspend;
    // The classification the rules came from, so a shift is detected from the first report on.
    this.candidate = this.classes.run(this.policy(), this.ing.length, true);
    return undefined;
  }

  // ---------------------------------------------------------------- reports

  /**
   * Take one report. Idempotent on (ingressId, epoch, seq). Learns from it
   * unless it is paused; checks it for a catchment shift in every case.
   */
  ingest(report: EvidenceReport, now: number): IngestResult {
    this.susp.start(now);
    const out: IngestResult = { status: 'accepted', shift: false, messages: [] };
    if (typeof report?.ingressId !== 'string' || !Number.isInteger(report.seq) || !Array.isArray(report.counts)) {
      this.stats.invalid++;
      return { ...out, status: 'invalid', reason: 'malformed' };
    }
    const wasKnown = this.ingIndex.has(report.ingressId);
    const j = this.addIngress(report.ingressId, true);
    const s = this.ing[j]!;
    out.ack = { ingressId: s.id, epoch: report.epoch, seq: report.seq };
    const seq = admitSeq(s, report.epoch, report.seq);
    if (seq === 'stale') {
      this.stats.stale++;
      return { ...out, status: 'stale', reason: 'old epoch' };
    }
    if (seq === 'duplicate') {
      this.stats.duplicates++;
      return { ...out, status: 'duplicate' };
    }
    this.stats.reports++;
    s.lastReportAt = now;

    // an ingress that was down (or is new) reports again: its catchment returns → event
    if (s.down) {
      s.down = false;
      if (this.susp.mode !== 'warmup' && (wasKnown || this.ing.length > 1)) out.messages.push(...this.suspendAll(`ingress-up ${s.id}`, now));
    }

    // catchment shift: accepted flows from prefixes that have their own
    // history and are classified unlikely here. Prefixes never seen do not
    // count, so hosts in fresh prefixes (a botnet) cannot fake a shift.
    if (this.classes.covers(j)) {
      const minEvidence = this.opts.minEvidence;
      const active = this.susp.mode === 'active';
      const { share, shift } = checkShift(report.counts, report.paused, s, this.opts.shift, active, (key) => this.classes.unlikelyWithHistory(key, j, minEvidence));
      out.unlikelyShare = share;
      if (shift) {
        out.shift = true;
        if (active) {
          this.stats.shifts++;
          out.messages.push(...this.suspendAll(`shift at ${s.id}: ${(share * 100).toFixed(1)}% of accepted flows from unlikely prefixes`, now));
        }
      }
    }

    if (!report.paused) this.learn(report, j, now);
    return out;
  }

  private learn(report: EvidenceReport, j: number, now: number): void {
    const t = this.table;
    const age = Math.max(0, (Number.isNaN(t.decayedTo) ? now : t.decayedTo) - report.intervalEnd);
    if (age > this.opts.maxReportAgeMs) {
      this.stats.stale++;
      return;
    }
    const w0 = Math.pow(2, -age / this.opts.halfLifeMs);
    for (const e of report.counts) {
      const n = e[1];
      if (!(n > 0) || !Number.isFinite(n)) continue;
      const pid = t.leafPid(e[0]);
      if (pid < 0) {
        this.stats.invalidPrefixes++;
        continue;
      }
      t.learn(pid, j, n * w0);
    }
  }

  // ---------------------------------------------------------------- classes (tests, tools, the API)

  /**
   * The class a prefix key gets at an ingress *in the rules* of the latest
   * round (what longest-prefix match over that ingress's lists returns; a leaf
   * that is unlikely on its own evidence shows as `unlikely-via-parent` when
   * its parent's entry already limits it).
   */
  ruleClassOf(key: string, ingressId: string): SourceClass {
    const j = this.ingIndex.get(ingressId);
    if (j === undefined || !this.classes.covers(j)) return 'unknown';
    return CLASS_NAMES[this.classes.classCode(key, j)]!;
  }

  /** The model's class of a prefix key at an ingress under the current counts (slow path: tests, tools). */
  classOf(key: string, ingressId: string, pol: Policy = this.opts): SourceClass {
    return classOf(this.table, key, this.ingIndex.get(ingressId), this.ing.length, pol);
  }

  /** Smoothed P(ingress | prefix) under the current counts (slow path: for tests and tools). */
  probability(key: string, ingressId: string, alpha = this.opts.alpha): number {
    return probability(this.table, key, this.ingIndex.get(ingressId), this.ing.length, alpha);
  }

  /** Decayed evidence C(p) of a prefix key (0 if unseen). */
  evidence(key: string): number {
    return evidence(this.table, key);
  }

  // ---------------------------------------------------------------- events and suspension

  /** An announced network event: suspends the rules of the whole group at once. */
  event(e: NetworkEvent, now: number): Outbound[] {
    this.susp.start(now);
    if (e.type === 'ingress-down' || e.type === 'ingress-up') {
      const j = this.addIngress(e.ingressId, e.type === 'ingress-down');
      const s = this.ing[j]!;
      s.down = e.type === 'ingress-down';
      if (e.type === 'ingress-up') s.lastReportAt = now; // give it time to report before calling it silent
      return this.suspendAll(`${e.type} ${e.ingressId}${e.reason ? `: ${e.reason}` : ''}`, now);
    }
    if (e.holdMs) this.susp.hold(now + e.holdMs);
    return this.suspendAll(`operator: ${e.reason}`, now);
  }

  private suspendAll(reason: string, now: number): Outbound[] {
    if (!this.susp.suspend(reason, now, this.ing)) return [];
    return this.ing.map((s) => ({ to: s.id, msg: fullMessage(this.opts, s, this.candidate[this.ingIndex.get(s.id)!], now, true, this.susp.reason) }));
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

  /** Time since the suspension started (NaN when active). */
  suspendedFor(now: number): number {
    return this.susp.suspendedFor(now);
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
    const t = this.table;
    this.susp.start(now);
    const messages: Outbound[] = this.checkSilence(now);
    t.decay(now, this.opts.halfLifeMs, this.ing.length);
    if (t.P > 4096 && t.countDead(this.opts.pruneBelow) > t.P / 4) {
      const map = t.compact(this.opts.pruneBelow);
      // the classification refers to old ids: keep it usable by remapping
      this.classes.remap(map, t.P);
      this.stats.compactions++;
    }
    this.candidate = this.classes.run(this.policy(), this.ing.length, true);
    this.susp.roundsSinceSuspend++;
    this.stats.rounds++;
    let resumed = false;
    if (this.susp.mayResume(now, this.ing)) {
      this.susp.resume(this.ing);
      resumed = true;
    }
    const ruleEntries: Record<string, number> = {};
    const active = this.susp.mode === 'active';
    for (let j = 0; j < this.ing.length; j++) {
      const s = this.ing[j]!;
      const c = this.candidate[j] ?? EMPTY_RULES;
      ruleEntries[s.id] = c.expected.size + c.unlikely.size + c.unlikelyViaParent.size;
      messages.push({ to: s.id, msg: roundMessage(this.opts, s, c, now, active, resumed, this.susp.reason) });
    }
    const ms = performance.now() - t0;
    this.stats.lastRoundMs = ms;
    return { messages, ms, prefixes: t.P, rows: t.R, ruleEntries, mode: this.susp.mode };
  }

  /** An ingress's ACK or NACK. A NACK makes the next round send the whole set again (new revision). */
  ack(a: RulesAck): void {
    const j = this.ingIndex.get(a.ingressId);
    if (j !== undefined) applyAck(this.ing[j]!, a);
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
    return this.classes.run(policy, this.ing.length, false).map(unpack);
  }
}
