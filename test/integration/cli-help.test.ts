/**
 * `--help` on every process command prints its usage (exit 0) instead of
 * "Unknown option", `hash-password --help` does not hash "--help", and an
 * empty password on stdin is one line, not a stack trace. The real CLI, as processes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const MAIN = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

function hopgate(args: string[], stdin = ''): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [MAIN, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    // A bound on the run, not an assertion: a help text needs no time at all.
    const timer = setTimeout(() => (p.kill('SIGKILL'), reject(new Error(`hopgate ${args.join(' ')} still running after 30 s`))), 30_000);
    p.once('exit', (code) => (clearTimeout(timer), resolve({ code, stdout, stderr })));
    p.stdin.end(stdin);
  });
}

for (const command of ['up', 'ingress', 'exit', 'ports', 'hash-password']) {
  for (const flag of ['--help', '-h']) {
    test(`hopgate ${command} ${flag} prints its usage`, async () => {
      const r = await hopgate([command, flag]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stderr, '');
      assert.match(r.stdout, new RegExp(`^usage: hopgate ${command}\\b`));
      assert.doesNotMatch(r.stdout, /\$scrypt\$/, 'no hash of "--help"');
    });
  }
}

test('hopgate exit --help documents links: the flags, and that the fingerprint is printed at start', async () => {
  const r = await hopgate(['exit', '--help']);
  assert.match(r.stdout, /--link-listen H:P --link-allow FINGERPRINT/);
  assert.match(r.stdout, /fingerprint is printed at start/);
});

test('hash-password on empty stdin: one line, no stack trace, non-zero', async () => {
  const r = await hopgate(['hash-password'], '');
  assert.notEqual(r.code, 0);
  assert.equal(r.stdout, '');
  assert.match(r.stderr, /^hopgate: hash-password: empty password/);
  assert.equal(r.stderr.trimEnd().split('\n').length, 1, r.stderr);
});

test('ingress --config on a missing file: one line naming it, no stack trace, non-zero', async () => {
  const r = await hopgate(['ingress', '--config', '/nonexistent/hopgate.yaml']);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /^hopgate: cannot read \/nonexistent\/hopgate\.yaml: no such file/);
  assert.equal(r.stderr.trimEnd().split('\n').length, 1, r.stderr);
});
