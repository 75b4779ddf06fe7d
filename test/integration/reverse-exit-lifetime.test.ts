/**
 * `hopgate exit --connect-to` is a long-running process: while its ingress is
 * unreachable (not started yet, restarting, killed) it keeps retrying, and it
 * registers once the ingress is back. Found by the chaos suite: after
 * `kill -9` of the ingress the exit process exited 0 (its only timer, the
 * retry backoff, is unref'd) and never came back.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { listen0 } from '../helpers/net.js';
import { startTestIngress, type TestIngress } from '../helpers/ingress.js';
import { reverseEntry, tunnelCert, TOKEN } from '../helpers/reverse.js';
import { eventually } from '../helpers/eventually.js';

const cli = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
let exit: ChildProcess | undefined;
let ing: TestIngress | undefined;
after(async () => {
  if (exit && exit.exitCode === null) exit.kill('SIGKILL');
  await ing?.stop();
});

test('a reverse exit whose ingress is down keeps retrying and registers when it comes up', async () => {
  // A free port nothing listens on yet: the ingress's tunnel port, later.
  const probe = createServer();
  const port = await listen0(probe);
  await new Promise<void>((r) => probe.close(() => r()));

  const cert = tunnelCert();
  exit = spawn(process.execPath, [cli, 'exit', '--connect-to', `127.0.0.1:${port}`, '--id', 'life-1', '--ca', cert.cert, '--pool', '2', '--egress', '127.0.0.32',
    '--allow-target', '127.0.0.0/8', '--log-level', 'warn'], { env: { ...process.env, HOPGATE_EXIT_TOKEN: TOKEN }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  exit.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  exit.stderr!.resume();
  const gone = new Promise<string>((r) => exit!.once('exit', (code, sig) => r(`exited ${sig ?? code}`)));

  // Long enough for several refused dials and a backoff.
  const early = await Promise.race([gone, new Promise((r) => setTimeout(() => r('alive'), 2500))]);
  assert.equal(early, 'alive', 'the exit must not give up while its ingress is unreachable');

  ing = await startTestIngress({
    tls: { cert: cert.cert, key: cert.key },
    exits: [await reverseEntry('life-1', '127.0.0.32', 'de')],
    reverse: { listen: { host: '127.0.0.1', port }, heartbeatMs: 1000 },
  });
  // Registered, or gone (then the assertions below say so at once rather than after the bound).
  await eventually('the exit registered or exited', () => /"ready":true/.test(out) || exit!.exitCode !== null, { timeoutMs: 15_000, everyMs: 100 }).catch(() => undefined);
  assert.match(out, /"ready":true/, 'it registered once the ingress was up');
  assert.equal(exit.exitCode, null);
});
