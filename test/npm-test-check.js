/**
 * `npm test`'s type check and ESLint, incremental (issue 15, item 5). Plain JavaScript: it runs before
 * anything is built. `node test/npm-test-check.js` runs just these two, as npm test does.
 *
 * The type check reads and writes a tsBuildInfo file per tsconfig (dist/cache/*.tsbuildinfo, where
 * `tsc -p`, i.e. `npm ci`'s prepare and `npm run build`, writes it too): TypeScript's builder re-checks
 * the files a change can affect (the changed ones and those whose imports' types changed) and reuses
 * the recorded diagnostics of the rest, errors included, so an unchanged tree is not checked twice and
 * a type error anywhere still fails. Without the file (or after a compiler option change) everything
 * is checked, as `tsc -p CONFIG --noEmit` would.
 *
 * ESLint's typed rules ask the checker about the files they lint: on a whole tree that is most of the
 * type check's work again (~20 s of CPU here). So its results are kept per file (dist/cache/eslint.json)
 * and a file is linted again when its text changed or when a file it imports, directly or not, changed
 * (its types may differ though its text does not: an import made async leaves a floating promise in
 * an unchanged caller). Everything is linted again when the lint setup changed (eslint.config.js, the
 * tsconfigs, package-lock.json, this file) or a changed file can declare globals. Kept results are
 * reported as they were, errors included. The builder's own list of affected files is not used: it
 * leaves out files whose diagnostics it only marks stale (the callers in that example).
 */
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import process from 'node:process';
import { URL, fileURLToPath } from 'node:url';
import ts from 'typescript';
import { ESLint } from 'eslint';

const root = fileURLToPath(new URL('../', import.meta.url));
export const CONFIGS = ['tsconfig.json', 'src/control/dashboard/ui/tsconfig.json'];
const LINT_CACHE = join(root, 'dist/cache/eslint.json');
/** What ESLint's results depend on besides each file's own text and types. */
const LINT_SETUP = ['eslint.config.js', 'package-lock.json', ...CONFIGS, 'test/npm-test-check.js'];

/** A tsconfig parsed, or undefined after printing why not. */
export function parseConfig(config) {
  const host = { ...ts.sys, onUnRecoverableConfigFileDiagnostic: (d) => report([d]) };
  return ts.getParsedCommandLineOfConfigFile(join(root, config), {}, host);
}

export function formatted(diagnostics) {
  const host = { getCanonicalFileName: (f) => f, getCurrentDirectory: () => root, getNewLine: () => '\n' };
  const format = process.stdout.isTTY ? ts.formatDiagnosticsWithColorAndContext : ts.formatDiagnostics;
  return format(diagnostics, host);
}

export function report(diagnostics) {
  process.stdout.write(formatted(diagnostics));
}

/**
 * Type-check one tsconfig's program, as `tsc -p CONFIG --noEmit` would, reusing its tsBuildInfo: the
 * program (for ESLint) and its errors.
 */
export function check(parsed) {
  const options = parsed.options;
  const host = ts.createIncrementalCompilerHost(options);
  const builder = ts.createIncrementalProgram({ rootNames: parsed.fileNames, options, host, projectReferences: parsed.projectReferences, configFileParsingDiagnostics: parsed.errors });
  const diagnostics = [
    ...builder.getConfigFileParsingDiagnostics(),
    ...builder.getOptionsDiagnostics(),
    ...builder.getGlobalDiagnostics(),
    ...builder.getSyntacticDiagnostics(),
    ...builder.getSemanticDiagnostics(), // checks what a change can affect; the recorded ones of the rest
  ];
  // Nothing is emitted here (npm test emits file by file); the buildinfo records what a later `tsc -p` still has to emit.
  builder.emitBuildInfo();
  return { program: builder.getProgram(), ok: diagnostics.length === 0, output: diagnostics.length === 0 ? '' : formatted(diagnostics) };
}

const sha = (text) => createHash('sha256').update(text).digest('hex');

/** The files `eslint .` lints: .js, .mjs, .cjs (ESLint's defaults) and .ts (the config's), minus what it ignores. */
async function lintable(eslint) {
  const skip = new Set(['node_modules', 'dist', '.git']);
  const found = [];
  const walk = (dir) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, e.name);
      if (e.isDirectory()) {
        if (!skip.has(e.name)) walk(path);
      } else if (/\.(js|mjs|cjs|ts)$/.test(e.name)) found.push(path);
    }
  };
  walk(root);
  const ignored = await Promise.all(found.map((f) => eslint.isPathIgnored(f)));
  return found.filter((_, i) => !ignored[i]).sort();
}

function readLintCache(setup) {
  try {
    const cache = JSON.parse(readFileSync(LINT_CACHE, 'utf8'));
    return cache.setup === setup ? cache.files : {};
  } catch {
    return {};
  }
}

/**
 * The files to lint again: those whose text is not the one linted last time, and every file importing
 * one of them (or a deleted one), directly or not; all of them when a changed file can declare globals
 * (a .d.ts, `declare global`, or a script: a file without import or export).
 */
function toLint(files, texts, cached, options) {
  const changed = new Set(files.filter((f) => cached[relative(root, f)]?.sha !== texts.get(f)));
  const deleted = Object.keys(cached).some((k) => !texts.has(join(root, k)));
  const importers = new Map(); // file -> the files importing it
  const stale = new Set(changed);
  const cache = ts.createModuleResolutionCache(root, (f) => f, options);
  for (const f of files) {
    const text = readFileSync(f, 'utf8');
    const info = ts.preProcessFile(text, true, true);
    if (changed.has(f) && (f.endsWith('.d.ts') || /\bdeclare\s+global\b/.test(text) || (info.importedFiles.length === 0 && !/^\s*export\b/m.test(text)))) return files;
    for (const { fileName } of info.importedFiles) {
      if (!fileName.startsWith('.')) continue; // a package: package-lock.json is in the setup
      const target = ts.resolveModuleName(fileName, f, options, ts.sys, cache).resolvedModule?.resolvedFileName;
      if (target === undefined) {
        if (deleted) stale.add(f); // perhaps what it imported was deleted
        continue;
      }
      const list = importers.get(resolve(target)) ?? [];
      list.push(f);
      importers.set(resolve(target), list);
    }
  }
  const queue = [...stale];
  while (queue.length > 0) {
    for (const g of importers.get(queue.pop()) ?? []) {
      if (stale.has(g)) continue;
      stale.add(g);
      queue.push(g);
    }
  }
  return files.filter((f) => stale.has(f));
}

/** ESLint on what `npm run lint` lints, with the same config, its typed rules on the checker's programs. */
export async function lint(programs) {
  try {
    const eslint = new ESLint({ cwd: root, overrideConfig: [{ files: ['**/*.ts'], languageOptions: { parserOptions: { projectService: false, programs } } }] });
    const setup = sha(LINT_SETUP.map((f) => `${f}\0${readFileSync(join(root, f), 'utf8')}`).join('\0'));
    const cached = readLintCache(setup);
    const files = await lintable(eslint);
    const texts = new Map(files.map((f) => [f, sha(readFileSync(f))]));
    const stale = toLint(files, texts, cached, programs[0].getCompilerOptions());
    const fresh = stale.length > 0 ? await eslint.lintFiles(stale) : [];
    const byFile = new Map(fresh.map((r) => [r.filePath, r]));
    const results = files.map((f) => byFile.get(f) ?? cached[relative(root, f)].result);
    const kept = {};
    // Without `source` (the file's text, which ESLint adds to results with messages): not needed to report them.
    for (const r of results) kept[relative(root, r.filePath)] = { sha: texts.get(r.filePath), result: { ...r, source: undefined } };
    mkdirSync(dirname(LINT_CACHE), { recursive: true });
    writeFileSync(LINT_CACHE, JSON.stringify({ setup, files: kept }));
    const output = await (await eslint.loadFormatter('stylish')).format(results);
    const errors = results.reduce((n, r) => n + r.errorCount + r.fatalErrorCount, 0);
    return { label: 'eslint', code: errors > 0 ? 1 : 0, output, linted: stale.length, of: files.length };
  } catch (err) {
    return { label: 'eslint', code: 2, output: `${err.stack ?? String(err)}\n` };
  }
}

/** The type check of both tsconfigs, then ESLint (not run when the check fails): two results as npm test reports them. */
export async function checkAndLint(configs) {
  const checked = configs.map(check);
  const ok = checked.every((c) => c.ok);
  const typed = { label: 'tsc', code: ok ? 0 : 1, output: checked.map((c) => c.output).join('') };
  const linted = ok ? await lint(checked.map((c) => c.program)) : { label: 'eslint', code: 1, output: 'not run: the type check failed\n' };
  return [typed, linted.of === undefined ? linted : { ...linted, output: `${linted.output}(${linted.linted} of ${linted.of} files linted, the others unchanged since they were)\n` }];
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const configs = CONFIGS.map(parseConfig);
  if (!configs.every((c) => c !== undefined)) process.exit(1);
  const results = await checkAndLint(configs);
  for (const r of results) process.stdout.write(`\n# ${r.label}: ${r.code === 0 ? 'ok' : `FAILED (exit ${r.code})`}\n${r.output}`);
  process.exitCode = results.some((r) => r.code !== 0) ? 1 : 0;
}
