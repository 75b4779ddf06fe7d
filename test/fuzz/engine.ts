/**
 * The codec fuzz loop: per target, valid encodings from its generator, then
 * mutations of them and of earlier inputs; every input checked against every
 * property. A violation is minimized (delta debugging) and returned as a
 * finding; the caller saves it as a corpus case.
 */
import { PropertyViolation } from './properties.js';
import { mutate } from './mutate.js';
import { Rng } from './rng.js';
import type { FuzzTarget } from './target.js';

export interface Finding {
  readonly target: string;
  readonly property: string;
  readonly message: string;
  readonly seed: number;
  readonly input: Buffer;
  readonly originalLength: number;
}

export interface TargetStats {
  readonly target: string;
  cases: number;
  ms: number;
  findings: number;
}

/** The violation `input` causes, if any (other throws are the fuzzer's own bugs and propagate). */
export function violationOf(target: FuzzTarget, input: Buffer): PropertyViolation | undefined {
  try {
    target.check(input);
    return undefined;
  } catch (err) {
    if (err instanceof PropertyViolation) return err;
    throw err;
  }
}

/** ddmin over bytes: drop ever smaller slices while the same property still breaks; bounded in time. */
export function minimize(target: FuzzTarget, input: Buffer, property: string, budgetMs = 5000): Buffer {
  const deadline = Date.now() + budgetMs;
  const stillFails = (b: Buffer): boolean => violationOf(target, b)?.property === property;
  let cur = input;
  let n = 2;
  while (cur.length >= 2 && Date.now() < deadline) {
    const size = Math.ceil(cur.length / n);
    let reduced = false;
    for (let start = 0; start < cur.length && Date.now() < deadline; start += size) {
      const candidate = Buffer.concat([cur.subarray(0, start), cur.subarray(start + size)]);
      if (stillFails(candidate)) {
        cur = candidate;
        n = Math.max(n - 1, 2);
        reduced = true;
        break;
      }
    }
    if (!reduced) {
      if (size === 1) break;
      n = Math.min(n * 2, cur.length);
    }
  }
  return cur;
}

export interface RunOptions {
  readonly seed: number;
  /** Wall-clock budget per target. */
  readonly msPerTarget: number;
  /** Stop a target after this many cases (whichever comes first). */
  readonly maxCases?: number;
  /** Stop a target at its first finding (tests) or keep going (long runs; each distinct property once). */
  readonly stopAtFirst?: boolean;
}

/** Fuzz one target; returns its figures and findings (at most one per property). */
export function fuzzTarget(target: FuzzTarget, opts: RunOptions): { stats: TargetStats; findings: Finding[] } {
  const rng = new Rng(opts.seed);
  const stats: TargetStats = { target: target.name, cases: 0, ms: 0, findings: 0 };
  const findings: Finding[] = [];
  const seen = new Set<string>();
  const pool: Buffer[] = [];
  const t0 = Date.now();
  const maxCases = opts.maxCases ?? Number.POSITIVE_INFINITY;
  while (Date.now() - t0 < opts.msPerTarget && stats.cases < maxCases) {
    const caseRng = rng.fork();
    const caseSeed = caseRng.seed;
    let input: Buffer;
    if (pool.length < 8 || caseRng.chance(0.2)) {
      input = target.generate(caseRng);
    } else {
      input = mutate(caseRng.pick(pool), caseRng, caseRng.pick(pool));
    }
    // Keep a bounded pool of recent inputs (valid and mutated) to mutate further.
    if (input.length <= 4096) {
      if (pool.length < 256) pool.push(input);
      else pool[caseRng.int(pool.length)] = input;
    }
    stats.cases++;
    const v = violationOf(target, input);
    if (v === undefined || seen.has(v.property)) continue;
    seen.add(v.property);
    const small = minimize(target, input, v.property);
    const vSmall = violationOf(target, small) ?? v;
    findings.push({ target: target.name, property: v.property, message: vSmall.message, seed: caseSeed, input: small, originalLength: input.length });
    stats.findings++;
    if (opts.stopAtFirst) break;
  }
  stats.ms = Date.now() - t0;
  return { stats, findings };
}
