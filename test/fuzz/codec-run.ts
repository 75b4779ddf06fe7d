/** Run the codec fuzzers over all (or some) targets for a time budget and report figures. */
import { fuzzTarget, type Finding, type TargetStats } from './engine.js';
import { ALL_TARGETS } from './targets/index.js';
import type { FuzzTarget } from './target.js';

export interface CodecRunResult {
  readonly stats: TargetStats[];
  readonly findings: Finding[];
}

export function runCodecFuzz(opts: { seed: number; seconds: number; targets?: readonly FuzzTarget[]; maxCasesPerTarget?: number; log?: (line: string) => void }): CodecRunResult {
  const targets = opts.targets ?? ALL_TARGETS;
  const msPerTarget = (opts.seconds * 1000) / targets.length;
  const stats: TargetStats[] = [];
  const findings: Finding[] = [];
  targets.forEach((target, i) => {
    // Each target gets its own stream derived from the run's seed, so one target's findings replay alone.
    const r = fuzzTarget(target, { seed: (opts.seed + i * 0x9e3779b1) >>> 0, msPerTarget, maxCases: opts.maxCasesPerTarget });
    stats.push(r.stats);
    findings.push(...r.findings);
    const rate = r.stats.ms > 0 ? Math.round((r.stats.cases * 1000) / r.stats.ms) : r.stats.cases;
    opts.log?.(`  ${target.name.padEnd(20)} ${String(r.stats.cases).padStart(9)} cases  ${String(rate).padStart(7)}/s  findings ${r.stats.findings}`);
    for (const f of r.findings) opts.log?.(`    FINDING ${f.property}: ${f.message} (input ${f.input.length} bytes, from ${f.originalLength}: ${f.input.toString('hex').slice(0, 160)})`);
  });
  return { stats, findings };
}
