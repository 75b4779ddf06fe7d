/**
 * Customers (operator): search, a page of rows at a time (10,000 customers stay fast), create
 * (the password is shown once), suspend/resume, limits, new password, delete. A login opens
 * the customer's own page (customer-detail.ts).
 */
import { api, enc } from './api.js';
import type { Customer, CustomerCreated, CustomerList, CustomerPatch, PasswordIssued } from './api-types.js';
import { $, badge, button, el, field, link, render, table } from './dom.js';
import { bytes, list, splitList } from './format.js';
import { act, kick, notice, onSubmit, showSecret } from './shell.js';

const PAGE = 50;
let offset = 0;
let editing: string | null = null;

/** No exit and no pool means every exit (as `hopgate user show` says), not none. */
export function exitList(c: Pick<Customer, 'exits' | 'pools'>): string {
  if (!c.exits.length && !c.pools.length) return 'all exits';
  return list(c.exits) + (c.pools.length ? ` + ${c.pools.length} pool(s)` : '');
}

export function limits(c: Pick<Customer, 'maxConnections' | 'bandwidth' | 'quota'>): string {
  const out: string[] = [];
  if (c.maxConnections) out.push(`conns ${c.maxConnections}`);
  if (c.bandwidth?.upBytesPerSec) out.push(`up ${bytes(c.bandwidth.upBytesPerSec)}/s`);
  if (c.bandwidth?.downBytesPerSec) out.push(`down ${bytes(c.bandwidth.downBytesPerSec)}/s`);
  if (c.quota) out.push(`quota ${bytes(c.quota.bytes)}/${c.quota.period}`);
  return out.length ? out.join(', ') : '–';
}

function row(c: Customer): HTMLTableRowElement {
  const patch = (body: CustomerPatch, done: string): void => act(() => api('PATCH', `/v1/customers/${enc(c.id)}`, body), done);
  const td = (label: string, cls: string | null, ...kids: Parameters<typeof el>[2][]): HTMLTableCellElement => el('td', { 'data-label': label, class: cls }, ...kids);
  return el(
    'tr',
    { 'data-login': c.login, 'data-id': c.id },
    td('Login', 'login', link(c.login, `customer/${c.id}`)),
    td('Status', 'status', badge(c.status, c.status === 'active' ? 'good' : 'bad'), c.quotaExceededUntil ? badge('over quota', 'warn') : null),
    td('Sources', null, list(c.sources), c.sourceAuth ? ' (no password)' : ''),
    td('Exits / pools', null, exitList(c)),
    td('Limits', null, limits(c)),
    td('', 'actions',
      c.status === 'active'
        ? button('Suspend', () => patch({ status: 'suspended' }, `${c.login} suspended`), { 'data-action': 'suspend' })
        : button('Resume', () => patch({ status: 'active' }, `${c.login} resumed`), { 'data-action': 'resume' }),
      button('Edit', () => openEdit(c), { 'data-action': 'edit' }),
      button('New password', () => rotateFor(c), { 'data-action': 'rotate' }),
      button('Delete', () => {
        if (confirm(`Delete customer ${c.login}?`)) act(() => api('DELETE', `/v1/customers/${enc(c.id)}`), `${c.login} deleted`);
      }, { 'data-action': 'delete', class: 'danger' }),
    ),
  );
}

function rotateFor(c: Customer): void {
  if (!confirm(`Replace the password of ${c.login}? The old one stops working.`)) return;
  act(async () => {
    const r = await api<PasswordIssued>('POST', `/v1/customers/${enc(c.id)}/credentials/rotate`);
    showSecret(`New password for ${c.login}:`, r.password);
  });
}

function openEdit(c: Customer): void {
  const f = $<HTMLFormElement>('edit-form');
  editing = c.id;
  $('edit-login').textContent = c.login;
  field(f, 'sources').value = c.sources.join(', ');
  field(f, 'sourceAuth').checked = c.sourceAuth;
  field(f, 'maxConnections').value = c.maxConnections === null ? '' : String(c.maxConnections);
  field(f, 'up').value = c.bandwidth?.upBytesPerSec ? String(c.bandwidth.upBytesPerSec) : '';
  field(f, 'down').value = c.bandwidth?.downBytesPerSec ? String(c.bandwidth.downBytesPerSec) : '';
  field(f, 'quotaBytes').value = c.quota ? String(c.quota.bytes) : '';
  field(f, 'quotaPeriod').value = c.quota ? c.quota.period : 'month';
  f.hidden = false;
  field(f, 'sources').focus();
}
export function closeEdit(): void {
  editing = null;
  $('edit-form').hidden = true;
}

function editPatch(f: HTMLFormElement): CustomerPatch {
  const num = (name: string): number | null => (field(f, name).value.trim() === '' ? null : Number(field(f, name).value));
  const [up, down, quota] = [num('up'), num('down'), num('quotaBytes')];
  const period = field(f, 'quotaPeriod').value as 'hour' | 'day' | 'month';
  return {
    sources: splitList(field(f, 'sources').value),
    sourceAuth: field(f, 'sourceAuth').checked,
    maxConnections: num('maxConnections'),
    bandwidth: up === null && down === null ? null : { ...(up === null ? {} : { upBytesPerSec: up }), ...(down === null ? {} : { downBytesPerSec: down }) },
    quota: quota === null ? null : { bytes: quota, period },
  };
}

export function initCustomers(): void {
  onSubmit($<HTMLFormElement>('create-form'), async (f) => {
    const body = { login: field(f, 'login').value.trim(), sources: splitList(field(f, 'sources').value), exits: splitList(field(f, 'exits').value) };
    const r = await api<CustomerCreated>('POST', '/v1/customers', body);
    f.reset();
    showSecret(`Password for ${r.customer.login}:`, r.password);
    notice(`Customer ${r.customer.login} created`, false);
  });
  const edit = $<HTMLFormElement>('edit-form');
  edit.addEventListener('submit', (ev) => {
    ev.preventDefault();
    if (!editing) return;
    const id = editing;
    act(async () => {
      const c = await api<Customer>('PATCH', `/v1/customers/${enc(id)}`, editPatch(edit));
      closeEdit();
      notice(`${c.login} saved`, false);
    });
  });
  $('edit-cancel').addEventListener('click', closeEdit);
  const search = $<HTMLInputElement>('customer-search');
  search.addEventListener('input', () => {
    offset = 0;
    kick();
  });
}

export async function customersPage(): Promise<void> {
  // One page from the API (limit/offset/search): 10,000 customers are never all fetched or drawn.
  const q = $<HTMLInputElement>('customer-search').value.trim();
  const page = (at: number): Promise<CustomerList> =>
    api<CustomerList>('GET', `/v1/customers?${new URLSearchParams({ limit: String(PAGE), offset: String(at), ...(q ? { search: q } : {}) }).toString()}`);
  let data = await page(offset);
  if (offset > 0 && offset >= data.total) {
    offset = Math.max(0, Math.floor((data.total - 1) / PAGE) * PAGE); // the last page shrank away
    data = await page(offset);
  }
  const shown = data.customers;
  render('customers-table', shown, (cs) => table(['Login', 'Status', 'Sources', 'Exits / pools', 'Limits', ''], cs.map(row), q ? 'No customer matches.' : 'No customers yet.'));
  render('customers-pager', [offset, data.total, shown.length, q], () =>
    el(
      'p',
      { class: 'pager' },
      button('‹ Previous', () => {
        offset = Math.max(0, offset - PAGE);
        kick();
      }, { disabled: offset === 0, 'data-action': 'prev' }),
      el('span', { class: 'count' }, data.total ? `${offset + 1}–${offset + shown.length} of ${data.total}${q ? ' found' : ''}` : ''),
      button('Next ›', () => {
        offset += PAGE;
        kick();
      }, { disabled: offset + PAGE >= data.total, 'data-action': 'next' }),
    ),
  );
}
