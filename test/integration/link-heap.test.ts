/**
 * A hopgate process keeps V8's young generation at its initial size (src/shared/runtime/
 * young-generation.ts, set by src/cli/main.ts before any traffic): grown to its maximum it kept V8
 * collecting the whole heap every ~80 ms on a link download (docs/BENCHMARKS.md, "Link bulk:
 * garbage"). Checked in a child process that loads the CLI entry, as `hopgate` does.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join, dirname } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const main = pathToFileURL(join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'src', 'cli', 'main.js')).href;

/** Objects that live a little while, as in-flight chunks do, then the size of new space in MiB. */
const CHILD = `
const { getHeapSpaceStatistics } = await import('node:v8');
if (process.env.LOAD_MAIN) await import(process.env.LOAD_MAIN);
const keep = [];
for (let i = 0; i < 3000000; i++) { keep.push({ a: i, b: [i] }); if (keep.length > 200000) keep.splice(0, 100000); }
process.stderr.write('NEWSPACE ' + getHeapSpaceStatistics().find((s) => s.space_name === 'new_space').space_size / 1048576 + '\\n');
`;

function newSpaceMiB(loadMain: boolean): Promise<number> {
  return new Promise((resolve, reject) => {
    const env = { ...process.env, ...(loadMain ? { LOAD_MAIN: main } : {}) };
    // The CLI with no command prints its usage and returns; the allocation runs after it.
    execFile(process.execPath, ['--input-type=module', '-e', CHILD], { env, timeout: 60_000 }, (err, _out, stderr) => {
      const m = /NEWSPACE ([\d.]+)/.exec(stderr);
      if (!m) return reject(err ?? new Error(`no figure: ${stderr}`));
      resolve(Number(m[1]));
    });
  });
}

test('a process started through the CLI keeps its young generation at its initial size under allocation that grows it otherwise', async () => {
  const [plain, cli] = await Promise.all([newSpaceMiB(false), newSpaceMiB(true)]);
  assert.ok(plain >= 16, `without the CLI the same allocation grows new space (${plain} MiB): the check can fail`);
  assert.ok(cli <= 4, `new space ${cli} MiB in a process that loaded the CLI`);
});
