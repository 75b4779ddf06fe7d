/** Hostile HTTP input: oversized heads, smuggling, bad targets. Each gets a clear status and a close. */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:net';
import { closed, listen0, rawExchange, withTimeout } from '../helpers/net.js';
import { startTestIngress, USER, type TestIngress } from '../helpers/ingress.js';
import { eventually } from '../helpers/eventually.js';

let ing: TestIngress;
let origin: Server;
let originPort: number;
const seen: string[] = [];
before(async () => {
  // A raw origin that records exactly what reached it, to prove nothing smuggled gets through.
  origin = createServer((s) => {
    s.on('data', (d: Buffer) => {
      seen.push(d.toString('latin1'));
      s.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
    });
    s.on('error', () => undefined);
  });
  originPort = await listen0(origin);
  ing = await startTestIngress();
});
after(async () => {
  await ing.stop();
  origin.close();
});

const auth = `Proxy-Authorization: Basic ${Buffer.from(`${USER.login}:${USER.password}`).toString('base64')}\r\n`;
const statusOf = (b: Buffer) => Number(/^HTTP\/1\.1 (\d{3})/.exec(b.toString('latin1'))?.[1]);

test('oversized request head gets 431', async () => {
  const big = `GET http://127.0.0.1:${originPort}/ HTTP/1.1\r\nHost: x\r\n${auth}X-Pad: ${'a'.repeat(20_000)}\r\n\r\n`;
  const r = await rawExchange(ing.port, big);
  assert.equal(statusOf(r), 431);
});

test('too many headers gets 431', async () => {
  const many = Array.from({ length: 150 }, (_, i) => `X-H${i}: v\r\n`).join('');
  const r = await rawExchange(ing.port, `GET http://127.0.0.1:${originPort}/ HTTP/1.1\r\nHost: x\r\n${auth}${many}\r\n`);
  assert.equal(statusOf(r), 431);
});

test('CL.TE smuggling attempt is refused with 400 and never reaches the origin', async () => {
  seen.length = 0;
  const req = `POST http://127.0.0.1:${originPort}/ HTTP/1.1\r\nHost: x\r\n${auth}Content-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nG`;
  const r = await rawExchange(ing.port, req);
  assert.equal(statusOf(r), 400);
  assert.equal(seen.length, 0);
});

test('obfuscated Transfer-Encoding is refused', async () => {
  for (const te of ['Transfer-Encoding: xchunked', 'Transfer-Encoding : chunked', 'Transfer-Encoding: chunked, identity']) {
    const r = await rawExchange(ing.port, `POST http://127.0.0.1:${originPort}/ HTTP/1.1\r\nHost: x\r\n${auth}${te}\r\n\r\n0\r\n\r\n`);
    assert.equal(statusOf(r), 400, te);
  }
});

test('conflicting Content-Length headers are refused', async () => {
  const r = await rawExchange(ing.port, `POST http://127.0.0.1:${originPort}/ HTTP/1.1\r\nHost: x\r\n${auth}Content-Length: 1\r\nContent-Length: 2\r\n\r\nab`);
  assert.equal(statusOf(r), 400);
});

test('a chunked body is forwarded intact and the next pipelined request is parsed separately', async () => {
  seen.length = 0;
  const body = '5\r\nhello\r\n0\r\n\r\n';
  const one = `POST http://127.0.0.1:${originPort}/a HTTP/1.1\r\nHost: x\r\n${auth}Transfer-Encoding: chunked\r\n\r\n${body}`;
  const two = `GET http://127.0.0.1:${originPort}/b HTTP/1.1\r\nHost: x\r\n${auth}Connection: close\r\n\r\n`;
  const r = await rawExchange(ing.port, one + two);
  const text = r.toString('latin1');
  assert.equal((text.match(/HTTP\/1\.1 200/g) ?? []).length, 2, text);
  const upstream = seen.join('');
  assert.match(upstream, /^POST \/a HTTP\/1\.1\r\n/);
  assert.ok(upstream.includes(`\r\n\r\n${body}GET /b HTTP/1.1\r\n`), upstream);
  assert.doesNotMatch(upstream, /Proxy-Authorization/i);
});

test('an origin-form request (not a proxy request) gets 400', async () => {
  const r = await rawExchange(ing.port, `GET / HTTP/1.1\r\nHost: x\r\n${auth}\r\n`);
  assert.equal(statusOf(r), 400);
});

test('CONNECT to a forbidden target gets 403 with the reason code', async () => {
  const r = await rawExchange(ing.port, `CONNECT 10.1.2.3:443 HTTP/1.1\r\nHost: 10.1.2.3:443\r\n${auth}\r\n`);
  assert.equal(statusOf(r), 403);
  assert.match(r.toString(), /X-Hopgate-Error: TARGET_FORBIDDEN/);
});

test('CONNECT to a refused port gets 502, to an unresolvable name 502 naming the host', async () => {
  const r1 = await rawExchange(ing.port, `CONNECT 127.0.0.1:1 HTTP/1.1\r\n${auth}\r\n`);
  assert.equal(statusOf(r1), 502);
  assert.match(r1.toString(), /CONN_REFUSED/);
  const r2 = await rawExchange(ing.port, `CONNECT nope.invalid:80 HTTP/1.1\r\n${auth}\r\n`, 8000);
  assert.equal(statusOf(r2), 502);
  assert.match(r2.toString(), /DNS_FAILED.*nope\.invalid/s);
});

test('a host name past 253 characters or with a label past 63 gets 400 naming the reason (CONNECT and absolute URL, direct or via a SOCKS5 exit)', async (t) => {
  // Routed to a SOCKS5 exit, a name past 255 bytes threw encodeAddress's RangeError: 500 INTERNAL (direct: 502 DNS_FAILED).
  // The exit only takes the connection: the request was encoded (and threw) before anything was read from it.
  const silentExit = createServer((s) => s.on('error', () => undefined));
  const exitPort = await listen0(silentExit);
  const viaExit = await startTestIngress({ exits: [{ id: 'sx', kind: 'socks5', host: '127.0.0.1', port: exitPort, country: 'us' }] });
  t.after(async () => {
    await viaExit.stop();
    silentExit.close();
  });
  const long = Array.from({ length: 5 }, () => 'a'.repeat(60)).join('.') + '.example';
  const label = `${'b'.repeat(64)}.example`;
  for (const port of [viaExit.port, ing.port]) {
    for (const host of [long, label]) {
      for (const req of [`CONNECT ${host}:443 HTTP/1.1\r\n${auth}\r\n`, `GET http://${host}/ HTTP/1.1\r\nHost: ${host}\r\n${auth}\r\n`]) {
        const what = `${port === ing.port ? 'direct' : 'via exit'} ${req.slice(0, 8)} ${host.length} chars`;
        const r = await rawExchange(port, req);
        assert.equal(statusOf(r), 400, what);
        assert.match(r.toString(), /BAD_REQUEST: invalid host name/, what);
      }
    }
  }
});

test('a bad username tag is refused with 407 and the reason', async () => {
  const bad = `Proxy-Authorization: Basic ${Buffer.from(`user-${USER.login}-colour-blue:${USER.password}`).toString('base64')}\r\n`;
  const r = await rawExchange(ing.port, `CONNECT 127.0.0.1:${originPort} HTTP/1.1\r\n${bad}\r\n`);
  assert.equal(statusOf(r), 407);
  assert.match(r.toString(), /USERNAME_INVALID/);
  assert.match(r.toString(), /colour/);
});

test('a finished keep-alive client and a client that sends nothing leave no session behind (not held to a deadline)', async () => {
  const { connect } = await import('node:net');
  const noSessions = (): Promise<true> => eventually('no session left', () => ing.ingress.runtime.sessions.size === 0, { timeoutMs: 500 });
  // One keep-alive request, then the client closes its side.
  const r = await rawExchange(ing.port, `GET http://127.0.0.1:${originPort}/ HTTP/1.1\r\nHost: x\r\n${auth}\r\n`, 300);
  assert.equal(statusOf(r), 200);
  await noSessions();
  // Connect and close without a byte (a port probe).
  const s = connect(ing.port, '127.0.0.1');
  s.on('error', () => undefined);
  await new Promise((res) => s.once('connect', res));
  s.end();
  await withTimeout(closed(s), 2000, 'the ingress closing the probe'); // it answered the FIN: it has seen the probe
  await noSessions();
});
