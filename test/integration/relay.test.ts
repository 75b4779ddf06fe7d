/** The relay's guarantees: half-close both ways, backpressure with bounded memory, idle timeout. */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Socket } from 'node:net';
import { SocksClient } from 'socks';
import { closed, listen0, startEchoServer, withTimeout } from '../helpers/net.js';
import { startTestIngress, USER, type TestIngress } from '../helpers/ingress.js';
import { socks5ConnectRaw } from '../helpers/socks5-raw.js';
import { eventually, sleep } from '../helpers/eventually.js';

let ing: TestIngress;
before(async () => {
  ing = await startTestIngress({ limits: { idleTimeoutMs: 700 } });
});
after(async () => {
  await ing.stop();
});

async function tunnel(port: number): Promise<Socket> {
  const { socket } = await SocksClient.createConnection({
    proxy: { host: '127.0.0.1', port: ing.port, type: 5, userId: USER.login, password: USER.password },
    command: 'connect',
    destination: { host: '127.0.0.1', port },
    timeout: 5000,
  });
  return socket;
}

function collect(s: Socket): Promise<string> {
  let out = '';
  s.on('data', (d: Buffer) => (out += d.toString()));
  return new Promise((resolve) => s.once('end', () => resolve(out)));
}

test('client half-close: the target sees EOF and can still answer', async () => {
  const echo = await startEchoServer();
  try {
    const s = await tunnel(echo.port);
    const done = collect(s);
    s.end('abc'); // FIN after data; the echo server answers and then closes
    assert.equal(await withTimeout(done, 3000, 'echo after half-close'), 'abc');
  } finally {
    await echo.close();
  }
});

test('target half-close: the client sees EOF and can still send', async () => {
  let received = '';
  let gotIt!: () => void;
  const gotMore = new Promise<void>((resolve) => (gotIt = resolve));
  const server = createServer({ allowHalfOpen: true }, (t) => {
    t.on('error', () => undefined);
    t.end('bye'); // target closes its sending side first
    t.on('data', (d: Buffer) => {
      received += d.toString();
      if (received === 'still here') gotIt();
    });
  });
  const port = await listen0(server);
  const s = await socks5ConnectRaw(ing.port, USER.login, USER.password, '127.0.0.1', port); // allowHalfOpen client
  let fromTarget = '';
  s.on('data', (d: Buffer) => (fromTarget += d.toString()));
  s.on('end', () => s.write('still here'));
  s.resume();
  try {
    await withTimeout(gotMore, 3000, 'bytes after the target half-closed');
    assert.equal(fromTarget, 'bye');
  } finally {
    s.destroy();
    await new Promise((r) => server.close(r));
  }
});

test('backpressure: a fast writer and a paused reader keep memory bounded', async (t) => {
  const chunk = Buffer.alloc(64 * 1024, 7);
  let sent = 0;
  const server = createServer((c) => {
    const pump = (): void => {
      while (sent < 512 * 1024 * 1024 && c.write(chunk)) sent += chunk.length;
      if (!c.destroyed) c.once('drain', pump);
    };
    c.on('error', () => undefined);
    pump();
  });
  const port = await listen0(server);
  // A raw client: the reader must really stop reading (no library buffering it for us).
  // Its own ingress: this file's short idle timeout would (rightly) close a tunnel that makes no progress.
  const patient = await startTestIngress();
  t.after(() => patient.stop());
  const s = await socks5ConnectRaw(patient.port, USER.login, USER.password, '127.0.0.1', port);
  const rssBefore = process.memoryUsage().rss;
  // The claim is that the target stalls: wait until it has (no progress across 200 ms), not a guessed 1.5 s.
  await eventually('the target stalled by backpressure', async () => {
    const was = sent;
    await sleep(200);
    return sent > 0 && sent === was;
  }, { timeoutMs: 10_000, everyMs: 0 });
  const session = [...patient.ingress.runtime.sessions].find((x) => x.target?.port === port);
  assert.ok(session, 'session found');
  const buffered = session.counters.down;
  const growth = process.memoryUsage().rss - rssBefore;
  // Only socket buffers hold data: the target could not push 512 MiB through.
  assert.ok(sent < 64 * 1024 * 1024, `target pushed ${sent} bytes past a paused reader`);
  assert.ok(buffered < 48 * 1024 * 1024, `ingress read ${buffered} bytes it could not deliver`);
  assert.ok(growth < 96 * 1024 * 1024, `RSS grew by ${growth} bytes`);
  // And it resumes: reading drains everything that was in flight.
  let got = 0;
  s.on('data', (d: Buffer) => (got += d.length));
  s.resume();
  await eventually('data flowing again after resume', () => got > 0, { timeoutMs: 3000 });
  s.destroy();
  await new Promise((r) => server.close(r));
});

test('idle tunnels are closed after the idle timeout', async () => {
  const echo = await startEchoServer();
  try {
    const s = await tunnel(echo.port);
    const t0 = Date.now();
    await withTimeout(closed(s), 4000, 'idle close');
    assert.ok(Date.now() - t0 >= 500);
  } finally {
    await echo.close();
  }
});
