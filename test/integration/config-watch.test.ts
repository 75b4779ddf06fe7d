/**
 * `hopgate ingress --config F` reloads when F changes (watchConfig): written in place by an editor, or
 * replaced by a rename, as config management and `cp f.tmp f && mv` do — every time, not only the first.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { watchConfig } from '../../src/processes/yaml-ingress.js';
import { eventually } from '../helpers/eventually.js';

test('a config file is followed through in-place writes and through renames over it, again and again', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'hopgate-watch-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'ingress.yaml');
  writeFileSync(file, 'v: 0\n');
  let changes = 0;
  const unwatch = watchConfig(file, () => changes++);
  t.after(unwatch);
  const steps: Array<[string, () => void]> = [
    ['written in place', () => writeFileSync(file, 'v: 1\n')],
    ['replaced by a rename', () => (writeFileSync(`${file}.tmp`, 'v: 2\n'), renameSync(`${file}.tmp`, file))],
    ['replaced by a second rename', () => (writeFileSync(`${file}.tmp`, 'v: 3\n'), renameSync(`${file}.tmp`, file))],
    ['written in place after the renames', () => writeFileSync(file, 'v: 4\n')],
  ];
  for (const [what, change] of steps) {
    const before = changes;
    change();
    await eventually(`a reload after the file was ${what}`, () => changes > before, { timeoutMs: 5000 });
  }
  // Another file in the same directory is not the config.
  const before = changes;
  writeFileSync(join(dir, 'other.yaml'), 'x: 1\n');
  await new Promise((r) => setTimeout(r, 600)); // a window past the 200 ms debounce: proves no reload came
  assert.equal(changes, before, 'a write to another file of the directory reloaded the config');
});
