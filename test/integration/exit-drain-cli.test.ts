/**
 * `hopgate exit --drain-ms MS` (a forward exit, as a reverse exit's): its limits.drainTimeoutMs,
 * the bound SIGTERM gives live tunnels, and a drained link's UDP (docs/EXITS.md). Real exit processes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { SocksClient } from 'socks';
import { closed, startEchoServer, withTimeout } from '../helpers/net.js';
import { killHard, readyJson, startProc, stopGracefully } from '../helpers/procs.js';

const cli = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const SECRET = 'relay-secret-for-tests';
const exitArgs = (drainMs: string): string[] => [cli, 'exit', '--listen', '127.0.0.25:0', '--egress', '127.0.0.25', '--allow-from', '127.0.0.1/32', '--allow-target', '127.0.0.0/8', `--drain-ms=${drainMs}`];

test('hopgate exit --drain-ms: on SIGTERM a live tunnel gets that long, then is cut and the exit ends (not the fixed 10 s)', async (t) => {
  const echo = await startEchoServer();
  t.after(() => echo.close());
  const exit = await startProc('hopgate exit', [process.execPath, ...exitArgs('800')], { env: { HOPGATE_EXIT_SECRET: SECRET }, ready: /^\{/ });
  t.after(() => killHard(exit));
  const port = Number(readyJson<{ listen: string }>(exit).listen.split(':').at(-1));
  const { socket } = await SocksClient.createConnection({
    proxy: { host: '127.0.0.25', port, type: 5, userId: 'ingress', password: SECRET },
    command: 'connect',
    destination: { host: '127.0.0.1', port: echo.port },
    timeout: 5000,
  });
  socket.on('error', () => undefined);
  const cut = closed(socket);
  socket.write('ping');
  await withTimeout(new Promise((r) => socket.once('data', r)), 5000, 'the echo through the exit');
  const t0 = performance.now();
  // SIGKILLed at 6 s: an exit still waiting out the default 10 s does not end with 0.
  const code = await stopGracefully(exit, 6000);
  const took = performance.now() - t0;
  assert.equal(code, '0', `ended by ${code} after ${took.toFixed(0)} ms: ${exit.stderrTail()}`);
  assert.ok(took >= 700, `the live tunnel had its drain time (${took.toFixed(0)} ms)`);
  await withTimeout(cut, 5000, 'the tunnel cut');
});

function refused(args: string[]): Promise<{ code: number; stderr: string }> {
  return new Promise((resolve) => {
    // A bound on the run, not an assertion: an exit that took the value would run until it.
    execFile(process.execPath, args, { env: { ...process.env, HOPGATE_EXIT_SECRET: SECRET }, timeout: 30_000 }, (err, _out, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? -1) : 0, stderr });
    });
  });
}

test("hopgate exit's millisecond flags past 2^31-1 (a timer that would fire at once) or not a number: one line, exit 2", async () => {
  for (const bad of ['2147483648', 'soon', '-1']) {
    const r = await refused(exitArgs(bad));
    assert.equal(r.code, 2, `--drain-ms ${bad}: ${r.stderr}`);
    assert.equal(r.stderr, 'hopgate: --drain-ms must be 0-2147483647 (milliseconds)\n');
  }
  // Its connect timeout leaves the ingress's 2 s of grace for the exit's answer under the cap (limits.connectTimeoutMs).
  const connect = await refused([...exitArgs('0'), '--connect-timeout-ms', '2147481648']);
  assert.deepEqual([connect.code, connect.stderr], [2, 'hopgate: --connect-timeout-ms must be 1-2147481647 (milliseconds)\n']);
  const keys = await refused([...exitArgs('0'), '--link-listen', '127.0.0.25:0', '--link-allow', 'ab'.repeat(32), '--link-keys-every-ms', '2147483648']);
  assert.deepEqual([keys.code, keys.stderr], [2, 'hopgate: --link-keys-every-ms must be 100-3600000 (milliseconds)\n']);
});
