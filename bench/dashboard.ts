/**
 * The dashboard at 10,000 customers and 30 days of per-minute usage: time to first render (in
 * Chromium) of the customers page and of a customer's 30-day chart, and the API answers behind them.
 *
 *   npm run build && node dist/bench/dashboard.js [--customers 10000] [--with-usage 10] [--days 30] [--runs 5]
 *
 * Customers and usage minutes are inserted in bulk straight into the store's tables (SQLite in a
 * temp dir, removed at the end); one minute row per minute of the range for each of the first
 * --with-usage customers. Needs /usr/bin/chromium (or HOPGATE_TEST_CHROMIUM).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { chromium } from 'playwright-core';
import { startControlPlane, type ControlPlane } from '../src/control/control-plane.js';
import { minuteOf } from '../src/shared/control-protocol.js';
import { CHROMIUM, CHROMIUM_ARGS } from '../test/helpers/chromium.js';

const { values: opt } = parseArgs({
  options: {
    customers: { type: 'string', default: '10000' },
    'with-usage': { type: 'string', default: '10' },
    days: { type: 'string', default: '30' },
    runs: { type: 'string', default: '5' },
  },
});
const N = Number(opt.customers);
const WITH_USAGE = Math.min(N, Number(opt['with-usage']));
const DAYS = Number(opt.days);
const RUNS = Number(opt.runs);
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const ms = (x: number): string => `${x.toFixed(0)} ms`;

async function call(cp: ControlPlane, method: string, path: string, body?: unknown): Promise<{ ms: number; bytes: number; body: any }> {
  const t0 = performance.now();
  const res = await fetch(cp.url + path, {
    method,
    headers: { authorization: `Bearer ${cp.token.token}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  const took = performance.now() - t0;
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${text}`);
  return { ms: took, bytes: text.length, body: text ? JSON.parse(text) : undefined };
}

async function seed(cp: ControlPlane): Promise<string[]> {
  const db = cp.store.db;
  await call(cp, 'POST', '/v1/ingress-nodes', { id: 'edge-1', name: 'edge 1' });
  const exits = ['us-1', 'de-1', 'gb-1'];
  for (const [i, id] of exits.entries()) await call(cp, 'POST', '/v1/exits', { id, kind: 'socks5', host: `127.0.0.${i + 2}`, port: 1080, country: id.slice(0, 2) });
  const t = new Date().toISOString();
  const ids = Array.from({ length: N }, () => `cus_${randomBytes(8).toString('hex')}`);
  const rows = ids.map((id, i) => ({
    id, login: `user${String(i).padStart(6, '0')}`, status: 'active' as const, password_hash: null, password_changed_at: null, sources: '[]', source_auth: 0,
    max_connections: 100, bandwidth_up: null, bandwidth_down: null, quota_bytes: i % 3 === 0 ? 100_000_000_000 : null, quota_period: i % 3 === 0 ? ('month' as const) : null,
    pools: '[]', port_base: null, port_scheme: null, places: null, quota_exceeded_until: null, exit_grant: null, exit_header: 0, created_at: t, updated_at: t,
  }));
  const t0 = performance.now();
  await db.transaction().execute(async (trx) => {
    for (let i = 0; i < rows.length; i += 500) await trx.insertInto('customers').values(rows.slice(i, i + 500)).execute();
    const links = ids.map((id, i) => ({ customer_id: id, position: 0, exit_id: exits[i % exits.length]! }));
    for (let i = 0; i < links.length; i += 1000) await trx.insertInto('customer_exits').values(links.slice(i, i + 1000)).execute();
  });
  const t1 = performance.now();
  const now = Date.now();
  let minutes = 0;
  for (let c = 0; c < WITH_USAGE; c++) {
    await db.transaction().execute(async (trx) => {
      const batch = [];
      for (let m = 0; m < DAYS * 1440; m++) {
        batch.push({ minute: minuteOf(now - m * 60_000), node_id: 'edge-1', customer_id: ids[c]!, login: rows[c]!.login, exit_id: exits[c % exits.length]!, bytes_up: 1000 + (m % 97), bytes_down: 50_000 + (m % 1013), connections: 1 + (m % 7), failures: m % 11 === 0 ? 1 : 0 });
        if (batch.length === 1000) {
          await trx.insertInto('usage_minute').values(batch.splice(0)).execute();
        }
      }
      if (batch.length) await trx.insertInto('usage_minute').values(batch).execute();
    });
    minutes += DAYS * 1440;
  }
  console.log(`seeded ${N} customers in ${ms(t1 - t0)}, ${minutes} usage minutes (${WITH_USAGE} customers × ${DAYS} days) in ${ms(performance.now() - t1)}`);
  return ids;
}

const dir = mkdtempSync(join(tmpdir(), 'hopgate-bench-dashboard-'));
const cp = await startControlPlane({ db: `sqlite:${join(dir, 'control.db')}`, stateDir: dir, port: 0 });
const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, headless: true });
try {
  const ids = await seed(cp);
  const target = ids[0]!;
  const from30 = new Date(Date.now() - 29 * 86_400_000).toISOString().slice(0, 10);
  const api = { list: [] as number[], page: [] as number[], search: [] as number[], usage30: [] as number[], listBytes: 0 };
  for (let i = 0; i < RUNS; i++) {
    const l = await call(cp, 'GET', '/v1/customers');
    api.list.push(l.ms);
    api.listBytes = l.bytes;
    api.page.push((await call(cp, 'GET', `/v1/customers?limit=50&offset=${Math.floor(N / 2)}`)).ms);
    api.search.push((await call(cp, 'GET', '/v1/customers?limit=50&search=user0099')).ms);
    api.usage30.push((await call(cp, 'GET', `/v1/usage?customer=${target}&by=day&from=${from30}`)).ms);
  }
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  await page.goto(`${cp.url}/dashboard`);
  await page.locator('#login-token').fill(cp.token.token);
  await page.locator('#login-form button[type=submit]').click();
  await page.waitForFunction(() => (globalThis as any).document.body.dataset.loaded === 'overview', undefined, { timeout: 60_000 });
  const ui = { customers: [] as number[], chart30: [] as number[] };
  for (let i = 0; i < RUNS; i++) {
    await page.goto(`${cp.url}/dashboard#overview`);
    await page.waitForFunction(() => (globalThis as any).document.body.dataset.loaded === 'overview', undefined, { timeout: 60_000 });
    let t0 = performance.now();
    await page.locator('#nav button[data-view=customers]').click();
    await page.waitForFunction(() => (globalThis as any).document.querySelectorAll('#customers-table tbody tr').length === 50, undefined, { timeout: 60_000 });
    ui.customers.push(performance.now() - t0);
    await page.goto(`${cp.url}/dashboard#customer/${target}`);
    await page.waitForFunction(() => (globalThis as any).document.body.dataset.loaded === 'customer', undefined, { timeout: 60_000 });
    const want = (await page.locator('#customer-range button[data-range="30d"]').getAttribute('aria-pressed')) === 'true' ? null : 30;
    t0 = performance.now();
    await page.locator('#customer-range button[data-range="30d"]').click();
    if (want) await page.waitForFunction(() => (globalThis as any).document.querySelector('#customer-chart .totals')?.dataset.points === '30', undefined, { timeout: 60_000 });
    ui.chart30.push(performance.now() - t0);
    await page.locator('#customer-range button[data-range="24h"]').click(); // the next run starts from 24 h again
    await page.waitForFunction(() => (globalThis as any).document.querySelector('#customer-chart .totals')?.dataset.points === '24', undefined, { timeout: 60_000 });
  }
  console.log(`GET /v1/customers (${N} customers, ${(api.listBytes / 1e6).toFixed(1)} MB): median ${ms(median(api.list))} of ${RUNS}`);
  console.log(`GET /v1/customers?limit=50&offset=${Math.floor(N / 2)} (what the Customers page asks): median ${ms(median(api.page))} of ${RUNS}`);
  console.log(`GET /v1/customers?limit=50&search=user0099: median ${ms(median(api.search))} of ${RUNS}`);
  console.log(`GET /v1/usage customer, by day, 30 days (${DAYS * 1440} minute rows): median ${ms(median(api.usage30))} of ${RUNS}`);
  console.log(`Chromium, Customers page (click → first 50 rows drawn): median ${ms(median(ui.customers))} of ${RUNS} (${ui.customers.map((x) => x.toFixed(0)).join(', ')})`);
  console.log(`Chromium, customer 30-day chart (click 30 d → chart drawn): median ${ms(median(ui.chart30))} of ${RUNS} (${ui.chart30.map((x) => x.toFixed(0)).join(', ')})`);
} finally {
  await browser.close();
  await cp.close();
  rmSync(dir, { recursive: true, force: true });
}
