/**
 * `hopgate exit --admin PORT` serves /healthz and /metrics on 127.0.0.1 (docs/EXITS.md), not on
 * the --listen address, which faces the ingresses and may be public. A real exit process.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { accepts, freePort } from '../helpers/ports.js';
import { readyJson, startProc, stopGracefully } from '../helpers/procs.js';

test('hopgate exit --admin PORT binds 127.0.0.1, not the --listen host', async (t) => {
  const cli = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
  const admin = await freePort();
  const exit = await startProc('hopgate exit', [process.execPath, cli, 'exit', '--listen', '127.0.0.23:0', '--egress', '127.0.0.24',
    '--allow-from', '127.0.0.1/32', '--admin', String(admin)], { env: { HOPGATE_EXIT_SECRET: 'relay-secret-for-tests' }, ready: /^\{/ });
  t.after(() => stopGracefully(exit));
  assert.equal(readyJson<{ admin: number }>(exit).admin, admin);
  const health = await fetch(`http://127.0.0.1:${admin}/healthz`);
  assert.equal(health.status, 200);
  assert.equal(await accepts(admin, '127.0.0.23'), false, 'nothing on the --listen host');
});
