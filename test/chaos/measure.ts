/** Figures of one chaos phase from its outcomes and the control plane's usage. Pure. */
import type { Outcome } from './traffic.js';

export interface PhaseFigures {
  readonly fault: string;
  readonly requests: number;
  readonly failed: number;
  /** Failures by what the client saw, most frequent first. */
  readonly seen: [string, number][];
  /** ms from the fault's end to the first success on the affected path (or by the control probe); null: none. */
  readonly recoveryMs: number | null;
  /** Longest gap with no successful request on the affected path, ms. */
  readonly outageMs: number | null;
  readonly clientDown: number;
  readonly recordedDown: number;
  readonly clientUp: number;
  readonly recordedUp: number;
  readonly notes: string[];
}

export function figures(
  fault: string,
  outcomes: readonly Outcome[],
  window: { start: number; end: number },
  affects: ((o: Outcome) => boolean) | 'control',
  controlRecoveryMs: number | null,
  recorded: { bytesUp: number; bytesDown: number },
  /** Bytes the same customer moved outside `outcomes` (the requests that waited for it to be in force). */
  extra: { up: number; down: number } = { up: 0, down: 0 },
): PhaseFigures {
  const failed = outcomes.filter((o) => !o.ok);
  const seen = new Map<string, number>();
  for (const o of failed) seen.set(`${o.mode} ${o.what}`, (seen.get(`${o.mode} ${o.what}`) ?? 0) + 1);
  let recoveryMs: number | null = controlRecoveryMs;
  let outageMs: number | null = null;
  if (affects !== 'control') {
    const path = outcomes.filter(affects).sort((a, b) => a.end - b.end);
    const firstOk = path.find((o) => o.ok && o.start >= window.end);
    recoveryMs = firstOk ? Math.max(0, firstOk.end - window.end) : null;
    const oks = path.filter((o) => o.ok).map((o) => o.end);
    let gap = 0;
    for (let i = 1; i < oks.length; i++) gap = Math.max(gap, oks[i]! - oks[i - 1]!);
    outageMs = oks.length > 1 ? gap : null;
  }
  return {
    fault,
    requests: outcomes.length,
    failed: failed.length,
    seen: [...seen].sort((a, b) => b[1] - a[1]),
    recoveryMs,
    outageMs,
    clientDown: extra.down + outcomes.reduce((a, o) => a + o.down, 0),
    clientUp: extra.up + outcomes.reduce((a, o) => a + o.up, 0),
    recordedDown: recorded.bytesDown,
    recordedUp: recorded.bytesUp,
    notes: [],
  };
}
