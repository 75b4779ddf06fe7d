/**
 * A target that never answers (its SYNs dropped) gets every client its
 * protocol's timeout answer in bounded time: SOCKS5 REP 6, SOCKS4 91, HTTP
 * 504 (CONNECT and forwarding), directly and through a hopgate exit (which
 * answers the ingress with REP 6 itself). The handshake deadline, equal to the
 * connect timeout here as by default, must not cut the connection first.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { SocksClient } from 'socks';
import { startBlackhole, type Blackhole } from '../helpers/blackhole.js';
import { curl } from '../helpers/curl.js';
import { exitEntry, startTestExit, type TestExit } from '../helpers/exits.js';
import { startTestIngress, USER, type TestIngress } from '../helpers/ingress.js';
import { readExactly } from '../helpers/socks5-raw.js';

const CONNECT_MS = 1500;
/** The answer may come this much after the connect timeout, no more (the exit's leg, a loaded machine). */
const SLACK_MS = 2500;

let hole: Blackhole;
let exit: TestExit;
let direct: TestIngress;
let viaExit: TestIngress;

before(async () => {
  hole = await startBlackhole();
  exit = await startTestExit('ex-hole', '127.0.0.61', ['127.0.0.1/32'], 0, CONNECT_MS);
  const limits = { connectTimeoutMs: CONNECT_MS, handshakeTimeoutMs: CONNECT_MS, exitProbeIntervalMs: 0 };
  direct = await startTestIngress({ limits });
  viaExit = await startTestIngress({ limits, exits: [exitEntry(exit, 'de')] });
});

after(async () => {
  hole.close();
  await direct.stop();
  await viaExit.stop();
  await exit.node.shutdown(200);
});

async function timed<T>(what: string, run: () => Promise<T>): Promise<T> {
  const t0 = Date.now();
  const out = await run();
  const ms = Date.now() - t0;
  assert.ok(ms >= CONNECT_MS - 100, `${what}: answered after ${ms} ms, before the connect timeout`);
  assert.ok(ms <= CONNECT_MS + SLACK_MS, `${what}: answered after ${ms} ms`);
  return out;
}

function opened(port: number): Promise<import('node:net').Socket> {
  return new Promise((resolve, reject) => {
    const s = connect({ port, host: '127.0.0.1' });
    s.once('connect', () => resolve(s));
    s.once('error', reject);
  });
}

async function socks5Raw(port: number): Promise<number> {
  const s = await opened(port);
  s.on('error', () => undefined);
  try {
    s.write(Buffer.from([5, 1, 2]));
    await readExactly(s, 2);
    const u = Buffer.from(USER.login);
    const p = Buffer.from(USER.password);
    s.write(Buffer.concat([Buffer.from([1, u.length]), u, Buffer.from([p.length]), p]));
    assert.equal((await readExactly(s, 2))[1], 0, 'authenticated');
    const req = Buffer.from([5, 1, 0, 1, 127, 0, 0, 1, 0, 0]);
    req.writeUInt16BE(hole.port, 8);
    s.write(req);
    return await timed('SOCKS5 raw', async () => (await readExactly(s, 10, 10_000))[1]!);
  } finally {
    s.destroy();
  }
}

async function socks5Client(port: number): Promise<string> {
  return timed('socks client', () =>
    SocksClient.createConnection({
      proxy: { host: '127.0.0.1', port, type: 5, userId: USER.login, password: USER.password },
      command: 'connect',
      destination: { host: '127.0.0.1', port: hole.port },
      timeout: 10_000,
    }).then(
      (r) => {
        r.socket.destroy();
        return 'connected';
      },
      (err: Error) => err.message,
    ),
  );
}

async function socks4(port: number): Promise<number> {
  const s = await opened(port);
  s.on('error', () => undefined);
  try {
    const head = Buffer.from([4, 1, 0, 0, 127, 0, 0, 1]);
    head.writeUInt16BE(hole.port, 2);
    s.write(Buffer.concat([head, Buffer.from(`${USER.login}:${USER.password}\0`)]));
    return await timed('SOCKS4', async () => (await readExactly(s, 8, 10_000))[1]!);
  } finally {
    s.destroy();
  }
}

const proxyUrl = (port: number): string => `http://${USER.login}:${USER.password}@127.0.0.1:${port}`;

for (const route of ['direct', 'through a hopgate exit'] as const) {
  test(`a target that drops SYNs, ${route}: REP 6, SOCKS4 91 and HTTP 504 within the connect timeout`, { timeout: 30_000 }, async () => {
    const port = route === 'direct' ? direct.port : viaExit.port;
    const [rep5, lib, rep4, connectRes, forwardRes] = await Promise.all([
      socks5Raw(port),
      socks5Client(port),
      socks4(port),
      timed('HTTP CONNECT', () => curl(['-sS', '-p', '-x', proxyUrl(port), '-o', '/dev/null', `http://127.0.0.1:${hole.port}/`], 10_000)),
      timed('HTTP forward', () => curl(['-sS', '-x', proxyUrl(port), '-i', `http://127.0.0.1:${hole.port}/`], 10_000)),
    ]);
    assert.equal(rep5, 6, 'SOCKS5 REP 6 (TTL expired: the timeout)');
    assert.match(lib, /TTLExpired/, 'the socks client hears REP 6');
    assert.equal(rep4, 91, 'SOCKS4 request rejected or failed');
    assert.match(connectRes.stderr, /CONNECT.*504/, connectRes.stderr);
    assert.match(forwardRes.stdout, /^HTTP\/1\.1 504 Gateway Timeout/, forwardRes.stdout);
    assert.match(forwardRes.stdout, /X-Hopgate-Error: TIMEOUT/);
  });
}
