/**
 * What link keys cost on the ingress and exit (issue 19, deliver 3): making an
 * identity (once per node, openssl), and the identity check at each new link
 * (a stat of the key file, so a promoted key is taken without a restart), and
 * the key report (a stat and a read of the staged next key) every 5 s.
 * Run: npx tsc -p tsconfig.json && node dist/bench/link-keys.js
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLinkIdentity, LinkIdentitySource } from '../src/link/identity.js';

const cpuUs = (c: NodeJS.CpuUsage): number => c.user + c.system;

let c0 = process.cpuUsage();
let t0 = performance.now();
for (let i = 0; i < 5; i++) createLinkIdentity('bench');
let c1 = process.cpuUsage(c0);
console.log(`createLinkIdentity: ${((performance.now() - t0) / 5).toFixed(1)} ms wall, ${(cpuUs(c1) / 5 / 1000).toFixed(2)} ms CPU in node per identity (the openssl child not counted)`);

const dir = mkdtempSync(join(tmpdir(), 'hopgate-bench-keys-'));
try {
  const src = new LinkIdentitySource(dir, 'bench');
  const n = 100_000;
  c0 = process.cpuUsage();
  t0 = performance.now();
  for (let i = 0; i < n; i++) src.current();
  c1 = process.cpuUsage(c0);
  console.log(`LinkIdentitySource.current() (per new link): ${(cpuUs(c1) / n).toFixed(2)} µs CPU, ${(((performance.now() - t0) * 1000) / n).toFixed(2)} µs wall`);
  c0 = process.cpuUsage();
  for (let i = 0; i < 10_000; i++) src.fingerprints();
  c1 = process.cpuUsage(c0);
  console.log(`LinkIdentitySource.fingerprints() (the report, every 5 s): ${(cpuUs(c1) / 10_000).toFixed(2)} µs CPU`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
