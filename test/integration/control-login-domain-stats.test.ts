/**
 * Login records and top target domains (issue 16), on SQLite and PostgreSQL:
 * real curl through a controlled ingress to loopback names and addresses, wrong
 * passwords from other source addresses (127.0.1.1, 127.0.2.1: other /24s), then
 * the control plane's pull stores them once, and the API, /v1/me and the CLI
 * show them. Also: a customer reaching many random domains is folded to the
 * top K + (other) end to end, a guessed username is never stored, retention
 * prunes, bad queries are 400s.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { SocksClient } from 'socks';
import { authApi, basicAuth, dialects, tempDir, type TestDb } from '../helpers/control-fixtures.js';
import { TEST_SETTINGS, makeNode, startLinkedIngress, startTestControl, type Api } from '../helpers/control-link-fixtures.js';
import type { ControlledIngress } from '../../src/processes/controlled-ingress.js';
import type { ControlPlane } from '../../src/control/control-plane.js';
import type { StatsPull } from '../../src/shared/control-protocol.js';
import { DOMAIN_TOP_K } from '../../src/ingress/control-link/stats-extra.js';
import { curl } from '../helpers/curl.js';
import { hopgateOk } from '../helpers/cli-in-process.js';
import { eventually } from '../helpers/eventually.js';
import { listen0 } from '../helpers/net.js';

const cases = await dialects();
const BODY = 20_000;

for (const dc of cases) {
  describe(`login records and top domains on ${dc.name}`, { skip: dc.skip }, () => {
    let tdb: TestDb;
    let cpState: ReturnType<typeof tempDir>;
    let ingState: ReturnType<typeof tempDir>;
    let cp: ControlPlane & { api: Api };
    let call: Api;
    let web: Server;
    let webPort: number;
    let ing: ControlledIngress | undefined;
    let password: string;
    let bobPassword: string;
    let offset = 0;
    /** Set: the ingress's clock stands still (a burst stays in one minute whatever the machine's load). */
    let frozen: number | undefined;
    const clock = (): number => frozen ?? Date.now() + offset;
    const proxy = (): number => ing!.ports[0];

    /** Close the open minute on the ingress (its clock moves on), pull, store. */
    async function closeAndPull(): Promise<void> {
      await eventually('sessions closed', () => ing!.ingress!.runtime.sessions.size === 0);
      offset += 60_000;
      await eventually('the ingress subscribed with its admin address', () => [...cp.hub.subscribers].some((s) => s.adminUrl));
      await cp.collector.round();
      assert.ok(cp.collector.lastPulls.every((p) => p.ok), JSON.stringify(cp.collector.lastPulls));
    }

    before(async () => {
      tdb = await dc.make();
      cpState = tempDir();
      ingState = tempDir('hopgate-ingress-state-');
      cp = await startTestControl(tdb.spec, cpState.path);
      call = cp.api;
      const body = Buffer.alloc(BODY, 0x62);
      web = createServer((_req, res) => res.end(body));
      webPort = await listen0(web, '127.0.0.1');
      // Only the web server's port: names on any other port are refused before any DNS lookup
      // (the test needs no resolver), yet counted under their domain like any connection.
      await call('PATCH', '/v1/settings', { ...TEST_SETTINGS, targetPolicy: { allow: ['127.0.0.0/8'], ports: [webPort] } });
      password = (await call('POST', '/v1/customers', { login: 'alice' })).body.password;
      bobPassword = (await call('POST', '/v1/customers', { login: 'bob' })).body.password;
      const token = await makeNode(call, 'edge-1');
      ing = await startLinkedIngress(cp.url, token, ingState.path, { now: clock });
    });
    after(async () => {
      await ing?.stop();
      await cp?.close();
      await new Promise((r) => web?.close(r));
      await tdb?.cleanup();
      cpState?.remove();
      ingState?.remove();
    });

    it('curl to loopback names and addresses, and wrong passwords from other /24s, show up per domain and per prefix', async () => {
      const as = `alice:${password}@127.0.0.1:${proxy()}`;
      for (const url of [`http://localhost:${webPort}/`, `http://LocalHost:${webPort}/`]) {
        const r = await curl(['-o', '/dev/null', '-w', '%{http_code}', '-x', `socks5h://${as}`, url]);
        assert.equal(r.stdout, '200', r.stderr);
      }
      const viaHttp = await curl(['-o', '/dev/null', '-w', '%{http_code}', '-x', `http://${as}`, `http://127.0.0.1:${webPort}/`]);
      assert.equal(viaHttp.stdout, '200', viaHttp.stderr);
      const nx = await curl(['-o', '/dev/null', '-x', `socks5h://${as}`, 'http://www.nothing-here.invalid/']);
      assert.notEqual(nx.code, 0, 'refused (port 80 is not allowed)');
      for (let i = 0; i < 2; i++) {
        const bad = await curl(['-o', '/dev/null', '-w', '%{http_code}', '--interface', '127.0.1.1', '-x', `http://alice:wrong-${i}@127.0.0.1:${proxy()}`, `http://127.0.0.1:${webPort}/`]);
        assert.equal(bad.stdout, '407');
      }
      const guess = await curl(['-o', '/dev/null', '-w', '%{http_code}', '--interface', '127.0.2.1', '-x', `http://mallory-country-us:guess@127.0.0.1:${proxy()}`, `http://127.0.0.1:${webPort}/`]);
      assert.equal(guess.stdout, '407');
      // A client asking without credentials (the 407 challenge every HTTP client starts with) is no login attempt.
      const anon = await curl(['-o', '/dev/null', '-w', '%{http_code}', '--interface', '127.0.4.1', '-x', `http://127.0.0.1:${proxy()}`, `http://127.0.0.1:${webPort}/`]);
      assert.equal(anon.stdout, '407');
      // bob: one request, so customers are kept apart.
      const b = await curl(['-o', '/dev/null', '-w', '%{http_code}', '-x', `socks5h://bob:${bobPassword}@127.0.0.1:${proxy()}`, `http://localhost:${webPort}/`]);
      assert.equal(b.stdout, '200');
      await closeAndPull();

      const d = await call('GET', '/v1/customers/alice/domains?period=24h&limit=10');
      assert.equal(d.status, 200, JSON.stringify(d.body));
      const by = new Map<string, { bytesUp: number; bytesDown: number; connections: number }>(d.body.domains.map((x: { domain: string }) => [x.domain, x]));
      assert.deepEqual([...by.keys()].sort(), ['ip', 'localhost', 'nothing-here.invalid'], 'lower-cased, addresses as ip, registrable-ish');
      assert.equal(by.get('localhost')!.connections, 2);
      assert.ok(by.get('localhost')!.bytesDown > 2 * BODY && by.get('localhost')!.bytesDown < 2 * BODY + 2000, `localhost down ${by.get('localhost')!.bytesDown}`);
      assert.ok(by.get('localhost')!.bytesUp > 0);
      assert.ok(by.get('ip')!.bytesDown >= BODY, JSON.stringify(d.body)); // forwarded HTTP: the body is what is counted
      assert.deepEqual([by.get('nothing-here.invalid')!.connections, by.get('nothing-here.invalid')!.bytesDown], [1, 0]);
      assert.equal(d.body.domains[0].domain, 'localhost', 'ordered by bytes');
      // The same counters as usage: every byte and connection of alice is under some domain.
      const usage = (await call('GET', '/v1/usage?customer=alice&by=month&live=false')).body.totals;
      assert.deepEqual([d.body.totals.bytesUp, d.body.totals.bytesDown, d.body.totals.connections], [usage.bytesUp, usage.bytesDown, usage.connections]);

      const l = await call('GET', '/v1/customers/alice/logins?by=minute&range=10m');
      assert.equal(l.status, 200, JSON.stringify(l.body));
      const prefixes = new Map<string, { ok: number; failed: number; outcomes: Record<string, number> }>(l.body.prefixes.map((p: { prefix: string }) => [p.prefix, p]));
      assert.deepEqual(prefixes.get('127.0.1.0/24'), { prefix: '127.0.1.0/24', ok: 0, failed: 2, outcomes: { bad_password: 2 } });
      assert.deepEqual(prefixes.get('127.0.0.0/24'), { prefix: '127.0.0.0/24', ok: 4, failed: 0, outcomes: { ok: 4 } });
      assert.equal(prefixes.has('127.0.2.0/24'), false, "an unknown user's guess is not alice's");
      assert.equal(l.body.prefixes[0].prefix, '127.0.1.0/24', 'most failures first');
      assert.deepEqual(l.body.totals, { ok: 4, failed: 2 });
      assert.equal(l.body.series.length, 11, 'one point per minute, zeros included');
      assert.equal(l.body.series.reduce((s: number, p: { failed: number }) => s + p.failed, 0), 2);

      // The guessed name is nowhere: the attempt is kept under '' (no customer).
      const stored = await tdb.query<{ customer_id: string; login: string; prefix: string; outcome: string; count: number }>('SELECT customer_id, login, prefix, outcome, count FROM login_minute WHERE prefix = $1', ['127.0.2.0/24']);
      assert.deepEqual(stored.map((r) => [r.customer_id, r.login, r.outcome, Number(r.count)]), [['', '', 'unknown_user', 1]]);
      assert.equal((await tdb.query("SELECT 1 FROM login_minute WHERE login LIKE '%mallory%'")).length, 0);
      assert.deepEqual(await tdb.query('SELECT prefix FROM login_minute WHERE prefix = $1', ['127.0.4.0/24']), [], 'a request without credentials counts as no login');

      // bob sees only his own; alice's own view matches the operator's.
      const api = authApi(cp.url);
      const mine = await api('GET', '/v1/me/domains?period=24h', basicAuth('alice', password));
      assert.equal(mine.status, 200);
      assert.deepEqual(mine.body.domains, d.body.domains);
      const bobs = await api('GET', '/v1/me/domains', basicAuth('bob', bobPassword));
      assert.deepEqual(bobs.body.domains.map((x: { domain: string }) => x.domain), ['localhost']);
      assert.equal((await api('GET', '/v1/me/logins?range=10m&by=minute', basicAuth('bob', bobPassword))).body.totals.failed, 0);
      assert.equal((await api('GET', '/v1/customers/alice/domains', basicAuth('bob', bobPassword))).status, 403, 'a customer cannot read another');
    });

    it('stores each pull once: repeated rounds and the same pull ingested twice add nothing', async () => {
      const before = (await call('GET', '/v1/customers/alice/domains')).body.totals;
      await cp.collector.round();
      await cp.collector.round();
      const r = await curl(['-o', '/dev/null', '-x', `socks5h://alice:${password}@127.0.0.1:${proxy()}`, `http://localhost:${webPort}/`]);
      assert.equal(r.code, 0);
      await eventually('sessions closed', () => ing!.ingress!.runtime.sessions.size === 0);
      offset += 60_000;
      const sub = [...cp.hub.subscribers][0]!;
      const cursor = await cp.store.statsCursor('edge-1');
      const pull = (await (await fetch(`${sub.adminUrl}/v1/stats?after=${cursor}`, { headers: { authorization: `Bearer ${sub.pullToken}` } })).json()) as StatsPull;
      assert.equal(pull.domains!.length, 1);
      assert.equal(pull.logins!.length, 1);
      await cp.store.ingestStats('edge-1', pull);
      await cp.store.ingestStats('edge-1', pull);
      await cp.collector.round();
      const after = (await call('GET', '/v1/customers/alice/domains')).body.totals;
      assert.equal(after.connections, before.connections + 1);
      assert.equal((await call('GET', '/v1/customers/alice/logins?range=1h')).body.totals.ok, 5);
    });

    it('a customer reaching many random domains keeps at most K per minute plus (other), every connection counted', async () => {
      const n = DOMAIN_TOP_K + 30;
      const before = (await call('GET', '/v1/customers/bob/domains?limit=100')).body.totals;
      frozen = clock();
      for (let i = 0; i < n; i += 10) {
        await Promise.all(
          Array.from({ length: Math.min(10, n - i) }, (_, j) =>
            SocksClient.createConnection({ proxy: { host: '127.0.0.1', port: proxy(), type: 5, userId: 'bob', password: bobPassword }, command: 'connect', destination: { host: `x.r${i + j}.invalid`, port: 80 }, timeout: 5000 }).then(
              (c) => c.socket.destroy(),
              () => undefined, // port 80: refused before resolving, and counted
            ),
          ),
        );
      }
      frozen = undefined;
      await closeAndPull();
      const rows = await tdb.query<{ minute: string; n: number }>("SELECT minute, count(*) AS n FROM domain_minute WHERE login = 'bob' AND domain LIKE 'r%.invalid' GROUP BY minute");
      for (const r of rows) assert.ok(Number(r.n) <= DOMAIN_TOP_K, `minute ${r.minute}: ${r.n} names`);
      const d = (await call('GET', '/v1/customers/bob/domains?limit=100')).body;
      assert.equal(d.totals.connections - before.connections, n, 'folded, not dropped');
      assert.ok(d.domains.some((x: { domain: string }) => x.domain === '(other)'));
    });

    it('the CLI prints both; bad queries are 400s; retention deletes old minutes', async () => {
      const cli = await hopgateOk(['usage', 'domains', 'alice', '--limit', '3', '--control', cp.url, '--token', cp.token.token]);
      assert.match(cli.stdout, /^top domains of alice/);
      assert.match(cli.stdout, /\nlocalhost\s.*\s3\n/);
      const json = JSON.parse((await hopgateOk(['usage', 'domains', 'alice', '--json', '--control', cp.url, '--token', cp.token.token])).stdout);
      assert.equal(json.domains[0].domain, 'localhost');
      const logins = await hopgateOk(['logins', 'alice', '--control', cp.url, '--token', cp.token.token]);
      assert.match(logins.stdout, /5 ok, 2 failed/);
      assert.match(logins.stdout, /127\.0\.1\.0\/24\s+0\s+2\s+bad_password 2/);

      for (const q of ['limit=1000', 'period=abc', 'period=2026-13', 'period=24h&from=2026-01-01', 'period=9999d', 'unknown=1']) {
        const r = await call('GET', `/v1/customers/alice/domains?${q}`);
        assert.equal(r.status, 400, `${q}: ${JSON.stringify(r.body)}`);
      }
      assert.equal((await call('GET', '/v1/customers/alice/logins?by=minute&range=30d')).status, 400, 'too many points');
      assert.equal((await call('GET', '/v1/customers/nobody/logins')).status, 404);
      const month = new Date().toISOString().slice(0, 7);
      assert.equal((await call('GET', `/v1/customers/alice/domains?period=${month}`)).body.domains[0].domain, 'localhost', 'a calendar period');

      const old = new Date(Date.now() - 31 * 86_400_000).toISOString().slice(0, 16);
      await tdb.write("INSERT INTO domain_minute (minute, customer_id, login, domain, bytes_up, bytes_down, connections) VALUES ($1, 'x', 'x', 'old.example', 1, 1, 1)", [old]);
      await tdb.write("INSERT INTO login_minute (minute, customer_id, login, prefix, outcome, count) VALUES ($1, 'x', 'x', '10.0.0.0/24', 'ok', 1)", [old]);
      const kept = Number((await tdb.query<{ n: number }>('SELECT count(*) AS n FROM domain_minute'))[0]!.n);
      assert.equal(await cp.collector.pruneStats(true), 2);
      assert.equal(Number((await tdb.query<{ n: number }>('SELECT count(*) AS n FROM domain_minute'))[0]!.n), kept - 1, 'only the old minute went');
    });
  });
}

describe('login records and domains from ingress worker processes (IPC to the primary ledger)', () => {
  it('counts in the workers reach the control plane', async () => {
    const { sqliteDb } = await import('../helpers/control-fixtures.js');
    const tdb = await sqliteDb();
    const cpState = tempDir();
    const ingState = tempDir('hopgate-ingress-state-');
    const cp = await startTestControl(tdb.spec, cpState.path);
    const web = createServer((_req, res) => res.end('hello'));
    const webPort = await listen0(web, '127.0.0.1');
    let offset = 0;
    let ing: ControlledIngress | undefined;
    try {
      await cp.api('PATCH', '/v1/settings', TEST_SETTINGS);
      const pw = (await cp.api('POST', '/v1/customers', { login: 'carol' })).body.password;
      ing = await startLinkedIngress(cp.url, await makeNode(cp.api, 'edge-w'), ingState.path, { workers: 2, now: () => Date.now() + offset });
      const ok = await curl(['-o', '/dev/null', '-w', '%{http_code}', '-x', `socks5h://carol:${pw}@127.0.0.1:${ing.ports[0]}`, `http://localhost:${webPort}/`]);
      assert.equal(ok.stdout, '200', ok.stderr);
      const bad = await curl(['-o', '/dev/null', '-w', '%{http_code}', '--interface', '127.0.3.1', '-x', `http://carol:nope@127.0.0.1:${ing.ports[0]}`, `http://localhost:${webPort}/`]);
      assert.equal(bad.stdout, '407');
      offset = 60_000; // the primary's ledger: the workers' minute has ended
      await eventually('the ingress subscribed with its admin address', () => [...cp.hub.subscribers].some((s) => s.adminUrl));
      const seen = await eventually('domains and logins stored', async () => {
        await cp.collector.round();
        const d = (await cp.api('GET', '/v1/customers/carol/domains')).body;
        const l = (await cp.api('GET', '/v1/customers/carol/logins?range=10m&by=minute')).body;
        return d.domains.length > 0 && l.totals.ok === 1 && l.totals.failed === 1 ? { d, l } : undefined;
      });
      assert.deepEqual(seen.d.domains.map((x: { domain: string; connections: number }) => [x.domain, x.connections]), [['localhost', 1]]);
      assert.deepEqual(seen.l.prefixes.find((p: { prefix: string }) => p.prefix === '127.0.3.0/24').outcomes, { bad_password: 1 });
    } finally {
      await ing?.stop();
      await cp.close();
      await new Promise((r) => web.close(r));
      await tdb.cleanup();
      cpState.remove();
      ingState.remove();
    }
  });
});
