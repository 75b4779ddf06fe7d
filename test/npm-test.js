/**
 * `npm test`: the two TypeScript builds, then the test files with the type checks, ESLint and the
 * dependency rules beside them; any failure fails the run. Plain JavaScript because it runs before
 * anything is built.
 *
 * The builds emit file by file without types (transpile, below), so the tests start after ~10 s of CPU
 * instead of after the whole type check. Then one TypeScript program per tsconfig (the server's and the
 * dashboard's) is type-checked here with the compiler API, and ESLint's typed rules use those programs
 * (parserOptions.programs) instead of building both again (~30 s of CPU); ESLint lints exactly what
 * `npm run lint` lints, with the same config. Both are incremental (test/npm-test-check.js): what the
 * last `tsc -p` or npm test found in files nothing changed is reused from dist/cache/, which is why
 * that folder survives the emptying of dist/ below. Both run in this process while the test files run
 * in theirs: those leave part of the two cores idle while they wait on sockets and timers. The tests'
 * output streams as it comes; the checkers' output is printed after it.
 *
 * The test files are named one by one (every *.test.js under dist/src and dist/test): given a folder,
 * Node 20 runs every .js inside a `test/` folder as a test file, helpers included. They run under
 * test/run-test-files.js (node:test's runner, by name, checking that every file completed). The unit test
 * files under dist/src run in three processes, each importing its share of them (test/unit-shares.js).
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import process from 'node:process';
import { performance } from 'node:perf_hooks';
import { URL, fileURLToPath } from 'node:url';
import ts from 'typescript';
import { CONFIGS, checkAndLint, parseConfig, report } from './npm-test-check.js';
import { recordedTimes, writeUnitShares } from './unit-shares.js';

const root = fileURLToPath(new URL('../', import.meta.url));
process.chdir(root);

/**
 * Emit one tsconfig's files file by file, without type information (ts.transpileModule): ~10 s of CPU
 * where the type check that `tsc -p` does before emitting takes ~40, so the tests start that much sooner
 * and the check runs beside them. tsconfig.json sets isolatedModules, so the type check fails on anything
 * a file-by-file emit could get wrong. The one difference in output: a const enum is emitted as an
 * object and looked up instead of inlined (same behaviour). `module` is ES2022 here: that is what
 * NodeNext emits under this package's "type": "module", and transpileModule cannot look that up.
 */
function transpile(parsed) {
  const options = { ...parsed.options, module: ts.ModuleKind.ES2022, moduleResolution: ts.ModuleResolutionKind.Bundler };
  const diagnostics = [];
  for (const file of parsed.fileNames) {
    if (file.endsWith('.d.ts')) continue;
    const out = ts.transpileModule(readFileSync(file, 'utf8'), { compilerOptions: options, fileName: file, reportDiagnostics: true });
    diagnostics.push(...(out.diagnostics ?? []));
    const [js, map] = ts.getOutputFileNames(parsed, file, false);
    mkdirSync(dirname(js), { recursive: true });
    writeFileSync(js, out.outputText);
    if (map && out.sourceMapText !== undefined) writeFileSync(map, out.sourceMapText);
  }
  if (diagnostics.length === 0) return true;
  report(diagnostics);
  return false;
}

const children = new Set();

/** A checker's result: its label, exit status and output. */
function run(label, command, args, stream) {
  return new Promise((resolve) => {
    const child = spawn(command, args, { cwd: root, stdio: stream ? 'inherit' : ['ignore', 'pipe', 'pipe'] });
    children.add(child);
    child.once('exit', () => children.delete(child));
    let output = '';
    child.stdout?.on('data', (d) => (output += d.toString()));
    child.stderr?.on('data', (d) => (output += d.toString()));
    child.once('error', (err) => resolve({ label, code: 1, output: `${label}: ${err.message}\n` }));
    child.once('close', (code, signal) => resolve({ label, code: code ?? (signal ? 1 : 0), output }));
  });
}

function testFiles(dir) {
  return readdirSync(join(root, dir), { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.test.js'))
    .map((f) => relative(root, join(root, dir, f)))
    .sort();
}

// The dependency rules read the sources, not dist/: they start first, on the core the file-by-file emit below leaves idle.
const deps = run('dependency rules', join(root, 'node_modules/.bin/depcruise'), ['src', 'test', 'bench', '--config', '.dependency-cruiser.cjs', '--output-type', 'err'], false);

// Nothing stale from an earlier build (a deleted source's test file would run): everything but the checkers' records.
if (existsSync(join(root, 'dist'))) {
  for (const e of readdirSync(join(root, 'dist'))) if (e !== 'cache') rmSync(join(root, 'dist', e), { recursive: true, force: true });
}
const configs = CONFIGS.map(parseConfig);
if (!configs.every((c) => c !== undefined && transpile(c))) {
  process.stdout.write('\n# npm test failed: tsc\n');
  for (const child of children) child.kill();
  process.exit(1);
}

const concurrency = process.env.HOPGATE_TEST_CONCURRENCY ?? '4';
const tests = run('tests', process.execPath, [join(root, 'test/run-test-files.js'), concurrency, ...writeUnitShares({ root, dir: join(root, 'dist'), files: testFiles('dist/src'), times: recordedTimes(root) }), ...testFiles('dist/test')], true);
// The type check, then ESLint with its programs, here while the test files run in theirs.
const [typed, linted] = await checkAndLint(configs);

const results = [await tests, typed, linted, await deps];
for (const r of results.slice(1)) process.stdout.write(`\n# ${r.label}: ${r.code === 0 ? 'ok' : `FAILED (exit ${r.code})`}\n${r.output}`);
const failed = results.filter((r) => r.code !== 0).map((r) => r.label);
// Issue 15 measures the suite by this line (wall time, and CPU of this process and every child it waited for).
const cpu = process.resourceUsage();
let childCpuS = NaN; // cutime + cstime from /proc, in clock ticks (100 Hz on Linux); unknown elsewhere
try {
  const stat = readFileSync('/proc/self/stat', 'utf8').split(') ')[1]?.split(' ');
  if (stat) childCpuS = (Number(stat[13]) + Number(stat[14])) / 100;
} catch {
  // no /proc: the line says NaN, the run's result stands
}
process.stdout.write(`\n# npm test: ${(performance.now() / 1000).toFixed(0)} s wall, ${((cpu.userCPUTime + cpu.systemCPUTime) / 1e6 + childCpuS).toFixed(0)} s CPU\n`);
if (failed.length > 0) process.stdout.write(`\n# npm test failed: ${failed.join(', ')}\n`);
process.exitCode = failed.length > 0 ? 1 : 0;
