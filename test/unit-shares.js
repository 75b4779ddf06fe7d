/**
 * npm test's unit shares (test/npm-test.js): the unit test files (every test file under dist/src: pure
 * code, no processes) run in three processes, each importing its share of the files: a file of its own
 * would pay ~0.45 s of CPU for a Node process and the runner before its first test, ~20 s over the 46
 * of them. Three, not one: together they run for longer than the slowest integration file, and would
 * end the run alone. The shares are balanced by each file's time in the runner's records
 * (dist/cache/test-file-ms.json, else the committed test/test-file-ms.json; test/run-test-files.js
 * records a grouped file's tests too); files without a figure are dealt round, so no share is left empty.
 *
 * A share's first test waits until every one of its files is imported (a file that fails to load fails
 * it, with the file's name and error): the runner's --test-force-exit ends a process once the tests it
 * knows of are done, so a file still loading (a top-level await) would otherwise be cut off unseen.
 *
 * Its own module so that test/integration/test-runner.test.ts can write shares of fixtures: npm-test.js
 * itself empties dist/ when it starts.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';

/** Each file's time from the records under `root` (the committed one, then this tree's own over it). */
export function recordedTimes(root) {
  const times = {};
  for (const f of ['test/test-file-ms.json', 'dist/cache/test-file-ms.json']) {
    try {
      Object.assign(times, JSON.parse(readFileSync(join(root, f), 'utf8')));
    } catch {
      // no figures: the shares are only less even
    }
  }
  return times;
}

/**
 * Write the wrappers into `dir` (src-unit-tests-N.test.js) and return their paths relative to `root`.
 * `files` are relative to `root`, as are the names in `times`.
 */
export function writeUnitShares({ root, dir, files, times, groups = 3 }) {
  const shares = Array.from({ length: groups }, () => ({ ms: 0, files: [] }));
  for (const f of [...files].sort((a, b) => (times[b] ?? 0) - (times[a] ?? 0) || a.localeCompare(b))) {
    const lightest = shares.reduce((min, g) => (g.ms < min.ms || (g.ms === min.ms && g.files.length < min.files.length) ? g : min));
    lightest.files.push(f);
    lightest.ms += times[f] ?? 0;
  }
  return shares.filter((g) => g.files.length > 0).map((g, i) => {
    const wrapper = join(dir, `src-unit-tests-${i + 1}.test.js`);
    const imports = g.files.sort().map((f) => `./${relative(dir, join(root, f))}`);
    writeFileSync(wrapper, `// Written by test/unit-shares.js for npm test: unit test files under dist/src, in one process (see there).
import { test } from 'node:test';
const files = ${JSON.stringify(imports, null, 2)};
let loaded;
const allLoaded = new Promise((resolve) => (loaded = resolve));
test(\`\${files.length} unit test files load\`, async () => {
  const failed = await allLoaded;
  // Each file's error in the message: the TAP report shows an error's message and stack, not its causes.
  if (failed.length > 0) throw new AggregateError(failed.map(([, err]) => err), \`failed to load: \${failed.map(([f, err]) => \`\${f} (\${err})\`).join(', ')}\`);
});
const failed = [];
for (const file of files) {
  try {
    await import(file);
  } catch (err) {
    failed.push([file, err]);
  }
}
loaded(failed);
`);
    return relative(root, wrapper);
  });
}
