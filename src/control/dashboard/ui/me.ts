/**
 * Self-service (a customer, #me): profile, quota % with the reset time, my ports (exit, country,
 * egress, health), connection strings and snippets with copy buttons, usage over a chosen range,
 * my notices, and ordering my own exits within what the operator granted.
 */
import { api, currentAuth, setAuth } from './api.js';
import type { Customer, MyConnect, MyExits, MyPorts, MyUsage, Notices, PasswordIssued } from './api-types.js';
import { usageCharts } from './chart.js';
import { $, badge, button, el, render, stats, table } from './dom.js';
import { ago, bytes, list } from './format.js';
import { exitList, limits } from './customers.js';
import { rangeOf, rangePicker } from './range-picker.js';
import { act, kick, showSecret } from './shell.js';
import { usageTable } from './usage-panel.js';
import { meDomainsPanel } from './login-domain-panels.js';

const RANGE_QUERY = { '1h': 'range=60m&step=minute', '24h': 'range=24h&step=hour', '7d': 'range=7d&step=hour', '30d': 'range=30d&step=day' } as const;
const HEALTH_BADGE = { up: 'good', down: 'bad', draining: 'warn' } as const;
let order: string[] | null = null; // my exits as being reordered (null: as the API says)
let lastMine: MyExits | null = null;

/** Redraws the exits editor at once (not after a refresh's round trip: a quick Save must see the order shown). */
function setOrder(next: string[] | null): void {
  order = next;
  if (lastMine) render('me-exits', [lastMine, order], () => exitsEditor(lastMine!));
}

function copyButton(text: string, what: string): HTMLButtonElement {
  return button('Copy', () => {
    navigator.clipboard.writeText(text).then(
      () => {
        $('notice').textContent = `${what} copied`;
      },
      () => {
        $('notice').textContent = 'The browser refused the clipboard: select the text and copy it';
      },
    );
  }, { class: 'copy', 'data-copy': what });
}

function snippet(label: string, text: string): HTMLElement {
  return el('div', { class: 'snippet', 'data-snippet': label }, el('div', { class: 'snippet-head' }, el('span', {}, label), copyButton(text, label)), el('pre', {}, el('code', {}, text)));
}

function portsTable(p: MyPorts): HTMLElement {
  return table(
    ['Port', 'Meaning', 'Exit', 'Country', 'Egress IP', 'Health'],
    p.rows.map((r) => {
      const x = r.servedBy ?? r.exit;
      return el(
        'tr',
        { 'data-port': r.port ?? '' },
        el('td', { 'data-label': 'Port', class: 'port' }, r.port === null ? '–' : String(r.port)),
        el('td', { 'data-label': 'Meaning' }, r.meaning),
        el('td', { 'data-label': 'Exit', class: 'exit' }, x ? x.id : '–', r.replacement && r.exit ? ` (for ${r.exit.id})` : ''),
        el('td', { 'data-label': 'Country' }, x?.country ?? '–'),
        el('td', { 'data-label': 'Egress IP' }, [x?.egressIp, x?.egressIp6].filter(Boolean).join(' ') || '–'),
        el('td', { 'data-label': 'Health', class: 'health' }, r.health ? badge(r.health, HEALTH_BADGE[r.health]) : r.state),
      );
    }),
    'No ports: your account cannot be routed as it stands (ask your operator).',
  );
}

function exitsEditor(mine: MyExits): HTMLElement {
  const current = order ?? mine.exits;
  const move = (i: number, d: number): void => {
    const next = [...current];
    const [x] = next.splice(i, 1);
    if (x === undefined) return;
    next.splice(Math.max(0, Math.min(next.length, i + d)), 0, x);
    setOrder(next);
  };
  const addable = mine.granted.filter((g) => !current.includes(g));
  const select = el('select', { 'aria-label': 'exit to add', id: 'me-exit-add' }, addable.map((g) => el('option', { value: g }, g)));
  return el(
    'div',
    {},
    el(
      'ol',
      { class: 'order' },
      current.map((x, i) =>
        el('li', { 'data-exit': x }, el('span', {}, x), ' ',
          button('↑', () => move(i, -1), { disabled: i === 0, 'aria-label': `move ${x} up`, 'data-action': 'up' }),
          button('↓', () => move(i, 1), { disabled: i === current.length - 1, 'aria-label': `move ${x} down`, 'data-action': 'down' }),
          button('Remove', () => {
            setOrder(current.filter((y) => y !== x));
          }, { disabled: current.length === 1, 'data-action': 'remove' }),
        ),
      ),
    ),
    addable.length
      ? el('p', {}, select, ' ', button('Add', () => {
          setOrder([...current, select.value]);
        }, { 'data-action': 'add' }))
      : null,
    el('p', {},
      button('Save order', () => act(async () => {
        await api<MyExits>('PUT', '/v1/me/exits', { exits: current });
        setOrder(null);
      }, 'Your exits are saved: port base+1 is the first'), { 'data-action': 'save-exits', disabled: order === null }),
      order ? button('Undo', () => setOrder(null)) : null,
    ),
    el('p', { class: 'hint' }, `You may use: ${list(mine.granted)}`),
  );
}

export function initMe(): void {
  $('me-rotate').addEventListener('click', () => {
    if (!confirm('Replace your password? Proxy clients using the old one stop working.')) return;
    act(async () => {
      const r = await api<PasswordIssued>('POST', '/v1/me/credentials/rotate');
      const a = currentAuth();
      if (a?.kind === 'customer') setAuth({ ...a, password: r.password });
      showSecret('Your new password:', r.password);
    });
  });
  $('me-notices-read').addEventListener('click', () => act(() => api('POST', '/v1/me/notices/read', { all: true }), 'Notices marked read'));
}

export function forgetMe(): void {
  order = null;
  lastMine = null;
}

export async function mePage(): Promise<void> {
  const rangeBox = $('me-range');
  if (!rangeBox.firstChild) rangeBox.appendChild(rangePicker('me', kick));
  const range = rangeOf('me');
  // One request first: the control plane caches a verified password, so the five after it do not
  // each pay scrypt (five at once from one address would exceed its fair share: 429).
  const me = await api<Customer>('GET', '/v1/me');
  const [u, ports, connect, notices, mine] = await Promise.all([
    api<MyUsage>('GET', `/v1/me/usage?${RANGE_QUERY[range]}`),
    api<MyPorts>('GET', '/v1/me/ports'),
    api<MyConnect>('GET', '/v1/me/connect'),
    api<Notices>('GET', '/v1/me/notices?limit=50'),
    api<MyExits>('GET', '/v1/me/exits'),
  ]);
  const q = u.quotaPeriod;
  render('me-profile', [me, q], () =>
    stats([
      ['Login', me.login],
      ['Status', badge(me.status, me.status === 'active' ? 'good' : 'bad')],
      ['Sources', list(me.sources) + (me.sourceAuth ? ' (no password needed from these)' : '')],
      ['Exits', exitList(me)],
      ['Limits', limits(me)],
      ['Password changed', me.passwordChangedAt ?? '–'],
    ]),
  );
  render('me-quota', [u.quota, q], () =>
    !u.quota || !q
      ? el('p', { class: 'empty' }, 'No quota.')
      : el(
          'div',
          { class: 'quota', 'data-used': q.used, 'data-quota': u.quota.bytes, 'data-percent': q.percentUsed },
          el('p', {}, `${bytes(q.used)} of ${bytes(u.quota.bytes)} this ${u.quota.period} (`, el('strong', { class: 'pct' }, `${q.percentUsed.toFixed(1)} %`), `), resets ${q.resetsAt.replace('.000Z', 'Z')}`, q.exceededUntil ? ` — exceeded until ${q.exceededUntil}` : ''),
          el('progress', { max: 100, value: Math.min(100, q.percentUsed) }, `${q.percentUsed} %`),
        ),
  );
  render('me-ports', ports, portsTable);
  render('me-connect', connect, (c) =>
    el(
      'div',
      {},
      el('p', { class: 'hint' }, c.note),
      snippet('HTTP proxy URL', c.proxies.http),
      snippet('SOCKS5 proxy URL', c.proxies.socks5h),
      c.proxies.https ? snippet('HTTPS proxy URL', c.proxies.https) : null,
      snippet('curl (SOCKS5)', c.snippets.curlSocks5h),
      snippet('curl (HTTP)', c.snippets.curlHttp),
      snippet('Python requests', c.snippets.pythonRequests),
      snippet('Node undici', c.snippets.nodeUndici),
      snippet('Playwright', c.snippets.playwright),
    ),
  );
  render('me-chart', [range, u.series], () => usageCharts(u.series));
  render('me-usage', u.usage, (rows) => usageTable(rows, 'exitId'));
  render('me-notices', notices, (n) =>
    table(
      ['When', 'Port', 'Notice'],
      n.notices.map((x) => el('tr', { class: x.readAt ? 'read' : 'unread', 'data-notice': x.id },
        el('td', { 'data-label': 'When' }, ago(x.updatedAt)),
        el('td', { 'data-label': 'Port' }, x.portLabel ?? (x.port === null ? '–' : String(x.port))),
        el('td', { 'data-label': 'Notice' }, x.message, x.repeats ? ` (×${x.repeats + 1})` : ''),
      )),
      'No notices.',
    ),
  );
  $('me-notices-read').hidden = notices.unread === 0;
  lastMine = mine;
  render('me-exits', [mine, order], () => exitsEditor(mine));
  await meDomainsPanel(); // after the others: the page's requests stay within the per-source share
}
