/**
 * What the analysis keeps per ingress (analysis.ts): report sequencing, the
 * shift detector's baselines and calm count (suspension.ts), and what was
 * last published to it (distribution.ts).
 */

export interface IngressState {
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

export function newIngressState(id: string, down: boolean): IngressState {
  return { id, down, lastReportAt: Number.NaN, epoch: -1, maxSeq: 0, seen: new Set(), baseline: 0, baselinePaused: 0, calm: 0, revision: 0, sentSig: '', sentSuspended: false, lastContentAt: Number.NaN, needFull: true, ackedRevision: 0, nacks: 0 };
}

/** Sequence numbers remembered per epoch; older ones count as duplicates. */
const SEQ_WINDOW = 4096;

/**
 * Reports are idempotent on (epoch, seq): a report of an older epoch is
 * stale, one already seen (or older than the window) a duplicate; a new epoch
 * (the ingress restarted) starts the sequence over. Records a new one.
 */
export function admitSeq(s: IngressState, epoch: number, seq: number): 'new' | 'stale' | 'duplicate' {
  if (epoch < s.epoch) return 'stale';
  if (epoch > s.epoch) {
    s.epoch = epoch;
    s.seen.clear();
    s.maxSeq = 0;
  }
  if (s.seen.has(seq) || seq <= s.maxSeq - SEQ_WINDOW) return 'duplicate';
  s.seen.add(seq);
  if (seq > s.maxSeq) {
    s.maxSeq = seq;
    if (s.seen.size > SEQ_WINDOW) for (const q of s.seen) if (q <= s.maxSeq - SEQ_WINDOW) s.seen.delete(q);
  }
  return 'new';
}
