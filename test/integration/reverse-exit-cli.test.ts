/**
 * `hopgate exit --connect-to … --admin …` as a process: it prints its ready line
 * once registered, serves its own /metrics and /healthz (work connections by
 * state, tunnels, registrations, requests by outcome) on the port it was given
 * and no other, carries a customer's request, and drains on SIGTERM.
 */
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { SocksClient } from 'socks';
import { startEchoServer, withTimeout } from '../helpers/net.js';
import { freePort } from '../helpers/ports.js';
import { killHard, reapOnExit, readyJson, startProc, stopGracefully, type Proc } from '../helpers/procs.js';
import { startTestIngress, USER, type TestIngress } from '../helpers/ingress.js';
import { reverseEntry, tunnelCert, tunnelPortOf, TOKEN } from '../helpers/reverse.js';
import { eventually } from '../helpers/eventually.js';

const cli = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
let ing: TestIngress;
let echo: Awaited<ReturnType<typeof startEchoServer>>;
let exit: Proc | undefined;

before(async () => {
  echo = await startEchoServer();
  const cert = tunnelCert();
  ing = await startTestIngress({
    tls: { cert: cert.cert, key: cert.key },
    exits: [await reverseEntry('cli-1', '127.0.0.31', 'de')],
    reverse: { listen: { host: '127.0.0.1', port: 0 }, heartbeatMs: 1000 },
  });
});
after(async () => {
  if (exit) await killHard(exit);
  await ing?.stop();
  await echo?.close();
});

async function scrape(port: number, path: string): Promise<string> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`);
  assert.equal(res.status, 200);
  return res.text();
}

function metric(text: string, series: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  assert.ok(line, `${series} in /metrics`);
  return Number(line.split(' ')[1]);
}

test('a reverse exit process reports its state on its own admin port', async () => {
  const tunnel = tunnelPortOf(ing.ingress);
  // Its ready line is its first (`/^/`).
  exit = await startProc('hopgate exit', [process.execPath, cli, 'exit', '--connect-to', `127.0.0.1:${tunnel}`, '--id', 'cli-1', '--ca', tunnelCert().cert, '--work-connections',
    '--pool', '3', '--egress', '127.0.0.31', '--allow-target', '127.0.0.0/8', '--admin', '127.0.0.1:0', '--log-level', 'warn'], { ready: /^/, env: { HOPGATE_EXIT_TOKEN: TOKEN } });
  const ready = readyJson<{ ready: boolean; admin: number }>(exit);
  assert.equal(ready.ready, true);
  assert.ok(ready.admin > 0);

  // The pool fills: three idle work connections, every one accepted by the ingress.
  let text = await eventually('three idle work connections', async () => {
    const t = await scrape(ready.admin, '/metrics');
    return metric(t, 'hopgate_exit_work_connections{state="idle"}') === 3 && t;
  }, { timeoutMs: 2000, everyMs: 20 });
  assert.equal(metric(text, 'hopgate_exit_refused_by_ingress'), 0);
  const registered = (t: string): number => metric(t, 'hopgate_exit_registrations_total{session="full"}') + (/session="resumed"/.test(t) ? metric(t, 'hopgate_exit_registrations_total{session="resumed"}') : 0);
  assert.ok(registered(text) >= 3);
  const health = JSON.parse(await scrape(ready.admin, '/healthz')) as { ok: boolean; idle: number };
  assert.deepEqual([health.ok, health.idle], [true, 3]);

  const { socket } = await SocksClient.createConnection({
    proxy: { host: '127.0.0.1', port: ing.port, type: 5, userId: `${USER.login}-exitip-127.0.0.31`, password: USER.password },
    command: 'connect',
    destination: { host: '127.0.0.1', port: echo.port },
    timeout: 5000,
  });
  socket.write('ping');
  await withTimeout(new Promise((r) => socket.once('data', r)), 3000, 'echo');
  assert.equal(echo.sources.at(-1), '127.0.0.31');
  text = await scrape(ready.admin, '/metrics');
  assert.equal(metric(text, 'hopgate_exit_requests_total{outcome="served"}'), 1);
  assert.equal(metric(text, 'hopgate_exit_tunnels'), 1);
  socket.destroy();

  assert.equal(await stopGracefully(exit), '0');
});

test('refused by the ingress (a wrong token), the exit says so: /healthz 503 with the reason, refused_by_ingress 1', async () => {
  const adminPort = await freePort();
  // Not startProc: refused, it never prints a ready line; its /healthz says why.
  const wrong = spawn(
    process.execPath,
    [cli, 'exit', '--connect-to', `127.0.0.1:${tunnelPortOf(ing.ingress)}`, '--id', 'cli-1', '--ca', tunnelCert().cert, '--pool', '1', '--admin', `127.0.0.1:${adminPort}`, '--log-level', 'silent'],
    { stdio: 'ignore', env: { ...process.env, HOPGATE_EXIT_TOKEN: 'not-the-token' } },
  );
  reapOnExit(wrong);
  try {
    const health = await eventually('/healthz naming the refusal', async () => {
      const res = await fetch(`http://127.0.0.1:${adminPort}/healthz`);
      const body = (await res.json()) as { ok: boolean; lastRefusal?: string };
      return body.lastRefusal !== undefined && { status: res.status, body };
    }, { timeoutMs: 15_000, everyMs: 50 });
    assert.equal(health.status, 503);
    assert.equal(health.body.ok, false);
    assert.match(health.body.lastRefusal!, /AUTH_FAILED: exit 'cli-1': unknown exit or wrong token/);
    assert.equal(metric(await scrape(adminPort, '/metrics'), 'hopgate_exit_refused_by_ingress'), 1);
  } finally {
    wrong.kill('SIGKILL');
  }
});
