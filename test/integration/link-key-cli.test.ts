/**
 * `hopgate link-key show` reads and never writes, and `next` stages a key only beside a current
 * one: on a dir without a key (never made, or its file deleted) both say so and exit 1 instead
 * of making a key that no peer pins (the next start of the node would present it). The real
 * CLI, as processes.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { tempDir } from '../helpers/control-fixtures.js';
import { loadOrCreateLinkIdentity } from '../../src/link/identity.js';

const MAIN = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const dir = tempDir('hopgate-link-key-');
after(() => dir.remove());

function hopgate(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    // A bound on the run, not an assertion.
    execFile(process.execPath, [MAIN, ...args], { timeout: 30_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

test('link-key show on a deleted key file: a clear error, exit 1, no new key written', async () => {
  const d = join(dir.path, 'node');
  loadOrCreateLinkIdentity(d, 'test node'); // the node's first start
  const next = await hopgate(['link-key', 'next', '--dir', d]);
  assert.equal(next.code, 0, next.stderr);
  const shown = await hopgate(['link-key', 'show', '--dir', d, '--json']);
  assert.equal(shown.code, 0, shown.stderr);
  assert.equal(JSON.parse(shown.stdout).next, next.stdout.trim());

  rmSync(join(d, 'link-identity.pem'));
  const gone = await hopgate(['link-key', 'show', '--dir', d]);
  assert.equal(gone.code, 1, `exit status (stdout: ${gone.stdout})`);
  assert.equal(gone.stdout, '');
  assert.match(gone.stderr, /^hopgate: link-key show: no link key in .*link-identity\.pem/);
  assert.doesNotMatch(gone.stderr, /\n\s+at /, 'no stack trace');
  assert.equal(existsSync(join(d, 'link-identity.pem')), false, 'show wrote no key');
  assert.deepEqual(readdirSync(d), ['link-identity.next.pem']);

  // A dir that never had one: the same, and nothing created.
  const none = await hopgate(['link-key', 'show', '--dir', join(dir.path, 'never')]);
  assert.equal(none.code, 1);
  assert.equal(existsSync(join(dir.path, 'never')), false);

  // A damaged file: one line saying so, exit 1, the file left as it is.
  writeFileSync(join(d, 'link-identity.pem'), 'garbage\n');
  const bad = await hopgate(['link-key', 'show', '--dir', d]);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /^hopgate: link-key show: .*not a link identity/);
  assert.doesNotMatch(bad.stderr, /\n\s+at /, 'no stack trace');
});

test('link-key next on a deleted key file (or a dir that never had one): a clear error, exit 1, no key written', async () => {
  const d = join(dir.path, 'deleted');
  loadOrCreateLinkIdentity(d, 'test node');
  // Deleted while the node runs on the key it read: a current key made now would be one no peer pins.
  rmSync(join(d, 'link-identity.pem'));
  const r = await hopgate(['link-key', 'next', '--dir', d]);
  assert.equal(r.code, 1, `exit status (stdout: ${r.stdout})`);
  assert.equal(r.stdout, '');
  assert.match(r.stderr, /^hopgate: link-key next: no link key in .*link-identity\.pem to rotate from/);
  assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
  assert.deepEqual(readdirSync(d), [], 'neither a current key nor a next one');

  const never = join(dir.path, 'never-next');
  const none = await hopgate(['link-key', 'next', '--dir', never]);
  assert.equal(none.code, 1, none.stderr);
  assert.equal(existsSync(never), false, 'nothing created');
});
