/** `hopgate exit`'s link flags that contradict each other are refused at start, in one line, not half-applied. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLinkIdentity } from '../../src/link/identity.js';

const cli = new URL('../../src/cli/main.js', import.meta.url).pathname;

function exitWith(args: string[]): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [cli, 'exit', ...args], { env: { ...process.env, HOPGATE_EXIT_SECRET: 'a relay secret for this test' }, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    // A process that starts instead of refusing is stopped here (our own child, by its handle).
    const t = setTimeout(() => child.kill('SIGKILL'), 15_000);
    child.once('close', (code) => {
      clearTimeout(t);
      resolve({ code, stderr });
    });
  });
}

test('--link-allow with --control: refused (the control plane\'s pins would silently replace the ones given)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'hopgate-exit-flags-'));
  const tokenFile = join(dir, 'token');
  writeFileSync(tokenFile, 'hgel_not-a-real-token');
  const r = await exitWith(['--listen', '127.0.0.1:0', '--egress', '127.0.0.1', '--allow-from', '127.0.0.1/32', '--state-dir', dir, '--link-listen', '127.0.0.1:0', '--link-allow', createLinkIdentity('x').fingerprint, '--control', 'http://127.0.0.1:9', '--link-token-file', tokenFile]);
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /--link-allow and --control are alternatives/);
});
