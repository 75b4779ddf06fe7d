import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { SocksClient } from 'socks';
import { startEchoServer, withTimeout } from '../helpers/net.js';
import { startTestIngress, USER, type TestIngress } from '../helpers/ingress.js';

let ing: TestIngress;
let echo: Awaited<ReturnType<typeof startEchoServer>>;

before(async () => {
  echo = await startEchoServer();
  ing = await startTestIngress();
});
after(async () => {
  await ing.stop();
  await echo.close();
});

function socksConnect(userId: string | undefined, password: string | undefined, host = '127.0.0.1', port = echo.port) {
  return SocksClient.createConnection({
    proxy: { host: '127.0.0.1', port: ing.port, type: 5, ...(userId !== undefined ? { userId, password } : {}) },
    command: 'connect',
    destination: { host, port },
    timeout: 5000,
  });
}

test('socks5 CONNECT with username/password relays bytes both ways', async () => {
  const { socket } = await socksConnect(USER.login, USER.password);
  socket.write('hello through hopgate');
  const data = await withTimeout(new Promise<Buffer>((r) => socket.once('data', r)), 3000);
  assert.equal(data.toString(), 'hello through hopgate');
  socket.destroy();
});

test('socks5 with a wrong password is refused with RFC 1929 status failure', async () => {
  await assert.rejects(socksConnect(USER.login, 'nope'), /Authentication|auth/i);
});

test('socks5 without credentials is refused (never an open proxy)', async () => {
  await assert.rejects(socksConnect(undefined, undefined), /auth|method/i);
});

test('socks5 CONNECT to a private address outside the allow list is refused with REP 2', async () => {
  await assert.rejects(socksConnect(USER.login, USER.password, '10.0.0.1', 80), /NotAllowed/);
});
