/**
 * npm test's own machinery (issue 15): test/run-test-files.js, the runner, and the unit shares that
 * test/unit-shares.js writes for it. Each case is one real `node test/run-test-files.js` on tiny
 * fixtures in a temporary folder: its exit status is npm test's verdict, so a failure it lets pass
 * passes the whole suite. The runner's record of times goes to a file of the fixtures' (the
 * HOPGATE_TEST_FILE_MS it reads), not the tree's. test/npm-test.js itself is never run here: it
 * empties dist/.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = fileURLToPath(new URL('../../..', import.meta.url));
const RUNNER = join(root, 'test/run-test-files.js');

interface UnitShares {
  writeUnitShares: (o: { root: string; dir: string; files: string[]; times: Record<string, number>; groups?: number }) => string[];
}
// Plain JavaScript beside the sources (npm test runs it before anything is built), so not under dist/.
const { writeUnitShares } = (await import(pathToFileURL(join(root, 'test/unit-shares.js')).href)) as UnitShares;

const dir = mkdtempSync(join(tmpdir(), 'hopgate-test-runner-'));
after(() => rmSync(dir, { recursive: true, force: true }));
writeFileSync(join(dir, 'package.json'), '{ "type": "module" }\n'); // the fixtures are ES modules, as dist's files

/** A fixture file under the temporary folder; its absolute path. */
function fixture(name: string, lines: string[]): string {
  const path = join(dir, name);
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, ["import { test } from 'node:test';", ...lines, ''].join('\n'));
  return path;
}

const passes = fixture('passes.test.js', ["test('passes', () => {});"]);
const fails = fixture('fails.test.js', ["test('fails', () => { throw new Error('fails on purpose'); });"]);
const crashes = fixture('crashes.test.js', ["throw new Error('crashes at load');", "test('never registered', () => {});"]);
const exitsEarly = fixture('exits-early.test.js', ["test('never runs', () => {});", 'process.exit(0);']);
const todo = fixture('todo.test.js', ["test('not done yet', { todo: true }, () => { throw new Error('todo'); });"]);
const noTests = fixture('no-tests.test.js', ['export const helper = 1;']);

/** The name the runner records a file under: relative to the tree, as npm test passes them. */
const recorded = (file: string): string => relative(root, file);

let runs = 0;
/** One `node test/run-test-files.js 2 FILE...`, its record of times in a file of its own. */
function runFiles(files: string[], seed: Record<string, number> = {}): Promise<{ code: number; out: string; times: Record<string, number> }> {
  const record = join(dir, `times-${++runs}.json`);
  writeFileSync(record, JSON.stringify(seed));
  const env: NodeJS.ProcessEnv = { ...process.env, HOPGATE_TEST_FILE_MS: record };
  delete env.NODE_TEST_CONTEXT; // set when this file runs under a runner: run() would run nothing in the child
  return new Promise((resolve) => {
    // A bound on the run, not an assertion: these fixtures take a second.
    execFile(process.execPath, [RUNNER, '2', ...files], { env, timeout: 60_000 }, (err, stdout, stderr) => {
      const times = existsSync(record) ? (JSON.parse(readFileSync(record, 'utf8')) as Record<string, number>) : {};
      // Killed (the bound above) is no exit status: -1, so that it cannot pass for the runner's 1.
      const code = err === null ? 0 : typeof err.code === 'number' ? err.code : -1;
      resolve({ code, out: `${stdout}${stderr}${err?.signal ? `\n(killed: ${err.signal})` : ''}`, times });
    });
  });
}

// Independent processes: run side by side (the file's wall time, not its CPU).
describe('test/run-test-files.js', { concurrency: true }, () => {
  test('a failing test fails the run (exit 1)', async () => {
    const r = await runFiles([fails]);
    assert.equal(r.code, 1, r.out);
    assert.match(r.out, /^not ok 1 - fails$/m);
  });

  test('a file that throws at load fails the run (exit 1)', async () => {
    const r = await runFiles([crashes]);
    assert.equal(r.code, 1, r.out);
    assert.match(r.out, /^not ok 1 - .*crashes\.test\.js$/m);
  });

  test('a file that exits (0) before its tests run fails the run', async () => {
    const r = await runFiles([exitsEarly]);
    assert.equal(r.code, 1, r.out);
    assert.match(r.out, /^# run-test-files: 0 of 1 files completed with a test; not: .*exits-early\.test\.js: failed$/m);
  });

  // Beside a file that passed: every file must have a test of its own, not the run as a whole.
  test('a file without tests fails the run, beside a file that passed: the completeness check', async () => {
    const r = await runFiles([noTests, passes]);
    assert.equal(r.code, 1, r.out);
    assert.match(r.out, /^# run-test-files: 1 of 2 files completed with a test; not: .*no-tests\.test\.js: failed$/m);
  });

  test('a failing todo test fails nothing (exit 0); each file\'s time goes to the record named, beside what it held', async () => {
    const r = await runFiles([todo], { 'dist/src/kept.test.js': 7 });
    assert.equal(r.code, 0, r.out);
    assert.match(r.out, /^not ok \d+ - not done yet # TODO$/m);
    assert.equal(r.times['dist/src/kept.test.js'], 7);
    assert.ok(Number.isInteger(r.times[recorded(todo)]), `${recorded(todo)} in ${JSON.stringify(r.times)}`);
    // Not into the tree's own record (npm test's, which balances the unit shares).
    const real = join(root, 'dist/cache/test-file-ms.json');
    if (existsSync(real)) assert.equal(readFileSync(real, 'utf8').includes(basename(dir)), false, 'a fixture in dist/cache/test-file-ms.json');
  });
});

describe('npm test\'s unit shares (test/unit-shares.js)', { concurrency: true }, () => {
  /** A unit test file of the fixtures; its name relative to their folder (the shares' root). */
  const unit = (name: string, lines: string[]): string => relative(dir, fixture(join('src', name), lines));
  const a = unit('a.test.js', ["test('a passes', () => {});"]);
  const broken = unit('broken.test.js', ["throw new Error('broken at load');"]);
  // Still loading when the share's other tests are done: the runner's force-exit ends the process then,
  // unless the share waits for it. The timer is the load being tested, not a wait before an assertion.
  const late = unit('late.test.js', ['await new Promise((resolve) => setTimeout(resolve, 100));', "test('late passes', () => {});"]);
  /** The wrappers for these files (under the fixtures' folder, all in one share unless `groups` says more). */
  const shares = (name: string, files: string[], groups = 1, times: Record<string, number> = {}): string[] => {
    const out = join(dir, name);
    mkdirSync(out, { recursive: true });
    return writeUnitShares({ root: dir, dir: out, files, times, groups }).map((f) => join(dir, f));
  };

  test('a share whose file fails to load fails, with the file\'s name', async () => {
    const r = await runFiles(shares('broken', [a, broken]));
    assert.equal(r.code, 1, r.out);
    assert.match(r.out, /failed to load: \.\/\.\.\/src\/broken\.test\.js \(Error: broken at load\)/);
  });

  test('a file with a top-level await still has its tests run; each file of a share is recorded by its tests', async () => {
    const r = await runFiles(shares('late', [a, late]));
    assert.equal(r.code, 0, r.out);
    assert.match(r.out, /^ok \d+ - late passes$/m);
    for (const f of [a, late]) assert.ok(Number.isInteger(r.times[recorded(join(dir, f))]), `${f} in ${JSON.stringify(r.times)}`);
  });

  test('shares are balanced by the recorded times; without figures the files are dealt round', () => {
    const files = ['heavy-1', 'heavy-2', 'light-1', 'light-2', 'light-3', 'new-1', 'new-2'].map((n) => `src/${n}.test.js`);
    const dealt = (name: string, times: Record<string, number>): (string | undefined)[][] =>
      shares(name, files, 3, times).map((w) => [...readFileSync(w, 'utf8').matchAll(/src\/([\w-]+)\.test\.js/g)].map((m) => m[1]));
    const times = { 'src/heavy-1.test.js': 900, 'src/heavy-2.test.js': 800, 'src/light-1.test.js': 500, 'src/light-2.test.js': 400, 'src/light-3.test.js': 100 };
    // 900 ms each; the files without a figure then go to the share with the fewest files.
    assert.deepEqual(dealt('timed', times), [['heavy-1', 'new-1', 'new-2'], ['heavy-2', 'light-3'], ['light-1', 'light-2']]);
    assert.deepEqual(dealt('untimed', {}), [['heavy-1', 'light-2', 'new-2'], ['heavy-2', 'light-3'], ['light-1', 'new-1']]);
  });
});
