/**
 * hopgate dashboard: a client of the control plane's JSON API, nothing more (docs/CONTROL.md,
 * "Dashboard"). This module logs in and out, routes by the URL hash and refreshes the shown page
 * every few seconds; each page lives in its own module.
 */
import { api, ApiError, currentAuth, setAuth, type Auth } from './api.js';
import { $, button, field, clearRenders, radio } from './dom.js';
import { customerDetailPage, initCustomerDetail } from './customer-detail.js';
import { closeEdit, customersPage, initCustomers } from './customers.js';
import { exitDetailPage, initExitDetail } from './exit-detail.js';
import { exitsPage, initExits } from './exits.js';
import { forgetMe, initMe, mePage } from './me.js';
import { overviewPage } from './overview.js';
import { navOf, OPERATOR_NAV, viewOf, type View } from './router.js';
import { failed, hideSecret, kick, notice, onShell } from './shell.js';
import { usagePage } from './usage.js';

const REFRESH_MS = 5000;
let timer: ReturnType<typeof setTimeout> | undefined;
let running: Promise<void> | null = null;

function currentView(): View | null {
  const a = currentAuth();
  return a ? viewOf(location.hash, a.kind) : null;
}

function load(v: View): Promise<void> {
  switch (v.page) {
    case 'overview':
      return overviewPage();
    case 'customers':
      return customersPage();
    case 'customer':
      return customerDetailPage(v.id);
    case 'exits':
      return exitsPage();
    case 'exit':
      return exitDetailPage(v.id);
    case 'usage':
      return usagePage();
    case 'me':
      return mePage();
  }
}

/** Loads the shown page now (one load at a time: a click during a load queues after it). */
async function refresh(): Promise<void> {
  clearTimeout(timer);
  if (running) await running.catch(() => undefined);
  const v = currentView();
  if (!v) return;
  running = (async () => {
    try {
      if (!document.hidden) {
        await load(v);
        $('refreshed').textContent = `Updated ${new Date().toLocaleTimeString()} · every ${REFRESH_MS / 1000} s`;
        document.body.dataset.loaded = v.page;
      }
    } catch (err) {
      if (err instanceof ApiError && err.status === 404 && (v.page === 'customer' || v.page === 'exit')) {
        notice(`No such ${v.page}: it may have been deleted`, true);
        location.hash = v.page === 'customer' ? 'customers' : 'exits';
      } else failed(err);
    }
  })();
  await running;
  running = null;
  if (currentAuth()) timer = setTimeout(kick, REFRESH_MS);
}

function show(): void {
  const v = currentView();
  const a = currentAuth();
  $('login').hidden = v !== null;
  $('logout').hidden = v === null;
  $('nav').hidden = a?.kind !== 'operator';
  for (const s of document.querySelectorAll<HTMLElement>('.view')) s.hidden = !v || s.id !== `view-${v.page}`;
  for (const b of document.querySelectorAll<HTMLElement>('#nav button')) b.setAttribute('aria-current', v && b.dataset.view === navOf(v) ? 'page' : 'false');
  $('who').textContent = !a ? '' : a.kind === 'operator' ? 'operator' : `customer ${a.login}`;
  delete document.body.dataset.loaded;
  if (v) kick();
}

function logout(msg?: string): void {
  clearTimeout(timer);
  setAuth(null);
  closeEdit();
  forgetMe();
  clearRenders();
  hideSecret();
  $('refreshed').textContent = '';
  notice(msg ?? '', Boolean(msg));
  show();
}

function syncLoginFields(): void {
  const k = radio($<HTMLFormElement>('login-form'), 'kind');
  for (const p of document.querySelectorAll<HTMLElement>('.for-operator')) p.hidden = k !== 'operator';
  for (const p of document.querySelectorAll<HTMLElement>('.for-customer')) p.hidden = k !== 'customer';
}

async function onLogin(f: HTMLFormElement): Promise<void> {
  const candidate: Auth =
    radio(f, 'kind') === 'operator'
      ? { kind: 'operator', token: field(f, 'token').value.trim() }
      : { kind: 'customer', login: field(f, 'login').value.trim(), password: field(f, 'password').value };
  $('login-error').textContent = '';
  try {
    await api('GET', candidate.kind === 'operator' ? '/v1/revision' : '/v1/me', undefined, candidate);
  } catch (err) {
    const e = err instanceof ApiError ? err : new ApiError(String(err), 0);
    $('login-error').textContent = e.status === 401 || e.status === 403 ? `Not accepted: ${e.message}` : e.message;
    return;
  }
  f.reset();
  syncLoginFields();
  setAuth(candidate);
  notice('', false);
  show();
}

function init(): void {
  onShell(refresh, logout);
  const nav = $('nav');
  for (const v of OPERATOR_NAV) {
    nav.appendChild(button(v[0]!.toUpperCase() + v.slice(1), () => {
      location.hash = v;
    }, { 'data-view': v }));
  }
  window.addEventListener('hashchange', show);
  document.addEventListener('visibilitychange', () => {
    if (!document.hidden) kick();
  });
  const login = $<HTMLFormElement>('login-form');
  login.addEventListener('submit', (ev) => {
    ev.preventDefault();
    onLogin(login).catch(failed);
  });
  login.addEventListener('change', syncLoginFields);
  $('usage-form').addEventListener('submit', (ev) => ev.preventDefault());
  $('usage-form').addEventListener('change', kick);
  $('logout').addEventListener('click', () => logout());
  $('secret-dismiss').addEventListener('click', hideSecret);
  initCustomers();
  initCustomerDetail();
  initExits();
  initExitDetail();
  initMe();
  syncLoginFields();
  show();
}

init();
