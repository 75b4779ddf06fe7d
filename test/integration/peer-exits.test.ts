/** Third-party exits: Debian's squid (HTTP CONNECT) and dante (SOCKS5), installed by .ci/run. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rawExchange, startEchoServer } from '../helpers/net.js';
import { curl } from '../helpers/curl.js';
import { startTestIngress, USER } from '../helpers/ingress.js';
import { socks5ConnectRaw } from '../helpers/socks5-raw.js';
import { have, startDante, startSquid } from '../helpers/peers.js';

const pw = encodeURIComponent(USER.password);

test('squid as an HTTP CONNECT exit: the target sees squid\'s outgoing address; its refusal maps to 502', { skip: !have('squid') && 'squid not installed' }, async (t) => {
  const echo = await startEchoServer();
  t.after(() => echo.close());
  const squid = await startSquid('127.0.0.13');
  t.after(() => squid.stop());
  const ing = await startTestIngress({ exits: [{ id: 'squid', kind: 'http', host: '127.0.0.1', port: squid.port, egressIp: '127.0.0.13', country: 'de' }] });
  t.after(() => ing.stop());
  for (const scheme of ['socks5h', 'http'] as const) {
    const before = echo.sources.length;
    const r = await curl(['-sS', '-p', '-m', '5', '-x', `${scheme}://${USER.login}:${pw}@127.0.0.1:${ing.port}`, `http://127.0.0.1:${echo.port}/`]);
    assert.ok(echo.sources.length > before, `${scheme}: nothing reached the target (${r.stderr})`);
    assert.equal(echo.sources.at(-1), '127.0.0.13');
  }
  // squid cannot reach port 1: its 503 becomes our 502 with the code.
  const auth = `Proxy-Authorization: Basic ${Buffer.from(`${USER.login}:${USER.password}`).toString('base64')}\r\n`;
  const r = await rawExchange(ing.port, `CONNECT 127.0.0.1:1 HTTP/1.1\r\n${auth}\r\n`, 8000);
  assert.match(r.toString(), /^HTTP\/1\.1 502 Bad Gateway \(HOST_UNREACHABLE\)/);
  assert.match(r.toString(), /answered 503/);
});

test('dante as a SOCKS5 exit: the target sees dante\'s external address; REP 5 passes through', { skip: !have('danted') && 'dante-server not installed' }, async (t) => {
  const echo = await startEchoServer();
  t.after(() => echo.close());
  const dante = await startDante('127.0.0.14');
  t.after(() => dante.stop());
  const ing = await startTestIngress({ exits: [{ id: 'dante', kind: 'socks5', host: '127.0.0.1', port: dante.port, egressIp: '127.0.0.14', country: 'gb' }] });
  t.after(() => ing.stop());
  const s = await socks5ConnectRaw(ing.port, USER.login, USER.password, '127.0.0.1', echo.port);
  s.destroy();
  assert.equal(echo.sources.at(-1), '127.0.0.14');
  await assert.rejects(socks5ConnectRaw(ing.port, USER.login, USER.password, '127.0.0.1', 1), /REP 5/);
});
