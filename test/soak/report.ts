/** The soak's summary: a markdown table per process and the pass/fail decision. */
import type { ChurnStats } from './churn.js';
import type { LoadStats } from './load.js';
import type { Bounds, ProcessVerdict } from './verdict.js';

export interface SoakResult {
  readonly minutes: number;
  readonly startedAt: Date;
  readonly db: string;
  readonly bounds: Bounds;
  readonly verdicts: ProcessVerdict[];
  readonly load: LoadStats;
  readonly churn: ChurnStats;
  readonly died: string[];
}

/** Request failures tolerated per protocol (a shared, loaded machine); anything above fails the soak. */
export const MAX_FAILURE_RATE = 0.01;

const f1 = (x: number | undefined): string => (x === undefined ? '–' : x.toFixed(1));

export function soakReport(r: SoakResult): { markdown: string; pass: boolean; json: object } {
  const lines: string[] = [];
  const failures: string[] = [...r.died.map((d) => `process died: ${d}`)];
  lines.push(`Soak ${r.minutes} min on ${r.db}, started ${r.startedAt.toISOString()}`, '');
  lines.push('| process | samples | RSS MB (1st → 2nd half) | heap MB | max fds | event-loop p99 ms | verdict |', '| --- | --- | --- | --- | --- | --- | --- |');
  for (const v of r.verdicts) {
    lines.push(`| ${v.name} | ${v.samples} | ${f1(v.rss[0])} → ${f1(v.rss[1])} | ${f1(v.heap?.[0])} → ${f1(v.heap?.[1])} | ${v.fds[0]} → ${v.fds[1]} | ${f1(v.elP99?.[0])} → ${f1(v.elP99?.[1])} | ${v.failures.length ? `FAIL: ${v.failures.join('; ')}` : 'ok'} |`);
    failures.push(...v.failures.map((x) => `${v.name}: ${x}`));
  }
  lines.push('', '| protocol | ok | failed |', '| --- | --- | --- |');
  for (const p of Object.keys({ ...r.load.ok, ...r.load.failed }).sort()) {
    const ok = r.load.ok[p] ?? 0;
    const failed = r.load.failed[p] ?? 0;
    lines.push(`| ${p} | ${ok} | ${failed} |`);
    if (ok === 0) failures.push(`${p}: no successful request`);
    else if (failed / (ok + failed) > MAX_FAILURE_RATE) failures.push(`${p}: ${failed} of ${ok + failed} requests failed`);
  }
  const c = r.churn;
  lines.push('', `Control-plane churn: ${c.created} customers created, ${c.changed} changed, ${c.suspended} suspended, ${c.deleted} deleted, ${c.reloads} settings reloads, ${c.errors.length} API errors.`);
  if (c.errors.length) failures.push(`churn API errors: ${c.errors.slice(-3).join(' | ')}`);
  if (r.load.lastErrors.length) lines.push('', 'Last request errors:', ...r.load.lastErrors.slice(-5).map((e) => `- ${e}`));
  const pass = failures.length === 0;
  lines.push('', pass ? 'SOAK PASSED' : `SOAK FAILED:\n${failures.map((x) => `- ${x}`).join('\n')}`);
  return { markdown: lines.join('\n'), pass, json: { ...r, failures, pass } };
}
