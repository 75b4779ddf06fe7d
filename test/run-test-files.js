/**
 * npm test's test-file runner: node:test's own runner (`run()`, one process per file, TAP out, as
 * `node --test` does), but starting the files that took longest last time first.
 *
 * `node --test` sorts the names it is given and starts them in that order, so the slowest files (the
 * reverse exits, routing, `hopgate up`: late in the alphabet) started last and ran on alone while the
 * rest of the suite had finished: the cores stood half idle for the run's last minute. Longest first
 * keeps all four slots busy to the end (the classic scheduling rule: a long job never starts last).
 *
 * How long each file takes is measured by every run (the runner's per-file `test:complete`) and kept in
 * dist/cache/test-file-ms.json; a fresh clone has none, and uses test/test-file-ms.json, a copy of one
 * run's file committed for that (refresh it with `cp dist/cache/test-file-ms.json test/` when files
 * come or go; a stale or missing entry only changes the order). A file without a figure starts first:
 * new files are more often slow than not. A file that imports others' tests (npm test's unit shares)
 * records each of them too, by the time of its top-level tests.
 *
 * Usage: node test/run-test-files.js CONCURRENCY FILE...  Exit status 1 if any test failed.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import process from 'node:process';
import { run } from 'node:test';
import { tap } from 'node:test/reporters';
import { URL, fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../', import.meta.url));
const measured = join(root, 'dist/cache/test-file-ms.json');
const committed = join(root, 'test/test-file-ms.json');

function readTimes(file) {
  try {
    return existsSync(file) ? JSON.parse(readFileSync(file, 'utf8')) : {};
  } catch {
    return {}; // a broken record only costs the order
  }
}

const [concurrencyArg, ...args] = process.argv.slice(2);
const concurrency = Number(concurrencyArg);
if (!Number.isInteger(concurrency) || concurrency < 1 || args.length === 0) {
  process.stderr.write('usage: node test/run-test-files.js CONCURRENCY FILE...\n');
  process.exit(2);
}
const files = args.map((f) => relative(root, resolve(f)));
const last = { ...readTimes(committed), ...readTimes(measured) };
const weight = (f) => last[f] ?? Infinity;
const ordered = [...files].sort((a, b) => weight(b) - weight(a) || a.localeCompare(b));

const took = {};
const inner = {}; // files imported by a file given (npm test's unit shares): the sum of their top-level tests
let failed = false;
let filesDone = 0;
let tests = 0;
const stream = run({ files: ordered.map((f) => join(root, f)), concurrency, forceExit: true });
stream.on('test:fail', (data) => {
  if (data.todo === undefined) failed = true; // a failing todo test fails nothing, as in `node --test`
});
stream.on('test:complete', (data) => {
  if (data.nesting !== 0 || data.file === undefined) return;
  const file = relative(root, data.file);
  if (data.name === data.file) {
    // The file's own entry: named by its path, at the top level.
    took[file] = Math.round(data.details.duration_ms);
    filesDone++;
  } else {
    tests++;
    inner[file] = (inner[file] ?? 0) + data.details.duration_ms;
  }
});
const report = stream.compose(tap);
report.pipe(process.stdout);
report.once('end', () => {
  // Every file given must have run and some test with it: run() runs nothing at all inside another
  // test run (NODE_TEST_CONTEXT set), and a run that quietly left files out must not pass.
  if (filesDone !== files.length || tests === 0) {
    process.stdout.write(`# run-test-files: ${filesDone} of ${files.length} files completed, ${tests} top-level tests: failed\n`);
    failed = true;
  }
  process.exitCode = failed ? 1 : 0;
  for (const [f, ms] of Object.entries(inner)) if (took[f] === undefined) took[f] = Math.round(ms);
  const slowest = Object.entries(took).sort((a, b) => b[1] - a[1]).slice(0, 5);
  process.stdout.write(`# slowest files: ${slowest.map(([f, ms]) => `${f.replace(/^dist\//, '')} ${(ms / 1000).toFixed(0)} s`).join(', ')}\n`);
  try {
    mkdirSync(dirname(measured), { recursive: true });
    const all = { ...readTimes(measured), ...took };
    writeFileSync(measured, `${JSON.stringify(all, Object.keys(all).sort(), 2)}\n`);
  } catch {
    // the record is an optimisation: the run's result stands without it
  }
});
