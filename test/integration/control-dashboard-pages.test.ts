/**
 * The dashboard's pages in real Chromium at a desktop (1280×800) and a phone (390×844) size:
 * operator and customer, layout (the page never scrolls sideways at 390 px; key elements
 * visible) and data (numbers in the page equal what the API answers for seeded usage minutes),
 * the range picker changing a chart's data, creating and editing exits (a reverse exit's token
 * shown once), a customer's exits and pools, self-service (ports, snippets, quota %, ordering
 * exits). Screenshots go to $HOPGATE_ARTIFACTS when it is set (none otherwise); never committed.
 * Control plane on SQLite. Skipped, saying why, without Chromium.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { ControlPlane } from '../../src/control/control-plane.js';
import { minuteOf, type LoginOutcome } from '../../src/shared/control-protocol.js';
import { basicAuth, type AuthApi } from '../helpers/control-fixtures.js';
import { startDashboardControl, type DashboardControl } from '../helpers/dashboard-fixtures.js';
import { CHROMIUM, CHROMIUM_ARGS, loadPlaywright, type Playwright } from '../helpers/chromium.js';
import { tunnelCert } from '../helpers/reverse.js';

type Page = import('playwright-core').Page;
const pw = await loadPlaywright();
if (typeof pw === 'string') console.log(`# control-dashboard-pages: ${pw}`);

// Screenshots only when asked for: in `npm test` 16 full-page PNGs (~1.5 s of CPU) went to a fresh
// temp dir that nobody read and nobody removed. The layout checks below run either way.
const ARTIFACTS = process.env.HOPGATE_ARTIFACTS;
if (ARTIFACTS !== undefined) {
  mkdirSync(ARTIFACTS, { recursive: true });
  console.log(`# control-dashboard-pages: screenshots in ${ARTIFACTS}`);
}

const SIZES = [
  { name: 'desktop', width: 1280, height: 800 },
  { name: 'phone', width: 390, height: 844 },
] as const;
const MIN = 60_000;
const HOUR = 60 * MIN;
const DAY = 24 * HOUR;
/** Seeded minutes of carol's traffic: how long ago, bytes up and down, connections, failures. */
const SEED: [number, number, number, number, number][] = [
  [2 * MIN, 1_000, 10_000, 2, 0],
  [3 * HOUR, 2_000, 20_000, 3, 1],
  [3 * DAY, 4_000, 40_000, 5, 0],
  [20 * DAY, 8_000, 80_000, 7, 2],
];

/** Seeded login outcomes and target domains of the last minutes: the panels must show these. */
const LOGINS: [string, LoginOutcome, number][] = [
  ['203.0.113.0/24', 'bad_password', 3],
  ['203.0.113.0/24', 'rate_limited', 1],
  ['127.0.0.0/24', 'ok', 2],
  ['2001:db8:1::/48', 'ok', 1],
];
/** One name far wider than a phone: it must wrap, not widen the page. */
const LONG = `${'very-long-label-'.repeat(8)}x.example`;
const DOMAINS: [string, number, number, number][] = [
  ['example.com', 500, 50_000, 4],
  [LONG, 100, 7_000, 1],
  ['ip', 10, 900, 2],
];

describe('dashboard pages at desktop and phone sizes', { skip: typeof pw === 'string' ? pw : false }, () => {
  let dc: DashboardControl;
  let cp: ControlPlane;
  let token: string;
  let browser: import('playwright-core').Browser;
  const now = Date.now();
  const api: AuthApi = (method, path, auth, body) => dc.api(method, path, auth, body);
  const op = (): string => dc.op;
  const basic = basicAuth;

  before(async () => {
    dc = await startDashboardControl();
    ({ cp, token } = dc);
    assert.equal((await api('POST', '/v1/ingress-nodes', op(), { id: 'edge-1', name: 'edge 1' })).status, 201);
    // Reverse exits need the ingress's tunnel listener and a certificate for it.
    const cert = tunnelCert();
    assert.equal((await api('PATCH', '/v1/settings', op(), { tls: { cert: cert.cert, key: cert.key }, reverse: { listen: { host: '127.0.0.1', port: 0 } } })).status, 200);
    browser = await (pw as Playwright).chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, headless: true });
  });
  after(async () => {
    await browser?.close();
    await dc?.close();
  });

  /** A customer with exits, a daily quota, a granted exit and seeded minutes; returns the password. */
  async function seedCustomer(login: string, exits: string[], grant: string[]): Promise<{ id: string; password: string }> {
    const c = await api('POST', '/v1/customers', op(), { login, exits, quota: { bytes: 1_000_000, period: 'day' } });
    assert.equal(c.status, 201, JSON.stringify(c.body));
    assert.equal((await api('PUT', `/v1/customers/${c.body.customer.id}/assignment`, op(), { exits, pools: [], grant })).status, 200);
    await cp.store.ingestStats('edge-1', {
      epoch: `e-${login}`,
      records: SEED.map(([ago, up, down, conns, fails], i) => [i + 1, minuteOf(now - ago), login, exits[0]!, up, down, conns, fails]),
      logins: LOGINS.map(([prefix, outcome, n], i) => [SEED.length + 1 + i, 'login', minuteOf(now - 2 * MIN), login, prefix, outcome, n]),
      domains: DOMAINS.map(([domain, up, down, conns], i) => [SEED.length + LOGINS.length + 1 + i, 'domain', minuteOf(now - 2 * MIN), login, domain, up, down, conns]),
      next: `e-${login}:${SEED.length + LOGINS.length + DOMAINS.length}`,
      more: false,
      live: [],
    });
    return { id: c.body.customer.id, password: c.body.password };
  }

  async function newPage(size: (typeof SIZES)[number]): Promise<{ page: Page; errors: string[] }> {
    const context = await browser.newContext({ viewport: { width: size.width, height: size.height } });
    await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: cp.url });
    const page = await context.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    page.on('console', (m) => {
      if (m.type() === 'error' && !/status of 40[13]/.test(m.text())) errors.push(m.text());
    });
    page.on('response', (r) => {
      if (r.status() >= 404 && r.status() !== 409) errors.push(`${r.status()} ${r.url()}`);
    });
    page.on('dialog', (d) => void d.accept().catch((err: unknown) => errors.push(`dialog: ${String(err)}`)));
    return { page, errors };
  }

  /** The page never scrolls sideways, the view is shown, and a screenshot is kept (with $HOPGATE_ARTIFACTS). */
  async function layout(page: Page, size: (typeof SIZES)[number], name: string, visible: string[]): Promise<void> {
    const w = await page.evaluate(() => {
      const g = globalThis as any;
      return { scroll: g.document.scrollingElement.scrollWidth as number, inner: g.innerWidth as number };
    });
    assert.ok(w.scroll <= w.inner, `${size.name} ${name}: page ${w.scroll} px wide in a ${w.inner} px window`);
    for (const s of visible) assert.ok(await page.locator(s).first().isVisible(), `${size.name} ${name}: ${s} visible`);
    if (ARTIFACTS !== undefined) await page.screenshot({ path: join(ARTIFACTS, `${size.name}-${name}.png`), fullPage: true });
  }

  const loaded = (page: Page, view: string): Promise<unknown> =>
    page.waitForFunction((v) => (globalThis as any).document.body.dataset.loaded === v, view, { timeout: 10_000 });
  const totalsOf = (page: Page, sel: string): Promise<Record<string, number>> =>
    page.locator(`${sel} .totals`).evaluate((e) => Object.fromEntries(Object.entries((e as any).dataset as Record<string, string>).map(([k, v]) => [k, Number(v)])));
  /** Waits for a chart's totals to show `points` periods (the range picker's choice loaded). */
  const chartPoints = (page: Page, sel: string, points: number): Promise<unknown> =>
    page.waitForFunction(([s, n]) => (globalThis as any).document.querySelector(`${s} .totals`)?.dataset.points === String(n), [sel, points] as const, { timeout: 10_000 });
  const expected = (maxAgo: number): Record<string, number> => {
    const rows = SEED.filter(([ago]) => ago < maxAgo);
    return {
      bytesUp: rows.reduce((s, r) => s + r[1], 0),
      bytesDown: rows.reduce((s, r) => s + r[2], 0),
      connections: rows.reduce((s, r) => s + r[3], 0),
      failures: rows.reduce((s, r) => s + r[4], 0),
    };
  };

  for (const size of SIZES) {
    it(`operator at ${size.width}×${size.height}: customers, a customer's charts and exits, exits by country, create and edit exits`, async () => {
      const s = size.name;
      assert.equal((await api('POST', '/v1/exits', op(), { id: `de-${s}`, kind: 'socks5', host: '127.0.0.1', port: 1080, country: 'de' })).status, 201);
      assert.equal((await api('POST', '/v1/exits', op(), { id: `us-${s}`, kind: 'http', host: '127.0.0.1', port: 3128, country: 'us' })).status, 201);
      const carol = await seedCustomer(`carol_${s}`, [`de-${s}`], [`us-${s}`]);
      const { page, errors } = await newPage(size);

      await page.goto(cp.url + '/');
      await page.locator('#login-token').fill(token);
      await page.locator('#login-form button[type=submit]').click();
      await loaded(page, 'overview');
      await layout(page, size, 'overview', ['#overview-stats', '#nav']);

      // ---- customers: search narrows the list; the login opens the customer's page
      await page.locator('#nav button[data-view=customers]').click();
      await loaded(page, 'customers');
      await page.locator('#customer-search').fill(`carol_${s}`);
      const row = page.locator(`#customers-table tr[data-login="carol_${s}"]`);
      await row.waitFor();
      // The row may already be in the unfiltered list (the phone run comes after the desktop's customers):
      // wait for the search's answer, not the row.
      await page.waitForFunction(() => (globalThis as any).document.querySelectorAll('#customers-table tbody tr').length === 1, undefined, { timeout: 10_000 });
      assert.equal(await page.locator('#customers-table tbody tr').count(), 1);
      await layout(page, size, 'customers', ['#create-form', `#customers-table tr[data-login="carol_${s}"]`]);
      await row.locator('td.login a').click();
      await loaded(page, 'customer');
      assert.equal(new URL(page.url()).hash, `#customer/${carol.id}`);

      // ---- quota %: the page's figure is the API's (the customer's own view computes it server-side)
      const me = (await api('GET', '/v1/me/usage?by=hour', basic(`carol_${s}`, carol.password))).body;
      assert.ok(me.quotaPeriod.used > 0);
      await page.locator('#customer-quota .pct').waitFor();
      assert.equal(await page.locator('#customer-quota .pct').textContent(), `${me.quotaPeriod.percentUsed.toFixed(1)} %`);
      assert.match((await page.locator('#customer-quota').textContent()) ?? '', new RegExp(`resets ${me.quotaPeriod.resetsAt.replace('.000Z', 'Z')}`));

      // ---- the range picker changes the chart's data; each range's totals are the seeded minutes in it and the API's
      for (const [range, ago, points] of [['24h', DAY, 24], ['1h', HOUR, 60], ['7d', 7 * DAY, 168], ['30d', 30 * DAY, 30]] as const) {
        await page.locator(`#customer-range button[data-range="${range}"]`).click();
        await chartPoints(page, '#customer-chart', points);
        const shown = await totalsOf(page, '#customer-chart');
        assert.deepEqual({ bytesUp: shown.bytesUp, bytesDown: shown.bytesDown, connections: shown.connections, failures: shown.failures }, expected(ago), `${s} ${range}`);
        const by = { '1h': 'minute', '24h': 'hour', '7d': 'hour', '30d': 'day' }[range];
        const from = new Date(now - ago + { minute: MIN, hour: HOUR, day: DAY }[by]!).toISOString().slice(0, { minute: 16, hour: 13, day: 10 }[by]);
        const fromApi = (await api('GET', `/v1/usage?customer=${carol.id}&by=${by}&from=${from}`, op())).body.totals;
        assert.deepEqual(fromApi, expected(ago), `API ${range}`);
        assert.equal(await page.locator('#customer-chart [data-chart=bytes] g.bar').count(), points);
      }
      // The table under the chart (30 days now): the one exit that carried them, column by column.
      const month = expected(30 * DAY);
      const kb = (n: number): string => `${(n / 1000).toFixed(1)} KB`;
      assert.deepEqual(await page.locator('#customer-table tbody td').allTextContents(), [`de-${s}`, kb(month.bytesDown!), kb(month.bytesUp!), String(month.connections), String(month.failures)]);
      // ---- top domains and logins by prefix: the seeded minutes, as the API answers them
      const apiDomains = (await api('GET', `/v1/customers/${carol.id}/domains?period=24h&limit=10`, op())).body;
      await page.locator('#customer-domains tr[data-domain="example.com"]').waitFor();
      assert.deepEqual(await page.locator('#customer-domains tbody tr').evaluateAll((rows) => rows.map((r) => (r as any).dataset.domain)), apiDomains.domains.map((d: { domain: string }) => d.domain));
      assert.deepEqual(apiDomains.domains.map((d: { domain: string }) => d.domain), ['example.com', LONG, 'ip'], 'by bytes');
      assert.deepEqual(await page.locator('#customer-domains tr[data-domain="example.com"] td').allTextContents(), ['example.com', '50.0 KB', '500 B', '4']);
      const logins = page.locator('#customer-logins .logins');
      assert.deepEqual([await logins.getAttribute('data-ok'), await logins.getAttribute('data-failed')], ['3', '4']);
      assert.deepEqual(await page.locator('#customer-logins tr[data-prefix="203.0.113.0/24"] td').allTextContents(), ['203.0.113.0/24', '0', '4', 'bad password 3, rate limited 1']);
      assert.equal(await page.locator('#customer-logins tbody tr').first().getAttribute('data-prefix'), '203.0.113.0/24', 'most failures first');
      assert.equal(await page.locator('#customer-logins tr[data-prefix="2001:db8:1::/48"] td.ok').textContent(), '1');
      await layout(page, size, 'customer', ['#customer-profile', '#customer-chart svg', '#assign-form', '#customer-domains table', '#customer-logins table']);

      // ---- the customer's exits and pools
      await page.locator('#assign-form input[name=exits]').fill(`us-${s}, de-${s}`);
      await page.locator('#assign-form textarea[name=pools]').fill('fr\nus/ny/new york');
      await page.locator('#assign-form button[type=submit]').click();
      await page.locator('#notice', { hasText: 'Exits and pools saved' }).waitFor();
      const assignment = (await api('GET', `/v1/customers/${carol.id}/assignment`, op())).body;
      assert.deepEqual(assignment.exits, [`us-${s}`, `de-${s}`]);
      assert.deepEqual(assignment.pools, [{ country: 'fr' }, { country: 'us', state: 'ny', city: 'new york' }]);

      // ---- exits by country with health; create a forward and a reverse exit; edit one
      await page.locator('#nav button[data-view=exits]').click();
      await loaded(page, 'exits');
      const health = new Map<string, string>(((await api('GET', '/v1/exit-health', op())).body.exits as { id: string; health: string }[]).map((e) => [e.id, e.health]));
      assert.equal(await page.locator(`#exits-table section[data-country=de] tr[data-exit="de-${s}"] td.health`).textContent(), health.get(`de-${s}`));
      assert.equal(await page.locator(`#exits-table section[data-country=us] tr[data-exit="us-${s}"]`).count(), 1);
      // Filters: a country shows only its section; a health shows only exits in it (live, as the API says).
      await page.locator('#exit-country').selectOption('de');
      await page.locator('#exits-table section[data-country=us]').waitFor({ state: 'detached' });
      assert.deepEqual(await page.locator('#exits-table section').evaluateAll((xs) => xs.map((x) => (x as any).dataset.country)), ['de']);
      const deUp = [...health].filter(([id, hh]) => id.startsWith('de-') && hh === 'up').length;
      assert.match((await page.locator('#exit-country option[value=de]').textContent()) ?? '', new RegExp(`^DE \\(${deUp}/\\d+ up\\)$`));
      await page.locator('#exit-country').selectOption('');
      await page.locator('#exit-health').selectOption('up');
      await page.locator('#exits-table section[data-country=us]').waitFor();
      const shownHealth = await page.locator('#exits-table tr[data-exit]').evaluateAll((xs) => xs.map((x) => (x as any).dataset.health as string));
      assert.ok(shownHealth.length > 0 && shownHealth.every((x) => x === 'up'), JSON.stringify(shownHealth));
      await layout(page, size, 'exits-filtered', ['#exit-country', '#exit-health']);
      await page.locator('#exit-health').selectOption('');
      const f = page.locator('#exit-create-form');
      await f.locator('input[name=id]').fill(`fr-${s}`);
      await f.locator('input[name=host]').fill('127.0.0.1');
      await f.locator('input[name=port]').fill('1081');
      await f.locator('input[name=country]').fill('FR');
      await f.locator('input[name=tags]').fill('dc, fast');
      await f.locator('button[type=submit]').click();
      await page.locator(`#exits-table section[data-country=fr] tr[data-exit="fr-${s}"]`).waitFor();
      const fr = (await api('GET', `/v1/exits/fr-${s}`, op())).body;
      assert.deepEqual([fr.kind, fr.host, fr.port, fr.country, fr.tags], ['socks5', '127.0.0.1', 1081, 'fr', ['dc', 'fast']]);
      await f.locator('select[name=kind]').selectOption('reverse');
      assert.equal(await f.locator('input[name=host]').isHidden(), true, 'a reverse exit has no address');
      await f.locator('input[name=id]').fill(`rv-${s}`);
      await f.locator('button[type=submit]').click();
      await page.locator('#secret-label', { hasText: `reverse exit rv-${s}` }).waitFor();
      const revToken = (await page.locator('#secret-value').textContent()) ?? '';
      assert.ok(revToken.length >= 20, revToken);
      assert.equal((await api('GET', `/v1/exits/rv-${s}`, op())).body.reverse.tokenSet, true);
      await page.locator('#secret-dismiss').click();
      await layout(page, size, 'exits', ['#exit-create-form', `tr[data-exit="rv-${s}"]`]);

      // ---- exit page: edit, rotate a reverse exit's token, charts of the exit's usage
      await page.locator(`tr[data-exit="fr-${s}"] td.id a`).click();
      await loaded(page, 'exit');
      const ef = page.locator('#exit-edit-form');
      assert.equal(await ef.locator('input[name=port]').inputValue(), '1081');
      await ef.locator('input[name=city]').fill('Paris');
      await ef.locator('input[name=port]').fill('1082');
      await ef.locator('button[type=submit]').click();
      await page.locator('#notice', { hasText: 'Exit saved' }).waitFor();
      const edited = (await api('GET', `/v1/exits/fr-${s}`, op())).body;
      assert.deepEqual([edited.city, edited.port, edited.host], ['Paris', 1082, '127.0.0.1']);
      // ---- exit page: health history (seeded reports of edge-1: up, down at -3 h, up at -2 h, fresh now)
      const seedReport = async (agoMs: number, down: string[], ok: number, failed: number, latencyMsSum: number, last: unknown): Promise<void> => {
        const at = new Date(Date.now() - agoMs).toISOString();
        await cp.store.recordExitHealth('edge-1', down, at, [{ id: `de-${s}`, minutes: [{ minute: at.slice(0, 16), ok, failed, latencyMsSum }], last: last as never }]);
      };
      await seedReport(3 * HOUR + 10 * MIN, [], 5, 0, 50, null);
      await seedReport(3 * HOUR, [`de-${s}`], 0, 3, 0, { at: new Date(Date.now() - 3 * HOUR).toISOString(), ok: false, latencyMs: null, error: 'TIMEOUT' });
      await seedReport(2 * HOUR, [], 4, 0, 40, { at: new Date(Date.now() - 2 * HOUR).toISOString(), ok: true, latencyMs: 10, error: null });
      await seedReport(0, [], 2, 0, 30, { at: new Date().toISOString(), ok: true, latencyMs: 15, error: null });
      const hist = (await api('GET', `/v1/exits/de-${s}/health-history?range=24h`, op())).body;
      assert.deepEqual(hist.transitions.map((t: any) => t.to), ['down', 'up']);
      await page.goto(`${cp.url}/dashboard#exit/de-${s}`);
      await loaded(page, 'exit');
      await page.locator('#exit-health-transitions tr[data-to]').first().waitFor();
      assert.equal(await page.locator('#exit-health-now [data-health]').getAttribute('data-health'), hist.health);
      assert.equal(await page.locator('#exit-health-now tr[data-node=edge-1]').getAttribute('data-state'), 'up');
      assert.match((await page.locator('#exit-health-now tr[data-node=edge-1] td.probe').textContent()) ?? '', /^ok, 15 ms/);
      assert.deepEqual(
        await page.locator('#exit-health-transitions tr[data-to]').evaluateAll((xs) => xs.map((x) => [(x as any).dataset.to, (x as any).dataset.at])),
        hist.transitions.map((t: any) => [t.to, t.at]).reverse(),
        'newest first, the times the API gives',
      );
      assert.match((await page.locator('#exit-health-transitions tr[data-to=down]').textContent()) ?? '', /probe failed: TIMEOUT/);
      assert.deepEqual(await page.locator('#exit-health-timeline [data-node=edge-1] .seg').evaluateAll((xs) => xs.map((x) => (x as any).dataset.state)), ['up', 'down', 'up']);
      const probeTotals = async (): Promise<Record<string, number>> => totalsOf(page, '#exit-health-chart');
      const apiOk = hist.series.reduce((n: number, p: any) => n + p.ok, 0);
      const apiFailed = hist.series.reduce((n: number, p: any) => n + p.failed, 0);
      assert.deepEqual([apiOk, apiFailed], [11, 3]);
      assert.deepEqual([(await probeTotals()).ok, (await probeTotals()).failed], [apiOk, apiFailed]);
      await layout(page, size, 'exit-health', ['#exit-health-now', '#exit-health-timeline .seg.down', '#exit-health-chart svg', '#exit-health-transitions table']);
      // The last hour: no transition, only the fresh report's probes.
      await page.locator('#exit-health-range button[data-range="1h"]').click();
      await page.locator('#exit-health-transitions', { hasText: 'No up/down transition in this range.' }).waitFor();
      await page.waitForFunction(() => (globalThis as any).document.querySelector('#exit-health-chart .totals')?.dataset.ok === '2', undefined, { timeout: 10_000 });
      assert.equal(await page.locator('#exit-health-chart [data-chart=probes] g.bar').count(), 61);
      await page.locator('#exit-range button[data-range="30d"]').click();
      await chartPoints(page, '#exit-chart', 30);
      assert.equal((await totalsOf(page, '#exit-chart')).bytesDown, expected(30 * DAY).bytesDown);
      await layout(page, size, 'exit', ['#exit-profile', '#exit-chart svg', '#exit-edit-form']);
      await page.goto(`${cp.url}/dashboard#exit/rv-${s}`);
      await loaded(page, 'exit');
      await page.locator('#exit-actions button[data-action=token]').click();
      await page.locator('#secret-label', { hasText: `rv-${s}` }).waitFor();
      assert.notEqual(await page.locator('#secret-value').textContent(), revToken, 'a new token');
      assert.deepEqual(errors, []);
      await page.context().close();
    });

    it(`customer at ${size.width}×${size.height}: ports, snippets, quota %, usage ranges, ordering exits`, async () => {
      const s = `${size.name}_me`;
      for (const id of [`a-${s}`, `b-${s}`]) {
        const x = await api('POST', '/v1/exits', op(), { id, kind: 'socks5', host: '127.0.0.1', port: 1080, country: 'nl' });
        assert.equal(x.status, 201, JSON.stringify(x.body));
      }
      const dave = await seedCustomer(`dave_${s}`, [`a-${s}`], [`b-${s}`]);
      const { page, errors } = await newPage(size);
      await page.goto(cp.url + '/dashboard');
      await page.locator('#login-form input[value=customer]').check();
      await page.locator('#login-login').fill(`dave_${s}`);
      await page.locator('#login-password').fill(dave.password);
      await page.locator('#login-form button[type=submit]').click();
      await loaded(page, 'me');

      const auth = basic(`dave_${s}`, dave.password);
      const ports = (await api('GET', '/v1/me/ports', auth)).body;
      for (const r of ports.rows.filter((x: any) => x.port !== null)) {
        const tr = page.locator(`#me-ports tr[data-port="${r.port}"]`);
        assert.equal(await tr.count(), 1, `port ${r.port}`);
        if (r.exit) assert.match((await tr.locator('td.exit').textContent()) ?? '', new RegExp(r.exit.id));
      }
      const connect = (await api('GET', '/v1/me/connect', auth)).body;
      assert.equal(await page.locator('#me-connect [data-snippet="curl (SOCKS5)"] code').textContent(), connect.snippets.curlSocks5h);
      await page.locator('#me-connect button[data-copy="HTTP proxy URL"]').click();
      await page.locator('#notice', { hasText: 'HTTP proxy URL copied' }).waitFor();
      assert.equal(await page.evaluate(() => (globalThis as any).navigator.clipboard.readText()), connect.proxies.http);

      const usage = (await api('GET', '/v1/me/usage?range=30d&step=day', auth)).body;
      assert.equal(await page.locator('#me-quota .pct').textContent(), `${usage.quotaPeriod.percentUsed.toFixed(1)} %`);
      await page.locator('#me-range button[data-range="30d"]').click();
      await chartPoints(page, '#me-chart', usage.series.length);
      const shown = await totalsOf(page, '#me-chart');
      assert.deepEqual({ bytesUp: shown.bytesUp, bytesDown: shown.bytesDown, connections: shown.connections, failures: shown.failures }, expected(30 * DAY));
      await page.locator('#me-range button[data-range="1h"]').click();
      await chartPoints(page, '#me-chart', (await api('GET', '/v1/me/usage?range=60m&step=minute', auth)).body.series.length);
      assert.equal((await totalsOf(page, '#me-chart')).bytesDown, expected(HOUR).bytesDown);

      // ---- order my exits: add the granted one, move it first, save
      await page.locator('#me-exit-add').selectOption(`b-${s}`);
      await page.locator('#me-exits button[data-action=add]').click();
      await page.locator(`#me-exits li[data-exit="b-${s}"] button[data-action=up]`).click();
      await page.locator('#me-exits button[data-action=save-exits]').click();
      await page.locator('#notice', { hasText: 'Your exits are saved' }).waitFor();
      assert.deepEqual((await api('GET', '/v1/me/exits', auth)).body.exits, [`b-${s}`, `a-${s}`]);
      await page.locator('#me-domains tr[data-domain="example.com"]').waitFor();
      assert.deepEqual(await page.locator('#me-domains tbody tr').evaluateAll((rows) => rows.map((r) => (r as any).dataset.domain)), ['example.com', LONG, 'ip']);
      assert.equal(await page.locator('#me-domains .domains').getAttribute('data-domains'), '3');
      await layout(page, size, 'self-service', ['#me-profile', '#me-ports', '#me-connect', '#me-chart svg', '#me-exits', '#me-domains table']);
      assert.equal(await page.locator('#nav').isHidden(), true);
      assert.deepEqual(errors, []);
      await page.context().close();
    });
  }
});
