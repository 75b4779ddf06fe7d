/**
 * `hopgate ingress --config F` reloads when F changes (watchConfig): written in place by an editor, or
 * replaced by a rename, as config management and `cp f.tmp f && mv` do — every time, not only the first;
 * through a Kubernetes ConfigMap mount's symlink swaps; when F is a symlink into another directory; when
 * F's directory is replaced or removed and made again. Each change reloads exactly once.
 */
import { describe, it, type TestContext } from 'node:test';
import { chmodSync, mkdirSync, mkdtempSync, renameSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { configSignature, watchConfig } from '../../src/processes/yaml-ingress.js';
import { eventually, holdsFor } from '../helpers/eventually.js';

/** Past the 200 ms debounce with a wide margin: a second reload for the same change would have come. */
const SETTLE_MS = 800;

function tempDir(t: TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'hopgate-watch-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Watch `file`; `step` makes one change and checks it reloaded exactly once. */
function watching(t: TestContext, file: string): { step: (what: string, change: () => void, timeoutMs?: number) => Promise<void>; reloads: () => number } {
  let changes = 0;
  const unwatch = watchConfig(file, () => changes++);
  t.after(unwatch);
  return {
    reloads: () => changes,
    step: async (what, change, timeoutMs = 5000) => {
      const before = changes;
      change();
      await eventually(`a reload after ${what}`, () => changes > before, { timeoutMs });
      await holdsFor(`one reload only after ${what} (got ${changes - before})`, () => changes === before + 1, SETTLE_MS);
    },
  };
}

// The cases share nothing (each its own directory) and mostly wait: they run side by side.
describe('watchConfig', { concurrency: true }, () => {
  it('a config file is followed through in-place writes and through renames over it, again and again', async (t) => {
    const dir = tempDir(t);
    const file = join(dir, 'ingress.yaml');
    writeFileSync(file, 'v: 0\n');
    const { step, reloads } = watching(t, file);
    await step('the file was written in place', () => writeFileSync(file, 'v: 1\n'));
    await step('the file was replaced by a rename', () => (writeFileSync(`${file}.tmp`, 'v: 2\n'), renameSync(`${file}.tmp`, file)));
    await step('the file was replaced by a second rename', () => (writeFileSync(`${file}.tmp`, 'v: 3\n'), renameSync(`${file}.tmp`, file)));
    await step('the file was written in place after the renames', () => writeFileSync(file, 'v: 4\n'));
    // Another file in the same directory is not the config: what the path points to is unchanged. The window
    // spans the 2 s poll too.
    const before = reloads();
    writeFileSync(join(dir, 'other.yaml'), 'x: 1\n');
    await holdsFor('no reload after a write to another file of the directory', () => reloads() === before, 2500);
  });

  it('a Kubernetes ConfigMap mount: each swap of ..data reloads once, though config.yaml itself never changes', async (t) => {
    // The kubelet's layout: config.yaml -> ..data/config.yaml, ..data -> ..<timestamp> (a directory). An update
    // writes a new ..<timestamp>, points ..data_tmp at it, renames ..data_tmp over ..data, removes the old one.
    const dir = tempDir(t);
    const put = (version: number): void => {
      mkdirSync(join(dir, `..2024_${version}`));
      writeFileSync(join(dir, `..2024_${version}`, 'config.yaml'), `v: ${version}\n`);
    };
    put(0);
    symlinkSync('..2024_0', join(dir, '..data'));
    symlinkSync('..data/config.yaml', join(dir, 'config.yaml'));
    const { step } = watching(t, join(dir, 'config.yaml'));
    for (const version of [1, 2]) {
      await step(`ConfigMap update ${version}`, () => {
        put(version);
        symlinkSync(`..2024_${version}`, join(dir, '..data_tmp'));
        renameSync(join(dir, '..data_tmp'), join(dir, '..data'));
        rmSync(join(dir, `..2024_${version - 1}`), { recursive: true });
      });
    }
  });

  it('--config a symlink into another directory: changes to the target reload', async (t) => {
    const linkDir = tempDir(t);
    const targetDir = tempDir(t);
    const target = join(targetDir, 'real.yaml');
    writeFileSync(target, 'v: 0\n');
    const file = join(linkDir, 'ingress.yaml');
    symlinkSync(target, file);
    const { step } = watching(t, file);
    await step('the target was written in place', () => writeFileSync(target, 'v: 1\n'));
    await step('the target was replaced by a rename', () => (writeFileSync(`${target}.tmp`, 'v: 2\n'), renameSync(`${target}.tmp`, target)));
    await step('the target was written in place again', () => writeFileSync(target, 'v: 3\n'));
  });

  it("the config's directory replaced by a rename, or removed and made again: reloads go on", async (t) => {
    const root = tempDir(t);
    const conf = join(root, 'conf');
    const file = join(conf, 'ingress.yaml');
    mkdirSync(conf);
    writeFileSync(file, 'v: 0\n');
    const { step, reloads } = watching(t, file);
    // `mv conf.new conf` needs the old one out of the way first (rename(2) will not replace a non-empty directory).
    await step('the directory was replaced by a rename', () => {
      mkdirSync(`${conf}.new`);
      writeFileSync(join(`${conf}.new`, 'ingress.yaml'), 'v: 1\n');
      renameSync(conf, `${conf}.old`);
      renameSync(`${conf}.new`, conf);
    });
    await step('the file in the new directory was written in place', () => writeFileSync(file, 'v: 2\n'));
    // Gone, then made again: nothing watched hears the new directory come; the poll does.
    const before = reloads();
    rmSync(conf, { recursive: true });
    await holdsFor('no reload while the file is missing', () => reloads() === before, SETTLE_MS);
    await step(
      'the directory was removed and made again',
      () => (mkdirSync(conf), writeFileSync(file, 'v: 3\n')),
      8000, // the 2 s poll, on a busy machine
    );
    await step('the file in the remade directory was written in place', () => writeFileSync(file, 'v: 4\n'));
  });

  it('a neighbour written every 50 ms (a log beside the config) does not hold a reload back', async (t) => {
    const dir = tempDir(t);
    const file = join(dir, 'ingress.yaml');
    writeFileSync(file, 'v: 0\n');
    const { step } = watching(t, file);
    const log = join(dir, 'ingress.log');
    let n = 0;
    const busy = setInterval(() => writeFileSync(log, `line ${n++}\n`, { flag: 'a' }), 50);
    t.after(() => clearInterval(busy));
    // Each event in the directory used to push the check back another 200 ms: it never ran while the log was written.
    await step('the config changed while the log is being written', () => writeFileSync(file, 'v: 1\n'), 3000);
    clearInterval(busy);
  });

  it('only the content counts: a touch or chmod reloads nothing; a change made before the watch began (while starting) reloads', async (t) => {
    const dir = tempDir(t);
    const file = join(dir, 'ingress.yaml');
    writeFileSync(file, 'v: 0\n');
    const since = configSignature(file); // taken before the configuration was read, as the ingress does
    writeFileSync(file, 'v: 1\n'); // an edit while the ingress starts
    let changes = 0;
    const unwatch = watchConfig(file, () => changes++, since);
    t.after(unwatch);
    await eventually('a reload for the edit made while starting', () => changes === 1, { timeoutMs: 5000 });
    chmodSync(file, 0o600);
    utimesSync(file, new Date(), new Date(Date.now() + 5000));
    await holdsFor('no reload for a chmod and a touch (same content)', () => changes === 1, 2500);
  });
});
