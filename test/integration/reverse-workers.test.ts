/**
 * The reverse side starts late, when a reload brings the first reverse exit.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { SocksClient } from 'socks';
import { startEchoServer, listen0, withTimeout } from '../helpers/net.js';
import { aliceHashed, USER } from '../helpers/ingress.js';
import { reverseEntry, startReverseExit, tunnelCert, tokenHash, until } from '../helpers/reverse.js';
import { Ingress } from '../../src/ingress/ingress.js';
import { IngressConfigSchema, type IngressConfigInput } from '../../src/shared/schema/ingress-config.js';
import type { ReverseExitClient } from '../../src/exit/reverse-client.js';

let echo: Awaited<ReturnType<typeof startEchoServer>>;

before(async () => {
  echo = await startEchoServer();
});

after(async () => {
  await echo.close();
});

/** Settings of every ingress here: ephemeral ports, loopback targets, quiet, alice. */
async function base(): Promise<IngressConfigInput & { users: object[] }> {
  const cert = tunnelCert();
  return {
    listen: { host: '127.0.0.1', ports: [0, 0] },
    targetPolicy: { allow: ['127.0.0.0/8'] },
    log: { level: 'silent', access: false },
    limits: { exitProbeIntervalMs: 0 },
    tls: { cert: cert.cert, key: cert.key },
    users: [{ login: USER.login, passwordHash: await aliceHashed() }],
  };
}

/** A small pool and a short wait: a request fails unless its worker holds an idle work connection. */
const REVERSE = { listen: { host: '127.0.0.1', port: 0 }, waitMs: 300, heartbeatMs: 5000 };

/** One SOCKS5 tunnel pinned to the exit's egress address: echo a line; where the target saw it from. */
async function echoVia(proxyPort: number, egress: string, i: number): Promise<string> {
  const { socket } = await SocksClient.createConnection({
    proxy: { host: '127.0.0.1', port: proxyPort, type: 5, userId: `${USER.login}-exitip-${egress}`, password: USER.password },
    command: 'connect',
    destination: { host: '127.0.0.1', port: echo.port },
    timeout: 3000,
  });
  try {
    const msg = `req-${i}`;
    const got = new Promise<string>((resolve) => {
      let s = '';
      socket.on('data', (d: Buffer) => (s += d.toString()).length >= msg.length && resolve(s));
    });
    socket.write(msg);
    assert.equal(await withTimeout(got, 3000, `echo ${i}`), msg);
    return echo.sources.at(-1)!;
  } finally {
    socket.destroy();
  }
}

test('one process: a reload that brings the first reverse exit starts the tunnel port; a taken port is logged, not fatal', { timeout: 20_000 }, async () => {
  const logged: string[] = [];
  const log = pino({ level: 'info' }, new Writable({ write: (chunk, _enc, cb) => (logged.push(String(chunk)), cb()) }));
  const start = await base();
  const ing = await Ingress.start(IngressConfigSchema.parse(start), log);
  const taken = createServer();
  const takenPort = await listen0(taken);
  let exit: ReverseExitClient | undefined;
  try {
    assert.equal(ing.runtime.reverse, undefined, 'no reverse side without reverse exits');
    const withExit = { ...start, exits: [await reverseEntry('late', '127.0.0.22', 'de')] };
    // A port already taken: the error is logged; the rest of the reload (a new user) applies.
    const bob = { login: 'bob', passwordHash: await tokenHash('bob-password') };
    ing.reload(IngressConfigSchema.parse({ ...withExit, users: [...start.users, bob], reverse: { ...REVERSE, listen: { host: '127.0.0.1', port: takenPort } } }));
    await until(() => logged.some((l) => l.includes('reverse exits could not start')), 'the failure logged');
    assert.match(logged.find((l) => l.includes('could not start'))!, /EADDRINUSE/);
    assert.equal(ing.runtime.reverse, undefined);
    assert.ok(ing.runtime.snapshot.usersByLogin.has('bob'), 'the rest of the configuration is in force');
    assert.equal(ing.runtime.exitHealth.isUp('late'), false, 'a reverse exit with no tunnel port is down');
    // The next reload that needs it tries again.
    ing.reload(IngressConfigSchema.parse({ ...withExit, reverse: REVERSE }));
    await until(() => ing.runtime.reverse?.tunnelPort !== undefined, 'tunnel port started');
    exit = startReverseExit(ing.runtime.reverse!.tunnelPort!, 'late', '127.0.0.22', { pool: 2 });
    await withTimeout(exit.ready, 5000, 'exit registered');
    assert.equal(ing.runtime.exitHealth.isUp('late'), true);
    assert.equal(await echoVia(ing.ports()[0]!, '127.0.0.22', 0), '127.0.0.22');
    // Moving the tunnel port takes a restart: said, not done.
    const port = ing.runtime.reverse!.tunnelPort;
    ing.reload(IngressConfigSchema.parse({ ...withExit, reverse: { ...REVERSE, listen: { host: '127.0.0.1', port: takenPort + 1 } } }));
    assert.ok(logged.some((l) => l.includes('reverse.listen changes take effect on restart')));
    assert.equal(ing.runtime.reverse!.tunnelPort, port);
  } finally {
    taken.close();
    await exit?.stop(200);
    await ing.shutdown(200);
  }
});
