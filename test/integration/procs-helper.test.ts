/**
 * The test toolkit's process helper (test/helpers/procs.ts) on what tests lean on: a start that is never ready
 * leaves nothing running (children included: `hopgate up`'s would hold its ports), `/^/` takes the first line
 * whatever it is (a contract that must come first), and pidAlive tells a live PID from a reaped one.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { eventually } from '../helpers/eventually.js';
import { pidAlive, startProc, stopGracefully } from '../helpers/procs.js';

/** Gone, or a zombie nobody has reaped yet: either way no longer running. */
function running(pid: number): boolean {
  if (!pidAlive(pid)) return false;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

test('startProc: a start not ready in time is killed with its children', async () => {
  // A parent that forks a child, names it on stderr, and never prints a ready line.
  const script = `const c = require('node:child_process').spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
process.stderr.write('child ' + c.pid + '\\n'); setInterval(() => {}, 1000);`;
  // 2 s: time enough for it to start and fork on a loaded machine (~0.1 s when quiet).
  const err = await startProc('forking parent', [process.execPath, '-e', script], { ready: /^ready$/, timeoutMs: 2000 }).catch((e: Error) => e);
  assert.ok(err instanceof Error);
  assert.match(err.message, /forking parent not ready within 2000 ms/);
  const child = Number(/child (\d+)/.exec(err.message)?.[1]);
  assert.ok(child > 0, err.message);
  await eventually(`its child ${child} gone`, () => !running(child));
});

test('startProc: ready /^/ is the first line, an empty one too; pidAlive follows the process', async () => {
  const p = await startProc('two lines', [process.execPath, '-e', `process.stdout.write('\\n{"second":true}\\n'); setInterval(() => {}, 1000);`], { ready: /^/ });
  assert.equal(p.readyLine, '');
  assert.equal(pidAlive(p.pid), true);
  assert.equal(await stopGracefully(p), 'SIGTERM');
  assert.equal(pidAlive(p.pid), false, 'exited and reaped');
});
