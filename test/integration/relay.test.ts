/** The relay's guarantees: half-close both ways, backpressure with bounded memory, idle timeout. */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Socket } from 'node:net';
import { once } from 'node:events';
import { SocksClient } from 'socks';
import { listen0, startEchoServer, withTimeout } from '../helpers/net.js';
import { startTestIngress, USER, type TestIngress } from '../helpers/ingress.js';

let ing: TestIngress;
before(async () => {
  ing = await startTestIngress({ limits: { idleTimeoutMs: 700 } as never });
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
  const gotMore = new Promise<void>((resolve) => {
    const server = createServer({ allowHalfOpen: true }, (t) => {
      t.end('bye'); // target closes its sending side first
      t.on('data', (d: Buffer) => {
        received += d.toString();
        if (received === 'still here') resolve();
      });
    });
    void listen0(server).then(async (port) => {
      const s = await tunnel(port);
      s.on('end', () => s.write('still here'));
      s.resume();
    });
  });
  await withTimeout(gotMore, 3000, 'bytes after the target half-closed');
});

test('backpressure: a fast writer and a paused reader keep memory bounded', async () => {
  const chunk = Buffer.alloc(64 * 1024, 7);
  let sent = 0;
  const server = createServer((t) => {
    const pump = (): void => {
      while (sent < 512 * 1024 * 1024 && t.write(chunk)) sent += chunk.length;
      if (!t.destroyed) t.once('drain', pump);
    };
    t.on('error', () => undefined);
    pump();
  });
  const port = await listen0(server);
  const s = await tunnel(port);
  s.pause(); // slow reader: reads nothing for a while
  const rssBefore = process.memoryUsage().rss;
  await new Promise((r) => setTimeout(r, 1500));
  const session = [...ing.ingress.runtime.sessions].find((x) => x.target?.port === port);
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
  await new Promise((r) => setTimeout(r, 300));
  assert.ok(got > 0);
  s.destroy();
  server.close();
});

test('idle tunnels are closed after the idle timeout', async () => {
  const echo = await startEchoServer();
  try {
    const s = await tunnel(echo.port);
    const t0 = Date.now();
    await withTimeout(once(s, 'close'), 4000, 'idle close');
    assert.ok(Date.now() - t0 >= 500);
  } finally {
    await echo.close();
  }
});
