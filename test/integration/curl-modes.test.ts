/** The real curl in every proxy mode, with authentication, against a loopback target. */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { listen0 } from '../helpers/net.js';
import { curl } from '../helpers/curl.js';
import { startTestIngress, USER, type TestIngress } from '../helpers/ingress.js';
import { ensureSelfSignedCert } from '../../src/cli/tls-cert.js';

let ing: TestIngress;
let web: Server;
let webPort: number;
let cert: { cert: string; key: string };

before(async () => {
  web = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      res.setHeader('X-Seen-Proxy-Auth', String(req.headers['proxy-authorization'] ?? 'none'));
      res.end(`${req.method} ${req.url} from ${req.socket.remoteAddress} body=${body}`);
    });
  });
  webPort = await listen0(web);
  const c = ensureSelfSignedCert(join(mkdtempSync(join(tmpdir(), 'hopgate-tls-')), 'tls'));
  assert.ok(c, 'openssl must be installed for the HTTPS proxy tests');
  cert = c;
  ing = await startTestIngress({ tls: cert });
});
after(async () => {
  await ing.stop();
  web.closeAllConnections();
  web.close();
});

const cred = `${USER.login}:${USER.password}`;
const modes = ['http', 'socks4', 'socks4a', 'socks5', 'socks5h'] as const;

/** SOCKS4 carries only a userid: curl sends the URL's user part, so the password rides in it as `user:password`. */
const proxyUserinfo = (mode: string, login: string, password: string): string =>
  mode.startsWith('socks4') ? `${login}%3A${encodeURIComponent(password)}` : `${login}:${encodeURIComponent(password)}`;

for (const mode of modes) {
  test(`curl -x ${mode}:// with credentials reaches the target`, async () => {
    const r = await curl(['-x', `${mode}://${proxyUserinfo(mode, USER.login, USER.password)}@127.0.0.1:${ing.port}`, `http://127.0.0.1:${webPort}/hello?x=1`]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^GET \/hello\?x=1 from 127\.0\.0\.1/);
  });
}

test('curl -x https:// (TLS to the proxy itself) reaches the target', async () => {
  const r = await curl(['--proxy-cacert', cert.cert, '-x', `https://${cred}@127.0.0.1:${ing.port}`, `http://127.0.0.1:${webPort}/tls`]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^GET \/tls from/);
});

test('curl -x https:// with a CONNECT tunnel inside TLS', async () => {
  const r = await curl(['--proxy-cacert', cert.cert, '-p', '-x', `https://${cred}@127.0.0.1:${ing.port}`, `http://127.0.0.1:${webPort}/tunnel`]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^GET \/tunnel from/);
});

test('curl http proxy forwards a POST body and strips Proxy-Authorization', async () => {
  const r = await curl(['-i', '-x', `http://${cred}@127.0.0.1:${ing.port}`, '--data-binary', 'a=1&b=2', `http://127.0.0.1:${webPort}/post`]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /X-Seen-Proxy-Auth: none/i);
  assert.match(r.stdout, /POST \/post from .* body=a=1&b=2/);
});

test('curl http proxy CONNECT (-p) tunnels', async () => {
  const r = await curl(['-p', '-x', `http://${cred}@127.0.0.1:${ing.port}`, `http://127.0.0.1:${webPort}/connect`]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /GET \/connect/);
});

test('curl without credentials gets 407 with a Proxy-Authenticate challenge', async () => {
  const r = await curl(['-i', '-x', `http://127.0.0.1:${ing.port}`, `http://127.0.0.1:${webPort}/`]);
  assert.match(r.stdout, /^HTTP\/1\.1 407 /);
  assert.match(r.stdout, /Proxy-Authenticate: Basic realm="hopgate"/i);
  assert.match(r.stdout, /X-Hopgate-Error: AUTH_REQUIRED/i);
});

test('curl with a wrong password fails in every mode', async () => {
  for (const mode of modes) {
    // -f: a plain-HTTP proxy answers 407 as an HTTP response, which curl only treats as failure with --fail.
    // From an address of its own: five failures hold alice back from that source (docs/CONFIGURATION.md), not the other tests'.
    const r = await curl(['-f', '--interface', '127.0.0.31', '-x', `${mode}://${proxyUserinfo(mode, USER.login, 'wrong')}@127.0.0.1:${ing.port}`, `http://127.0.0.1:${webPort}/`]);
    assert.notEqual(r.code, 0, `${mode} must fail`);
    assert.doesNotMatch(r.stdout, /^GET \//, `${mode} must not reach the target`);
  }
});

test('keep-alive: curl reuses one proxy connection for two requests', async () => {
  const url = `http://127.0.0.1:${webPort}/`;
  const r = await curl(['-v', '-x', `http://${cred}@127.0.0.1:${ing.port}`, url + 'one', url + 'two']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /GET \/one.*GET \/two/s);
  assert.match(r.stderr, /Re-using existing connection|Reusing existing/i);
});
