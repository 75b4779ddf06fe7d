/**
 * `npm test` after tsc: ESLint and the dependency rules run beside the test files instead of
 * before them. Lint is one single-threaded process (~45 s of CPU) and the test files leave
 * part of the two cores idle while they wait on sockets and timers, so side by side the
 * whole run is shorter by most of the lint's time. The tests' output streams as it comes;
 * the checkers' output is printed after it, and any failure fails the run.
 *
 * The test files are named one by one (every *.test.js under dist/src and dist/test): given a
 * folder, Node 20 runs every .js inside a `test/` folder as a test file, helpers included,
 * each in its own process (60 processes that test nothing).
 */
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

// Run as a test file itself (`node --test dist/test/`): not a test, and not a second suite.
if (process.env.NODE_TEST_CONTEXT !== undefined) process.exit(0);

const root = fileURLToPath(new URL('../../', import.meta.url));
const bin = (name: string): string => `${root}node_modules/.bin/${name}`;

interface Finished {
  readonly label: string;
  readonly code: number;
  readonly output: string;
}

function run(label: string, command: string, args: string[], stream: boolean): Promise<Finished> {
  return new Promise((resolve) => {
    const child = spawn(command, args, { cwd: root, stdio: stream ? 'inherit' : ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
    child.once('error', (err) => resolve({ label, code: 1, output: `${label}: ${err.message}\n` }));
    child.once('close', (code, signal) => resolve({ label, code: code ?? (signal ? 1 : 0), output }));
  });
}

function testFiles(dir: string): string[] {
  return readdirSync(join(root, dir), { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.test.js'))
    .map((f) => relative(root, join(root, dir, f)))
    .sort();
}

const files = [...testFiles('dist/src'), ...testFiles('dist/test')];
const tests = run('tests', process.execPath, ['--test', '--test-concurrency=4', '--test-force-exit', ...files], true);
const checks = Promise.all([run('eslint', bin('eslint'), ['.'], false), run('dependency rules', bin('depcruise'), ['src', 'test', 'bench', '--config', '.dependency-cruiser.cjs', '--output-type', 'err'], false)]);

const results = [await tests, ...(await checks)];
for (const r of results.slice(1)) process.stdout.write(`\n# ${r.label}: ${r.code === 0 ? 'ok' : `FAILED (exit ${r.code})`}\n${r.output}`);
const failed = results.filter((r) => r.code !== 0).map((r) => r.label);
if (failed.length > 0) process.stdout.write(`\n# npm test failed: ${failed.join(', ')}\n`);
process.exitCode = failed.length > 0 ? 1 : 0;
