/**
 * One customer (operator, #customer/<id>): profile, quota used this period with its reset time,
 * usage over a chosen range, and the customer's exits, pools and granted exits (editable).
 */
import { api, enc } from './api.js';
import type { Assignment, Customer, UsageList } from './api-types.js';
import { $, badge, el, field, render, stats } from './dom.js';
import { bytes, list, parsePlace, percent, placeText, splitList } from './format.js';
import { exitList, limits } from './customers.js';
import { periodOf, quotaWindow } from './series.js';
import { onSubmit } from './shell.js';
import { usagePanel } from './usage-panel.js';
import { customerLoginDomainPanels } from './login-domain-panels.js';

let shownId: string | null = null;

/** Bytes used (both directions) in the current quota period, summed from the usage API like the quota counts them. */
async function quotaUse(c: Customer): Promise<{ used: number; resetsAt: string } | null> {
  if (!c.quota) return null;
  const w = quotaWindow(c.quota.period);
  const by = c.quota.period === 'hour' ? 'minute' : c.quota.period === 'day' ? 'hour' : 'day';
  const u = await api<UsageList>('GET', `/v1/usage?${new URLSearchParams({ customer: c.id, by, from: periodOf(by, w.start) }).toString()}`);
  return { used: u.totals.bytesUp + u.totals.bytesDown, resetsAt: new Date(w.resetsAt).toISOString() };
}

function fillAssignment(a: Assignment): void {
  const f = $<HTMLFormElement>('assign-form');
  field(f, 'exits').value = a.exits.join(', ');
  field(f, 'pools').value = a.pools.map(placeText).join('\n');
  field(f, 'grant').value = (a.grant ?? []).join(', ');
}

export function initCustomerDetail(): void {
  onSubmit(
    $<HTMLFormElement>('assign-form'),
    async (f) => {
      if (!shownId) return;
      const pools = field(f, 'pools').value.split('\n').map((l) => l.trim()).filter(Boolean).map(parsePlace);
      const body: Assignment = { exits: splitList(field(f, 'exits').value), pools, grant: splitList(field(f, 'grant').value) };
      fillAssignment(await api<Assignment>('PUT', `/v1/customers/${enc(shownId)}/assignment`, body));
    },
    () => 'Exits and pools saved',
  );
}

export async function customerDetailPage(id: string): Promise<void> {
  const [c, assignment] = await Promise.all([api<Customer>('GET', `/v1/customers/${enc(id)}`), api<Assignment>('GET', `/v1/customers/${enc(id)}/assignment`)]);
  const quota = await quotaUse(c);
  if (shownId !== id) {
    shownId = id;
    fillAssignment(assignment);
  }
  $('customer-title').textContent = c.login;
  render('customer-profile', c, () =>
    stats([
      ['Login', c.login],
      ['Status', [badge(c.status, c.status === 'active' ? 'good' : 'bad'), c.quotaExceededUntil ? badge(`over quota until ${c.quotaExceededUntil}`, 'warn') : null]],
      ['Sources', list(c.sources) + (c.sourceAuth ? ' (no password from these)' : '')],
      ['Exits', exitList(c)],
      ['Pools', c.pools.length ? c.pools.map(placeText).join('; ') : '–'],
      ['Granted', list(c.exitGrant)],
      ['Limits', limits(c)],
      ['Id', c.id],
    ]),
  );
  render('customer-quota', [c.quota, quota], () => quotaBlock(c.quota, quota));
  await usagePanel('customer', { customer: id }, 'exitId');
  await customerLoginDomainPanels(id);
}

export function quotaBlock(q: Customer['quota'], use: { used: number; resetsAt: string } | null): HTMLElement {
  if (!q || !use) return el('p', { class: 'empty' }, 'No quota.');
  const pct = q.bytes > 0 ? Math.min(100, (use.used / q.bytes) * 100) : 0;
  return el(
    'div',
    { class: 'quota', 'data-used': use.used, 'data-quota': q.bytes },
    el('p', {}, `${bytes(use.used)} of ${bytes(q.bytes)} this ${q.period} (`, el('strong', { class: 'pct' }, percent(use.used, q.bytes)), `), resets ${use.resetsAt.replace('.000Z', 'Z')}`),
    el('progress', { max: 100, value: pct.toFixed(1) }, percent(use.used, q.bytes)),
  );
}
