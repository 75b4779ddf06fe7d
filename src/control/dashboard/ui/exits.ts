/**
 * Exits (operator): live health grouped by country, filtered by country and health, create (a reverse exit's token is shown
 * once), drain/undrain, delete. An id opens the exit's own page (exit-detail.ts).
 */
import { api, ApiError, enc } from './api.js';
import type { Exit, ExitCreate, ExitCreated, ExitHealth, ExitList } from './api-types.js';
import { $, badge, button, el, field, link, render, table } from './dom.js';
import { placeText, splitList } from './format.js';
import { act, kick, onSubmit, showSecret } from './shell.js';

type Health = ExitHealth['exits'][number]['health'];
const HEALTH_BADGE: Record<Health, string> = { up: 'good', down: 'bad', draining: 'warn' };

export function address(x: Exit): string {
  return (x.kind === 'reverse' ? 'connects in' : `${x.host ?? ''}:${x.port ?? ''}`) + (x.via.length ? ` via ${x.via.length} hop(s)` : '');
}

function row(x: Exit, health: Health | undefined): HTMLTableRowElement {
  const td = (label: string, cls: string | null, ...kids: Parameters<typeof el>[2][]): HTMLTableCellElement => el('td', { 'data-label': label, class: cls }, ...kids);
  return el(
    'tr',
    { 'data-exit': x.id, 'data-health': health ?? '' },
    td('Id', 'id', link(x.id, `exit/${x.id}`)),
    td('Health', 'health', health ? badge(health, HEALTH_BADGE[health]) : '–'),
    td('Kind', null, x.kind),
    td('Address', null, address(x)),
    td('Egress IP', null, [x.egressIp, x.egressIp6].filter(Boolean).join(' ') || '–'),
    td('Place', 'place', placeText(x)),
    td('Tags', 'tags', x.tags.map((t) => badge(t, 'tag'))),
    td('Customers', 'customers', String(x.customers)),
    td('State', 'state', x.drain ? badge('drained', 'warn') : badge('active', 'good')),
    td('', 'actions',
      x.drain
        ? button('Undrain', () => act(() => api('PATCH', `/v1/exits/${enc(x.id)}`, { drain: false }), `${x.id} back in service`), { 'data-action': 'undrain' })
        : button('Drain', () => act(() => api('PATCH', `/v1/exits/${enc(x.id)}`, { drain: true }), `${x.id} drained`), { 'data-action': 'drain' }),
      button('Delete', () => deleteExit(x), { 'data-action': 'delete', class: 'danger' }),
    ),
  );
}

export function deleteExit(x: Exit): void {
  if (!confirm(`Delete exit ${x.id}?`)) return;
  act(async () => {
    const path = `/v1/exits/${enc(x.id)}`;
    try {
      await api('DELETE', path);
    } catch (err) {
      if (!(err instanceof ApiError) || err.status !== 409 || !confirm(`${err.message}\nRemove it from those customers too?`)) throw err;
      await api('DELETE', `${path}?force=true`);
    }
  }, `${x.id} deleted`);
}

function createBody(f: HTMLFormElement): ExitCreate {
  const v = (name: string): string => field(f, name).value.trim();
  const common = {
    id: v('id'),
    tags: splitList(v('tags')),
    ...(v('country') ? { country: v('country').toLowerCase() } : {}),
    ...(v('city') ? { city: v('city') } : {}),
    ...(v('egressIp') ? { egressIp: v('egressIp') } : {}),
  };
  const kind = v('kind');
  if (kind === 'reverse') return { ...common, kind: 'reverse' };
  if (kind !== 'socks5' && kind !== 'http' && kind !== 'hopgate') throw new Error(`unknown kind ${kind}`);
  return { ...common, kind, host: v('host'), port: Number(v('port')), ...(v('username') ? { username: v('username') } : {}), ...(v('password') ? { password: v('password') } : {}) };
}

export function initExits(): void {
  const f = $<HTMLFormElement>('exit-create-form');
  const syncKind = (): void => {
    for (const p of f.querySelectorAll<HTMLElement>('.forward-only')) p.hidden = field(f, 'kind').value === 'reverse';
  };
  f.addEventListener('change', syncKind);
  syncKind();
  for (const id of ['exit-country', 'exit-health']) $(id).addEventListener('change', kick);
  onSubmit(f, async () => {
    const x = await api<ExitCreated>('POST', '/v1/exits', createBody(f));
    f.reset();
    syncKind();
    if (x.token) showSecret(`Token for reverse exit ${x.id} (hopgate exit --connect-to … --token-file):`, x.token);
  }, () => 'Exit created');
}

/**
 * The country filter's options: every country with its live count, the chosen one kept. Through render():
 * rebuilt only when they change (not under an open list every refresh), and emptied on log out (operator data).
 */
function countryOptions(countries: readonly string[], byCountry: ReadonlyMap<string, Exit[]>, h: ReadonlyMap<string, Health>): void {
  const sel = $<HTMLSelectElement>('exit-country');
  const keep = sel.value;
  const opts = countries.map((c) => {
    const xs = byCountry.get(c) ?? [];
    const up = xs.filter((x) => h.get(x.id) === 'up').length;
    return [c || 'none', `${c ? c.toUpperCase() : 'no country'} (${up}/${xs.length} up)`] as const;
  });
  render('exit-country', opts, (os) => {
    const f = document.createDocumentFragment();
    f.append(el('option', { value: '' }, 'all countries'), ...os.map(([value, label]) => el('option', { value }, label)));
    return f;
  });
  sel.value = [...sel.options].some((o) => o.value === keep) ? keep : '';
}

export async function exitsPage(): Promise<void> {
  const [data, health] = await Promise.all([api<ExitList>('GET', '/v1/exits'), api<ExitHealth>('GET', '/v1/exit-health')]);
  const h = new Map(health.exits.map((e) => [e.id, e.health]));
  const byCountry = new Map<string, Exit[]>();
  for (const x of data.exits) {
    const k = x.country ?? '';
    byCountry.set(k, [...(byCountry.get(k) ?? []), x]);
  }
  const countries = [...byCountry.keys()].sort((a, b) => (a === '' ? 1 : b === '' ? -1 : a.localeCompare(b)));
  countryOptions(countries, byCountry, h);
  const country = $<HTMLSelectElement>('exit-country').value;
  const want = $<HTMLSelectElement>('exit-health').value;
  render('exits-table', [data.exits, health.exits, country, want], () => {
    if (!data.exits.length) return el('p', { class: 'empty' }, 'No exits yet (the form above, or hopgate exits add).');
    const box = el('div', {});
    for (const c of countries) {
      if (country !== '' && country !== (c || 'none')) continue;
      const all = byCountry.get(c) ?? [];
      const up = all.filter((x) => h.get(x.id) === 'up').length;
      const xs = want === '' ? all : all.filter((x) => h.get(x.id) === want);
      if (xs.length === 0) continue;
      box.appendChild(
        el('section', { class: 'country', 'data-country': c || 'none', 'data-up': up, 'data-total': all.length },
          el('h3', {}, c ? c.toUpperCase() : 'No country', ' ', badge(`${up}/${all.length} up`, up === all.length ? 'good' : up ? 'warn' : 'bad')),
          table(['Id', 'Health', 'Kind', 'Address', 'Egress IP', 'Place', 'Tags', 'Customers', 'State', ''], xs.map((x) => row(x, h.get(x.id))), ''),
        ),
      );
    }
    if (!box.firstChild) box.appendChild(el('p', { class: 'empty' }, 'No exit matches the filter.'));
    return box;
  });
}
