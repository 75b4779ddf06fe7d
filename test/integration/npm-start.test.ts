/**
 * `npm start` as a supervisor runs it: SIGTERM to the npm process stops the
 * whole tree (`hopgate up` and its workers) and frees every port; a start on a
 * taken port says which in one line and exits non-zero. Before, the shell npm
 * ran died alone and `hopgate up` lived on, orphaned, with every port bound.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { accepts } from '../helpers/ports.js';
import { eventually } from '../helpers/eventually.js';
import { pidAlive } from '../helpers/procs.js';
import type { UpContract } from '../../src/cli/up.js';

const root = fileURLToPath(new URL('../../..', import.meta.url));

/** Ports as up.test.ts picks them (below the ephemeral range and the 20000+ of range ingresses), on another stride. */
function upArgs(base: number, state: string): string[] {
  return ['--json', '--state-dir', state, '--ports', `${base}-${base + 9}`, '--workers', '2', '--control-port', String(base + 700),
    '--admin-port', String(base + 790), '--demo-port', String(base + 780), '--exit-port', String(base + 11), '--tunnel-port', String(base + 443)];
}

/** `npm start -- …` in its own process group, so the test can see whether any of its tree is left. */
function npmStart(args: string[], env: NodeJS.ProcessEnv = process.env): ChildProcess {
  return spawn('npm', ['start', '--', ...args], { cwd: root, detached: true, stdio: ['ignore', 'pipe', 'pipe'], env });
}

/** Some process of the group `pgid` (npm's, started detached) still lives. */
const groupAlive = (pgid: number): boolean => pidAlive(-pgid);

test('SIGTERM to `npm start` stops hopgate up and its workers and frees every port; a taken port is named in one line', async (t) => {
  const state = mkdtempSync(join(tmpdir(), 'hopgate-npm-start-'));
  t.after(() => rmSync(state, { recursive: true, force: true }));
  const base = 10_500 + 1000 * Math.floor(Math.random() * 8);
  // The demo's hashes at a test cost (src/cli/test-hash-cost.ts): what is tested here is npm's process tree.
  // Not for the second start below: it says so on stderr, and that start's stderr must be one line.
  const npm = npmStart(upArgs(base, state), { ...process.env, HOPGATE_TEST_SCRYPT_LN: '10' });
  // Whatever happens, nothing of this test's tree outlives it (its own process group only).
  t.after(() => groupAlive(npm.pid!) && process.kill(-npm.pid!, 'SIGKILL'));
  let stderr = '';
  npm.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const contract = await new Promise<UpContract>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no contract line within 60 s; stderr: ${stderr}`)), 60_000);
    createInterface({ input: npm.stdout! }).on('line', (l) => {
      if (!l.startsWith('{')) return; // npm's own "> hopgate start" lines
      clearTimeout(timer);
      resolve(JSON.parse(l) as UpContract);
    });
    npm.once('exit', (code) => reject(new Error(`npm start exited (${code}): ${stderr}`)));
  });
  const ports = [...Array.from({ length: 10 }, (_, i) => base + i), base + 700, base + 780, base + 790];
  assert.equal(contract.ingress.ports[0], base);
  for (const p of ports) assert.equal(await accepts(p), true, `port ${p} is served`);

  process.kill(npm.pid!, 'SIGTERM');
  await eventually('no process of the npm start tree left', () => !groupAlive(npm.pid!), { timeoutMs: 15_000, everyMs: 100 });
  for (const p of ports) assert.equal(await accepts(p), false, `port ${p} is free`);

  // A second start finds a port taken: one line naming it, no stack trace, a non-zero exit.
  const blocker = createServer();
  await new Promise<void>((r) => blocker.listen(base + 3, '127.0.0.1', r));
  t.after(() => blocker.close());
  const second = npmStart(upArgs(base, state));
  t.after(() => groupAlive(second.pid!) && process.kill(-second.pid!, 'SIGKILL'));
  let err2 = '';
  second.stderr!.on('data', (d: Buffer) => (err2 += d.toString()));
  const code = await new Promise<number | null>((r) => second.once('exit', r));
  assert.notEqual(code, 0);
  const ours = err2.split('\n').filter((l) => l.startsWith('hopgate'));
  assert.equal(ours.length, 1, err2);
  assert.match(ours[0]!, new RegExp(`127\\.0\\.0\\.1:${base + 3} is already in use`));
  assert.doesNotMatch(err2, /^\s+at /m, 'no stack trace');
});
