/**
 * A broken configuration file, as `hopgate ingress --config` and `hopgate ports --config`
 * report it: an unknown key on its own line with the nearest valid key, a syntax error as
 * FILE:LINE:COL with the line and a caret; exit 2, no stack trace. The real CLI, as processes.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { tempDir } from '../helpers/control-fixtures.js';

const MAIN = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const dir = tempDir('hopgate-config-errors-');
after(() => dir.remove());

function hopgate(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    // A bound on the run, not an assertion: refusing a file takes no time.
    execFile(process.execPath, [MAIN, ...args], { timeout: 30_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

function file(name: string, lines: string[]): string {
  const path = join(dir.path, name);
  writeFileSync(path, lines.join('\n') + '\n');
  return path;
}

const typo = file('typo.yaml', ['listen:', '  host: 127.0.0.1', '  ports: [0, 0]', 'log:', '  levle: warn', 'users: []']);
const broken = file('broken.yaml', ['listen:', '  host: 127.0.0.1', '  ports: [0, 0', 'users: []']);

for (const command of ['ingress', 'ports']) {
  const args = (config: string): string[] => (command === 'ports' ? ['ports', 'alice', '--config', config] : ['ingress', '--config', config]);

  test(`hopgate ${command}: an unknown key on its own line, with "did you mean"`, async () => {
    const r = await hopgate(args(typo));
    assert.equal(r.code, 2, r.stderr);
    assert.equal(r.stderr, `hopgate: ${typo}:5: log.levle: unknown key (did you mean level?)\n`);
  });

  test(`hopgate ${command}: a syntax error as FILE:LINE:COL, the line and a caret`, async () => {
    const r = await hopgate(args(broken));
    assert.equal(r.code, 2, r.stderr);
    const lines = r.stderr.trimEnd().split('\n');
    assert.match(lines[0]!, new RegExp(`^hopgate: ${broken.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}:\\d+:\\d+: \\S.*[^:]$`), r.stderr);
    assert.equal(lines.length, 3, r.stderr);
    assert.match(lines[1]!, /^\d+ \| \S/);
    assert.match(lines[2]!, /^ +\| +\^$/);
    assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
  });
}
