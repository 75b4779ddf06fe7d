/**
 * npm test's test-file runner: node:test's own runner (`run()`, one process per file, TAP out, as
 * `node --test` does, in the order of the names), which also checks that every file given completed
 * with some test of its own, and keeps each file's time in dist/cache/test-file-ms.json (or the file
 * HOPGATE_TEST_FILE_MS names: test/integration/test-runner.test.ts keeps its fixtures' out of the
 * real record). A file that imports others' tests (npm test's unit shares, test/unit-shares.js)
 * records each of them too, by the time of its top-level tests.
 *
 * Only the unit shares use these times (they are balanced by them). A fresh clone has no record and
 * uses the committed test/test-file-ms.json: the files under dist/src, refreshed from a recent
 * npm test's record when unit test files come or go, or their times change much:
 *
 *   node -e "const t = require('./dist/cache/test-file-ms.json'); for (const f in t) f.startsWith('dist/src/') || delete t[f]; require('fs').writeFileSync('test/test-file-ms.json', JSON.stringify(t, Object.keys(t).sort(), 2) + '\n')"
 *
 * Not the slowest first: measured on the same tree, warm, quiet (2026-12-07), longest-first took
 * 326 s wall and 540 s of CPU against 284 s and 477 s by name: the heaviest files (hopgate up, the
 * control planes, Chromium) all started at once beside the type check and ESLint, and their waits
 * and polls grew with the load they made together.
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
const measured = resolve(process.env.HOPGATE_TEST_FILE_MS ?? join(root, 'dist/cache/test-file-ms.json'));

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
const ordered = [...files].sort((a, b) => a.localeCompare(b));

const took = {};
const inner = {}; // files imported by a file given (npm test's unit shares): the sum of their top-level tests
let failed = false;
const testsOf = {}; // top-level tests by the file that defines them
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
  } else {
    testsOf[file] = (testsOf[file] ?? 0) + 1;
    inner[file] = (inner[file] ?? 0) + data.details.duration_ms;
  }
});
const report = stream.compose(tap);
report.pipe(process.stdout);
report.once('end', () => {
  // Every file given must have run and some test of its own with it: run() runs nothing at all inside
  // another test run (NODE_TEST_CONTEXT set), and a file that ends before its tests (process.exit(0))
  // or has none passes in node:test. Neither may pass here, not even beside files that ran.
  const incomplete = files.filter((f) => took[f] === undefined || !testsOf[f]);
  if (incomplete.length > 0) {
    process.stdout.write(`# run-test-files: ${files.length - incomplete.length} of ${files.length} files completed with a test; not: ${incomplete.join(', ')}: failed\n`);
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
