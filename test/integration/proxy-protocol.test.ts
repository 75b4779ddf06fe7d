/**
 * PROXY protocol at the ingress, behind Debian's HAProxy: two ingresses, one fed with
 * `send-proxy` (v1), one with `send-proxy-v2`, HAProxy connecting from 127.0.0.2 (the only
 * trusted address). Clients reach HAProxy from 127.0.0.9 or 127.0.0.1.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { channels } from '../../src/shared/events.js';
import type { SessionCloseMessage } from '../../src/ingress/session.js';
import { ensureSelfSignedCert } from '../../src/cli/tls-cert.js';
import { subscribeAccessLog } from '../../src/ingress/observe.js';
import type { Logger } from '../../src/shared/log.js';
import { curl } from '../helpers/curl.js';
import { aliceHashed, startTestIngress, USER, type TestIngress } from '../helpers/ingress.js';
import { closed, listen0, startEchoServer, withTimeout } from '../helpers/net.js';
import { have } from '../helpers/peers.js';
import { accepts as canConnect, freePort } from '../helpers/ports.js';
import { eventually } from '../helpers/eventually.js';

const HAPROXY = existsSync('/usr/sbin/haproxy') ? '/usr/sbin/haproxy' : have('haproxy') ? 'haproxy' : undefined;
const LB = '127.0.0.2'; // HAProxy's source address towards the ingresses: the trusted one
const CLIENT = '127.0.0.9'; // the customer allowed by source
const V2_SIG = Buffer.from('0d0a0d0a000d0a515549540a', 'hex');

interface Closed {
  id: number;
  ingress: 'v1' | 'v2' | 'other';
  source: string;
  sourcePort: number;
  port: number;
  user: string | undefined;
  protocol: string | undefined;
  result: string | undefined;
  reason: string | undefined;
}

describe('PROXY protocol behind HAProxy', { skip: !HAPROXY && 'haproxy not installed (apt-get install haproxy)' }, () => {
  let ingV1: TestIngress;
  let ingV2: TestIngress;
  let haproxy: ChildProcess | undefined;
  let haproxyLog = '';
  let dir: string;
  let tlsCert: { cert: string; key: string } | undefined;
  let front1: number; // HAProxy → ingress v1 (send-proxy)
  let front2: number; // HAProxy → ingress v2 (send-proxy-v2)
  let target: HttpServer;
  let targetPort: number;
  let echo: Awaited<ReturnType<typeof startEchoServer>>;
  const sessions: Closed[] = [];
  const seen = new Set<Closed>();
  const accessLines: Array<Record<string, unknown>> = [];
  let stopAccessLog: () => void;

  const onClose = (m: unknown): void => {
    const s = (m as SessionCloseMessage).session;
    sessions.push({
      id: s.id,
      ingress: s.snapshot === ingV1?.ingress.runtime.snapshot ? 'v1' : s.snapshot === ingV2?.ingress.runtime.snapshot ? 'v2' : 'other',
      source: s.source,
      sourcePort: s.sourcePort,
      port: s.port,
      user: s.principal?.user.login,
      protocol: s.protocol,
      result: s.result,
      reason: s.resultMessage,
    });
  };

  before(async () => {
    channels.sessionClose.subscribe(onClose);
    // The access log as the ingress writes it, captured instead of printed.
    const log = { info: (o: Record<string, unknown>) => accessLines.push(o), warn: () => undefined } as unknown as Logger;
    stopAccessLog = subscribeAccessLog(log, () => true);

    target = createHttpServer((req, res) => res.end(`hello ${req.socket.remoteAddress}`));
    targetPort = await listen0(target);
    echo = await startEchoServer();

    dir = mkdtempSync(join(tmpdir(), 'hopgate-haproxy-'));
    // With TLS on (when openssl is there), the HTTPS proxy is tried too: TLS starts after the header.
    tlsCert = ensureSelfSignedCert(join(dir, 'tls'));
    const config = {
      ...(tlsCert ? { tls: tlsCert } : {}),
      proxyProtocol: { trusted: [`${LB}/32`] },
      users: [
        { login: USER.login, passwordHash: await aliceHashed() },
        { login: 'client9', sources: [`${CLIENT}/32`], sourceAuth: true },
        // HAProxy's own address as a source-authenticated user: had the ingress used the
        // socket's address instead of the header's, every client would be this user.
        { login: 'lbself', sources: [`${LB}/32`], sourceAuth: true },
      ],
    };
    ingV1 = await startTestIngress(config);
    ingV2 = await startTestIngress(config);
    front1 = await freePort();
    front2 = await freePort();

    // Health checks speak a SOCKS5 greeting and want "no auth" back: on the v2 backend they
    // arrive as LOCAL, on the v1 backend as a PROXY line with HAProxy's own addresses.
    // `timeout check` and `fall 3`: without them a check answered later than `inter` (200 ms,
    // a loaded test machine) marked the ingress DOWN at once, and the next client through
    // HAProxy got an empty reply (curl 52) — a red test that said nothing about the ingress.
    const backend = (name: string, port: number, send: string): string[] => [
      `backend ${name}`,
      '  option tcp-check',
      '  tcp-check send-binary 050100',
      '  tcp-check expect binary 0500',
      `  server ing 127.0.0.1:${port} ${send} source ${LB} check inter 200ms rise 1 fall 3`,
    ];
    writeFileSync(
      join(dir, 'haproxy.cfg'),
      [
        'global',
        `  stats socket ${join(dir, 'admin.sock')} mode 600 level admin`,
        'defaults',
        '  mode tcp',
        '  timeout connect 2s',
        '  timeout check 5s',
        '  timeout client 10s',
        '  timeout server 10s',
        'frontend f1',
        `  bind 127.0.0.1:${front1}`,
        '  default_backend v1',
        'frontend f2',
        `  bind 127.0.0.1:${front2}`,
        '  default_backend v2',
        ...backend('v1', ingV1.port, 'send-proxy'),
        ...backend('v2', ingV2.port, 'send-proxy-v2'),
        '',
      ].join('\n'),
    );
    haproxy = spawn(HAPROXY!, ['-db', '-f', join(dir, 'haproxy.cfg')], { stdio: ['ignore', 'pipe', 'pipe'] });
    haproxy.stdout!.on('data', (d: Buffer) => (haproxyLog += d.toString()));
    haproxy.stderr!.on('data', (d: Buffer) => (haproxyLog += d.toString()));
    await eventually('haproxy listening', async () => (await canConnect(front1)) && (await canConnect(front2)), { timeoutMs: 5000 }).catch((e: Error) => assert.fail(`${e.message}; haproxy said: ${haproxyLog}`));
  });

  after(async () => {
    if (haproxy?.pid !== undefined && haproxy.exitCode === null) {
      const gone = closedProcess(haproxy);
      haproxy.kill('SIGKILL');
      await gone;
    }
    channels.sessionClose.unsubscribe(onClose);
    stopAccessLog?.();
    await Promise.all([ingV1?.stop(), ingV2?.stop(), echo?.close(), target && new Promise((r) => target.close(r))]);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test('(e) HAProxy health checks pass: LOCAL (v2) and the check\'s own PROXY line (v1) keep HAProxy\'s address', async () => {
    await eventually('haproxy checks passing', async () => {
      const stat = await haproxyStat(join(dir, 'admin.sock')).catch((e) => String(e)); // the socket may come up after the ports
      const ok = typeof stat !== 'string' && ['v1', 'v2'].every((b) => stat.some((r) => r.pxname === b && r.svname === 'ing' && r.status === 'UP' && r.check_status === 'L7OK'));
      if (!ok) throw new Error(`checks not passing: ${JSON.stringify(stat)}`); // what the timeout reports
      return true;
    }, { timeoutMs: 5000 });
    // The checks reached the ingresses as HAProxy itself (source-authenticated as lbself).
    await eventually('check sessions', () => ['v1', 'v2'].every((i) => sessions.some((s) => s.ingress === i && s.user === 'lbself' && s.source === LB)), { timeoutMs: 3000 });
    // v1 checks carry HAProxy's own addresses (so the ingress's port); LOCAL keeps the socket's.
    for (const s of sessions.filter((x) => x.user === 'lbself')) {
      if (s.ingress === 'v1') assert.equal(s.port, ingV1.port);
      else assert.notEqual(s.port, front2);
    }

    // A LOCAL header pipelined with the first request in one write.
    const s = await dial(ingV2.port, LB);
    s.write(Buffer.concat([V2_SIG, Buffer.from([0x20, 0x00, 0x00, 0x00]), Buffer.from([5, 1, 0])]));
    assert.deepEqual([...(await readN(s, 2))], [5, 0]);
    s.destroy();
  });

  test('(a,b,c) curl through HAProxy (HTTP, SOCKS5, HTTPS proxy): the ingress authenticates the real client and sees the frontend port', async () => {
    const modes: Array<[number, 'v1' | 'v2', 'http' | 'socks5h' | 'https']> = [[front1, 'v1', 'http'], [front2, 'v2', 'socks5h'], [front1, 'v1', 'socks5h'], [front2, 'v2', 'http']];
    if (tlsCert) modes.push([front1, 'v1', 'https'], [front2, 'v2', 'https']);
    for (const [front, ing, scheme] of modes) {
      const tlsArgs = scheme === 'https' ? ['--proxy-cacert', tlsCert!.cert] : [];
      const ok = await curl([...tlsArgs, '--interface', CLIENT, '-x', `${scheme}://127.0.0.1:${front}`, `http://127.0.0.1:${targetPort}/`]);
      assert.equal(ok.code, 0, `${scheme} via ${ing}: ${ok.stderr}`);
      assert.match(ok.stdout, /^hello /);
      const mine = await eventually(`${scheme} via ${ing} session`, () => sessions.find((x) => x.ingress === ing && x.user === 'client9' && x.port === front && x.result === 'ok' && !seen.has(x)), { timeoutMs: 3000 });
      seen.add(mine);
      assert.equal(mine.source, CLIENT);
      assert.equal(mine.protocol, { http: 'http', socks5h: 'socks5', https: 'https-http' }[scheme]);

      // From 127.0.0.1 (no password, not an allowed source): refused, although HAProxy's own
      // address would have passed as lbself.
      const refused = await curl([...tlsArgs, '--interface', '127.0.0.1', '-w', '%{http_code}', '-o', '/dev/null', '-x', `${scheme}://127.0.0.1:${front}`, `http://127.0.0.1:${targetPort}/`]);
      if (scheme !== 'socks5h') assert.equal(refused.stdout, '407');
      else assert.notEqual(refused.code, 0, 'socks5 from 127.0.0.1 must fail');
      const no = await eventually(`${scheme} via ${ing} refusal`, () => sessions.find((x) => x.ingress === ing && x.source === '127.0.0.1' && x.port === front && x.protocol !== undefined && !seen.has(x)), { timeoutMs: 3000 });
      seen.add(no);
      assert.equal(no.user, undefined, JSON.stringify(no));
      assert.equal(no.result, 'AUTH_REQUIRED', JSON.stringify(no));
    }
  });

  test('(b,c) a SOCKS5 client through both frontends: echo flows, the session carries client address, port and original port', async () => {
    for (const [front, ing] of [[front1, 'v1'], [front2, 'v2']] as const) {
      const s = await dial(front, CLIENT);
      const clientPort = s.localPort!;
      s.write(Buffer.from([5, 1, 0]));
      assert.deepEqual([...(await readN(s, 2))], [5, 0]);
      const req = Buffer.from([5, 1, 0, 1, 127, 0, 0, 1, 0, 0]);
      req.writeUInt16BE(echo.port, 8);
      s.write(req);
      const reply = await readN(s, 10);
      assert.equal(reply[1], 0, `REP ${reply[1]}`);
      s.write('ping through haproxy');
      assert.equal((await readN(s, 20)).toString(), 'ping through haproxy');
      s.end();
      await closed(s);
      const mine = await eventually(`socks5 via ${ing} session`, () => sessions.find((x) => x.ingress === ing && x.sourcePort === clientPort && x.source === CLIENT && !seen.has(x)), { timeoutMs: 3000 });
      seen.add(mine);
      assert.equal(mine.port, front);
      assert.equal(mine.user, 'client9');
      assert.equal(mine.result, 'ok');
      const line = await eventually('access log line', () => accessLines.find((l) => l.id === mine.id), { timeoutMs: 3000 });
      assert.equal(line.src, `${CLIENT}:${clientPort}`);
      assert.equal(line.port, front);
      assert.equal(line.user, 'client9');
    }
  });

  test('(d) refused: a PROXY header from an untrusted address, and a trusted address without one', async () => {
    const cases: Array<{ port: number; from: string; writes: Buffer[]; reason: RegExp }> = [
      // 127.0.0.1 is not trusted: its claim to be 127.0.0.9 must not be parsed, let alone believed.
      { port: ingV1.port, from: '127.0.0.1', writes: [Buffer.from(`PROXY TCP4 ${CLIENT} 127.0.0.1 5555 ${front1}\r\n`), Buffer.from([5, 1, 0])], reason: /v1 header from an untrusted address/ },
      { port: ingV2.port, from: '127.0.0.1', writes: [Buffer.concat([V2_SIG, Buffer.from('2111000c7f0000097f00000115b31f41', 'hex'), Buffer.from([5, 1, 0])])], reason: /v2 header from an untrusted address/ },
      // Split inside the signature: still recognised.
      { port: ingV1.port, from: '127.0.0.1', writes: [Buffer.from('PRO'), Buffer.from(`XY TCP4 ${CLIENT} 127.0.0.1 5555 80\r\nGET http://127.0.0.1/ HTTP/1.1\r\n\r\n`)], reason: /v1 header from an untrusted address/ },
      { port: ingV2.port, from: '127.0.0.1', writes: [V2_SIG.subarray(0, 5), Buffer.concat([V2_SIG.subarray(5), Buffer.from([0x20, 0, 0, 0])])], reason: /v2 header from an untrusted address/ },
      // The trusted address must send one.
      { port: ingV1.port, from: LB, writes: [Buffer.from([5, 1, 0])], reason: /no PROXY protocol header/ },
      { port: ingV2.port, from: LB, writes: [Buffer.from(`GET http://127.0.0.1:${targetPort}/ HTTP/1.1\r\nHost: x\r\n\r\n`)], reason: /no PROXY protocol header/ },
      { port: ingV1.port, from: LB, writes: [Buffer.from(`PROXY TCP4 ${CLIENT} 127.0.0.1 05555 80\r\n`)], reason: /bad source port/ },
      { port: ingV2.port, from: LB, writes: [Buffer.concat([V2_SIG, Buffer.from([0x21, 0x11, 0x00, 0x04, 1, 2, 3, 4])])], reason: /shorter than the 12-byte address block/ },
    ];
    for (const c of cases) {
      const s = await dial(c.port, c.from, false);
      const gone = closed(s);
      const localPort = s.localPort!;
      const got: Buffer[] = [];
      s.on('data', (d: Buffer) => got.push(d));
      for (const w of c.writes) {
        s.write(w);
        await new Promise((r) => setTimeout(r, 20));
        if (s.destroyed) break;
      }
      await withTimeout(gone, 3000, `ingress closing on ${c.reason}`);
      assert.equal(Buffer.concat(got).length, 0, `nothing is answered (${c.reason})`);
      // Unseen only: the kernel may hand out the same local port again.
      const mine = await eventually(`session for ${c.reason}`, () => sessions.find((x) => x.sourcePort === localPort && x.source === c.from && !seen.has(x)), { timeoutMs: 3000 });
      seen.add(mine);
      assert.equal(mine.result, 'BAD_REQUEST');
      assert.match(mine.reason ?? '', c.reason);
      assert.equal(mine.protocol, undefined, 'no front protocol saw the bytes');
    }
    // Untrusted clients without a header are served as before.
    const pw = encodeURIComponent(USER.password);
    const r = await curl(['-x', `http://${USER.login}:${pw}@127.0.0.1:${ingV1.port}`, `http://127.0.0.1:${targetPort}/`]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^hello /);
  });
});


function closedProcess(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

async function dial(port: number, localAddress: string, allowHalfOpen = true): Promise<Socket> {
  const s = connect({ port, host: '127.0.0.1', localAddress, allowHalfOpen });
  s.on('error', () => undefined);
  await withTimeout(new Promise<void>((resolve, reject) => (s.once('connect', resolve), s.once('error', reject))), 3000, `connect to ${port}`);
  return s;
}

function readN(s: Socket, n: number): Promise<Buffer> {
  return withTimeout(
    new Promise<Buffer>((resolve, reject) => {
      let buf = Buffer.alloc(0);
      const onData = (d: Buffer): void => {
        buf = Buffer.concat([buf, d]);
        if (buf.length < n) return;
        s.off('data', onData);
        s.off('close', onClose);
        s.pause();
        if (buf.length > n) s.unshift(buf.subarray(n));
        resolve(buf.subarray(0, n));
      };
      const onClose = (): void => reject(new Error(`closed after ${buf.length} of ${n} bytes`));
      s.on('data', onData);
      s.once('close', onClose);
      s.resume();
    }),
    3000,
    `reading ${n} bytes`,
  );
}

/** `show stat` on HAProxy's admin socket, as objects keyed by the CSV header. */
function haproxyStat(sock: string): Promise<Array<Record<string, string>>> {
  return withTimeout(
    new Promise((resolve, reject) => {
      const s = connect(sock);
      let text = '';
      s.on('data', (d: Buffer) => (text += d.toString()));
      s.on('error', reject);
      s.on('close', () => {
        const [head, ...rows] = text.trim().split('\n');
        const cols = (head ?? '').replace(/^# /, '').split(',');
        resolve(rows.map((r) => Object.fromEntries(r.split(',').map((v, i) => [cols[i], v]))));
      });
      s.end('show stat\n');
    }),
    2000,
    'haproxy stats',
  );
}
