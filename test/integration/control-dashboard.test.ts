/**
 * The control-plane dashboard (GET /dashboard): its files and security headers
 * over plain HTTP, then the page itself in headless Chromium (playwright-core,
 * the system's /usr/bin/chromium): operator login, create a customer and see
 * the password once, suspend, edit limits, drain an exit, usage chart, then
 * the customer's own view (and nothing of anyone else's), password rotation.
 * API strings holding markup must show up as text. Control plane on SQLite.
 * The browser part is skipped, saying why, when Chromium is not installed.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ControlPlane } from '../../src/control/control-plane.js';
import { minuteOf } from '../../src/shared/control-protocol.js';
import { basicAuth, type AuthApi } from '../helpers/control-fixtures.js';
import { startDashboardControl, type DashboardControl } from '../helpers/dashboard-fixtures.js';
import { CHROMIUM, CHROMIUM_ARGS, loadPlaywright, type Playwright } from '../helpers/chromium.js';

const XSS = '<img src=x onerror=alert(1)>';
const pw = await loadPlaywright();
if (typeof pw === 'string') console.log(`# control-dashboard: ${pw}`);

describe('control dashboard', () => {
  let dc: DashboardControl;
  let cp: ControlPlane;
  let token: string;
  const api: AuthApi = (method, path, auth, body) => dc.api(method, path, auth, body);
  const op = (): string => dc.op;
  const basic = basicAuth;

  before(async () => {
    dc = await startDashboardControl();
    ({ cp, token } = dc);
  });
  after(async () => {
    await dc?.close();
  });

  it('serves the page and its files with a strict CSP, no framing, right types', async () => {
    const want = { '/dashboard': /^text\/html/, '/dashboard/ui/app.js': /^text\/javascript/, '/dashboard/ui/chart.js': /^text\/javascript/, '/dashboard/app.css': /^text\/css/, '/dashboard/favicon.svg': /^image\/svg\+xml/ };
    for (const [path, type] of Object.entries(want)) {
      const res = await fetch(cp.url + path);
      assert.equal(res.status, 200, path);
      assert.match(res.headers.get('content-type') ?? '', type, path);
      const csp = res.headers.get('content-security-policy') ?? '';
      assert.match(csp, /default-src 'self'/, path);
      assert.match(csp, /script-src 'self'(;|$)/, path);
      assert.match(csp, /frame-ancestors 'none'/, path);
      assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval|\*/, path);
      assert.equal(res.headers.get('x-frame-options'), 'DENY', path);
      assert.equal(res.headers.get('x-content-type-options'), 'nosniff', path);
      assert.equal(res.headers.get('referrer-policy'), 'no-referrer', path);
      assert.ok((await res.text()).length > 100, path);
    }
    const slash = await fetch(cp.url + '/dashboard/', { redirect: 'manual' });
    assert.equal(slash.status, 308);
    assert.equal(slash.headers.get('location'), '/dashboard');
    assert.equal((await fetch(cp.url + '/dashboard/nope.js')).status, 404);
    assert.equal((await fetch(cp.url + '/dashboard/ui/nope.js')).status, 404);
    assert.equal((await fetch(cp.url + '/dashboard/ui/..%2F..%2Fapi-schemas.js')).status, 404);
    assert.equal((await fetch(cp.url + '/dashboard/ui/api-schemas.js')).status, 404);
    // The control plane's root is where a new operator looks first: it leads to the dashboard.
    const root = await fetch(cp.url + '/', { redirect: 'manual' });
    assert.equal(root.status, 302);
    assert.equal(root.headers.get('location'), '/dashboard');
    // The API itself is unchanged: still needs credentials.
    assert.equal((await fetch(cp.url + '/v1/customers')).status, 401);
  });

  it('GET /v1/exit-health: up, down as an ingress last reported, draining; operator only', async () => {
    for (const [id, drain] of [['eh-up', false], ['eh-down', false], ['eh-drained', true]] as const) {
      assert.equal((await api('POST', '/v1/exits', op(), { id, kind: 'socks5', host: '127.0.0.1', port: 1080, drain })).status, 201);
    }
    assert.equal((await api('POST', '/v1/ingress-nodes', op(), { id: 'eh-node', name: 'eh' })).status, 201);
    await cp.store.recordExitHealth('eh-node', ['eh-down'], new Date().toISOString());
    const h = await api('GET', '/v1/exit-health', op());
    assert.equal(h.status, 200);
    const by = new Map((h.body.exits as { id: string; health: string }[]).map((e) => [e.id, e.health]));
    assert.deepEqual([by.get('eh-up'), by.get('eh-down'), by.get('eh-drained')], ['up', 'down', 'draining']);
    // A stale report (the node went silent) no longer counts the exit down.
    await cp.store.recordExitHealth('eh-node', ['eh-down'], new Date(Date.now() - 3_600_000).toISOString());
    const later = await api('GET', '/v1/exit-health', op());
    assert.equal((later.body.exits as { id: string; health: string }[]).find((e) => e.id === 'eh-down')?.health, 'up');
    const c = await api('POST', '/v1/customers', op(), { login: 'eh_customer' });
    assert.equal((await api('GET', '/v1/exit-health', basic('eh_customer', c.body.password))).status, 403);
    assert.equal((await api('GET', '/v1/exit-health', '')).status, 401);
    for (const id of ['eh-up', 'eh-down', 'eh-drained']) assert.equal((await api('DELETE', `/v1/exits/${id}`, op())).status, 204);
    assert.equal((await api('DELETE', `/v1/customers/${c.body.customer.id}`, op())).status, 204);
    assert.equal((await api('DELETE', '/v1/ingress-nodes/eh-node', op())).status, 204);
  });

  it('GET /v1/customers pages (limit, offset), searches (any case, _ and % literal) and filters by status, with the total', async () => {
    const made: string[] = [];
    for (const login of ['pg_b1', 'pg_a1', 'pgxa1', 'PG_c1']) {
      const c = await api('POST', '/v1/customers', op(), { login, status: login === 'pg_b1' ? 'suspended' : 'active' });
      assert.equal(c.status, 201, JSON.stringify(c.body));
      made.push(c.body.customer.id);
    }
    const logins = (b: any): string[] => b.customers.map((c: any) => c.login);
    const all = await api('GET', '/v1/customers?search=pg_', op());
    assert.deepEqual([logins(all.body), all.body.total], [['PG_c1', 'pg_a1', 'pg_b1'], 3], '_ is not a wildcard; case does not matter');
    const second = await api('GET', '/v1/customers?search=pg_&limit=1&offset=1', op());
    assert.deepEqual([logins(second.body), second.body.total], [['pg_a1'], 3]);
    const past = await api('GET', '/v1/customers?search=pg_&limit=2&offset=3', op());
    assert.deepEqual([logins(past.body), past.body.total], [[], 3]);
    assert.deepEqual(logins((await api('GET', '/v1/customers?search=PG_A', op())).body), ['pg_a1']);
    assert.deepEqual(logins((await api('GET', '/v1/customers?search=%25', op())).body), []);
    assert.deepEqual(logins((await api('GET', `/v1/customers?search=${made[2]}`, op())).body), ['pgxa1'], 'an exact id');
    const suspended = await api('GET', '/v1/customers?search=pg&status=suspended&limit=10', op());
    assert.deepEqual([logins(suspended.body), suspended.body.total], [['pg_b1'], 1]);
    for (const bad of ['limit=0', 'limit=1001', 'offset=-1', 'offset=1', 'limit=x', 'status=gone', 'search=' + 'x'.repeat(129)]) {
      const r = await api('GET', `/v1/customers?${bad}`, op());
      assert.equal(r.status, 400, bad);
      assert.equal(r.body.error.code, 'invalid_request', bad);
    }
    for (const id of made) assert.equal((await api('DELETE', `/v1/customers/${id}`, op())).status, 204);
  });

  it('has no inline script, style or HTML sinks', async () => {
    const html = await (await fetch(cp.url + '/dashboard')).text();
    for (const m of html.matchAll(/<script\b([^>]*)>([\s\S]*?)<\/script>/gi)) {
      assert.match(m[1]!, /\btype="module" src="\/dashboard\/ui\/app\.js"/);
      assert.equal(m[2]!.trim(), '', 'no inline script');
    }
    assert.doesNotMatch(html, /<style|\sstyle=|\son[a-z]+=|javascript:/i);
    // Every module the page loads, found by following its imports from app.js.
    const seen = new Map<string, string>();
    const queue = ['app.js'];
    while (queue.length) {
      const name = queue.shift()!;
      if (seen.has(name)) continue;
      const res = await fetch(cp.url + '/dashboard/ui/' + name);
      assert.equal(res.status, 200, name);
      const text = await res.text();
      seen.set(name, text);
      for (const m of text.matchAll(/from '\.\/([a-z-]+\.js)'/g)) queue.push(m[1]!);
    }
    assert.ok(seen.size >= 10, [...seen.keys()].join(' '));
    const js = [...seen.values()].join('\n');
    assert.doesNotMatch(js, /api-schemas|zod/, 'type-only imports leave nothing behind');
    assert.doesNotMatch(js, /innerHTML|outerHTML|insertAdjacentHTML|document\.write|\beval\(|new Function|setAttribute\(\s*['"](on|style|href|src)/);
    assert.doesNotMatch(js, /localStorage|document\.cookie/, 'credentials stay in sessionStorage');
  });

  describe('in headless Chromium', { skip: typeof pw === 'string' ? pw : false }, () => {
    // One browser for the cases below (a start costs ~1 s of CPU); each case has its own context: no cookie or storage crosses.
    let shared: Awaited<ReturnType<Playwright['chromium']['launch']>> | undefined;
    const freshContext = async () => {
      shared ??= await (pw as Playwright).chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, headless: true });
      return shared.newContext();
    };
    after(async () => {
      await shared?.close();
    });

    it('operator: log in, create, suspend, edit, drain, usage; customer: own view only; markup stays text', async (t) => {
      // API data holding markup: an exit's city and an ingress node's name are free text.
      assert.equal((await api('POST', '/v1/exits', op(), { id: 'de-1', kind: 'socks5', host: '127.0.0.1', port: 1080, country: 'de', city: XSS, tags: ['dc'] })).status, 201);
      assert.equal((await api('POST', '/v1/ingress-nodes', op(), { id: 'edge-1', name: XSS })).status, 201);
      const bob = await api('POST', '/v1/customers', op(), { login: 'bob' });
      assert.equal(bob.status, 201);

      const context = await freshContext();
      t.after(() => context.close());
      const page = await context.newPage();
      const pageErrors: string[] = [];
      const requests: { url: string; auth: string | undefined }[] = [];
      const dialogs: string[] = [];
      page.on('pageerror', (e) => pageErrors.push(String(e)));
      page.on('console', (m) => {
        if (m.type() === 'error' && !/status of 40[13]/.test(m.text())) pageErrors.push(m.text());
      });
      page.on('request', (r) => requests.push({ url: r.url(), auth: r.headers().authorization }));
      page.on('response', (r) => {
        if (r.status() === 404 || r.status() === 429) pageErrors.push(`${r.status()} ${r.url()}`);
      });
      page.on('dialog', (d) => {
        dialogs.push(d.message());
        d.accept().catch((err: unknown) => pageErrors.push(`dialog: ${String(err)}`));
      });
      // Record CSP violations (the page must not trip its own policy).
      // Browser-side code reaches the page through `globalThis` as `any`: this project's TypeScript
      // has no DOM types, and string code would be eval, which the page's CSP refuses.
      await page.addInitScript(`window.__csp = [];
        document.addEventListener('securitypolicyviolation', (e) => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI));`);
      const expectText = async (selector: string, re: RegExp): Promise<void> => {
        await page.waitForFunction(
          ([s, src]) => {
            const e = (globalThis as any).document.querySelector(s);
            return !!e && new RegExp(src).test(e.textContent ?? '');
          },
          [selector, re.source] as const,
          { timeout: 10_000 },
        );
      };
      const noMarkup = async (): Promise<void> => {
        assert.equal(await page.locator('img').count(), 0, 'no <img> made from API data');
      };

      // ---- operator login (a wrong token first)
      await page.goto(cp.url + '/dashboard');
      await page.locator('#login-token').fill('hgop_wrong_wrong_wrong_wrong');
      await page.locator('#login-form button[type=submit]').click();
      await expectText('#login-error', /Not accepted/);
      await page.locator('#login-token').fill(token);
      await page.locator('#login-form button[type=submit]').click();
      await expectText('#overview-stats', /Revision/);
      await expectText('#overview-stats', /Customers1/);
      await expectText('#overview-stats', /Exits1/);
      // The node name shows as the literal string.
      await expectText('#overview-nodes', /edge-1/);
      assert.equal(await page.locator('#overview-nodes td', { hasText: XSS }).count(), 1);
      await noMarkup();
      assert.equal(new URL(page.url()).search, '', 'nothing in the query string');

      // ---- customers: create (password shown once), see in list
      await page.locator('#nav button[data-view=customers]').click();
      await expectText('#customers-table', /bob/);
      // bob lists no exit and no pool: he has every exit, as `hopgate user show` says ("all").
      await expectText('#customers-table tr[data-login=bob]', /all exits/);
      await page.locator('#create-login').fill('alice');
      await page.locator('#create-form button[type=submit]').click();
      await expectText('#secret-label', /Password for alice/);
      const password = (await page.locator('#secret-value').textContent()) ?? '';
      assert.match(password, /^[A-Za-z0-9_-]{24}$/);
      assert.equal((await api('GET', '/v1/me', basic('alice', password))).status, 200, 'the shown password works');
      const row = page.locator('#customers-table tr[data-login=alice]');
      await row.waitFor();
      assert.equal((await row.locator('td.status').textContent())?.trim(), 'active');
      await page.locator('#secret-dismiss').click();
      assert.equal(await page.locator('#secret').isHidden(), true);
      assert.equal(await page.locator('#secret-value').textContent(), '', 'gone once dismissed');

      // ---- suspend, status changes (in the page and in the API)
      await row.locator('button[data-action=suspend]').click();
      await expectText('#customers-table tr[data-login=alice] td.status', /^suspended$/);
      const alice = (await api('GET', '/v1/customers?login=alice', op())).body.customers[0];
      assert.equal(alice.status, 'suspended');
      assert.equal((await api('GET', '/v1/customers/' + bob.body.customer.id, op())).body.status, 'active', 'only alice');

      // ---- edit sources and limits
      await row.locator('button[data-action=edit]').click();
      await page.locator('#edit-form input[name=sources]').fill('203.0.113.0/24');
      await page.locator('#edit-form input[name=maxConnections]').fill('7');
      await page.locator('#edit-form input[name=quotaBytes]').fill('5000000');
      await page.locator('#edit-form button[type=submit]').click();
      await expectText('#customers-table tr[data-login=alice]', /conns 7, quota 5\.0 MB\/month/);
      await expectText('#customers-table tr[data-login=alice]', /203\.0\.113\.0\/24/);
      const edited = (await api('GET', '/v1/customers/' + alice.id, op())).body;
      assert.deepEqual([edited.sources, edited.maxConnections, edited.quota], [['203.0.113.0/24'], 7, { bytes: 5_000_000, period: 'month' }]);
      // Clearing a field removes the limit.
      await row.locator('button[data-action=edit]').click();
      await page.locator('#edit-form input[name=maxConnections]').fill('');
      await page.locator('#edit-form button[type=submit]').click();
      await expectText('#customers-table tr[data-login=alice]', /^(?![\s\S]*conns)[\s\S]*quota 5\.0 MB/);
      assert.equal((await api('GET', '/v1/customers/' + alice.id, op())).body.maxConnections, null);

      // ---- exits: markup in the city is text; drain
      await page.locator('#nav button[data-view=exits]').click();
      const exitRow = page.locator('#exits-table tr[data-exit=de-1]');
      await exitRow.waitFor();
      assert.equal((await exitRow.locator('td.place').textContent())?.trim(), `de / ${XSS}`);
      assert.equal((await exitRow.locator('td.tags').textContent())?.trim(), 'dc');
      await noMarkup();
      await exitRow.locator('button[data-action=drain]').click();
      await expectText('#exits-table tr[data-exit=de-1] td.state', /^drained$/);
      assert.equal((await api('GET', '/v1/exits/de-1', op())).body.drain, true);
      assert.deepEqual(await page.locator('#exit-country option').allTextContents(), ['all countries', 'DE (0/1 up)'], 'the country filter lists the exits\' countries');

      // ---- usage: seed a minute of traffic for alice (via de-1) and bob (refused before an exit was chosen)
      const minute = minuteOf(Date.now());
      await cp.store.ingestStats('edge-1', {
        epoch: 'e1',
        records: [
          [1, minute, 'alice', 'de-1', 1_000, 50_000, 3, 0],
          [2, minute, 'bob', '', 500, 2_000, 1, 1],
        ],
        next: 'e1:2',
        more: false,
        live: [],
      });
      await page.locator('#nav button[data-view=usage]').click();
      await expectText('#usage-table', /alice/);
      await expectText('#usage-table', /bob/);
      await expectText('#usage-chart .totals', /^52\.0 KB down · 1\.5 KB up · 4 connections · 1 failed$/);
      assert.equal(await page.locator('#usage-chart [data-chart=bytes] svg g.bar').count(), 24, 'a bar per hour of the default 24 h');
      await page.locator('#usage-group').selectOption('exitId');
      await expectText('#usage-table', /de-1/);
      await expectText('#usage-table', /\(none\)/); // no exit carried them: not an exit called "direct"
      await page.locator('#usage-range button[data-range="1h"]').click();
      await page.waitForFunction(() => (globalThis as any).document.querySelectorAll('#usage-chart [data-chart=bytes] svg g.bar').length === 60);
      const tall = await page.locator('#usage-chart [data-chart=bytes] svg g.bar rect.down').evaluateAll((rs) => rs.filter((r) => Number(r.getAttribute('height')) > 0).length);
      assert.equal(tall, 1, 'one minute with traffic');
      await page.locator('#nav button[data-view=overview]').click();
      await expectText('#overview-stats', /52\.0 KB down, 1\.5 KB up, 4 connections, 1 failed/);

      // ---- log out; log in as alice: her own data only
      await page.locator('#logout').click();
      await page.locator('#login').waitFor();
      assert.equal(await page.locator('#overview-stats').textContent(), '', 'operator data cleared');
      for (const id of ['overview-nodes', 'customers-table', 'exits-table', 'usage-chart', 'usage-table']) assert.equal(await page.locator(`#${id}`).innerHTML(), '', `#${id} cleared`);
      // The exits filter named the countries and their up counts: operator data too.
      assert.deepEqual(await page.locator('#exit-country option').allTextContents(), [], 'the country filter cleared');
      assert.equal(await page.evaluate(() => (globalThis as any).sessionStorage.length), 0);
      await page.locator('#login-form input[value=customer]').check();
      await page.locator('#login-login').fill('alice');
      await page.locator('#login-password').fill(password);
      await page.locator('#login-form button[type=submit]').click();
      await expectText('#me-profile', /Loginalice/);
      await expectText('#me-profile', /Statussuspended/);
      await expectText('#me-profile', /quota 5\.0 MB\/month/);
      await expectText('#me-usage', /de-1/);
      assert.equal(await page.locator('#nav').isHidden(), true, 'no operator navigation');
      const body = (await page.locator('body').textContent()) ?? '';
      assert.doesNotMatch(body, /bob|\(none\)|\(direct\)|edge-1/, "nothing of other customers' or the operator's");
      // An operator view by hash still shows only the customer's own page.
      await page.goto(cp.url + '/dashboard#customers');
      await expectText('#me-profile', /Loginalice/);
      assert.equal(await page.locator('#view-customers').isHidden(), true);

      // ---- rotate own password: the new one is shown once and the session keeps working
      await page.locator('#me-rotate').click();
      await expectText('#secret-label', /Your new password/);
      const rotated = (await page.locator('#secret-value').textContent()) ?? '';
      assert.match(rotated, /^[A-Za-z0-9_-]{24}$/);
      assert.notEqual(rotated, password);
      assert.equal((await api('GET', '/v1/me', basic('alice', password))).status, 401);
      assert.equal((await api('GET', '/v1/me', basic('alice', rotated))).status, 200);
      await page.reload();
      await expectText('#me-profile', /Loginalice/);

      // ---- what went over the wire, and the page's own health
      const all = requests.map((r) => r.url).join('\n');
      for (const secret of [token, password, rotated]) assert.ok(!all.includes(secret), 'no credential in any URL');
      const apiCalls = requests.filter((r) => new URL(r.url).pathname.startsWith('/v1/'));
      assert.ok(apiCalls.length > 10);
      for (const r of apiCalls) assert.match(r.auth ?? '', /^(Bearer|Basic) /, r.url);
      assert.ok(requests.every((r) => r.url.startsWith(cp.url)), 'same origin only');
      assert.deepEqual(await page.evaluate(() => (globalThis as any).__csp), [], 'no CSP violations');
      assert.deepEqual(pageErrors, []);
      assert.ok(!dialogs.includes('1'), 'no alert(1)');
      await noMarkup();
    });

    it('cannot be framed and runs no injected inline script', async (t) => {
      const context = await freshContext();
      t.after(() => context.close());
      const page = await context.newPage();
      await page.goto(cp.url + '/dashboard');
      // Inline script is refused by the page's CSP even when something manages to insert it.
      const ran = await page.evaluate(async () => {
        const g = globalThis as any;
        const s = g.document.createElement('script');
        try {
          s.textContent = 'globalThis.__inline = true';
        } catch {
          return 'refused by Trusted Types';
        }
        // Without Trusted Types (not Chromium) CSP decides: an inserted inline script runs during the insertion,
        // and a blocked one is reported by the page's own securitypolicyviolation event; wait for that, not a time.
        const reported = new Promise<string>((r) => g.document.addEventListener('securitypolicyviolation', (e: any) => r(`blocked by CSP (${e.violatedDirective})`), { once: true }));
        g.document.body.appendChild(s);
        if (g.__inline === true) return 'ran';
        return await Promise.race([reported, new Promise<string>((r) => setTimeout(() => r('neither ran nor reported within 5 s'), 5000))]);
      });
      assert.notEqual(ran, 'ran');
      assert.match(ran, /^(refused by Trusted Types|blocked by CSP)/);
      // A page of another origin that frames the dashboard gets an error page (frame-ancestors 'none',
      // X-Frame-Options: DENY); without those headers the frame would load the login form.
      const framer = createServer((_req, res) => res.writeHead(200, { 'content-type': 'text/html' }).end(`<iframe src="${cp.url}/dashboard"></iframe>`));
      await new Promise<void>((r) => framer.listen(0, '127.0.0.1', r));
      t.after(() => new Promise<void>((r) => framer.close(() => r())));
      await page.goto(`http://127.0.0.1:${(framer.address() as AddressInfo).port}/`); // waits for the frame's load too
      assert.equal(page.frames().length, 2);
      assert.ok(!page.frames().some((f) => f.url().includes('/dashboard')), page.frames().map((f) => f.url()).join(' '));
    });
  });
});
