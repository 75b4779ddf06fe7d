/**
 * `npm test`: the two type checks and builds, then the test files with ESLint and the dependency rules
 * beside them; any failure fails the run. Plain JavaScript because it runs before anything is built.
 *
 * One TypeScript program per tsconfig (the server's and the dashboard's), made here with the compiler
 * API: tsc would check and emit each, and ESLint's typed rules would build both again (~30 s of CPU).
 * ESLint gets these programs (parserOptions.programs) and lints exactly what `npm run lint` lints, with
 * the same config. It runs in this process while the test files run in theirs: they leave part of the
 * two cores idle while they wait on sockets and timers, so side by side the run is shorter by most of
 * the lint. The tests' output streams as it comes; the checkers' output is printed after it.
 *
 * The test files are named one by one (every *.test.js under dist/src and dist/test): given a folder,
 * Node 20 runs every .js inside a `test/` folder as a test file, helpers included.
 */
import { spawn } from 'node:child_process';
import { readdirSync, rmSync } from 'node:fs';
import { join, relative } from 'node:path';
import process from 'node:process';
import { URL, fileURLToPath } from 'node:url';
import ts from 'typescript';
import { ESLint } from 'eslint';

const root = fileURLToPath(new URL('../', import.meta.url));
process.chdir(root);

/** Type-check and emit one tsconfig's program, as `tsc -p CONFIG` would; the program, or undefined after printing its errors. */
function build(config) {
  const host = { ...ts.sys, onUnRecoverableConfigFileDiagnostic: (d) => report([d]) };
  const parsed = ts.getParsedCommandLineOfConfigFile(config, {}, host);
  if (!parsed) return undefined;
  const program = ts.createProgram({ rootNames: parsed.fileNames, options: parsed.options, projectReferences: parsed.projectReferences, configFileParsingDiagnostics: parsed.errors });
  const diagnostics = [...ts.getPreEmitDiagnostics(program), ...program.emit().diagnostics];
  if (diagnostics.length === 0) return program;
  report(diagnostics);
  return undefined;
}

function report(diagnostics) {
  const host = { getCanonicalFileName: (f) => f, getCurrentDirectory: () => root, getNewLine: () => '\n' };
  const format = process.stdout.isTTY ? ts.formatDiagnosticsWithColorAndContext : ts.formatDiagnostics;
  process.stdout.write(format(diagnostics, host));
}

/** A checker's result: its label, exit status and output. */
function run(label, command, args, stream) {
  return new Promise((resolve) => {
    const child = spawn(command, args, { cwd: root, stdio: stream ? 'inherit' : ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout?.on('data', (d) => (output += d.toString()));
    child.stderr?.on('data', (d) => (output += d.toString()));
    child.once('error', (err) => resolve({ label, code: 1, output: `${label}: ${err.message}\n` }));
    child.once('close', (code, signal) => resolve({ label, code: code ?? (signal ? 1 : 0), output }));
  });
}

async function lint(programs) {
  try {
    const eslint = new ESLint({ overrideConfig: [{ files: ['**/*.ts'], languageOptions: { parserOptions: { projectService: false, programs } } }] });
    const results = await eslint.lintFiles(['.']);
    const output = await (await eslint.loadFormatter('stylish')).format(results);
    const errors = results.reduce((n, r) => n + r.errorCount + r.fatalErrorCount, 0);
    return { label: 'eslint', code: errors > 0 ? 1 : 0, output };
  } catch (err) {
    return { label: 'eslint', code: 2, output: `${err.stack ?? String(err)}\n` };
  }
}

function testFiles(dir) {
  return readdirSync(join(root, dir), { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.test.js'))
    .map((f) => relative(root, join(root, dir, f)))
    .sort();
}

rmSync(join(root, 'dist'), { recursive: true, force: true });
const server = build('tsconfig.json');
const dashboard = server && build('src/control/dashboard/ui/tsconfig.json');
if (!server || !dashboard) {
  process.stdout.write('\n# npm test failed: tsc\n');
  process.exit(1);
}

const concurrency = process.env.HOPGATE_TEST_CONCURRENCY ?? '4';
const files = [...testFiles('dist/src'), ...testFiles('dist/test')];
const tests = run('tests', process.execPath, ['--test', `--test-concurrency=${concurrency}`, '--test-force-exit', ...files], true);
const deps = run('dependency rules', join(root, 'node_modules/.bin/depcruise'), ['src', 'test', 'bench', '--config', '.dependency-cruiser.cjs', '--output-type', 'err'], false);
const linted = await lint([server, dashboard]);

const results = [await tests, linted, await deps];
for (const r of results.slice(1)) process.stdout.write(`\n# ${r.label}: ${r.code === 0 ? 'ok' : `FAILED (exit ${r.code})`}\n${r.output}`);
const failed = results.filter((r) => r.code !== 0).map((r) => r.label);
if (failed.length > 0) process.stdout.write(`\n# npm test failed: ${failed.join(', ')}\n`);
process.exitCode = failed.length > 0 ? 1 : 0;
