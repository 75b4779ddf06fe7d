/**
 * The ingress admin port: /v1/ports/LOGIN reveals a customer's login and exits,
 * so it takes the bearer token of `metrics.token` (401 without or with a wrong
 * one; 403 while no token is configured); /healthz stays open for probes and
 * /metrics names no login. `hopgate ports` reads the token from the same file and
 * gets the live table; with no token it falls back to the file, saying so.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { aliceHashed, USER } from '../helpers/ingress.js';
import { Ingress } from '../../src/ingress/ingress.js';
import { IngressConfigSchema } from '../../src/shared/schema/ingress-config.js';
import { createLogger } from '../../src/shared/log.js';

const cli = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const TOKEN = 'hgadm_admin-token-for-tests-0123456789';
let dir: string;
let ing: Ingress;
let admin: string;
let file: string;

function yamlFor(port: number, token: string | undefined): object {
  return {
    listen: { host: '127.0.0.1', ports: [0, 0] },
    targetPolicy: { allow: ['127.0.0.0/8'] },
    log: { level: 'silent', access: false },
    metrics: { host: '127.0.0.1', port, ...(token ? { token } : {}) },
    users: [{ login: USER.login, passwordHash: '$scrypt$placeholder' }],
    exits: [{ id: 'secret-exit-1', kind: 'socks5', host: '127.0.0.9', port: 1080, egressIp: '127.0.0.9' }],
  };
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'hopgate-admin-'));
  const cfg = yamlFor(0, TOKEN) as { users: Array<{ passwordHash: string }> };
  cfg.users[0]!.passwordHash = await aliceHashed();
  ing = await Ingress.start(IngressConfigSchema.parse(cfg), createLogger('silent'));
  admin = `http://127.0.0.1:${ing.adminPort}`;
  file = join(dir, 'ingress.yaml');
  cfg.users[0]!.passwordHash = await aliceHashed();
  writeFileSync(file, stringify({ ...cfg, metrics: { host: '127.0.0.1', port: ing.adminPort, token: TOKEN } }));
});
after(async () => {
  await ing?.shutdown(100);
  rmSync(dir, { recursive: true, force: true });
});

test('/v1/ports/LOGIN needs the bearer token; /healthz is open; /metrics names no login', async () => {
  const none = await fetch(`${admin}/v1/ports/${USER.login}`);
  assert.equal(none.status, 401);
  assert.match(none.headers.get('www-authenticate') ?? '', /^Bearer/);
  const body = await none.text();
  assert.doesNotMatch(body, /secret-exit-1|127\.0\.0\.9/);
  assert.equal((await fetch(`${admin}/v1/ports/${USER.login}`, { headers: { authorization: 'Bearer wrong-token-of-some-length' } })).status, 401);
  assert.equal((await fetch(`${admin}/v1/ports/nobody`)).status, 401, 'no difference between a known and an unknown login');
  const ok = await fetch(`${admin}/v1/ports/${USER.login}`, { headers: { authorization: `Bearer ${TOKEN}` } });
  assert.equal(ok.status, 200);
  assert.equal(((await ok.json()) as { login: string }).login, USER.login);
  assert.equal((await fetch(`${admin}/healthz`)).status, 200);
  const metrics = await fetch(`${admin}/metrics`);
  assert.equal(metrics.status, 200);
  assert.doesNotMatch(await metrics.text(), new RegExp(USER.login));
});

test('a malformed %-escape is a 404, and the admin port (and the ingress) stays up', async () => {
  for (const path of ['/%E0%A4%A', `/v1/ports/%E0%A4%A`]) {
    const r = await fetch(`${admin}${path}`, { headers: { authorization: `Bearer ${TOKEN}` } });
    assert.equal(r.status, 404, path);
  }
  assert.equal((await fetch(`${admin}/healthz`)).status, 200);
});

test('with no token configured the port table is not served at all', async () => {
  const open = await Ingress.start(IngressConfigSchema.parse({ ...yamlFor(0, undefined), users: [{ login: USER.login, passwordHash: await aliceHashed() }] }), createLogger('silent'));
  try {
    const r = await fetch(`http://127.0.0.1:${open.adminPort}/v1/ports/${USER.login}`);
    assert.equal(r.status, 403);
    assert.match(await r.text(), /metrics\.token/);
    assert.equal((await fetch(`http://127.0.0.1:${open.adminPort}/healthz`)).status, 200);
  } finally {
    await open.shutdown(100);
  }
});

function hopgate(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [cli, ...args], { timeout: 15_000 }, (err, stdout, stderr) => resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr }));
  });
}

test('hopgate ports reads the token from the configuration and shows the live table', async () => {
  const r = await hopgate(['ports', USER.login, '--config', file, '--json']);
  assert.equal(r.code, 0, r.stderr);
  const t = JSON.parse(r.stdout) as { live: boolean; login: string };
  assert.deepEqual([t.login, t.live], [USER.login, true]);
  // A copy of the file without the token: the admin refuses, the CLI says so and falls back to the file.
  const noToken = join(dir, 'no-token.yaml');
  writeFileSync(noToken, stringify({ ...yamlFor(ing.adminPort!, undefined), users: [{ login: USER.login, passwordHash: await aliceHashed() }] }));
  const f = await hopgate(['ports', USER.login, '--config', noToken]);
  assert.equal(f.code, 0, f.stderr);
  assert.match(f.stdout, /secret-exit-1/);
  assert.match(f.stdout + f.stderr, /admin port refused: 401/);
});

