/**
 * A client that sends its request, its first bytes and its FIN in one go (`printf … | nc -N`):
 * the FIN arrives while the ingress is still in the handshake (authenticating, dialling
 * the exit), before the relay listens for it. It must still reach the target, the answer
 * and its FIN must come back, and every session (the ingress's and the exit's) must end.
 * Found by the live fuzzer (corpus/live/client-resources-4dba1ae504.json): the FIN was
 * lost, the relay waited for the idle timeout, and both sessions stayed meanwhile.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startTestIngress, USER, type TestIngress } from '../helpers/ingress.js';
import { exitEntry, startTestExit, type TestExit } from '../helpers/exits.js';
import { startEchoServer, withTimeout } from '../helpers/net.js';
import { ensureSelfSignedCert } from '../../src/cli/tls-cert.js';
import type { Ingress } from '../../src/ingress/ingress.js';
import { eventually } from '../helpers/eventually.js';
import { socks5PipelinedConnect } from '../helpers/socks5-raw.js';

let echo: Awaited<ReturnType<typeof startEchoServer>>;
let exit: TestExit;
let viaExit: TestIngress;
let direct: TestIngress;

before(async () => {
  echo = await startEchoServer();
  exit = await startTestExit('hc-exit', '127.0.0.1');
  const tls = ensureSelfSignedCert(join(mkdtempSync(join(tmpdir(), 'hopgate-hc-')), 'tls'))!;
  viaExit = await startTestIngress({ tls, exits: [exitEntry(exit, 'us')] });
  direct = await startTestIngress({ tls });
});

after(async () => {
  await viaExit.stop();
  await direct.stop();
  await exit.node.shutdown(100);
  await echo.close();
});

// Enough bytes that the reply, the echo and the FIN cannot all fit in one read by chance.
const PAYLOAD = Buffer.alloc(900, 'x');
const USERID = `${USER.login}:${USER.password}`;

function socks4(port: number): Buffer {
  const head = Buffer.from([4, 1, port >> 8, port & 0xff, 127, 0, 0, 1]);
  return Buffer.concat([head, Buffer.from(USERID), Buffer.from([0])]);
}

function socks4a(port: number): Buffer {
  const head = Buffer.from([4, 1, port >> 8, port & 0xff, 0, 0, 0, 1]);
  return Buffer.concat([head, Buffer.from(USERID), Buffer.from([0]), Buffer.from('localhost'), Buffer.from([0])]);
}

function httpConnect(port: number): Buffer {
  const auth = Buffer.from(`${USER.login}:${USER.password}`).toString('base64');
  return Buffer.from(`CONNECT 127.0.0.1:${port} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nProxy-Authorization: Basic ${auth}\r\n\r\n`);
}

/** Write request + payload, half-close, and collect everything until the ingress's FIN. */
async function halfCloseExchange(s: Socket, request: Buffer): Promise<Buffer> {
  const chunks: Buffer[] = [];
  s.on('data', (c: Buffer) => chunks.push(c));
  const ended = new Promise<void>((resolve, reject) => {
    s.once('end', resolve);
    s.once('close', () => reject(new Error(`closed without a FIN after ${Buffer.concat(chunks).length} bytes`)));
    s.once('error', reject);
  });
  s.end(Buffer.concat([request, PAYLOAD]));
  try {
    await withTimeout(ended, 5000, 'the answer and its FIN');
  } finally {
    s.destroy();
  }
  return Buffer.concat(chunks);
}

async function sessionsGone(...nodes: Ingress[]): Promise<number> {
  const left = (): number => nodes.reduce((n, node) => n + node.runtime.sessions.size, 0);
  // Up to 4 s: the 2 s grace after an error reply (front/end-client.ts), with room for a loaded machine.
  await eventually('every session gone', () => left() === 0, { timeoutMs: 4000, everyMs: 50 }).catch(() => undefined); // the caller asserts the count
  return left();
}

const fronts: Array<[string, (port: number) => Buffer, number]> = [
  ['SOCKS4', socks4, 8],
  ['SOCKS4a', socks4a, 8],
  ['SOCKS5', (port: number) => socks5PipelinedConnect(port, USER.login, USER.password), 2 + 2 + 10],
  ['HTTP CONNECT', httpConnect, -1],
];

function payloadAfterReply(all: Buffer, replyBytes: number): Buffer {
  if (replyBytes >= 0) return all.subarray(replyBytes);
  const headEnd = all.indexOf('\r\n\r\n');
  assert.ok(headEnd > 0 && /^HTTP\/1\.1 200/.test(all.toString('latin1', 0, 12)), `not a 200: ${all.toString('latin1', 0, 80)}`);
  return all.subarray(headEnd + 4);
}

for (const [name, request, replyBytes] of fronts) {
  for (const route of ['through a hopgate exit', 'direct'] as const) {
    test(`${name} ${route}: request, data and FIN in one write get the echo, a FIN, and every session ends`, async () => {
      const ing = route === 'direct' ? direct : viaExit;
      const s = connect({ port: ing.port, host: '127.0.0.1', allowHalfOpen: true });
      const all = await halfCloseExchange(s, request(echo.port));
      assert.deepEqual(payloadAfterReply(all, replyBytes), PAYLOAD, 'the echo of every byte sent with the request');
      assert.equal(await sessionsGone(ing.ingress, exit.node), 0, 'sessions left open');
    });
  }
}

test('HTTPS proxy: CONNECT, data and close_notify+FIN at once get the echo and every session ends', async () => {
  const raw = connect({ port: viaExit.port, host: '127.0.0.1', allowHalfOpen: true });
  const s = tlsConnect({ socket: raw, rejectUnauthorized: false });
  await new Promise<void>((resolve, reject) => s.once('secureConnect', resolve).once('error', reject));
  const all = await halfCloseExchange(s, httpConnect(echo.port));
  assert.deepEqual(payloadAfterReply(all, -1), PAYLOAD);
  assert.equal(await sessionsGone(viaExit.ingress, exit.node), 0, 'sessions left open');
});

for (const route of ['through a hopgate exit', 'direct'] as const) {
  test(`SOCKS5 UDP ASSOCIATE ${route}: request and FIN in one write end the association (RFC 1928 §7), not its idle timeout`, async () => {
    const ing = route === 'direct' ? direct : viaExit;
    const s = connect({ port: ing.port, host: '127.0.0.1', allowHalfOpen: true });
    s.on('error', () => undefined);
    const chunks: Buffer[] = [];
    s.on('data', (c: Buffer) => chunks.push(c));
    const gone = new Promise<void>((resolve) => s.once('close', () => resolve()));
    const associate = socks5PipelinedConnect(0, USER.login, USER.password);
    associate[associate.length - 9] = 3; // CMD UDP ASSOCIATE, from 0.0.0.0:0
    associate.fill(0, associate.length - 6);
    s.end(associate);
    try {
      await withTimeout(gone, 3000, 'the control connection to close');
    } finally {
      s.destroy();
    }
    const all = Buffer.concat(chunks);
    assert.deepEqual([...all.subarray(0, 6)], [5, 2, 1, 0, 5, 0], 'method 2, auth ok, then REP succeeded');
    assert.equal(await sessionsGone(ing.ingress, exit.node), 0, 'sessions left open');
  });
}

test('HTTP forward: after an error reply (a target\'s head too large: 431) every session ends, though the client keeps its socket open', async () => {
  const { createServer } = await import('node:net');
  const { listen0 } = await import('../helpers/net.js');
  const targetSockets = new Set<Socket>();
  const bad = createServer((s) => {
    targetSockets.add(s);
    s.on('error', () => undefined);
    s.once('data', () => s.write(`HTTP/1.1 200 OK\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`));
  });
  const port = await listen0(bad);
  try {
    const s = connect({ port: viaExit.port, host: '127.0.0.1', allowHalfOpen: true });
    s.on('error', () => undefined);
    const chunks: Buffer[] = [];
    s.on('data', (c: Buffer) => chunks.push(c));
    const auth = Buffer.from(`${USER.login}:${USER.password}`).toString('base64');
    s.write(`GET http://127.0.0.1:${port}/ HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nProxy-Authorization: Basic ${auth}\r\n\r\n`);
    await withTimeout(new Promise<void>((resolve) => s.once('end', () => resolve())), 5000, 'the 431 and its FIN');
    assert.match(Buffer.concat(chunks).toString('latin1'), /^HTTP\/1\.1 431 .*HEADERS_TOO_LARGE/s);
    // The client neither closes nor sends: it must not hold the sessions (and the exit's connection) until the idle timeout.
    assert.equal(await sessionsGone(viaExit.ingress, exit.node), 0, 'sessions left open');
    s.destroy();
  } finally {
    for (const t of targetSockets) t.destroy(); // before the fix, the exit's connection stayed: close() would wait for it
    await new Promise<void>((r) => bad.close(() => r()));
  }
});
