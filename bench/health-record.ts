/**
 * What one statistics pull's exit health costs the control plane (store/health-history.ts):
 * CPU (this process, /proc-independent process.cpuUsage) and wall time per report of N exits,
 * when every exit's minute changed (a probe round since the last pull) and when none did.
 * node dist/bench/health-record.js [--exits 1000] [--runs 5] [--db sqlite:/tmp/x.sqlite | postgres://…?schema=s]
 */
import { parseArgs } from 'node:util';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ControlStore } from '../src/control/store/index.js';
import { parseDbTarget } from '../src/control/db.js';
import { minuteOf, type ExitProbeReport } from '../src/shared/control-protocol.js';

const { values } = parseArgs({ options: { exits: { type: 'string', default: '1000' }, runs: { type: 'string', default: '5' }, db: { type: 'string' } } });
const n = Number(values.exits);
const runs = Number(values.runs);
const dir = mkdtempSync(join(tmpdir(), 'hopgate-bench-health-'));
const store = await ControlStore.open(parseDbTarget(values.db ?? `sqlite:${join(dir, 'c.sqlite')}`));
const ids = Array.from({ length: n }, (_, i) => `x-${i}`);
for (let i = 0; i < n; i += 500) {
  await store.db.insertInto('exits').values(ids.slice(i, i + 500).map((id) => ({ id, kind: 'socks5', host: '127.0.0.1', port: 1080, username: null, password: null, egress_ip: null, country: null, state: null, city: null, asn: null, tags: '[]', via: '[]', drain: 0, created_at: '', updated_at: '' }) as never)).execute();
}
const report = (k: number): ExitProbeReport[] => ids.map((id) => ({ id, minutes: [{ minute: minuteOf(Date.now()), ok: k, failed: 0, latencyMsSum: k * 2 }], last: { at: new Date().toISOString(), ok: true, latencyMs: 2, error: null } }));
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const measure = async (label: string, make: (r: number) => ExitProbeReport[], down: (r: number) => string[]): Promise<void> => {
  const cpu: number[] = [];
  const wall: number[] = [];
  for (let r = 0; r < runs; r++) {
    const probes = make(r);
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    await store.recordExitHealth('edge-1', down(r), new Date().toISOString(), probes);
    wall.push(performance.now() - t0);
    const c = process.cpuUsage(c0);
    cpu.push((c.user + c.system) / 1000);
  }
  console.log(`${label}: ${n} exits, median of ${runs}: ${median(cpu).toFixed(1)} ms CPU (this process), ${median(wall).toFixed(1)} ms wall per report`);
};
let k = 1;
await measure('every minute changed', () => report(k++), () => []);
const same = report(k);
await measure('nothing changed', () => same, () => []);
await measure('every exit flips (transitions)', () => same, (r) => (r % 2 === 0 ? ids : []));
await store.close();
rmSync(dir, { recursive: true, force: true });
