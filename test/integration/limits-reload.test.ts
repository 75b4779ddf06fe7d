/** Connection limits, auth throttling, live reload without dropping connections, graceful drain. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { once } from 'node:events';
import { SocksClient } from 'socks';
import { closed, startEchoServer, withTimeout } from '../helpers/net.js';
import { aliceHashed, startTestIngress, USER } from '../helpers/ingress.js';
import { IngressConfigSchema } from '../../src/shared/schema/ingress-config.js';
import { hashPassword } from '../../src/shared/auth/password-hash.js';
import { eventually, sleep } from '../helpers/eventually.js';

function tunnel(port: number, target: number, user = USER.login, password = USER.password) {
  return SocksClient.createConnection({
    proxy: { host: '127.0.0.1', port, type: 5, userId: user, password },
    command: 'connect',
    destination: { host: '127.0.0.1', port: target },
    timeout: 5000,
  });
}

async function roundTrip(s: Socket, text: string): Promise<string> {
  s.write(text);
  const [d] = (await withTimeout(once(s, 'data'), 3000, 'echo')) as [Buffer];
  return d.toString();
}

test('per-user connection limit answers REP 2 past the limit', async () => {
  const echo = await startEchoServer();
  const ing = await startTestIngress({ users: [{ login: USER.login, passwordHash: await aliceHashed(), maxConnections: 1 }] });
  try {
    const first = await tunnel(ing.port, echo.port);
    await assert.rejects(tunnel(ing.port, echo.port), /NotAllowed/);
    first.socket.destroy();
    await eventually("alice's first connection released", () => ing.ingress.runtime.limiter.userActive(USER.login) === 0);
    const again = await tunnel(ing.port, echo.port);
    again.socket.destroy();
  } finally {
    await ing.stop();
    await echo.close();
  }
});

test('global connection limit drops connections past it before reading a byte', async () => {
  const ing = await startTestIngress({ limits: { maxConnections: 2 } });
  try {
    // Three sources: one source may hold only half the budget before authenticating (1 of 2 here), so from a
    // single address the per-source cap, not the global limit, would refuse the second and third.
    const held = ['127.0.0.2', '127.0.0.3'].map((localAddress) => connect({ port: ing.port, host: '127.0.0.1', localAddress }));
    await Promise.all(held.map((s) => once(s, 'connect')));
    await eventually('both held connections accepted and counted', () => ing.ingress.runtime.limiter.active === 2);
    const third = connect({ port: ing.port, host: '127.0.0.1', localAddress: '127.0.0.4' });
    third.on('error', () => undefined);
    await withTimeout(closed(third), 2000, 'third connection dropped');
    held.forEach((s) => s.destroy());
  } finally {
    await ing.stop();
  }
});

test('repeated auth failures of one login from one source hold its attempts back for a backoff', async () => {
  const ing = await startTestIngress({ limits: { authFailuresFree: 2, authBackoffBaseMs: 400 } });
  const echo = await startEchoServer();
  try {
    for (let i = 0; i < 2; i++) await assert.rejects(tunnel(ing.port, echo.port, USER.login, 'wrong'));
    // Held back: even the right password is not checked now, and the refusal is immediate.
    const t0 = Date.now();
    await assert.rejects(tunnel(ing.port, echo.port));
    assert.ok(Date.now() - t0 < 300, `refusal took ${Date.now() - t0} ms`);
    // After the backoff the right password gets through, and a success clears the record.
    await sleep(450); // the backoff's own time passing (400 ms), not a condition to poll: a polled attempt would count as one
    const ok = await tunnel(ing.port, echo.port);
    ok.socket.destroy();
    await assert.rejects(tunnel(ing.port, echo.port, USER.login, 'wrong'));
    (await tunnel(ing.port, echo.port)).socket.destroy();
  } finally {
    await echo.close();
    await ing.stop();
  }
});

test('reload applies new users and passwords without dropping live tunnels', async () => {
  const echo = await startEchoServer();
  const ing = await startTestIngress();
  try {
    const live = await tunnel(ing.port, echo.port);
    assert.equal(await roundTrip(live.socket, 'before'), 'before');
    const next = IngressConfigSchema.parse({
      ...ing.ingress.runtime.snapshot.config,
      users: [{ login: 'bob', passwordHash: await hashPassword('builder', { ln: 10, r: 8, p: 1 }) }],
    });
    const rev = ing.ingress.reload(next);
    assert.equal(rev, 2);
    assert.equal(await roundTrip(live.socket, 'after'), 'after'); // the live tunnel survived
    await assert.rejects(tunnel(ing.port, echo.port)); // alice is gone
    const bob = await tunnel(ing.port, echo.port, 'bob', 'builder');
    bob.socket.destroy();
    live.socket.destroy();
  } finally {
    await ing.stop();
    await echo.close();
  }
});

test('graceful shutdown: refuses new connections, lets live ones finish, then stops', async () => {
  const echo = await startEchoServer();
  const ing = await startTestIngress();
  const live = await tunnel(ing.port, echo.port);
  const stopping = ing.ingress.shutdown(5000);
  assert.equal(ing.ingress.runtime.draining, true, 'the listeners closed at the call (synchronously): nothing to wait for');
  assert.equal(await roundTrip(live.socket, 'still relaying'), 'still relaying');
  const fresh = connect(ing.port, '127.0.0.1');
  const refused = await new Promise<boolean>((resolve) => {
    fresh.once('error', () => resolve(true));
    fresh.once('connect', () => fresh.once('close', () => resolve(true)));
  });
  assert.ok(refused);
  const t0 = Date.now();
  live.socket.end();
  await withTimeout(stopping, 3000, 'shutdown after the last session ended');
  assert.ok(Date.now() - t0 < 2000);
  await echo.close();
});

test('graceful shutdown cuts sessions still open at the drain deadline', async () => {
  const echo = await startEchoServer();
  const ing = await startTestIngress();
  const live = await tunnel(ing.port, echo.port);
  const t0 = Date.now();
  await ing.ingress.shutdown(300);
  assert.ok(Date.now() - t0 < 1500);
  await withTimeout(closed(live.socket), 2000, 'cut session');
  await echo.close();
});
