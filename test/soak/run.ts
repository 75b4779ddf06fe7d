/**
 * Soak: a whole hopgate network of real processes on loopback under mixed
 * load and control-plane churn for --minutes, sampled every few seconds;
 * fails on growth beyond the bounds (verdict.ts) or on request failures.
 *
 *   npm run soak -- --minutes 30 [--workers 2] [--db postgres://…?schema=…] [--out soak.json] [--keep]
 *
 * Addresses: 127.77.N.0/24 (N from the PID), so parallel runs do not collide.
 */
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Cluster, createCustomer, exitId, INGRESS_PORT, REVERSE_ID } from '../chaos/cluster.js';
import { startBytesServer, startUdpEcho } from '../chaos/targets.js';
import { killAllStarted } from '../helpers/procs.js';
import { Churn } from './churn.js';
import { MixedLoad } from './load.js';
import { Sampler } from './sampler.js';
import { DEFAULT_BOUNDS, judge } from './verdict.js';
import { soakReport } from './report.js';
import { pickedUpByTestRunner } from '../helpers/command.js';

if (pickedUpByTestRunner()) process.exit(0); // a command, not a test file
const { values } = parseArgs({
  options: {
    minutes: { type: 'string', default: '30' },
    db: { type: 'string' },
    out: { type: 'string' },
    'sample-s': { type: 'string', default: '5' },
    workers: { type: 'string', default: '2' },
    keep: { type: 'boolean', default: false },
  },
});
const minutes = Number(values.minutes);
if (!(minutes >= 1)) throw new Error('--minutes must be at least 1');
const sampleMs = Number(values['sample-s']) * 1000;
const N = 20 + (process.pid % 200);
const ip = (x: number): string => `127.77.${N}.${x}`;
const dir = mkdtempSync(join(tmpdir(), 'hopgate-soak-'));
const probeDir = join(dir, 'probe');
mkdirSync(probeDir);
const PROBE = resolve(fileURLToPath(import.meta.url), '../probe.js');

const cluster = new Cluster({
  dir,
  db: values.db ?? `sqlite:${join(dir, 'control.sqlite')}`,
  cp: { ip: ip(2) },
  ingresses: [{ ip: ip(11) }],
  exits: [{ ip: ip(21) }, { ip: ip(22) }],
  reverse: { ip: ip(31) },
  listenHost: ip(11),
  net: `127.77.${N}.0/24`,
  statsIntervalMs: 2000,
  workers: Number(values.workers),
  nodeArgs: ['--import', PROBE],
  env: { HOPGATE_SOAK_PROBE_DIR: probeDir, HOPGATE_SOAK_PROBE_MS: String(Math.min(2000, sampleMs)) },
});

async function main(): Promise<number> {
  const http = await startBytesServer(ip(1), 9000);
  const udp = await startUdpEcho(ip(1), 9001);
  const started = Date.now();
  try {
    await cluster.startAll();
    const users: { login: string; password: string }[] = [];
    for (const login of ['soaka', 'soakb', 'soakc']) users.push(await createCustomer(cluster.api, login));
    const load = new MixedLoad({
      proxyHost: ip(11), proxyPort: INGRESS_PORT, ca: join(dir, 'cert.pem'), httpHost: ip(1), httpPort: 9000, udpPort: 9001,
      exitIps: [ip(21), ip(22), ip(31)], udpExitIps: [ip(21), ip(22)], users: () => users,
    });
    const churn = new Churn(cluster.api, [exitId(0), exitId(1), REVERSE_ID]);
    const sampler = new Sampler(() => cluster.all(), probeDir, sampleMs);
    const t0 = Date.now();
    sampler.start();
    load.start();
    churn.start();
    const endAt = t0 + minutes * 60_000;
    while (Date.now() < endAt) {
      await new Promise((r) => setTimeout(r, Math.min(30_000, endAt - Date.now())));
      const ok = Object.values(load.stats.ok).reduce((a, b) => a + b, 0);
      const failed = Object.values(load.stats.failed).reduce((a, b) => a + b, 0);
      process.stderr.write(`soak: ${((Date.now() - t0) / 60_000).toFixed(1)}/${minutes} min, ${ok} ok, ${failed} failed, churn ${JSON.stringify({ ...churn.stats, errors: churn.stats.errors.length })}${load.stats.lastErrors.length ? `; last error: ${load.stats.lastErrors.at(-1)}` : ''}\n`);
    }
    churn.stop();
    await load.stop();
    sampler.stop();
    const died = cluster.all().filter((p) => !p.alive()).map((p) => `${p.name} (${p.stderrTail().slice(-300)})`);
    // Warm-up: the first fifth (at least 30 s) — JIT, pools and caches fill.
    const warmupUntil = t0 + Math.max(30_000, (endAt - t0) / 5);
    const verdicts = judge(sampler.samples, warmupUntil);
    const report = soakReport({ minutes, startedAt: new Date(started), db: values.db ? 'postgres' : 'sqlite', bounds: DEFAULT_BOUNDS, verdicts, load: load.stats, churn: churn.stats, died });
    process.stdout.write(report.markdown + '\n');
    if (values.out) writeFileSync(values.out, JSON.stringify({ ...report.json, samples: sampler.samples }, null, 1));
    return report.pass ? 0 : 1;
  } finally {
    await cluster.stopAll().catch(() => undefined);
    killAllStarted();
    http.close();
    udp.close();
    if (!values.keep) rmSync(dir, { recursive: true, force: true });
  }
}

process.once('SIGINT', () => {
  killAllStarted();
  if (!values.keep) rmSync(dir, { recursive: true, force: true });
  process.exit(130);
});
main().then(
  (code) => process.exit(code),
  (err) => {
    process.stderr.write(`soak failed: ${(err as Error).stack}\n`);
    killAllStarted();
    process.exit(2);
  },
);
