/**
 * End to end: a control plane whose store holds a source-auth customer with
 * `0.0.0.0/0` and `::/0` (a state directory from before issue 18's fix), its
 * rendered configuration on a real ingress, and the real curl in all six proxy
 * modes without credentials. From a source no customer was granted, every mode
 * is refused; from the one source granted (127.0.0.2, an office's source-auth
 * range), every mode works, so the refusals are not an accident of the set-up.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { startControlPlane } from '../../src/control/control-plane.js';
import { ensureSelfSignedCert } from '../../src/cli/tls-cert.js';
import { listen0 } from '../helpers/net.js';
import { curl } from '../helpers/curl.js';
import { startTestIngress, type TestIngress } from '../helpers/ingress.js';
import { sqliteDb, tempDir, TEST_COST, type TestDb } from '../helpers/control-fixtures.js';

let tdb: TestDb;
let state: ReturnType<typeof tempDir>;
let ing: TestIngress;
let web: Server;
let webPort: number;
let cert: { cert: string; key: string };
let warnings = '';

before(async () => {
  web = createServer((req, res) => res.end(`reached from ${req.socket.remoteAddress}`));
  webPort = await listen0(web);
  tdb = await sqliteDb();
  state = tempDir();
  const c = ensureSelfSignedCert(join(state.path, 'tls'));
  assert.ok(c, 'openssl must be installed for the HTTPS proxy mode');
  cert = c;
  let cp = await startControlPlane({ db: tdb.spec, stateDir: state.path, port: 0, passwordCost: TEST_COST });
  const op = { authorization: `Bearer ${cp.token.token}`, 'content-type': 'application/json' };
  for (const body of [
    { login: 'office', sources: ['127.0.0.2'], sourceAuth: true },
    { login: 'mallory', sources: ['192.0.2.10'], sourceAuth: true },
  ]) {
    const r = await fetch(`${cp.url}/v1/customers`, { method: 'POST', headers: op, body: JSON.stringify(body) });
    assert.equal(r.status, 201, await r.text());
  }
  await cp.close();
  // What one `PUT /v1/me/sources {"sources":["0.0.0.0/0","::/0"]}` stored before the fix.
  await tdb.write(`UPDATE customers SET sources = $1 WHERE login = 'mallory'`, [JSON.stringify(['0.0.0.0/0', '::/0'])]);
  cp = await startControlPlane({ db: tdb.spec, stateDir: state.path, port: 0, passwordCost: TEST_COST });
  const r = await fetch(`${cp.url}/v1/ingress-config?format=json`, { headers: op });
  assert.equal(r.status, 200);
  warnings = r.headers.get('x-hopgate-warnings') ?? '';
  const rendered = (await r.json()) as { users: unknown[] };
  await cp.close();
  ing = await startTestIngress({ tls: cert, users: rendered.users as never });
});
after(async () => {
  await ing?.stop();
  web?.close();
  await tdb?.cleanup();
  state?.remove();
});

const modes = ['http', 'https', 'socks4', 'socks4a', 'socks5', 'socks5h'] as const;
const proxyArgs = (mode: string): string[] => (mode === 'https' ? ['--proxy-cacert', cert.cert, '-x', `https://127.0.0.1:${ing.port}`] : ['-x', `${mode}://127.0.0.1:${ing.port}`]);

test('the renderer said why the stored ranges were dropped', () => {
  assert.match(warnings, /customer 'mallory': source 0\.0\.0\.0\/0 dropped/);
});

for (const mode of modes) {
  test(`${mode}: no credentials from a source nobody was granted is refused`, async () => {
    const r = await curl([...proxyArgs(mode), '--interface', '127.0.0.1', '-sS', '-o', '/dev/null', '-w', '%{http_code}', `http://127.0.0.1:${webPort}/`]);
    if (mode.startsWith('http')) {
      assert.equal(r.stdout, '407', `${mode}: ${r.stdout} ${r.stderr}`); // curl exits 0 on a 407 unless --fail
    } else {
      assert.notEqual(r.code, 0, `${mode} relayed without credentials: ${r.stdout}`);
      assert.match(r.stderr, /SOCKS|proxy|denied|rejected|authentication/i);
    }
  });
  test(`${mode}: no credentials from the granted source is the office customer`, async () => {
    const r = await curl([...proxyArgs(mode), '--interface', '127.0.0.2', '-sS', `http://127.0.0.1:${webPort}/`]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^reached from /);
  });
}
