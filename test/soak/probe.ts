/**
 * Preloaded into every process of a soak (`node --import …/probe.js`, which
 * cluster.fork passes on to ingress workers): every HOPGATE_SOAK_PROBE_MS it
 * writes this process's heap and event-loop delay to
 * HOPGATE_SOAK_PROBE_DIR/<pid>.json, which the sampler reads. Nothing else:
 * the process under test is otherwise unchanged.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const dir = process.env.HOPGATE_SOAK_PROBE_DIR;
if (dir) {
  const every = Number(process.env.HOPGATE_SOAK_PROBE_MS ?? 2000);
  const h = monitorEventLoopDelay({ resolution: 10 });
  h.enable();
  const file = join(dir, `${process.pid}.json`);
  const timer = setInterval(() => {
    const m = process.memoryUsage();
    const sample = {
      pid: process.pid,
      at: Date.now(),
      heapUsed: m.heapUsed,
      heapTotal: m.heapTotal,
      external: m.external,
      rss: m.rss,
      // ns → ms; percentiles of the delays since the last sample
      elP99Ms: h.percentile(99) / 1e6,
      elMaxMs: h.max / 1e6,
    };
    h.reset();
    try {
      writeFileSync(`${file}.tmp`, JSON.stringify(sample));
      renameSync(`${file}.tmp`, file);
    } catch { /* the directory went away: the soak is over */ }
  }, every);
  timer.unref();
}
