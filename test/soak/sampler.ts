/**
 * Samples every process of a running cluster (and its descendants: ingress
 * workers) every few seconds: RSS and open fds from /proc, heap and
 * event-loop delay from the probe file each process writes (probe.ts).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { descendants, type Proc } from '../helpers/procs.js';

export interface Sample {
  readonly t: number;
  /** Stable name across restarts: "ingress 1", "ingress 1/w0", … */
  readonly name: string;
  readonly pid: number;
  readonly rssMb: number;
  readonly fds: number;
  readonly heapMb: number | undefined;
  readonly elP99Ms: number | undefined;
}

function rssMb(pid: number): number | undefined {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : undefined;
  } catch {
    return undefined;
  }
}

function fdCount(pid: number): number | undefined {
  try {
    return readdirSync(`/proc/${pid}/fd`).length;
  } catch {
    return undefined;
  }
}

function probe(dir: string, pid: number, maxAgeMs: number): { heapMb: number; elP99Ms: number } | undefined {
  try {
    const s = JSON.parse(readFileSync(join(dir, `${pid}.json`), 'utf8')) as { at: number; heapUsed: number; elP99Ms: number };
    if (Date.now() - s.at > maxAgeMs) return undefined;
    return { heapMb: s.heapUsed / 1048576, elP99Ms: s.elP99Ms };
  } catch {
    return undefined;
  }
}

export class Sampler {
  readonly samples: Sample[] = [];
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly procs: () => Proc[], private readonly probeDir: string, private readonly everyMs = 5000) {}

  start(): void {
    this.sampleOnce();
    this.timer = setInterval(() => this.sampleOnce(), this.everyMs);
  }

  stop(): void {
    clearInterval(this.timer);
  }

  sampleOnce(): void {
    const t = Date.now();
    for (const p of this.procs()) {
      if (!p.alive()) continue;
      const kids = descendants(p.pid);
      for (const [i, pid] of [p.pid, ...kids].entries()) {
        const rss = rssMb(pid);
        const fds = fdCount(pid);
        if (rss === undefined || fds === undefined) continue;
        const pr = probe(this.probeDir, pid, this.everyMs * 3);
        this.samples.push({ t, name: i === 0 ? p.name : `${p.name}/w${i - 1}`, pid, rssMb: rss, fds, heapMb: pr?.heapMb, elP99Ms: pr?.elP99Ms });
      }
    }
  }
}
