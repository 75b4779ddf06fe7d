/**
 * A cut-off transfer must look cut off to the client: an upstream that resets
 * is passed on as a reset (SOCKS5 and CONNECT tunnels, directly and through a
 * hopgate exit, so the reset travels the whole chain), and in HTTP forwarding
 * a response body that ends before its Content-Length or last chunk, or turns
 * malformed after its head went out, aborts the client's connection instead
 * of ending cleanly or getting a second response appended.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server, type Socket } from 'node:net';
import { listen0 } from '../helpers/net.js';
import { exitEntry, startTestExit, type TestExit } from '../helpers/exits.js';
import { startTestIngress, USER, type TestIngress } from '../helpers/ingress.js';
import { socks5ConnectRaw } from '../helpers/socks5-raw.js';
import { PROXY_AUTH, proxiedGet, RawHttp } from '../helpers/http-raw.js';
import { curl } from '../helpers/curl.js';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureSelfSignedCert } from '../../src/cli/tls-cert.js';

let target: Server;
let targetPort: number;
let exit: TestExit;
let direct: TestIngress;
let viaExit: TestIngress;
let cert: { cert: string; key: string };

/** What the target does, by request path (HTTP) or for a bare tunnel ('tunnel'). */
const BEHAVIOURS: Record<string, (s: Socket) => void> = {
  tunnel: (s) => {
    s.write('hello');
    setTimeout(() => s.resetAndDestroy(), 100);
  },
  '/cl-short-fin': (s) => s.end('HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789'),
  '/cl-short-rst': (s) => {
    s.write('HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789');
    setTimeout(() => s.resetAndDestroy(), 100);
  },
  '/close-rst': (s) => {
    s.write('HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n0123456789');
    setTimeout(() => s.resetAndDestroy(), 100);
  },
  '/close-fin': (s) => s.end('HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n0123456789'),
  '/chunked-short-fin': (s) => s.end('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n'),
  '/chunked-bad': (s) => s.write('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\nZZ\r\n'),
};

before(async () => {
  target = createServer({ allowHalfOpen: true }, (s) => {
    s.on('error', () => undefined);
    let head = '';
    const onData = (d: Buffer): void => {
      head += d.toString('latin1');
      if (head.startsWith('tunnel')) return void (s.off('data', onData), BEHAVIOURS.tunnel!(s));
      const m = /^GET (\S+) HTTP\/1\.1\r\n[^]*?\r\n\r\n/.exec(head);
      if (m) {
        s.off('data', onData);
        BEHAVIOURS[m[1]!]!(s);
      }
    };
    s.on('data', onData);
  });
  targetPort = await listen0(target);
  exit = await startTestExit('ex-trunc', '127.0.0.62');
  const limits = { exitProbeIntervalMs: 0 };
  const c = ensureSelfSignedCert(join(mkdtempSync(join(tmpdir(), 'hopgate-trunc-tls-')), 'tls'));
  assert.ok(c, 'openssl must be installed for the HTTPS proxy test');
  cert = c;
  direct = await startTestIngress({ limits, tls: cert });
  viaExit = await startTestIngress({ limits, exits: [exitEntry(exit, 'de')] });
});

after(async () => {
  await direct.stop();
  await viaExit.stop();
  await exit.node.shutdown(200);
  target.close();
});

/** How a socket ends: 'fin' or the error code. */
function endOf(s: Socket, ms = 5000): Promise<string> {
  return new Promise((resolve) => {
    let how = 'fin';
    s.on('error', (err: NodeJS.ErrnoException) => (how = err.code ?? err.message));
    const t = setTimeout(() => resolve('still open'), ms);
    s.once('end', () => {
      clearTimeout(t);
      resolve('fin'); // the tunnel socket allows half-open: a FIN alone does not close it
    });
    s.once('close', () => {
      clearTimeout(t);
      resolve(how);
    });
    s.resume();
  });
}

for (const route of ['direct', 'through a hopgate exit'] as const) {
  test(`${route}: a target's reset reaches a SOCKS5 client as a reset`, async () => {
    const s = await socks5ConnectRaw(route === 'direct' ? direct.port : viaExit.port, USER.login, USER.password, '127.0.0.1', targetPort);
    s.write('tunnel');
    let got = '';
    s.on('data', (d: Buffer) => (got += d.toString()));
    assert.equal(await endOf(s), 'ECONNRESET');
    assert.equal(got, 'hello');
  });

  test(`${route}: a target's reset reaches an HTTP CONNECT client as a reset`, async () => {
    const c = await RawHttp.open(route === 'direct' ? direct.port : viaExit.port);
    c.write(`CONNECT 127.0.0.1:${targetPort} HTTP/1.1\r\nHost: 127.0.0.1:${targetPort}\r\n${PROXY_AUTH}\r\n`);
    assert.match(await c.readHead(5000), /^HTTP\/1\.1 200 /);
    c.write('tunnel');
    assert.equal(await c.ended(5000), 'ECONNRESET');
  });
}

for (const route of ['direct', 'through a hopgate exit'] as const) {
  for (const path of ['/cl-short-fin', '/cl-short-rst', '/close-rst', '/chunked-short-fin', '/chunked-bad']) {
    test(`${route}: HTTP forwarding, ${path.slice(1)}: the client's connection is reset, nothing appended`, async () => {
      const port = route === 'direct' ? direct.port : viaExit.port;
      // curl reads as the kernel reports: a reset is "Recv failure" (56). (A node client may see
      // data and the reset in one poll and report a clean end: libuv's POLLRDHUP shortcut.)
      const r = await curl(['-sS', '-i', '-x', `http://${USER.login}:${USER.password}@127.0.0.1:${port}`, `http://127.0.0.1:${targetPort}${path}`], 5000);
      assert.equal(r.code, 56, `${path}: curl ${r.code} ${r.stderr}`);
      assert.match(r.stderr, /reset by peer/i);
      // The bytes themselves: one response head, never a second one appended.
      const c = await RawHttp.open(port);
      c.write(proxiedGet(targetPort, path));
      assert.notEqual(await c.ended(5000), 'open');
      const bytes = c.pending.toString('latin1');
      assert.equal(bytes.match(/HTTP\/1\.1 /g)?.length, 1, `one response head only: ${JSON.stringify(bytes)}`);
      assert.match(bytes, /^HTTP\/1\.1 200 OK\r\n/);
    });
  }

  test(`${route}: HTTP forwarding, a close-delimited body that ends with a FIN ends with a FIN`, async () => {
    const c = await RawHttp.open(route === 'direct' ? direct.port : viaExit.port);
    c.write(proxiedGet(targetPort, '/close-fin'));
    const res = await c.readResponse(5000);
    assert.equal(res.status, 200);
    assert.equal(res.body.toString(), '0123456789');
    assert.equal(c.end, 'fin');
  });
}

test('HTTPS proxy (TLS to the ingress): a cut response and a target reset reach curl as a reset of its TCP connection', async () => {
  for (const [mode, path] of [['forward', '/cl-short-rst'], ['forward', '/chunked-bad'], ['CONNECT', '/close-rst']] as const) {
    const args = ['-sS', '--proxy-cacert', cert.cert, '-x', `https://${USER.login}:${USER.password}@127.0.0.1:${direct.port}`, `http://127.0.0.1:${targetPort}${path}`];
    const r = await curl(mode === 'CONNECT' ? ['-p', ...args] : args, 5000);
    assert.equal(r.code, 56, `${mode} ${path}: curl ${r.code} ${r.stderr}`);
    assert.match(r.stderr, /reset by peer/i);
  }
});
