/**
 * Per-customer limits through real clients: bandwidth (each direction, shared by a
 * customer's connections, others unaffected), data quota (cut-off, refusal per protocol,
 * reload), the concurrent-connection limit and suspension.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer, type Server, type Socket } from 'node:net';
import { createSocket } from 'node:dgram';
import { once } from 'node:events';
import { SocksClient } from 'socks';
import { createIngressMetrics } from '../../src/ingress/observe.js';
import { curl } from '../helpers/curl.js';
import { eventually } from '../helpers/eventually.js';
import { aliceHashed, startTestIngress, USER, type TestIngress } from '../helpers/ingress.js';
import { closed, listen0, startUdpEcho, withTimeout } from '../helpers/net.js';
import { socks5ConnectRaw } from '../helpers/socks5-raw.js';
import { socksAssociate } from '../helpers/socks-client.js';
import { IngressConfigSchema, type IngressConfigInput } from '../../src/shared/schema/ingress-config.js';

const KiB = 1024;
const RATE = 256 * KiB;
const PW = USER.password;

let web: HttpServer; // GET /bytes/N → N bytes
let webPort: number;
let source: Server; // TCP: sends SOURCE_BYTES, then ends
let sourcePort: number;
let sink: Server; // TCP: counts bytes until the client ends, answers the count
let sinkPort: number;
const SOURCE_BYTES = 768 * KiB;

before(async () => {
  web = createHttpServer((req, res) => {
    const n = Number(/^\/bytes\/(\d+)$/.exec(req.url ?? '')?.[1] ?? 0);
    res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': String(n) });
    res.end(Buffer.alloc(n, 0x61));
  });
  webPort = await listen0(web);
  source = createServer((s) => {
    s.on('error', () => undefined);
    s.end(Buffer.alloc(SOURCE_BYTES, 0x62));
  });
  sourcePort = await listen0(source);
  sink = createServer({ allowHalfOpen: true }, (s) => {
    let n = 0;
    s.on('error', () => undefined);
    s.on('data', (d: Buffer) => (n += d.length));
    s.on('end', () => s.end(String(n)));
  });
  sinkPort = await listen0(sink);
});

after(() => {
  web.closeAllConnections();
  web.close();
  source.close();
  sink.close();
});

type UserInput = NonNullable<IngressConfigInput['users']>[number];
async function users(...list: Array<Partial<UserInput> & { login: string }>): Promise<UserInput[]> {
  const passwordHash = await aliceHashed();
  return list.map((u) => ({ passwordHash, ...u }));
}

async function withIngress(list: UserInput[], body: (ing: TestIngress) => Promise<void>): Promise<void> {
  const ing = await startTestIngress({ users: list });
  try {
    await body(ing);
  } finally {
    await ing.stop();
  }
}

function reload(ing: TestIngress, list: UserInput[]): void {
  ing.ingress.reload(IngressConfigSchema.parse({ ...ing.ingress.runtime.snapshot.config, users: list }));
}

/** curl a body of `n` bytes; returns curl's own timing and size. */
async function curlBytes(ing: TestIngress, scheme: 'socks5h' | 'http', login: string, n: number): Promise<{ seconds: number; size: number; code: number; stderr: string }> {
  const r = await curl(['-o', '/dev/null', '-w', '%{time_total} %{size_download}', '-x', `${scheme}://${login}:${PW}@127.0.0.1:${ing.port}`, `http://127.0.0.1:${webPort}/bytes/${n}`], 15_000);
  const [t, s] = r.stdout.trim().split(' ');
  return { seconds: Number(t), size: Number(s), code: r.code, stderr: r.stderr };
}

/** Everything the tunnel delivers until the ingress ends it (the raw client is half-open capable: 'end', not 'close'). */
function drain(s: Socket): Promise<{ bytes: number; ms: number }> {
  const t0 = performance.now();
  let bytes = 0;
  s.on('data', (d: Buffer) => (bytes += d.length));
  s.resume();
  return new Promise((resolve) => {
    const done = (): void => {
      s.destroy();
      resolve({ bytes, ms: performance.now() - t0 });
    };
    s.once('end', done);
    s.once('close', done);
  });
}

const kibps = (bytes: number, seconds: number): string => `${(bytes / KiB / seconds).toFixed(0)} KiB/s`;

test('bandwidth down: 256 KiB/s per customer via curl socks5h and HTTP forwarding; an unlimited customer is unaffected', async () => {
  const list = await users(
    { login: 'slow1', bandwidth: { downBytesPerSec: RATE } },
    { login: 'slow2', bandwidth: { downBytesPerSec: RATE } },
    { login: 'free' },
  );
  await withIngress(list, async (ing) => {
    const n = 768 * KiB;
    const [a, b, c] = await Promise.all([curlBytes(ing, 'socks5h', 'slow1', n), curlBytes(ing, 'http', 'slow2', n), curlBytes(ing, 'socks5h', 'free', n)]);
    for (const r of [a, b, c]) {
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.size, n);
    }
    // 768 KiB at 256 KiB/s with a 128 KiB burst: 2.5 s in theory.
    assert.ok(a.seconds >= 2.2 && a.seconds <= 4, `socks5h took ${a.seconds} s (${kibps(n, a.seconds)})`);
    assert.ok(b.seconds >= 2.2 && b.seconds <= 4, `http forward took ${b.seconds} s (${kibps(n, b.seconds)})`);
    assert.ok(c.seconds < 1, `unlimited customer took ${c.seconds} s`);
    console.log(`# down: socks5h ${a.seconds}s ${kibps(n, a.seconds)}, http ${b.seconds}s ${kibps(n, b.seconds)}, unlimited ${c.seconds}s`);
  });
});

test("bandwidth: two parallel connections of one customer share its rate; upload is limited too", async () => {
  const list = await users({ login: 'shared', bandwidth: { downBytesPerSec: RATE } }, { login: 'uploader', bandwidth: { upBytesPerSec: RATE } });
  await withIngress(list, async (ing) => {
    // Two tunnels of one customer, each receiving 768 KiB: 1.5 MiB at 256 KiB/s ≈ 5.5 s if shared,
    // so stop looking after 2 s and compare what each got.
    const t1 = await socks5ConnectRaw(ing.port, 'shared', PW, '127.0.0.1', sourcePort);
    const t2 = await socks5ConnectRaw(ing.port, 'shared', PW, '127.0.0.1', sourcePort);
    const got: [number, number] = [0, 0];
    t1.on('data', (d: Buffer) => (got[0] += d.length));
    t2.on('data', (d: Buffer) => (got[1] += d.length));
    t1.resume();
    t2.resume();
    // Meanwhile, upload 512 KiB at 256 KiB/s (128 KiB burst): ≈ 1.5 s.
    const up = await socks5ConnectRaw(ing.port, 'uploader', PW, '127.0.0.1', sinkPort);
    const upStart = performance.now();
    const answer = new Promise<string>((resolve) => {
      let text = '';
      up.on('data', (d: Buffer) => (text += d.toString()));
      up.once('end', () => resolve(text));
      up.resume();
    });
    up.end(Buffer.alloc(512 * KiB, 0x63));
    const counted = await withTimeout(answer, 6000, 'upload');
    const upSeconds = (performance.now() - upStart) / 1000;
    assert.equal(counted, String(512 * KiB));
    assert.ok(upSeconds >= 1.25 && upSeconds <= 3, `upload took ${upSeconds.toFixed(2)} s (${kibps(512 * KiB, upSeconds)})`);

    await new Promise((r) => setTimeout(r, Math.max(0, 2000 - upSeconds * 1000)));
    const elapsed = 2; // seconds since both tunnels started (at least)
    const total = got[0] + got[1];
    t1.destroy();
    t2.destroy();
    // Shared: at most burst + rate × elapsed (+ slack for timing), far below 2 × that.
    const max = 128 * KiB + RATE * (elapsed + 0.6);
    assert.ok(total <= max, `two connections got ${total} bytes in ~${elapsed} s: the rate was not shared`);
    assert.ok(total >= RATE * 1.2, `only ${total} bytes in ~${elapsed} s`);
    // The first tunnel starts a moment earlier and takes the burst alone; after that they alternate.
    const [x, y] = got;
    assert.ok(Math.min(x, y) >= 0.3 * total, `unfair split ${x} / ${y}`);
    console.log(`# shared: ${x} + ${y} = ${total} bytes in ~2 s (${kibps(total, elapsed)}); upload ${upSeconds.toFixed(2)} s (${kibps(512 * KiB, upSeconds)})`);
  });
});

test('quota: data flows up to the quota, then the connection is cut; new ones are refused (SOCKS5 REP 2, HTTP 402); a reload raising it restores', async () => {
  const quota = 200 * KiB;
  const list = await users({ login: 'metered', quota: { bytes: quota, period: 'day' } });
  await withIngress(list, async (ing) => {
    const t = await socks5ConnectRaw(ing.port, 'metered', PW, '127.0.0.1', sourcePort);
    const got = await withTimeout(drain(t), 5000, 'cut-off');
    assert.ok(got.bytes < SOURCE_BYTES, `received all ${got.bytes} bytes: never cut`);
    assert.ok(got.bytes >= quota - 64 * KiB && got.bytes <= quota, `received ${got.bytes} of a ${quota}-byte quota`);
    const usage = ing.ingress.runtime.quota.get('metered')!;
    const countedAtCut = usage.used;
    assert.ok(countedAtCut >= quota);

    await assert.rejects(socks5ConnectRaw(ing.port, 'metered', PW, '127.0.0.1', sourcePort), /REP 2/);
    const r = await curl(['-s', '-i', '-x', `http://metered:${PW}@127.0.0.1:${ing.port}`, `http://127.0.0.1:${webPort}/bytes/10`]);
    assert.match(r.stdout, /^HTTP\/1\.1 402 /);
    assert.match(r.stdout, /X-Hopgate-Error: QUOTA_EXCEEDED/i);
    assert.match(r.stdout, new RegExp(`quota of ${quota} bytes per day used; resets at \\d{4}-\\d\\d-\\d\\dT00:00:00\\.000Z`));
    const viaSocks = await curl(['-x', `socks5h://metered:${PW}@127.0.0.1:${ing.port}`, `http://127.0.0.1:${webPort}/bytes/10`]);
    assert.notEqual(viaSocks.code, 0);

    reload(ing, await users({ login: 'metered', quota: { bytes: 10 * quota, period: 'day' } }));
    const ok = await curlBytes(ing, 'http', 'metered', 100 * KiB);
    assert.equal(ok.code, 0, ok.stderr);
    assert.equal(ok.size, 100 * KiB);
    console.log(`# quota ${quota}: cut after ${got.bytes} bytes received; ${countedAtCut} counted (the crossing chunk is not forwarded)`);
  });
});

test('quota counts HTTP forwarding too: a download bigger than the quota is cut mid-body', async () => {
  const list = await users({ login: 'metered2', quota: { bytes: 300 * KiB, period: 'month' } });
  await withIngress(list, async (ing) => {
    const r = await curlBytes(ing, 'http', 'metered2', 1024 * KiB);
    assert.notEqual(r.code, 0, 'the transfer must not complete');
    assert.ok(r.size <= 300 * KiB, `got ${r.size}`);
    const again = await curl(['-s', '-o', '/dev/null', '-w', '%{http_code}', '-x', `http://metered2:${PW}@127.0.0.1:${ing.port}`, `http://127.0.0.1:${webPort}/bytes/1`]);
    assert.equal(again.stdout, '402');
  });
});

test('concurrent-connection limit through real clients: SOCKS5 REP 2, HTTP 429; freed slot works again', async () => {
  const list = await users({ login: 'single', maxConnections: 1 });
  await withIngress(list, async (ing) => {
    const held = await socks5ConnectRaw(ing.port, 'single', PW, '127.0.0.1', sinkPort);
    const viaSocks = await curl(['-x', `socks5h://single:${PW}@127.0.0.1:${ing.port}`, `http://127.0.0.1:${webPort}/bytes/10`]);
    assert.notEqual(viaSocks.code, 0);
    assert.match(viaSocks.stderr, /\(2\)|not allowed/i);
    await assert.rejects(socks5ConnectRaw(ing.port, 'single', PW, '127.0.0.1', sinkPort), /REP 2/);
    const viaHttp = await curl(['-s', '-i', '-x', `http://single:${PW}@127.0.0.1:${ing.port}`, `http://127.0.0.1:${webPort}/bytes/10`]);
    assert.match(viaHttp.stdout, /^HTTP\/1\.1 429 /);
    assert.match(viaHttp.stdout, /CONN_LIMIT: user single is at 1 concurrent connections/);
    held.destroy();
    // The slot is free once the ingress has closed the held session: its own count of single's connections.
    await eventually("single's held connection released at the ingress", () => ing.ingress.runtime.limiter.userActive('single') === 0);
    const ok = await curlBytes(ing, 'socks5h', 'single', 10);
    assert.equal(ok.code, 0, ok.stderr);
  });
});

test('suspended customer: HTTP 403 with the reason, SOCKS5 REP 2; a reload re-activating restores', async () => {
  const list = await users({ login: 'paused', status: 'suspended' });
  await withIngress(list, async (ing) => {
    const viaHttp = await curl(['-s', '-i', '-x', `http://paused:${PW}@127.0.0.1:${ing.port}`, `http://127.0.0.1:${webPort}/bytes/10`]);
    assert.match(viaHttp.stdout, /^HTTP\/1\.1 403 /);
    assert.match(viaHttp.stdout, /X-Hopgate-Error: USER_SUSPENDED/i);
    assert.match(viaHttp.stdout, /USER_SUSPENDED: this user is suspended/);
    await assert.rejects(socks5ConnectRaw(ing.port, 'paused', PW, '127.0.0.1', sinkPort), /REP 2/);
    const viaCurl = await curl(['-x', `socks5h://paused:${PW}@127.0.0.1:${ing.port}`, `http://127.0.0.1:${webPort}/bytes/10`]);
    assert.notEqual(viaCurl.code, 0);
    reload(ing, await users({ login: 'paused', status: 'active' }));
    const ok = await curlBytes(ing, 'socks5h', 'paused', 10);
    assert.equal(ok.code, 0, ok.stderr);
  });
});

const associate = (port: number, login: string) => socksAssociate(port, login, PW);

test('UDP: datagrams over the rate are dropped and counted; the quota counts datagrams and ends the association', async () => {
  const list = await users({ login: 'udpslow', bandwidth: { upBytesPerSec: 16 * KiB } }, { login: 'udpmeter', quota: { bytes: 10 * KiB, period: 'hour' } });
  const echo = await startUdpEcho();
  const udp = createSocket('udp4');
  udp.bind(0, '127.0.0.1');
  await once(udp, 'listening');
  let replies = 0;
  udp.on('message', () => replies++);
  await withIngress(list, async (ing) => {
    const metrics = createIngressMetrics(ing.ingress.runtime);
    try {
      const packet = SocksClient.createUDPFrame({ remoteHost: { host: '127.0.0.1', port: echo.port }, data: Buffer.alloc(KiB, 0x64) });
      // 40 × 1 KiB at once against an 8 KiB bucket (16 KiB/s): about 8 pass.
      const slow = await associate(ing.port, 'udpslow');
      for (let i = 0; i < 40; i++) udp.send(packet, slow.remoteHost!.port, '127.0.0.1');
      // Settled when each datagram is accounted for: dropped (the ingress's own count) or echoed back.
      await eventually('each of the 40 datagrams dropped at the ingress or echoed back', () => {
        const { dropsUp } = ing.ingress.runtime.bandwidth.stats();
        if (replies + dropsUp !== 40) throw new Error(`${replies} replies + ${dropsUp} drops`); // what the timeout reports
        return true;
      });
      const stats = ing.ingress.runtime.bandwidth.stats();
      assert.ok(replies >= 6 && replies <= 12, `${replies} of 40 datagrams passed an 8 KiB bucket`);
      assert.equal(stats.dropsUp, 40 - replies);
      slow.socket.destroy();

      // 10 KiB quota: each 1 KiB datagram counts twice (out and back): ~5 round trips, then the association ends.
      replies = 0;
      const metered = await associate(ing.port, 'udpmeter');
      const ended = closed(metered.socket);
      for (let i = 0; i < 20; i++) {
        udp.send(packet, metered.remoteHost!.port, '127.0.0.1');
        await new Promise((r) => setTimeout(r, 10));
      }
      await withTimeout(ended, 2000, 'association ended by the quota');
      assert.ok(replies >= 4 && replies <= 5, `${replies} replies within a 10 KiB quota`);
      await assert.rejects(associate(ing.port, 'udpmeter'), /not allowed|ruleset|Socks5 proxy rejected/i);
      const text = await metrics.registry.metrics();
      assert.match(text, new RegExp(`hopgate_ingress_bandwidth_udp_dropped_total\\{direction="up"\\} ${stats.dropsUp}\\b`));
      assert.match(text, /hopgate_ingress_quota_cutoffs_total 1\b/);
      assert.match(text, /hopgate_ingress_refused_total\{code="QUOTA_EXCEEDED"\} 1\b/);
    } finally {
      metrics.stop();
    }
  });
  udp.close();
  echo.close();
});
