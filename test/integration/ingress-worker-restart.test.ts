/**
 * `hopgate ingress --config F --workers 2` when a worker dies: the supervisor
 * replaces it after its back-off, and the new worker serves on the same shared
 * port (every connection afterwards succeeds, whichever worker the kernel picks).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import cluster, { type Worker } from 'node:cluster';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SocksClient } from 'socks';
import { stringify } from 'yaml';
import { startEchoServer, withTimeout } from '../helpers/net.js';
import { hashPassword } from '../../src/shared/auth/password-hash.js';
import { startIngressProcesses } from '../../src/processes/ingress-workers.js';
import { createLogger } from '../../src/shared/log.js';

const USER = { login: 'carol', password: 'carol-restart-pw' };
const BACKOFF_MS = 300;

/** One SOCKS5 CONNECT through the ingress to the echo server, one round trip. */
async function roundTrip(proxyPort: number, echoPort: number, text: string): Promise<string> {
  const { socket } = await SocksClient.createConnection({
    proxy: { host: '127.0.0.1', port: proxyPort, type: 5, userId: USER.login, password: USER.password },
    command: 'connect',
    destination: { host: '127.0.0.1', port: echoPort },
    timeout: 5000,
  });
  try {
    socket.write(text);
    const [reply] = (await withTimeout(new Promise<Buffer[]>((r) => socket.once('data', (d: Buffer) => r([d]))), 5000, 'echo')) as [Buffer];
    return reply.toString();
  } finally {
    socket.destroy();
  }
}

test('two workers (YAML): a killed worker is replaced after its back-off and the pool serves on', { timeout: 60_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'hopgate-restart-'));
  const echo = await startEchoServer();
  const file = join(dir, 'ingress.yaml');
  const users = [{ login: USER.login, passwordHash: await hashPassword(USER.password, { ln: 10, r: 8, p: 1 }) }];
  writeFileSync(file, stringify({ listen: { host: '127.0.0.1', ports: [0, 0] }, targetPolicy: { allow: ['127.0.0.0/8'] }, log: { level: 'silent', access: false }, users }));
  const ing = await startIngressProcesses(file, { workers: 2, log: createLogger('silent'), restart: { baseMs: BACKOFF_MS, maxMs: BACKOFF_MS, jitter: 0 } });
  try {
    assert.equal(await roundTrip(ing.ports[0], echo.port, 'before'), 'before');
    const workers = Object.values(cluster.workers ?? {}).filter((w): w is Worker => w !== undefined);
    assert.equal(workers.length, 2);
    const victim = workers[0]!;
    const replaced = new Promise<{ worker: Worker; at: number }>((resolve) =>
      cluster.once('fork', (w: Worker) =>
        w.on('message', (m: { type?: string }) => {
          if (m?.type === 'hopgate:worker:ready') resolve({ worker: w, at: performance.now() });
        }),
      ),
    );
    const exited = new Promise<number>((r) => victim.once('exit', () => r(performance.now())));
    victim.process.kill('SIGKILL');
    const diedAt = await exited;
    const { worker, at } = await withTimeout(replaced, 15_000, 'the replacement worker');
    assert.ok(at - diedAt >= BACKOFF_MS - 10, `replaced after ${Math.round(at - diedAt)} ms, before its back-off`);
    assert.notEqual(worker.process.pid, victim.process.pid);
    assert.equal(Object.values(cluster.workers ?? {}).filter((w) => w?.isConnected()).length, 2);
    // Both workers accept on the shared port again: every connection gets through.
    for (let i = 0; i < 10; i++) assert.equal(await roundTrip(ing.ports[0], echo.port, `after-${i}`), `after-${i}`);
  } finally {
    await ing.stop();
    await echo.close();
    rmSync(dir, { recursive: true, force: true });
  }
  assert.equal(Object.values(cluster.workers ?? {}).filter((w) => w !== undefined).length, 0, 'stop ended every worker');
});
