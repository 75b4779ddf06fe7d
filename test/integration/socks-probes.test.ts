/** Raw-socket probes: malformed and hostile SOCKS input gets a protocol answer or a close, never a hang or crash. */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { rawExchange, startEchoServer } from '../helpers/net.js';
import { startTestIngress, USER, type TestIngress } from '../helpers/ingress.js';
import { encodeUserPass } from '../../src/protocol/socks5/codec.js';

let ing: TestIngress;
let echo: Awaited<ReturnType<typeof startEchoServer>>;
before(async () => {
  echo = await startEchoServer();
  ing = await startTestIngress({ limits: { handshakeTimeoutMs: 600 } });
});
after(async () => {
  await ing.stop();
  await echo.close();
});

const auth = encodeUserPass(USER.login, USER.password);
const greet = Buffer.from([5, 1, 2]);
const portBytes = (p: number) => [p >> 8, p & 255];

test('greeting with 0 methods is refused and closed', async () => {
  const r = await rawExchange(ing.port, Buffer.from([5, 0]));
  assert.ok(r.length === 0, `expected a close, got ${r.toString('hex')}`);
});

test('greeting offering only methods we do not accept gets 0xFF', async () => {
  const r = await rawExchange(ing.port, Buffer.from([5, 2, 0x01, 0x80]));
  assert.deepEqual([...r], [5, 0xff]);
});

test('255 methods including user/pass is accepted', async () => {
  const methods = Array.from({ length: 255 }, (_, i) => i);
  const r = await rawExchange(ing.port, Buffer.from([5, 255, ...methods]), 500);
  assert.deepEqual([...r.subarray(0, 2)], [5, 2]);
});

test('unknown command gets REP 7 (command not supported)', async () => {
  const req = Buffer.from([5, 0x09, 0, 1, 127, 0, 0, 1, ...portBytes(echo.port)]);
  const r = await rawExchange(ing.port, Buffer.concat([greet, auth, req]));
  assert.deepEqual([...r.subarray(0, 4)], [5, 2, 1, 0]);
  assert.equal(r[5], 0x07);
});

test('BIND gets REP 7', async () => {
  const req = Buffer.from([5, 0x02, 0, 1, 127, 0, 0, 1, ...portBytes(echo.port)]);
  const r = await rawExchange(ing.port, Buffer.concat([greet, auth, req]));
  assert.equal(r[5], 0x07);
});

test('unknown ATYP gets REP 8 (address type not supported)', async () => {
  const req = Buffer.from([5, 1, 0, 0x07, 1, 2, 3, 4, 0, 80]);
  const r = await rawExchange(ing.port, Buffer.concat([greet, auth, req]));
  assert.equal(r[5], 0x08);
});

test('connection refused gets REP 5', async () => {
  const req = Buffer.from([5, 1, 0, 1, 127, 0, 0, 1, 0, 1]); // port 1: nobody listens
  const r = await rawExchange(ing.port, Buffer.concat([greet, auth, req]));
  assert.equal(r[5], 0x05);
});

test('unresolvable domain gets REP 4 (host unreachable)', async () => {
  const name = Buffer.from('no-such-host.invalid');
  const req = Buffer.from([5, 1, 0, 3, name.length, ...name, 0, 80]);
  const r = await rawExchange(ing.port, Buffer.concat([greet, auth, req]), 8000);
  assert.equal(r[5], 0x04);
});

test('a domain that resolves to a loopback address is checked on the resolved address', async () => {
  // 'localhost' resolves to 127.0.0.1 / ::1, allowed here; with a policy that denies loopback it must be REP 2.
  const strict = await startTestIngress({ targetPolicy: { allow: [], deny: [], ports: [] } });
  try {
    const name = Buffer.from('localhost');
    const req = Buffer.from([5, 1, 0, 3, name.length, ...name, ...portBytes(echo.port)]);
    const r = await rawExchange(strict.port, Buffer.concat([greet, auth, req]));
    assert.equal(r[5], 0x02);
  } finally {
    await strict.stop();
  }
});

test('truncated request then silence is closed by the handshake deadline', async () => {
  const s = connect({ port: ing.port, host: '127.0.0.1' });
  s.on('error', () => undefined);
  s.resume(); // read the replies, or the close is never seen
  s.write(Buffer.concat([greet, auth, Buffer.from([5, 1, 0])]));
  const t0 = Date.now();
  await new Promise((r) => s.once('close', r));
  const took = Date.now() - t0;
  assert.ok(took < 3000, `closed after ${took} ms`);
});

test('slowloris: one byte at a time is still bounded by the deadline', async () => {
  const s = connect({ port: ing.port, host: '127.0.0.1' });
  s.on('error', () => undefined);
  s.resume(); // read the replies, or the close is never seen
  const bytes = Buffer.concat([greet, auth]);
  let i = 0;
  const iv = setInterval(() => (i < bytes.length && !s.destroyed ? s.write(bytes.subarray(i, ++i)) : undefined), 100);
  const t0 = Date.now();
  await new Promise((r) => s.once('close', r));
  clearInterval(iv);
  assert.ok(Date.now() - t0 < 3000);
});

test('garbage bytes get a 400 (treated as HTTP) and close', async () => {
  const r = await rawExchange(ing.port, Buffer.from([0x00, 0xff, 0x13, 0x37, 0x0d, 0x0a, 0x0d, 0x0a]));
  assert.match(r.toString('latin1'), /^HTTP\/1\.1 400 /);
});

test('socks4 with a bad password gets 0x5B; socks4a to a domain works', async () => {
  const bad = Buffer.concat([Buffer.from([4, 1, ...portBytes(echo.port), 127, 0, 0, 1]), Buffer.from(`${USER.login}:nope\0`)]);
  const r1 = await rawExchange(ing.port, bad);
  assert.equal(r1[1], 0x5b);
  const good = Buffer.concat([Buffer.from([4, 1, ...portBytes(echo.port), 0, 0, 0, 1]), Buffer.from(`${USER.login}:${USER.password}\0localhost\0`), Buffer.from('ping')]);
  const r2 = await rawExchange(ing.port, good, 800);
  assert.equal(r2[1], 0x5a);
  assert.equal(r2.subarray(8).toString(), 'ping');
});

test('pipelined data after the SOCKS5 request is delivered, not lost', async () => {
  const req = Buffer.from([5, 1, 0, 1, 127, 0, 0, 1, ...portBytes(echo.port)]);
  const r = await rawExchange(ing.port, Buffer.concat([greet, auth, req, Buffer.from('early-bytes')]), 800);
  assert.equal(r.subarray(2 + 2 + 10).toString(), 'early-bytes');
});
