/**
 * "Top domains" and "Logins (ok/failed by source prefix)" (issue 16): on a customer's page
 * (operator) over the last 24 hours, and "Top domains" on the customer's own page. Reads
 * GET /v1/customers/{id}/domains|logins and GET /v1/me/domains.
 */
import type { z } from 'zod';
import type * as L from '../../login-domain-schemas.js';
import { api, enc } from './api.js';
import { el, render, table } from './dom.js';
import { bytes } from './format.js';

type Domains = z.infer<typeof L.DomainsView>;
type Logins = z.infer<typeof L.LoginsView>;

const TOP = 10;

function domainsBlock(d: Domains): HTMLElement {
  const rows = d.domains.map((x) => el('tr', { 'data-domain': x.domain }, el('td', { 'data-label': 'Domain', class: 'domain' }, x.domain), el('td', { 'data-label': 'Down' }, bytes(x.bytesDown)), el('td', { 'data-label': 'Up' }, bytes(x.bytesUp)), el('td', { 'data-label': 'Connections' }, String(x.connections))));
  return el(
    'div',
    { class: 'domains', 'data-domains': d.totals.domains },
    el('p', { class: 'hint' }, `Last 24 hours: ${d.totals.domains} domain${d.totals.domains === 1 ? '' : 's'}, ${bytes(d.totals.bytesDown)} down, ${bytes(d.totals.bytesUp)} up. "ip": address targets; "(other)": names past the 100 kept per minute.`),
    table(['Domain', 'Down', 'Up', 'Connections'], rows, 'No traffic in the last 24 hours.'),
  );
}

function outcomesText(o: Record<string, number>): string {
  const failures = Object.entries(o).filter(([k]) => k !== 'ok');
  return failures.length === 0 ? '–' : failures.map(([k, n]) => `${k.replace(/_/g, ' ')} ${n}`).join(', ');
}

function loginsBlock(l: Logins): HTMLElement {
  const rows = l.prefixes.map((p) => el('tr', { 'data-prefix': p.prefix }, el('td', { 'data-label': 'Source prefix', class: 'prefix' }, p.prefix), el('td', { 'data-label': 'OK', class: 'ok' }, String(p.ok)), el('td', { 'data-label': 'Failed', class: 'failed' }, String(p.failed)), el('td', { 'data-label': 'Why' }, outcomesText(p.outcomes))));
  return el(
    'div',
    { class: 'logins', 'data-ok': l.totals.ok, 'data-failed': l.totals.failed },
    el('p', { class: 'hint' }, `Last 24 hours: ${l.totals.ok} ok, ${l.totals.failed} failed${l.prefixesOmitted > 0 ? ` (${l.prefixesOmitted} more prefixes not listed)` : ''}.`),
    table(['Source prefix', 'OK', 'Failed', 'Why'], rows, 'No logins in the last 24 hours.'),
  );
}

/** The operator's customer page: both panels. */
export async function customerLoginDomainPanels(id: string): Promise<void> {
  const [d, l] = await Promise.all([api<Domains>('GET', `/v1/customers/${enc(id)}/domains?period=24h&limit=${TOP}`), api<Logins>('GET', `/v1/customers/${enc(id)}/logins?range=24h&by=hour`)]);
  render('customer-domains', d, domainsBlock);
  render('customer-logins', l, loginsBlock);
}

/** The customer's own page: their top domains. */
export async function meDomainsPanel(): Promise<void> {
  render('me-domains', await api<Domains>('GET', `/v1/me/domains?period=24h&limit=${TOP}`), domainsBlock);
}
