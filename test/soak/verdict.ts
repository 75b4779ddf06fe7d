/**
 * Pass/fail of a soak: per process, after the warm-up, the second half of the
 * samples against the first half. Pure (tested in verdict.test.ts).
 */
import type { Sample } from './sampler.js';

export interface Bounds {
  /** RSS: mean of the second half at most first × (1 + pct/100) + mb. */
  readonly rssPct: number;
  readonly rssMb: number;
  /** Heap used, the same way. */
  readonly heapPct: number;
  readonly heapMb: number;
  /** Open fds: max of the second half at most max of the first + this. */
  readonly fds: number;
  /** Event-loop delay p99: mean of the second half at most first × factor + ms. */
  readonly elFactor: number;
  readonly elMs: number;
}

export const DEFAULT_BOUNDS: Bounds = { rssPct: 15, rssMb: 20, heapPct: 25, heapMb: 10, fds: 16, elFactor: 2, elMs: 25 };

export interface ProcessVerdict {
  readonly name: string;
  readonly samples: number;
  readonly rss: [number, number];
  readonly heap: [number, number] | undefined;
  readonly fds: [number, number];
  readonly elP99: [number, number] | undefined;
  readonly failures: string[];
}

const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
const defined = (xs: (number | undefined)[]): number[] => xs.filter((x): x is number => x !== undefined);

export function judge(samples: readonly Sample[], warmupUntil: number, bounds: Bounds = DEFAULT_BOUNDS): ProcessVerdict[] {
  const byName = new Map<string, Sample[]>();
  for (const s of samples) if (s.t >= warmupUntil) byName.set(s.name, [...(byName.get(s.name) ?? []), s]);
  const out: ProcessVerdict[] = [];
  for (const [name, ss] of [...byName].sort(([a], [b]) => a.localeCompare(b))) {
    const half = Math.floor(ss.length / 2);
    const a = ss.slice(0, half);
    const b = ss.slice(half);
    const failures: string[] = [];
    if (a.length < 2 || b.length < 2) {
      out.push({ name, samples: ss.length, rss: [0, 0], heap: undefined, fds: [0, 0], elP99: undefined, failures: ['too few samples after warm-up'] });
      continue;
    }
    const rss: [number, number] = [mean(a.map((s) => s.rssMb)), mean(b.map((s) => s.rssMb))];
    if (rss[1] > rss[0] * (1 + bounds.rssPct / 100) + bounds.rssMb) failures.push(`RSS grew ${rss[0].toFixed(1)} → ${rss[1].toFixed(1)} MB`);
    const ha = defined(a.map((s) => s.heapMb));
    const hb = defined(b.map((s) => s.heapMb));
    const heap: [number, number] | undefined = ha.length && hb.length ? [mean(ha), mean(hb)] : undefined;
    if (heap && heap[1] > heap[0] * (1 + bounds.heapPct / 100) + bounds.heapMb) failures.push(`heap grew ${heap[0].toFixed(1)} → ${heap[1].toFixed(1)} MB`);
    const fds: [number, number] = [Math.max(...a.map((s) => s.fds)), Math.max(...b.map((s) => s.fds))];
    if (fds[1] > fds[0] + bounds.fds) failures.push(`fds grew ${fds[0]} → ${fds[1]}`);
    const ea = defined(a.map((s) => s.elP99Ms));
    const eb = defined(b.map((s) => s.elP99Ms));
    const elP99: [number, number] | undefined = ea.length && eb.length ? [mean(ea), mean(eb)] : undefined;
    if (elP99 && elP99[1] > elP99[0] * bounds.elFactor + bounds.elMs) failures.push(`event-loop p99 grew ${elP99[0].toFixed(1)} → ${elP99[1].toFixed(1)} ms`);
    out.push({ name, samples: ss.length, rss, heap, fds, elP99, failures });
  }
  return out;
}
