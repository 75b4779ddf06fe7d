/**
 * Options and result types of the legitimacy analysis (analysis.ts), with
 * their defaults: what a caller configures and what it gets back.
 */
import type { PrefixOptions } from './prefix.js';
import type { Outbound } from './messages.js';

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

/** Fill in the defaults (nested ones too); `silentAfterMs` follows `intervalMs` unless given. */
export function resolveOptions(init: AnalysisInit): AnalysisOptions {
  const d = DEFAULT_ANALYSIS_OPTIONS;
  const o: AnalysisOptions = {
    ...d,
    ...init,
    ingresses: init.ingresses ?? [],
    prefix: init.prefix ?? {},
    shift: { ...d.shift, ...init.shift },
    suspend: { ...d.suspend, ...init.suspend },
  };
  if (init.silentAfterMs === undefined && init.intervalMs !== undefined) o.silentAfterMs = 3 * init.intervalMs;
  return o;
}

export const DEFAULT_POLICY: Policy = { threshold: DEFAULT_ANALYSIS_OPTIONS.threshold, minEvidence: DEFAULT_ANALYSIS_OPTIONS.minEvidence, alpha: DEFAULT_ANALYSIS_OPTIONS.alpha };
