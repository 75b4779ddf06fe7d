/**
 * Exits and hops: the ingress delegates CONNECT to the chosen exit, the target
 * sees the exit's address in every client protocol, the exit's exact failure
 * reaches the client, and an exit serves nobody but its ingresses.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, createServer, type AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { SocksClient } from 'socks';
import { createSocket } from 'node:dgram';
import { closed, rawExchange, startEchoServer, withTimeout } from '../helpers/net.js';
import { eventually } from '../helpers/eventually.js';
import { curl } from '../helpers/curl.js';
import { startTestIngress, USER, type TestIngress } from '../helpers/ingress.js';
import { EXIT_SECRET, exitEntry, startTestExit, type TestExit } from '../helpers/exits.js';
import { EXIT_LOGIN } from '../../src/cli/exit.js';
import { socks5ConnectRaw } from '../helpers/socks5-raw.js';
import { socksAssociate } from '../helpers/socks-client.js';
import { encodeUserPass } from '../../src/protocol/socks5/codec.js';
import { ensureSelfSignedCert } from '../../src/cli/tls-cert.js';
import { accepts, freePortRange } from '../helpers/ports.js';
import { readyJson, startProc, stopGracefully } from '../helpers/procs.js';

let us: TestExit;
let de: TestExit;
let ing: TestIngress;
let echo: Awaited<ReturnType<typeof startEchoServer>>;
let cert: { cert: string; key: string };

before(async () => {
  echo = await startEchoServer();
  us = await startTestExit('us-1', '127.0.0.2');
  de = await startTestExit('de-1', '127.0.0.4');
  cert = ensureSelfSignedCert(join(mkdtempSync(join(tmpdir(), 'hopgate-tls-')), 'tls'))!;
  ing = await startTestIngress({ tls: cert, exits: [exitEntry(us, 'us'), exitEntry(de, 'de')] });
});
after(async () => {
  await ing.stop();
  await us.node.shutdown(100);
  await de.node.shutdown(100);
  await echo.close();
});

const pw = encodeURIComponent(USER.password);
/** A tiny HTTP origin is not needed: the echo server answers a request line with itself, and records the source. */
async function sourceSeenVia(proxyUrl: string, extra: string[] = []): Promise<string> {
  const before = echo.sources.length;
  // -p: CONNECT even for http://, so the echo server (not an HTTP server) just reflects the request.
  await curl([...extra, '-p', '-m', '3', '-x', proxyUrl, `http://127.0.0.1:${echo.port}/`]);
  assert.ok(echo.sources.length > before, `nothing reached the target via ${proxyUrl}`);
  return echo.sources.at(-1)!;
}

for (const [scheme, userinfo] of [
  ['http', `${USER.login}-exitip-127.0.0.4:${pw}`],
  ['socks5', `${USER.login}-exitip-127.0.0.4:${pw}`],
  ['socks5h', `${USER.login}-exitip-127.0.0.4:${pw}`],
  ['socks4', `${USER.login}-exitip-127.0.0.4%3A${pw}`],
  ['socks4a', `${USER.login}-exitip-127.0.0.4%3A${pw}`],
] as const) {
  test(`${scheme}: the target sees the pinned exit's address`, async () => {
    assert.equal(await sourceSeenVia(`${scheme}://${userinfo}@127.0.0.1:${ing.port}`), '127.0.0.4');
  });
}

test('https proxy: the target sees the exit chosen by country', async () => {
  const src = await sourceSeenVia(`https://${USER.login}-country-us:${pw}@127.0.0.1:${ing.port}`, ['--proxy-cacert', cert.cert]);
  assert.equal(src, '127.0.0.2');
});

test('HTTP forward requests go through the exit too', async () => {
  const http = await import('node:http');
  const seen: string[] = [];
  const web = http.createServer((req, res) => {
    seen.push(req.socket.remoteAddress!);
    res.end('ok');
  });
  await new Promise<void>((r) => web.listen(0, '127.0.0.1', r));
  const port = (web.address() as { port: number }).port;
  const r = await curl(['-sS', '-x', `http://${USER.login}-cc-de:${pw}@127.0.0.1:${ing.port}`, `http://127.0.0.1:${port}/`]);
  web.closeAllConnections();
  web.close();
  assert.equal(r.stdout, 'ok');
  assert.deepEqual(seen, ['127.0.0.4']);
});

test('unpinned connections spread over the exits', async () => {
  const seen = new Set<string>();
  for (let i = 0; i < 16 && seen.size < 2; i++) {
    const s = await socks5ConnectRaw(ing.port, USER.login, USER.password, '127.0.0.1', echo.port);
    s.destroy();
    seen.add(echo.sources.at(-1)!);
  }
  assert.deepEqual([...seen].sort(), ['127.0.0.2', '127.0.0.4']);
});

test("the exit's failure reaches the client exactly: REP 5 / 502 CONN_REFUSED", async () => {
  await assert.rejects(socks5ConnectRaw(ing.port, USER.login, USER.password, '127.0.0.1', 1), /REP 5/);
  const auth = `Proxy-Authorization: Basic ${Buffer.from(`${USER.login}:${USER.password}`).toString('base64')}\r\n`;
  const r = await rawExchange(ing.port, `CONNECT 127.0.0.1:1 HTTP/1.1\r\n${auth}\r\n`);
  assert.match(r.toString(), /^HTTP\/1\.1 502 .*\r\n[\s\S]*X-Hopgate-Error: CONN_REFUSED/);
});

test('no exit matches: NO_EXIT_MATCH, 502 with the reason', async () => {
  const r = await curl(['-sS', '-i', '-x', `http://${USER.login}-country-fr:${pw}@127.0.0.1:${ing.port}`, `http://127.0.0.1:${echo.port}/`]);
  assert.match(r.stdout, /^HTTP\/1\.1 502 Bad Gateway \(NO_EXIT_MATCH\)/);
  assert.match(r.stdout, /none of your 2 exits is in country fr/);
});

test('no exit matches over SOCKS5: REP 3 (network unreachable), not the bare general failure', async () => {
  await assert.rejects(socks5ConnectRaw(ing.port, `${USER.login}-country-fr`, USER.password, '127.0.0.1', echo.port), /^Error: REP 3$/);
});

test('a down exit gives a clear error, not a hang', async () => {
  const gone = await startTestExit('gone', '127.0.0.8');
  await gone.node.shutdown(0);
  const lone = await startTestIngress({ exits: [exitEntry(gone, 'us')] });
  try {
    await assert.rejects(socks5ConnectRaw(lone.port, USER.login, USER.password, '127.0.0.1', echo.port), /REP 1/);
  } finally {
    await lone.stop();
  }
});

test('failover: an unpinned connection moves to a live exit; the dead one is skipped afterwards', async () => {
  const dead = await startTestExit('dead', '127.0.0.8');
  await dead.node.shutdown(0);
  const live = await startTestExit('live', '127.0.0.9');
  const pair = await startTestIngress({ exits: [exitEntry(dead, 'us'), exitEntry(live, 'us')] });
  try {
    for (let i = 0; i < 6; i++) {
      const s = await socks5ConnectRaw(pair.port, USER.login, USER.password, '127.0.0.1', echo.port);
      s.destroy();
      assert.equal(echo.sources.at(-1), '127.0.0.9');
    }
    // Pinned to the dead exit: a clear error, no silent substitute.
    await assert.rejects(socks5ConnectRaw(pair.port, `${USER.login}-exitip-127.0.0.8`, USER.password, '127.0.0.1', echo.port), /REP 1/);
  } finally {
    await pair.stop();
    await live.node.shutdown(100);
  }
});

test('active probes take a dead exit out without client traffic and put it back when it returns', async () => {
  const flaky = await startTestExit('flaky', '127.0.0.12');
  const port = flaky.port;
  const probed = await startTestIngress({ exits: [exitEntry(flaky, 'us')], limits: { exitProbeIntervalMs: 100 } });
  const health = probed.ingress.runtime.exitHealth;
  const until = (want: boolean): Promise<true> => eventually(`flaky up=${want}`, () => health.isUp('flaky') === want, { timeoutMs: 2000, everyMs: 50 });
  try {
    await until(true);
    await flaky.node.shutdown(0);
    await until(false);
    const back = await startTestExit('flaky', '127.0.0.12', ['127.0.0.1/32'], port);
    try {
      await until(true);
      const s = await socks5ConnectRaw(probed.port, USER.login, USER.password, '127.0.0.1', echo.port);
      s.destroy();
      assert.equal(echo.sources.at(-1), '127.0.0.12');
    } finally {
      await back.node.shutdown(100);
    }
  } finally {
    await probed.stop();
  }
});

test('probes walk the whole route: a live first hop does not hide a dead exit or a refused secret', async () => {
  const hop = await startTestExit('hop', '127.0.0.13');
  const far = await startTestExit('far', '127.0.0.14', ['127.0.0.13/32']); // reachable only through the hop
  const farPort = far.port;
  const probed = await startTestIngress({
    exits: [
      { ...exitEntry(far, 'de'), via: [{ kind: 'hopgate', host: hop.ip, port: hop.port, username: EXIT_LOGIN, password: EXIT_SECRET }] },
      { ...exitEntry(hop, 'us'), id: 'wrong-secret', egressIp: '127.0.0.15', password: 'not-the-secret' },
    ],
    limits: { exitProbeIntervalMs: 100 },
  });
  const health = probed.ingress.runtime.exitHealth;
  const until = (id: string, want: boolean): Promise<true> => eventually(`${id} up=${want}`, () => health.isUp(id) === want, { timeoutMs: 2000, everyMs: 50 });
  try {
    await until('wrong-secret', false); // TCP to it works; our credentials do not
    await until('far', true);
    await far.node.shutdown(0);
    await until('far', false); // the hop in front still answers
    const back = await startTestExit('far', '127.0.0.14', ['127.0.0.13/32'], farPort);
    try {
      await until('far', true);
    } finally {
      await back.node.shutdown(100);
    }
  } finally {
    await probed.stop();
    await hop.node.shutdown(100);
  }
});

test('UDP ASSOCIATE across the exit: datagrams leave from the exit and the replies come back', async () => {
  const { createSocket } = await import('node:dgram');
  const seen: string[] = [];
  const target = createSocket('udp4');
  target.on('message', (msg, rinfo) => {
    seen.push(rinfo.address);
    target.send(Buffer.concat([Buffer.from('echo:'), msg]), rinfo.port, rinfo.address);
  });
  await new Promise<void>((r) => target.bind(0, '127.0.0.1', r));
  const client = createSocket('udp4');
  await new Promise<void>((r) => client.bind(0, '127.0.0.1', r));
  const info = await socksAssociate(ing.port, `${USER.login}-exitip-127.0.0.4`, USER.password);
  try {
    const packet = SocksClient.createUDPFrame({ remoteHost: { host: '127.0.0.1', port: target.address().port }, data: Buffer.from('ping') });
    const reply = new Promise<Buffer>((r) => client.once('message', (m) => r(m)));
    client.send(packet, info.remoteHost!.port, '127.0.0.1');
    const frame = SocksClient.parseUDPFrame(await withTimeout(reply, 3000, 'UDP reply through the exit'));
    assert.equal(frame.data.toString(), 'echo:ping');
    assert.equal(frame.remoteHost.port, target.address().port);
    assert.deepEqual(seen, ['127.0.0.4']); // the target saw the exit, not the ingress
  } finally {
    info.socket.destroy();
    client.close();
    target.close();
  }
});

test('UDP across a chained route: framed inside the chain to the hopgate exit, which sends from its own address', async () => {
  const hop = await startTestExit('udp-hop', '127.0.0.16');
  const far = await startTestExit('udp-far', '127.0.0.17', ['127.0.0.16/32']); // reachable only through the hop
  const target = createSocket('udp4');
  const seen: string[] = [];
  target.on('message', (msg, rinfo) => {
    seen.push(rinfo.address);
    target.send(Buffer.concat([Buffer.from('echo:'), msg]), rinfo.port, rinfo.address);
  });
  await new Promise<void>((r) => target.bind(0, '127.0.0.1', r));
  const chained = await startTestIngress({
    exits: [
      { ...exitEntry(far, 'de'), via: [{ kind: 'hopgate', host: hop.ip, port: hop.port, username: EXIT_LOGIN, password: EXIT_SECRET }] },
      { ...exitEntry(hop, 'us'), id: 'to-socks5', kind: 'socks5', egressIp: '127.0.0.18', via: [{ kind: 'hopgate', host: hop.ip, port: hop.port, username: EXIT_LOGIN, password: EXIT_SECRET }] },
    ],
  });
  const client = createSocket('udp4');
  await new Promise<void>((r) => client.bind(0, '127.0.0.1', r));
  try {
    const info = await socksAssociate(chained.port, `${USER.login}-cc-de`, USER.password);
    try {
      const replies: string[] = [];
      client.on('message', (m) => replies.push(SocksClient.parseUDPFrame(m).data.toString()));
      for (let i = 0; i < 5; i++) {
        client.send(SocksClient.createUDPFrame({ remoteHost: { host: '127.0.0.1', port: target.address().port }, data: Buffer.from(`p${i}`) }), info.remoteHost!.port, '127.0.0.1');
      }
      await eventually('five UDP replies', () => replies.length >= 5, { timeoutMs: 1000 });
      assert.deepEqual(replies.sort(), ['echo:p0', 'echo:p1', 'echo:p2', 'echo:p3', 'echo:p4']);
      assert.deepEqual([...new Set(seen)], ['127.0.0.17'], 'the target saw the exit at the end of the chain');
    } finally {
      info.socket.destroy();
    }
    // A chain ending in a third-party SOCKS5 proxy cannot carry UDP: the client hears REP 7.
    await assert.rejects(socksAssociate(chained.port, `${USER.login}-cc-us`, USER.password), /Socks5 proxy rejected connection - (CommandNotSupported|Command not supported)/i);
  } finally {
    client.close();
    target.close();
    await chained.stop();
    await far.node.shutdown(100);
    await hop.node.shutdown(100);
  }
});

test('an exit refuses anyone but its ingress: wrong source, missing secret, other protocols', async () => {
  // Right secret, wrong source address.
  const s = connect({ port: us.port, host: '127.0.0.2', localAddress: '127.0.0.9' });
  s.on('error', () => undefined);
  const chunks: Buffer[] = [];
  s.on('data', (d: Buffer) => chunks.push(d));
  s.write(Buffer.concat([Buffer.from([5, 1, 2]), encodeUserPass('ingress', EXIT_SECRET)]));
  await withTimeout(closed(s), 3000, 'refusal');
  assert.deepEqual([...Buffer.concat(chunks)], [5, 2, 1, 1]); // method user/pass, then status failure
  // Right source, wrong secret.
  await assert.rejects(socks5ConnectRaw(us.port, 'ingress', 'guess', '127.0.0.1', echo.port, '127.0.0.2'), /auth status 1/);
  // And the right pair works, so the refusals above are about source and secret, nothing else.
  const okTunnel = await socks5ConnectRaw(us.port, 'ingress', EXIT_SECRET, '127.0.0.1', echo.port, '127.0.0.2');
  okTunnel.destroy();
  // HTTP is not served on an exit at all.
  const r = await rawExchange(us.port, 'GET http://127.0.0.1/ HTTP/1.1\r\n\r\n', 2000, '127.0.0.2');
  assert.equal(r.length, 0);
});

// Third-party exits and chains: Debian's microsocks as a hop (installed by .ci/run).
const haveMicrosocks = spawnSync('which', ['microsocks']).status === 0;
test('chains: microsocks → hopgate exit; microsocks as the exit; HTTP CONNECT → microsocks → hopgate exit', { skip: !haveMicrosocks && 'microsocks not installed' }, async (t) => {
  const port = await freePortRange(2); // microsocks is told its port; the second one serves the three-hop chain
  const ms: ChildProcess = spawn('microsocks', ['-i', '127.0.0.1', '-p', String(port), '-u', 'hop', '-P', 'hop-pass', '-b', '127.0.0.7'], { stdio: 'ignore' });
  t.after(() => void ms.kill());
  const far = await startTestExit('far', '127.0.0.5', ['127.0.0.7/32']); // only reachable through the hop
  t.after(() => far.node.shutdown(100));
  await eventually('microsocks listening', () => accepts(port), { timeoutMs: 2500, everyMs: 50 });
  const hop = { kind: 'socks5' as const, host: '127.0.0.1', port, username: 'hop', password: 'hop-pass' };
  const chained = await startTestIngress({
    exits: [
      { ...exitEntry(far, 'de'), via: [hop] },
      { id: 'ms', kind: 'socks5', host: '127.0.0.1', port, username: 'hop', password: 'hop-pass', egressIp: '127.0.0.7', country: 'fr' },
    ],
  });
  t.after(() => chained.stop());
  const viaChain = await sourceSeenVia(`socks5h://${USER.login}-cc-de:${pw}@127.0.0.1:${chained.port}`);
  assert.equal(viaChain, '127.0.0.5');
  const viaMicrosocks = await sourceSeenVia(`http://${USER.login}-cc-fr:${pw}@127.0.0.1:${chained.port}`);
  assert.equal(viaMicrosocks, '127.0.0.7');

  // Three hops mixing kinds: an HTTP CONNECT proxy with Basic credentials (another hopgate
  // node, HTTP only, egressing from 127.0.0.10), then microsocks, then the hopgate exit.
  const httpHop = await startTestIngress({ protocols: ['http'], egress: { localAddress: '127.0.0.10' } });
  t.after(() => httpHop.stop());
  const ms2 = spawn('microsocks', ['-i', '127.0.0.1', '-p', String(port + 1), '-u', 'hop', '-P', 'hop-pass', '-b', '127.0.0.7'], { stdio: 'ignore' });
  t.after(() => void ms2.kill());
  await eventually('the second microsocks listening', () => accepts(port + 1), { timeoutMs: 2500, everyMs: 50 });
  const three = await startTestIngress({
    exits: [
      {
        ...exitEntry(far, 'de'),
        via: [
          { kind: 'http', host: '127.0.0.1', port: httpHop.port, username: USER.login, password: USER.password },
          { ...hop, port: port + 1 },
        ],
      },
    ],
  });
  t.after(() => three.stop());
  for (const scheme of ['socks5h', 'http'] as const) {
    assert.equal(await sourceSeenVia(`${scheme}://${USER.login}:${pw}@127.0.0.1:${three.port}`), '127.0.0.5', scheme);
  }
  // A wrong Basic password at the HTTP hop is the operator's problem: 502 EXIT_UNREACHABLE, not 407.
  const badHop = await startTestIngress({
    exits: [{ id: 'bad', kind: 'http', host: '127.0.0.1', port: httpHop.port, username: USER.login, password: 'wrong', egressIp: '127.0.0.10' }],
  });
  t.after(() => badHop.stop());
  const r = await curl(['-sS', '-i', '-p', '-x', `http://${USER.login}:${pw}@127.0.0.1:${badHop.port}`, `http://127.0.0.1:${echo.port}/`]);
  assert.match(r.stdout, /^HTTP\/1\.1 502 Bad Gateway \(EXIT_UNREACHABLE\)/);
});

test('hopgate exit --egress-ports: target connections leave from the egress address and ports in that range', async (t) => {
  const seen: Array<{ address: string; port: number }> = [];
  const target = createServer((s) => {
    seen.push({ address: s.remoteAddress!, port: s.remotePort! });
    // The client destroys its tunnel at once: the exit may reset this side before 'hi' is out.
    s.on('error', () => undefined);
    s.end('hi');
  });
  await new Promise<void>((r) => target.listen(0, '127.0.0.1', r));
  t.after(() => target.close());
  const targetPort = (target.address() as AddressInfo).port;
  const cli = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
  const exit = await startProc('hopgate exit', [process.execPath, cli, 'exit', '--listen', '127.0.0.23:0', '--egress', '127.0.0.24', '--egress-ports', '47100-47115',
    '--allow-from', '127.0.0.1/32', '--allow-target', '127.0.0.0/8'], { env: { HOPGATE_EXIT_SECRET: EXIT_SECRET }, ready: /^\{/ });
  t.after(() => stopGracefully(exit));
  const ready = readyJson<{ listen: string }>(exit);
  const exitPort = Number(ready.listen.split(':').pop());
  for (let i = 0; i < 6; i++) {
    const s = await socks5ConnectRaw(exitPort, EXIT_LOGIN, EXIT_SECRET, '127.0.0.1', targetPort, '127.0.0.23');
    s.destroy();
  }
  // The target's accept and the client's reply are separate events in this process: wait for the last accept.
  await eventually('six accepts at the target', () => seen.length >= 6, { timeoutMs: 2000, everyMs: 20 });
  assert.equal(seen.length, 6);
  for (const { address, port } of seen) {
    assert.equal(address, '127.0.0.24');
    assert.ok(port >= 47100 && port <= 47115, `source port ${port} outside 47100-47115`);
  }
});
