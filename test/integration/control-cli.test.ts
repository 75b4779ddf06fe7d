/**
 * `hopgate control` as a process, and the admin CLI (`hopgate user …`, `hopgate exits …`) against it. The admin
 * commands run in-process through the CLI's dispatch (test/helpers/cli-in-process.ts: same parsing, requests,
 * output and exit status, no Node start each); a few run as the real binary (`spawned`), for the entry point,
 * the environment variables, stdout/stderr and the exit status a shell sees.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MIGRATIONS } from '../../src/control/migrations.js';
import { loadOrCreateLinkIdentity } from '../../src/link/identity.js';
import { dialects, tempDir, type TestDb } from '../helpers/control-fixtures.js';
import { tunnelCert } from '../helpers/reverse.js';
import { freePort } from '../helpers/ports.js';
import { hopgateInProcess as hopgate } from '../helpers/cli-in-process.js';
import { readyJson, startProc, stopGracefully, type Proc } from '../helpers/procs.js';

const MAIN = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const cases = await dialects();

interface Started {
  proc: Proc;
  info: { url: string; db: string; tokenFile: string | null; tokenFrom: string; revision: number; migrations: { applied: string[]; ms: number } };
}

async function startControl(db: string, stateDir: string): Promise<Started> {
  const argv = [process.execPath, MAIN, 'control', '--db', db, '--listen', '127.0.0.1:0', '--state-dir', stateDir, '--json', '--log-level', 'warn'];
  const proc = await startProc('hopgate control', argv, { env: { HOPGATE_ADMIN_TOKEN: '' }, ready: /^\{/ });
  return { proc, info: readyJson(proc) };
}

const stop = (p: Proc): Promise<string> => stopGracefully(p);

function spawned(args: string[], env: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    // A bound on the run, not an assertion: the CLI's start alone took 10-17 s of wall time on the loaded test machine.
    execFile(process.execPath, [MAIN, ...args], { env: { ...process.env, ...env }, timeout: 60_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

/** A well-formed fingerprint for pins no certificate presents: 32 times `hex`. */
function fakeFingerprint(hex: string): string {
  return Array<string>(32).fill(hex).join(':');
}

/** Run an admin command that must succeed (its stderr in the failure). */
async function succeeds(args: string[], env: Record<string, string>): Promise<void> {
  const r = await hopgate(args, env);
  assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
}

// The two databases run side by side: each has its own process, state dir and database.
describe('hopgate control + admin CLI', { concurrency: true }, () => {
for (const dc of cases) {
  describe(`on ${dc.name}`, { skip: dc.skip, concurrency: 1 }, () => {
    let tdb: TestDb;
    let state: ReturnType<typeof tempDir>;
    let cp: Started;
    let env: Record<string, string>;

    before(async () => {
      tdb = await dc.make();
      state = tempDir();
      cp = await startControl(tdb.spec, state.path);
      env = { HOPGATE_CONTROL_URL: cp.info.url, HOPGATE_ADMIN_TOKEN: readFileSync(cp.info.tokenFile!, 'utf8').trim() };
    });
    after(async () => {
      if (cp) await stop(cp.proc);
      await tdb?.cleanup();
      state?.remove();
    });

    it('starts on a fresh database: migrations applied, token made (0600)', () => {
      assert.match(cp.info.url, /^http:\/\/127\.0\.0\.1:\d+$/);
      assert.deepEqual(cp.info.migrations.applied, Object.keys(MIGRATIONS));
      assert.equal(cp.info.tokenFrom, 'generated');
      assert.equal(cp.info.tokenFile, join(state.path, 'control-admin-token'));
      assert.equal(statSync(cp.info.tokenFile).mode & 0o777, 0o600);
      assert.match(cp.info.db, new RegExp(`^${dc.name} `));
    });

    it('link keys: exits add with a link, link-key --next then --retire, link-token, link-pins; hopgate link-key on the node', async () => {
      const dir = join(state.path, `exit-identity`);
      loadOrCreateLinkIdentity(dir, 'test exit'); // the exit's first start made its key; `next` stages one beside it
      const next = (await hopgate(['link-key', 'next', '--dir', dir], env)).stdout.trim();
      const show = await hopgate(['link-key', 'show', '--dir', dir, '--json'], env);
      assert.equal(show.code, 0, show.stderr);
      const current = JSON.parse(show.stdout).fingerprint as string;
      assert.equal(JSON.parse(show.stdout).next, next);
      assert.notEqual(next, current);
      const add = await hopgate(['exits', 'add', 'lk-1', '--host', '127.0.0.2', '--port', '7001', '--kind', 'hopgate', '--password', 's', '--link-port', '7002', '--link-fingerprint', current, '--json'], env);
      assert.equal(add.code, 0, add.stderr);
      assert.deepEqual(JSON.parse(add.stdout).link, { port: 7002, fingerprint: current, nextFingerprint: null, tokenSet: false });
      const staged = await hopgate(['exits', 'link-key', 'lk-1', '--next', next], env);
      assert.equal(staged.code, 0, staged.stderr);
      assert.match(staged.stdout, /next .* \(rotating\)/);
      assert.match((await hopgate(['link-key', 'promote', '--dir', dir], env)).stdout, new RegExp(`promoted: new links present ${next}`));
      const retired = await hopgate(['exits', 'link-key', 'lk-1', '--retire', '--json'], env);
      assert.equal(JSON.parse(retired.stdout).link.fingerprint, next);
      const again = await hopgate(['exits', 'link-key', 'lk-1', '--retire'], env);
      assert.notEqual(again.code, 0, 'nothing staged to retire to');
      assert.match(again.stderr, /no next link key/);
      const token = await hopgate(['exits', 'link-token', 'lk-1', '--json'], env);
      assert.match(JSON.parse(token.stdout).token, /^hgel_/);
      assert.deepEqual(JSON.parse((await hopgate(['exits', 'link-pins', '--json'], env)).stdout), { fingerprints: [] });
      const off = await hopgate(['exits', 'link', 'lk-1', '--off'], env);
      assert.match(off.stdout, /none \(the ingress uses its SOCKS5 port\)/);
      assert.equal((await hopgate(['exits', 'delete', 'lk-1'], env)).code, 0);
    });

    // The admin CLI only speaks HTTP: its full run is on SQLite; the API suite covers PostgreSQL.
    const fullRun = dc.name === 'sqlite' ? false : 'dialect-blind; runs on SQLite';
    // Likewise its process boundary (entry point, environment, exit status): spawned on SQLite; on
    // PostgreSQL the same commands run through the CLI's dispatch here (no Node start, ~0.4 s of CPU each).
    const admin = dc.name === 'sqlite' ? spawned : hopgate;
    it('exits link during a key rotation keeps the staged next fingerprint (a port change, another pin); pinning the next key ends the rotation', { skip: fullRun }, async () => {
      const [A, B, C] = [fakeFingerprint('AA'), fakeFingerprint('BB'), fakeFingerprint('CC')];
      const ok = (args: string[]) => succeeds(args, env);
      await ok(['exits', 'add', 'lk-2', '--host', '127.0.0.2', '--port', '7001', '--kind', 'hopgate', '--password', 's', '--link-port', '7002', '--link-fingerprint', A]);
      await ok(['exits', 'link-key', 'lk-2', '--next', B]);
      const moved = await hopgate(['exits', 'link', 'lk-2', '--port', '7003', '--fingerprint', A, '--json'], env);
      assert.equal(moved.code, 0, moved.stderr);
      assert.deepEqual(JSON.parse(moved.stdout).link, { port: 7003, fingerprint: A, nextFingerprint: B, tokenSet: false });
      const text = await hopgate(['exits', 'link', 'lk-2', '--fingerprint', C], env);
      assert.match(text.stdout, new RegExp(`pinned ${C}, next ${B} \\(rotating\\)`), 'another current pin: the staged key stays');
      const done = await hopgate(['exits', 'link', 'lk-2', '--fingerprint', B.toLowerCase(), '--json'], env);
      assert.deepEqual(JSON.parse(done.stdout).link, { port: 7003, fingerprint: B.toLowerCase(), nextFingerprint: null, tokenSet: false }, 'the next key pinned as the current one: the only pin');
      await ok(['exits', 'delete', 'lk-2']);
    });

    it('user add prints the password once; user list --json lists the customer', async () => {
      const add = await admin(['user', 'add', 'carol', '--source', '10.0.0.0/8', '--max-connections', '4', '--json'], env);
      assert.equal(add.code, 0, add.stderr);
      const created = JSON.parse(add.stdout);
      assert.equal(created.customer.login, 'carol');
      assert.match(created.password, /^[A-Za-z0-9_-]{24}$/);

      const list = await hopgate(['user', 'list', '--json'], env);
      assert.equal(list.code, 0, list.stderr);
      const users = JSON.parse(list.stdout);
      assert.deepEqual(users.map((u: any) => [u.login, u.status, u.maxConnections, u.sources]), [['carol', 'active', 4, ['10.0.0.0/8']]]);
      assert.ok(!list.stdout.includes(created.password));

      const text = await hopgate(['user', 'add', 'dave'], env);
      assert.equal(text.code, 0, text.stderr);
      assert.match(text.stdout, /^customer dave created \(id cus_[0-9a-f]+\)\npassword: [A-Za-z0-9_-]{24}\n/);
      const table = await hopgate(['user', 'list'], env);
      assert.match(table.stdout, /^LOGIN\s+STATUS\s+SOURCES\s+EXITS\s+LIMITS\s+ID\n-+/);
      assert.match(table.stdout, /\ncarol\s+active\s+10\.0\.0\.0\/8\s+all\s+conns 4\s+cus_/);

      // No open proxy from the CLI either: a world-wide source-auth range is refused with the API's reason.
      const open = await hopgate(['user', 'add', 'mallory', '--source', '0.0.0.0/0', '--source-auth'], env);
      assert.notEqual(open.code, 0);
      assert.match(open.stderr, /0\.0\.0\.0\/0 is too broad: IPv4 source ranges may be \/8 at the broadest/);
      assert.equal((await hopgate(['user', 'show', 'mallory'], env)).code === 0, false, 'not created');
    });

    it('--quota-bytes takes sizes as the CLI prints them (10GB)', { skip: fullRun }, async () => {
      const r = await hopgate(['user', 'add', 'quinn', '--quota-bytes', '10GB', '--json'], env);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(JSON.parse(r.stdout).customer.quota.bytes, 10_000_000_000);
      assert.equal((await hopgate(['user', 'delete', 'quinn'], env)).code, 0);
    });

    it('usage of a login nobody has says no such customer, not "no usage"', { skip: fullRun }, async () => {
      const r = await hopgate(['usage', 'nobody'], env);
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, /no such customer 'nobody'/);
      assert.doesNotMatch(r.stdout, /no usage/);
    });

    it('user show/suspend/resume/delete, exits add/list/drain/delete, readable errors', { skip: fullRun }, async () => {
      const ex = await hopgate(['exits', 'add', 'us-1', '--host', '127.0.0.2', '--port', '7001', '--kind', 'hopgate', '--country', 'us', '--tag', 'dc'], env);
      assert.equal(ex.code, 0, ex.stderr);
      const withExit = await hopgate(['user', 'add', 'erin', '--exit', 'us-1', '--json'], env);
      assert.equal(withExit.code, 0, withExit.stderr);
      const exits = JSON.parse((await hopgate(['exits', 'list', '--json'], env)).stdout);
      // Customers: erin lists it; carol and dave list nothing, so they have every exit.
      assert.deepEqual(exits.map((e: any) => [e.id, e.kind, e.country, e.tags, e.customers, e.drain]), [['us-1', 'hopgate', 'us', ['dc'], 3, false]]);
      assert.match((await hopgate(['exits', 'list'], env)).stdout, /\nus-1\s+hopgate\s+127\.0\.0\.2:7001\s+-\s+us\s+dc\s+3\s+active/);
      assert.match((await hopgate(['exits', 'drain', 'us-1'], env)).stdout, /exit us-1 is draining/);

      const inUse = await hopgate(['exits', 'delete', 'us-1'], env);
      assert.equal(inUse.code, 1);
      assert.match(inUse.stderr, /409 exit_in_use: .*erin/);

      assert.match((await hopgate(['user', 'suspend', 'carol'], env)).stdout, /carol is suspended/);
      assert.match((await hopgate(['user', 'resume', 'carol'], env)).stdout, /carol is active/);
      assert.equal((await hopgate(['user', 'delete', 'erin'], env)).code, 0);
      assert.equal((await hopgate(['exits', 'delete', 'us-1'], env)).code, 0);

      // A reverse exit: refused while no tunnel certificate is set, then its token and run line, shown once.
      const noCert = await hopgate(['exits', 'add', 'office-1', '--reverse', '--country', 'de'], env);
      assert.equal(noCert.code, 1);
      assert.match(noCert.stderr, /400 invalid_configuration: .*certificate for the tunnel port/);
      const cert = tunnelCert();
      const settings = await fetch(`${cp.info.url}/v1/settings`, { method: 'PATCH', headers: { authorization: `Bearer ${env.HOPGATE_ADMIN_TOKEN}`, 'content-type': 'application/json' }, body: JSON.stringify({ tls: { cert: cert.cert, key: cert.key }, reverse: { listen: { host: '0.0.0.0', port: 7443 } } }) });
      assert.equal(settings.status, 200);
      const rev = await hopgate(['exits', 'add', 'office-1', '--reverse', '--egress-ip', '203.0.113.50', '--country', 'de', '--from', '198.51.100.0/24', '--deny-target', '10.0.0.0/8'], env);
      assert.equal(rev.code, 0, rev.stderr);
      const tok = /token: (hgex_[A-Za-z0-9_-]{32})\n/.exec(rev.stdout)?.[1];
      assert.ok(tok, rev.stdout);
      assert.ok(rev.stdout.includes(`HOPGATE_EXIT_TOKEN='${tok}' hopgate exit --connect-to INGRESS-HOST:7443 --id office-1`), rev.stdout);
      assert.match((await hopgate(['exits', 'list'], env)).stdout, /\noffice-1\s+reverse\s+dials in from 198\.51\.100\.0\/24\s+203\.0\.113\.50\s+de/);
      const rotated = JSON.parse((await hopgate(['exits', 'token', 'office-1', '--json'], env)).stdout);
      assert.match(rotated.token, /^hgex_/);
      assert.notEqual(rotated.token, tok);
      assert.equal((await hopgate(['exits', 'delete', 'office-1'], env)).code, 0);

      const missing = await spawned(['user', 'show', 'nobody'], env);
      assert.equal(missing.code, 1);
      assert.match(missing.stderr, /no customer with login 'nobody'/);
      const wrong = await hopgate(['user', 'list', '--token', 'hgop_not-the-token-at-all'], env);
      assert.equal(wrong.code, 1);
      assert.match(wrong.stderr, /401 unauthorized/);
      const down = await hopgate(['user', 'list', '--control', `http://127.0.0.1:${await freePort()}`], env);
      assert.equal(down.code, 1);
      assert.match(down.stderr, /cannot reach the control plane/);
    });

    it('exits link on a reverse exit during a key rotation keeps its staged next fingerprint; --off drops both (the tunnel certificate set above)', { skip: fullRun }, async () => {
      const [A, B] = [fakeFingerprint('AA'), fakeFingerprint('BB')];
      await succeeds(['exits', 'add', 'rv-2', '--reverse', '--country', 'de', '--link-fingerprint', A], env);
      await succeeds(['exits', 'link-key', 'rv-2', '--next', B], env);
      const again = await hopgate(['exits', 'link', 'rv-2', '--fingerprint', A, '--json'], env);
      assert.equal(again.code, 0, again.stderr);
      assert.deepEqual(JSON.parse(again.stdout).link, { port: null, fingerprint: A, nextFingerprint: B, tokenSet: false });
      const off = await hopgate(['exits', 'link', 'rv-2', '--off', '--json'], env);
      assert.equal(off.code, 0, off.stderr);
      assert.equal(JSON.parse(off.stdout).link, null);
      await succeeds(['exits', 'delete', 'rv-2'], env);
    });

    it('exits link says it kept a staged next key; exits link-key --cancel drops it (a hopgate exit and a reverse one), and says when nothing is staged', { skip: fullRun }, async () => {
      const [A, B, C] = [fakeFingerprint('AA'), fakeFingerprint('BB'), fakeFingerprint('CC')];
      await succeeds(['exits', 'add', 'lk-3', '--host', '127.0.0.2', '--port', '7001', '--kind', 'hopgate', '--password', 's', '--link-port', '7002', '--link-fingerprint', A], env);
      await succeeds(['exits', 'add', 'rv-3', '--reverse', '--country', 'de', '--link-fingerprint', A], env);
      for (const id of ['lk-3', 'rv-3']) {
        await succeeds(['exits', 'link-key', id, '--next', B], env);
        const kept = await hopgate(['exits', 'link', id, '--fingerprint', C], env);
        assert.equal(kept.code, 0, kept.stderr);
        assert.match(kept.stdout, new RegExp(`staged next key ${B} kept.*link-key ${id} --retire.*--cancel`, 's'), `${id}: the text says the staged key stays and how to drop it`);
        const cancelled = await hopgate(['exits', 'link-key', id, '--cancel', '--json'], env);
        assert.equal(cancelled.code, 0, cancelled.stderr);
        assert.deepEqual(JSON.parse(cancelled.stdout).link, { port: id === 'lk-3' ? 7002 : null, fingerprint: C, nextFingerprint: null, tokenSet: false }, `${id}: only the current pin left`);
        const none = await hopgate(['exits', 'link-key', id, '--cancel'], env);
        assert.equal(none.code, 1);
        assert.match(none.stderr, /no staged next link key/);
        const plain = await hopgate(['exits', 'link', id, '--fingerprint', A], env);
        assert.doesNotMatch(plain.stdout, /staged/, `${id}: nothing staged, nothing said`);
        await succeeds(['exits', 'delete', id], env);
      }
    });

    it('restarts on the same database and state dir: no migration, same token, data kept', async () => {
      await stop(cp.proc);
      cp = await startControl(tdb.spec, state.path);
      assert.deepEqual(cp.info.migrations.applied, []);
      assert.equal(cp.info.tokenFrom, 'file');
      assert.ok(cp.info.revision > 0);
      const list = await admin(['user', 'list', '--json', '--control', cp.info.url], env);
      assert.equal(list.code, 0, list.stderr);
      assert.deepEqual(JSON.parse(list.stdout).map((u: any) => u.login), ['carol', 'dave']);
    });
  });
}
});
