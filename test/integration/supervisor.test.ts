/** The worker supervisor with real forked processes (supervisor-worker.ts): restart with back-off, drain on stop, IPC validation. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Worker } from 'node:cluster';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WorkerSupervisor, type SupervisorOptions, type WorkerExit } from '../../src/processes/supervisor.js';
import { IngressCluster } from '../../src/processes/ingress-cluster.js';
import type { WorkerMessage } from '../../src/processes/ipc-messages.js';
import { IngressConfigSchema } from '../../src/shared/schema/ingress-config.js';
import { createLogger } from '../../src/shared/log.js';
import { closed, withTimeout } from '../helpers/net.js';
import { eventually } from '../helpers/eventually.js';
import { pidAlive } from '../helpers/procs.js';
import { accepts } from '../helpers/ports.js';

const WORKER = new URL('./supervisor-worker.js', import.meta.url).pathname;

/** A supervisor whose readies and exits can be awaited one by one, in order. */
function supervised(mode: string, extra: Partial<SupervisorOptions> & { count: number }) {
  const dir = mkdtempSync(join(tmpdir(), 'hopgate-supervisor-'));
  const readies: Array<{ pid: number; at: number }> = [];
  const exits: Array<{ pid: number; info: WorkerExit; at: number }> = [];
  const s = new WorkerSupervisor({
    exec: WORKER,
    args: [dir, mode],
    log: createLogger('silent'),
    ...extra,
    onMessage: (w: Worker, m: WorkerMessage) => {
      if (m.type === 'hopgate:worker:ready') readies.push({ pid: w.process.pid!, at: performance.now() });
    },
    onExit: (w, info) => {
      exits.push({ pid: w.process.pid!, info, at: performance.now() });
    },
  });
  return { s, dir, readies, exits, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

test('supervisor: a crashed worker is restarted after its back-off, which doubles while it keeps crashing', async () => {
  const t = supervised('ok', { count: 2, restart: { baseMs: 400, maxMs: 5000, jitter: 0 }, stableMs: 60_000 });
  try {
    await t.s.start();
    assert.equal(t.s.phase, 'running');
    const first = t.s.workers().map((w) => w.process.pid!);
    assert.equal(first.length, 2);

    process.kill(first[0]!, 'SIGKILL');
    await eventually('the first restart', () => t.readies.length === 3, { timeoutMs: 10_000 });
    assert.equal(t.exits[0]!.pid, first[0]);
    assert.equal(t.exits[0]!.info.signal, 'SIGKILL');
    assert.equal(t.exits[0]!.info.restartInMs, 400, 'attempt 0: the base');
    const replaced = t.readies[2]!;
    assert.ok(replaced.at - t.exits[0]!.at >= 390, `restarted after ${Math.round(replaced.at - t.exits[0]!.at)} ms, before its back-off`);
    assert.ok(!first.includes(replaced.pid), 'a new process');

    process.kill(replaced.pid, 'SIGKILL');
    await eventually('the second restart', () => t.readies.length === 4, { timeoutMs: 10_000 });
    assert.equal(t.exits[1]!.info.restartInMs, 800, 'attempt 1 of the same slot: doubled');
    assert.ok(t.readies[3]!.at - t.exits[1]!.at >= 790);
    assert.equal(t.s.restarts, 2);
    assert.equal(t.s.workers().length, 2);
    assert.ok(pidAlive(first[1]!), 'the other worker was left alone');
  } finally {
    await t.s.stop();
    t.cleanup();
  }
});

test('supervisor: stop drains every worker (SIGTERM, waits for it) and restarts none', async () => {
  const t = supervised('ok', { count: 3, restart: { baseMs: 10, maxMs: 10, jitter: 0 } });
  try {
    await t.s.start();
    const pids = t.s.workers().map((w) => w.process.pid!);
    assert.equal(pids.length, 3);
    const t0 = performance.now();
    await t.s.stop();
    assert.ok(performance.now() - t0 >= 290, 'stop waited for the 300 ms drains');
    assert.equal(t.s.phase, 'stopped');
    for (const pid of pids) {
      assert.ok(existsSync(join(t.dir, `drained-${pid}`)), `worker ${pid} drained`);
      assert.equal(pidAlive(pid), false, `worker ${pid} is gone`);
    }
    assert.deepEqual(
      t.exits.map((e) => [e.info.code, e.info.restartInMs]),
      pids.map(() => [0, undefined]),
    );
    assert.equal(t.s.restarts, 0);
    assert.equal(t.s.workers().length, 0);
  } finally {
    await t.s.stop();
    t.cleanup();
  }
});

test('supervisor: messages off the IPC list are dropped and counted; the worker and the primary carry on', async () => {
  const t = supervised('malformed', { count: 2 });
  try {
    await t.s.start();
    assert.equal(t.s.rejected, 8, 'four from each worker');
    assert.equal(t.readies.length, 2, 'only the real ready counted');
    assert.equal(t.s.workers().length, 2);
    assert.equal(t.exits.length, 0);
  } finally {
    await t.s.stop();
    t.cleanup();
  }
});

test('supervisor: a handle sent with a worker message is closed in the primary, the message dropped and counted (no worker message takes one)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'hopgate-supervisor-'));
  const booted: string[] = [];
  const s = new WorkerSupervisor({ count: 1, exec: WORKER, args: [dir, 'handle'], log: createLogger('silent'), onMessage: (_w, m) => void booted.push(m.type) });
  try {
    await s.start();
    const [w] = s.workers();
    const port = Number(readFileSync(join(dir, `port-${w!.process.pid}`), 'utf8'));
    assert.ok(port > 0);
    assert.equal(s.rejected, 1, 'the booting that came with a server');
    assert.deepEqual(booted, ['hopgate:worker:ready'], 'only the ready reached the primary');
    // The worker closed its copy once sent: the port accepts only while the primary still holds one.
    await eventually('the port closed in the primary too', async () => !(await accepts(port)), { timeoutMs: 5000 });
  } finally {
    await s.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('supervisor: a worker that cannot start fails start(); nothing is restarted or left running', async () => {
  const t = supervised('fail', { count: 2, restart: { baseMs: 10, maxMs: 10, jitter: 0 } });
  try {
    await assert.rejects(t.s.start(), /cannot start: by design/);
    assert.equal(t.s.phase, 'stopped');
    await eventually('both workers gone', () => t.exits.length === 2, { timeoutMs: 10_000 });
    for (const e of t.exits) assert.equal(e.info.restartInMs, undefined);
    assert.equal(t.s.restarts, 0);
  } finally {
    await t.s.stop();
    t.cleanup();
  }
});

test('supervisor: messages to a worker that just died do not take the primary down (its IPC channel closes under a send)', async () => {
  const t = supervised('ok', { count: 1, restart: { baseMs: 60_000, maxMs: 60_000, jitter: 0 } });
  const uncaught: Error[] = [];
  const onUncaught = (err: Error): void => void uncaught.push(err);
  process.prependListener('uncaughtException', onUncaught);
  try {
    await t.s.start();
    const [w] = t.s.workers();
    process.kill(w!.process.pid!, 'SIGKILL');
    // Until the primary hears it is gone, `isConnected()` still says yes: sends race the closing channel.
    const until = performance.now() + 2000;
    while (t.exits.length === 0 && performance.now() < until) {
      t.s.broadcast({ type: 'hopgate:config:reload' });
      t.s.send(w!, { type: 'hopgate:config:reload' });
      w!.send({ type: 'hopgate:config:reload' }); // straight to the worker, no callback: a failure is the worker's 'error'
      await new Promise((r) => setImmediate(r));
    }
    await eventually('the worker gone', () => t.exits.length === 1, { timeoutMs: 10_000 });
    for (let i = 0; i < 20; i++) w!.send({ type: 'hopgate:config:reload' }); // and after it is gone
    await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(uncaught.map((e) => e.message), [], 'no error escaped to the process');
  } finally {
    process.off('uncaughtException', onUncaught);
    await t.s.stop();
    t.cleanup();
  }
});

test('ingress cluster: a tunnel load report off the IPC list does not seat its worker at the tunnel port; the next good one does', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'hopgate-supervisor-'));
  const pool = new IngressCluster({ count: 1, exec: WORKER, args: [dir, 'reverse'], log: createLogger('silent') });
  const clients: Array<ReturnType<typeof connect>> = [];
  const dial = (): ReturnType<typeof connect> => {
    const c = connect({ host: '127.0.0.1', port: pool.tunnelPort! });
    c.on('error', () => undefined);
    clients.push(c);
    return c;
  };
  try {
    await pool.start(IngressConfigSchema.parse({ listen: { host: '127.0.0.1', ports: [0, 0] }, reverse: { listen: { host: '127.0.0.1', port: 0 } } }));
    assert.ok(pool.tunnelPort, 'the primary holds the tunnel port');
    const [w] = pool.supervisor.workers();
    const got = (): string[] => (existsSync(join(dir, `got-${w!.process.pid}`)) ? readFileSync(join(dir, `got-${w!.process.pid}`), 'utf8').split('\n').filter(Boolean) : []);
    // The report says its load is 'many': the supervisor drops it, and so must the tunnel port.
    await eventually('the bad report rejected', () => pool.supervisor.rejected === 1);
    // No worker seated: a tunnel connection is closed at once, not handed to the worker.
    await withTimeout(closed(dial()), 3000, 'a tunnel connection with no worker seated closed');
    // A hello (the tunnel port opening in a reload sends one) brings a good report: seated, the worker gets the ticket keys, then connections.
    pool.supervisor.send(w!, { type: 'hopgate:reverse:hello' });
    await eventually('the worker seated (it got the ticket keys)', () => got().includes('hopgate:reverse:keys'));
    dial();
    await eventually('the next connection handed to the worker', () => got().length === 3);
    assert.deepEqual(got(), ['hopgate:reverse:hello', 'hopgate:reverse:keys', 'hopgate:reverse:conn +socket']);
    assert.equal(pool.supervisor.rejected, 1);
    assert.equal(pool.supervisor.workers().length, 1);
  } finally {
    for (const c of clients) c.destroy();
    await pool.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});
