// hopgate dashboard: a client of the control plane's JSON API, nothing more.
// Rules kept here: API data only ever reaches the page as text (textContent,
// text nodes, setAttribute of data-*/title); credentials live in this tab's
// sessionStorage and travel only in the Authorization header.
'use strict';
(function () {
  const KEY = 'hopgate.dashboard.auth';
  const REFRESH_MS = 5000;
  const SVG = 'http://www.w3.org/2000/svg';
  const OPERATOR_VIEWS = ['overview', 'customers', 'exits', 'usage'];

  /** @type {{kind:'operator',token:string}|{kind:'customer',login:string,password:string}|null} */
  let auth = loadAuth();
  let timer = 0;
  let editing = null; // id of the customer in the edit form
  let session = 0; // bumped at log out: answers to an older session are dropped
  const lastRender = new Map(); // container id -> JSON of the data it shows

  const $ = (id) => document.getElementById(id);

  // ------------------------------------------------------------ DOM helpers (text only)

  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k === 'class') e.className = v;
      else if (k === 'onclick') e.addEventListener('click', v);
      else e.setAttribute(k, v === true ? '' : String(v));
    }
    add(e, children);
    return e;
  }

  function add(parent, c) {
    if (c === undefined || c === null || c === false) return;
    if (Array.isArray(c)) for (const x of c) add(parent, x);
    else if (c instanceof Node) parent.appendChild(c);
    else parent.appendChild(document.createTextNode(String(c)));
  }

  function svg(tag, attrs, ...children) {
    const e = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, String(v));
    for (const c of children) e.appendChild(c instanceof Node ? c : document.createTextNode(String(c)));
    return e;
  }

  function table(head, rows, empty) {
    if (rows.length === 0) return el('p', { class: 'empty' }, empty);
    return el(
      'table',
      {},
      el('thead', {}, el('tr', {}, head.map((h) => el('th', {}, h)))),
      el('tbody', {}, rows.map((r) => (r instanceof Node ? r : el('tr', {}, r.map((c) => el('td', {}, c)))))),
    );
  }

  /** Replaces a container's content, unless the data it shows did not change (keeps focus and clicks steady). */
  function render(id, data, build, always) {
    const key = JSON.stringify(data);
    if (!always && lastRender.get(id) === key) return;
    lastRender.set(id, key);
    $(id).replaceChildren(build(data));
  }

  function stats(pairs) {
    const f = document.createDocumentFragment();
    for (const [k, v] of pairs) f.append(el('dt', {}, k), el('dd', {}, v));
    return f;
  }

  function badge(text, kind) {
    return el('span', { class: 'badge ' + kind }, text);
  }

  function button(label, onclick, attrs) {
    return el('button', Object.assign({ type: 'button', onclick }, attrs || {}), label);
  }

  // ------------------------------------------------------------ formatting

  function bytes(n) {
    if (!Number.isFinite(n)) return '–';
    const units = ['B', 'KB', 'MB', 'GB', 'TB', 'PB'];
    let i = 0;
    while (Math.abs(n) >= 1000 && i < units.length - 1) {
      n /= 1000;
      i++;
    }
    return (i === 0 ? String(n) : n.toFixed(1)) + ' ' + units[i];
  }

  function when(iso) {
    if (!iso) return 'never';
    const t = Date.parse(iso);
    if (!Number.isFinite(t)) return iso;
    const s = Math.round((Date.now() - t) / 1000);
    const ago = s < 0 ? 'just now' : s < 120 ? s + ' s ago' : s < 7200 ? Math.round(s / 60) + ' min ago' : s < 172800 ? Math.round(s / 3600) + ' h ago' : Math.round(s / 86400) + ' days ago';
    return el('time', { datetime: iso, title: iso }, ago);
  }

  function list(xs) {
    return xs && xs.length ? xs.join(', ') : '–';
  }

  // No exit and no pool means every exit (as `hopgate user show` says), not none.
  function exitList(c) {
    if (!c.exits.length && !c.pools.length) return 'all exits';
    return list(c.exits) + (c.pools.length ? ' + ' + c.pools.length + ' pool(s)' : '');
  }

  function limits(c) {
    const out = [];
    if (c.maxConnections) out.push('conns ' + c.maxConnections);
    if (c.bandwidth && c.bandwidth.upBytesPerSec) out.push('up ' + bytes(c.bandwidth.upBytesPerSec) + '/s');
    if (c.bandwidth && c.bandwidth.downBytesPerSec) out.push('down ' + bytes(c.bandwidth.downBytesPerSec) + '/s');
    if (c.quota) out.push('quota ' + bytes(c.quota.bytes) + '/' + c.quota.period);
    return out.length ? out.join(', ') : '–';
  }

  function place(pl) {
    const parts = [pl.country, pl.state, pl.city, pl.asn ? 'AS' + pl.asn : null].filter(Boolean);
    return parts.length ? parts.join(' / ') : '–';
  }

  function splitList(s) {
    return s.split(/[\s,]+/).filter(Boolean);
  }

  // ------------------------------------------------------------ API

  function loadAuth() {
    try {
      const a = JSON.parse(sessionStorage.getItem(KEY) || 'null');
      if (a && a.kind === 'operator' && typeof a.token === 'string') return a;
      if (a && a.kind === 'customer' && typeof a.login === 'string' && typeof a.password === 'string') return a;
    } catch {
      /* not ours */
    }
    return null;
  }

  function authorization(a) {
    if (a.kind === 'operator') return 'Bearer ' + a.token;
    const utf8 = new TextEncoder().encode(a.login + ':' + a.password);
    let bin = '';
    for (const b of utf8) bin += String.fromCharCode(b);
    return 'Basic ' + btoa(bin);
  }

  async function api(method, path, body, as) {
    const a = as || auth;
    if (!a) throw Object.assign(new Error('not logged in'), { status: 401 });
    const started = session;
    const headers = { accept: 'application/json', authorization: authorization(a) };
    if (body !== undefined) headers['content-type'] = 'application/json';
    // credentials 'omit': no cookies, and no browser login prompt on a 401.
    const res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), credentials: 'omit', cache: 'no-store', redirect: 'error' });
    const text = await res.text();
    if (started !== session) throw Object.assign(new Error('logged out'), { stale: true });
    let data;
    try {
      data = text ? JSON.parse(text) : undefined;
    } catch {
      data = undefined;
    }
    if (!res.ok) {
      const msg = data && data.error && data.error.message ? data.error.message : 'HTTP ' + res.status;
      throw Object.assign(new Error(msg), { status: res.status });
    }
    return data;
  }

  function notice(msg, isError) {
    const n = $('notice');
    n.className = isError ? 'error' : 'ok';
    n.textContent = msg;
  }

  function showSecret(label, value) {
    $('secret-label').textContent = label;
    $('secret-value').textContent = value;
    $('secret').hidden = false;
  }

  /** Runs an action from a button; errors go to the notice line; 401 ends the session. */
  async function act(fn, done) {
    try {
      await fn();
      if (done) notice(done, false);
      await refresh();
    } catch (err) {
      failed(err);
    }
  }

  function failed(err) {
    if (err && err.stale) return;
    if (err && err.status === 401) {
      logout('The control plane refused the credentials: log in again.');
      return;
    }
    notice(String(err && err.message ? err.message : err), true);
  }

  // ------------------------------------------------------------ operator views

  async function overview() {
    const [rev, nodes, customers, exits, usage] = await Promise.all([
      api('GET', '/v1/revision'),
      api('GET', '/v1/ingress-nodes'),
      api('GET', '/v1/customers'),
      api('GET', '/v1/exits'),
      api('GET', '/v1/usage?by=minute'),
    ]);
    const suspended = customers.customers.filter((c) => c.status === 'suspended').length;
    const drained = exits.exits.filter((e) => e.drain).length;
    const t = usage.totals;
    render('overview-stats', null, () =>
      stats([
        ['Revision', String(rev.revision)],
        ['Customers', customers.customers.length + (suspended ? ' (' + suspended + ' suspended)' : '')],
        ['Exits', exits.exits.length + (drained ? ' (' + drained + ' drained)' : '')],
        ['Usage, last hour', bytes(t.bytesDown) + ' down, ' + bytes(t.bytesUp) + ' up, ' + t.connections + ' connections, ' + t.failures + ' failed'],
      ]),
      true,
    );
    render(
      'overview-nodes',
      null,
      () =>
        table(
          ['Id', 'Name', 'Acked revision', 'Last seen', 'Stats pulled', 'Admin URL', 'Token'],
          nodes.nodes.map((n) => [
            n.id,
            n.name,
            n.ackedRevision === null ? '–' : [String(n.ackedRevision), n.ackedRevision < rev.revision ? badge('behind', 'warn') : badge('current', 'good')],
            when(n.lastSeenAt),
            when(n.statsPulledAt),
            n.adminUrl || '–',
            n.tokenSet ? 'issued' : 'none',
          ]),
          'No ingress nodes registered.',
        ),
      true,
    );
  }

  async function customersView() {
    const data = await api('GET', '/v1/customers');
    render('customers-table', data.customers, (cs) =>
      table(
        ['Login', 'Status', 'Sources', 'Exits / pools', 'Limits', 'Id', ''],
        cs.map((c) =>
          el(
            'tr',
            { 'data-login': c.login, 'data-id': c.id },
            el('td', { class: 'login' }, c.login),
            el('td', { class: 'status' }, badge(c.status, c.status === 'active' ? 'good' : 'bad'), c.quotaExceededUntil ? badge('over quota', 'warn') : null),
            el('td', {}, list(c.sources), c.sourceAuth ? ' (no password)' : ''),
            el('td', {}, exitList(c)),
            el('td', {}, limits(c)),
            el('td', { class: 'id' }, c.id),
            el(
              'td',
              { class: 'actions' },
              c.status === 'active'
                ? button('Suspend', () => act(() => api('PATCH', '/v1/customers/' + encodeURIComponent(c.id), { status: 'suspended' }), c.login + ' suspended'), { 'data-action': 'suspend' })
                : button('Resume', () => act(() => api('PATCH', '/v1/customers/' + encodeURIComponent(c.id), { status: 'active' }), c.login + ' resumed'), { 'data-action': 'resume' }),
              button('Edit', () => openEdit(c), { 'data-action': 'edit' }),
              button('New password', () => rotateFor(c), { 'data-action': 'rotate' }),
              button('Delete', () => deleteCustomer(c), { 'data-action': 'delete', class: 'danger' }),
            ),
          ),
        ),
        'No customers yet.',
      ),
    );
  }

  function rotateFor(c) {
    if (!confirm('Replace the password of ' + c.login + '? The old one stops working.')) return;
    act(async () => {
      const r = await api('POST', '/v1/customers/' + encodeURIComponent(c.id) + '/credentials/rotate');
      showSecret('New password for ' + c.login + ':', r.password);
    });
  }

  function deleteCustomer(c) {
    if (!confirm('Delete customer ' + c.login + '?')) return;
    act(() => api('DELETE', '/v1/customers/' + encodeURIComponent(c.id)), c.login + ' deleted');
  }

  function openEdit(c) {
    const f = $('edit-form');
    editing = c.id;
    $('edit-login').textContent = c.login;
    f.elements.sources.value = c.sources.join(', ');
    f.elements.sourceAuth.checked = c.sourceAuth;
    f.elements.maxConnections.value = c.maxConnections === null ? '' : String(c.maxConnections);
    f.elements.up.value = c.bandwidth && c.bandwidth.upBytesPerSec ? String(c.bandwidth.upBytesPerSec) : '';
    f.elements.down.value = c.bandwidth && c.bandwidth.downBytesPerSec ? String(c.bandwidth.downBytesPerSec) : '';
    f.elements.quotaBytes.value = c.quota ? String(c.quota.bytes) : '';
    f.elements.quotaPeriod.value = c.quota ? c.quota.period : 'month';
    f.hidden = false;
    f.elements.sources.focus();
  }

  function closeEdit() {
    editing = null;
    $('edit-form').hidden = true;
  }

  function editPatch(f) {
    const num = (name) => (f.elements[name].value.trim() === '' ? null : Number(f.elements[name].value));
    const up = num('up');
    const down = num('down');
    const quota = num('quotaBytes');
    const bandwidth = up === null && down === null ? null : Object.assign({}, up === null ? {} : { upBytesPerSec: up }, down === null ? {} : { downBytesPerSec: down });
    return {
      sources: splitList(f.elements.sources.value),
      sourceAuth: f.elements.sourceAuth.checked,
      maxConnections: num('maxConnections'),
      bandwidth,
      quota: quota === null ? null : { bytes: quota, period: f.elements.quotaPeriod.value },
    };
  }

  async function exitsView() {
    const data = await api('GET', '/v1/exits');
    render('exits-table', data.exits, (xs) =>
      table(
        ['Id', 'Kind', 'Address', 'Egress IP', 'Place', 'Tags', 'Customers', 'State', ''],
        xs.map((x) =>
          el(
            'tr',
            { 'data-exit': x.id },
            el('td', {}, x.id),
            el('td', {}, x.kind),
            el('td', {}, x.kind === 'reverse' ? 'connects in' : x.host + ':' + x.port, x.via.length ? ' via ' + x.via.length + ' hop(s)' : ''),
            el('td', {}, [x.egressIp, x.egressIp6].filter(Boolean).join(' ') || '–'),
            el('td', { class: 'place' }, place(x)),
            el('td', { class: 'tags' }, x.tags.map((t) => badge(t, 'tag'))),
            el('td', {}, String(x.customers)),
            el('td', { class: 'state' }, x.drain ? badge('drained', 'warn') : badge('active', 'good')),
            el(
              'td',
              { class: 'actions' },
              x.drain
                ? button('Undrain', () => act(() => api('PATCH', '/v1/exits/' + encodeURIComponent(x.id), { drain: false }), x.id + ' back in service'), { 'data-action': 'undrain' })
                : button('Drain', () => act(() => api('PATCH', '/v1/exits/' + encodeURIComponent(x.id), { drain: true }), x.id + ' drained'), { 'data-action': 'drain' }),
              button('Delete', () => deleteExit(x), { 'data-action': 'delete', class: 'danger' }),
            ),
          ),
        ),
        'No exits yet (POST /v1/exits or hopgate exits add).',
      ),
    );
  }

  function deleteExit(x) {
    if (!confirm('Delete exit ' + x.id + '?')) return;
    act(async () => {
      const path = '/v1/exits/' + encodeURIComponent(x.id);
      try {
        await api('DELETE', path);
      } catch (err) {
        if (err.status !== 409 || !confirm(err.message + '\nRemove it from those customers too?')) throw err;
        await api('DELETE', path + '?force=true');
      }
    }, x.id + ' deleted');
  }

  // ------------------------------------------------------------ usage (tables and the bar chart)

  const STEP = { minute: 60e3, hour: 3600e3, day: 86400e3 };
  const WIDTH = { minute: 16, hour: 13, day: 10 };
  const PAD = { minute: ':00Z', hour: ':00:00Z', day: 'T00:00:00Z' };

  /** Total bytes per period over the window, empty periods included. */
  function series(by, from, rows) {
    const sum = new Map();
    for (const r of rows) {
      const s = sum.get(r.period) || { up: 0, down: 0 };
      s.up += r.bytesUp;
      s.down += r.bytesDown;
      sum.set(r.period, s);
    }
    const out = [];
    const start = Date.parse(from.slice(0, WIDTH[by]) + PAD[by]);
    if (Number.isFinite(start) && STEP[by]) {
      for (let t = start; t <= Date.now() && out.length < 400; t += STEP[by]) {
        const p = new Date(t).toISOString().slice(0, WIDTH[by]);
        out.push(Object.assign({ period: p }, sum.get(p) || { up: 0, down: 0 }));
        sum.delete(p);
      }
    }
    for (const [p, s] of sum) out.push(Object.assign({ period: p }, s)); // anything outside the window
    return out.sort((a, b) => (a.period < b.period ? -1 : a.period > b.period ? 1 : 0));
  }

  function chart(points) {
    const W = 720;
    const H = 180;
    const top = 16;
    const bottom = 20;
    const max = Math.max(1, ...points.map((p) => p.up + p.down));
    const bw = W / Math.max(1, points.length);
    const scale = (v) => (v / max) * (H - top - bottom);
    const g = svg('svg', { viewBox: '0 0 ' + W + ' ' + H, role: 'img', class: 'bars', 'aria-label': 'bytes per period' });
    g.appendChild(svg('title', {}, 'Bytes per period (down and up)'));
    points.forEach((p, i) => {
      const x = i * bw + bw * 0.1;
      const w = Math.max(1, bw * 0.8);
      const hd = scale(p.down);
      const hu = scale(p.up);
      const base = H - bottom;
      const bar = svg('g', { class: 'bar' });
      bar.appendChild(svg('title', {}, p.period + ' UTC: ' + bytes(p.down) + ' down, ' + bytes(p.up) + ' up'));
      bar.appendChild(svg('rect', { class: 'down', x: x.toFixed(1), y: (base - hd).toFixed(1), width: w.toFixed(1), height: hd.toFixed(1) }));
      bar.appendChild(svg('rect', { class: 'up', x: x.toFixed(1), y: (base - hd - hu).toFixed(1), width: w.toFixed(1), height: hu.toFixed(1) }));
      // An invisible full-height target so empty periods still show their tooltip.
      bar.appendChild(svg('rect', { class: 'hit', x: (i * bw).toFixed(1), y: 0, width: bw.toFixed(1), height: H }));
      g.appendChild(bar);
    });
    g.appendChild(svg('text', { x: 2, y: 11, class: 'label' }, 'max ' + bytes(max)));
    g.appendChild(svg('rect', { class: 'down', x: W - 92, y: 3, width: 9, height: 9 }));
    g.appendChild(svg('text', { x: W - 80, y: 11, class: 'label' }, 'down'));
    g.appendChild(svg('rect', { class: 'up', x: W - 44, y: 3, width: 9, height: 9 }));
    g.appendChild(svg('text', { x: W - 32, y: 11, class: 'label' }, 'up'));
    if (points.length) {
      g.appendChild(svg('text', { x: 2, y: H - 5, class: 'label' }, points[0].period));
      g.appendChild(svg('text', { x: W - 2, y: H - 5, class: 'label end' }, points[points.length - 1].period));
    }
    return g;
  }

  function grouped(rows, field) {
    const m = new Map();
    for (const r of rows) {
      const k = r[field] === '' ? '(none)' : r[field]; // no exit carried them (refused before routing, or an ingress without exits)
      const s = m.get(k) || { key: k, up: 0, down: 0, conns: 0, fails: 0 };
      s.up += r.bytesUp;
      s.down += r.bytesDown;
      s.conns += r.connections;
      s.fails += r.failures;
      m.set(k, s);
    }
    return [...m.values()].sort((a, b) => b.up + b.down - (a.up + a.down));
  }

  async function usageView() {
    const by = $('usage-by').value;
    const group = $('usage-group').value;
    const u = await api('GET', '/v1/usage?by=' + encodeURIComponent(by));
    render('usage-chart', null, () => chart(series(by, u.from, u.rows)), true);
    render('usage-table', { group, rows: u.rows, totals: u.totals }, (d) => {
      const g = grouped(d.rows, group);
      return table(
        [group === 'login' ? 'Customer' : 'Exit', 'Down', 'Up', 'Connections', 'Failed'],
        g
          .map((s) => [s.key, bytes(s.down), bytes(s.up), String(s.conns), String(s.fails)])
          .concat(g.length ? [[el('strong', {}, 'Total'), bytes(d.totals.bytesDown), bytes(d.totals.bytesUp), String(d.totals.connections), String(d.totals.failures)]] : []),
        'No traffic in this window.',
      );
    });
  }

  // ------------------------------------------------------------ customer self-service

  async function meView() {
    const [me, u] = await Promise.all([api('GET', '/v1/me'), api('GET', '/v1/me/usage?by=hour')]);
    render('me-profile', [me, u.quotaPeriod], () =>
      stats([
        ['Login', me.login],
        ['Status', badge(me.status, me.status === 'active' ? 'good' : 'bad')],
        ['Sources', list(me.sources) + (me.sourceAuth ? ' (no password needed from these)' : '')],
        ['Exits', exitList(me)],
        ['Limits', limits(me)],
        ['Quota this period', u.quotaPeriod ? bytes(u.quotaPeriod.used) + ' used in ' + u.quotaPeriod.period + (u.quotaPeriod.exceededUntil ? ' (exceeded until ' + u.quotaPeriod.exceededUntil + ')' : '') : '–'],
        ['Password changed', me.passwordChangedAt || '–'],
      ]),
    );
    const from = new Date(Date.now() - 48 * 3600e3).toISOString();
    render('me-chart', null, () => chart(series('hour', from, u.usage)), true);
    render('me-usage', u.usage, (rows) => {
      const g = grouped(rows, 'exitId');
      return table(['Exit', 'Down', 'Up', 'Connections', 'Failed'], g.map((s) => [s.key, bytes(s.down), bytes(s.up), String(s.conns), String(s.fails)]), 'No traffic in the last 48 hours.');
    });
  }

  // ------------------------------------------------------------ navigation, refresh, login

  function currentView() {
    if (!auth) return null;
    if (auth.kind === 'customer') return 'me';
    const h = location.hash.replace(/^#/, '');
    return OPERATOR_VIEWS.includes(h) ? h : 'overview';
  }

  const LOADERS = { overview, customers: customersView, exits: exitsView, usage: usageView, me: meView };

  async function refresh() {
    clearTimeout(timer);
    const v = currentView();
    if (!v) return;
    try {
      if (!document.hidden) {
        await LOADERS[v]();
        $('refreshed').textContent = 'Updated ' + new Date().toLocaleTimeString() + ' · every ' + REFRESH_MS / 1000 + ' s';
      }
    } catch (err) {
      failed(err);
    }
    if (auth) timer = setTimeout(refresh, REFRESH_MS);
  }

  function show() {
    const v = currentView();
    $('login').hidden = v !== null;
    $('logout').hidden = v === null;
    $('nav').hidden = !auth || auth.kind !== 'operator';
    for (const s of document.querySelectorAll('.view')) s.hidden = s.id !== 'view-' + v;
    for (const b of document.querySelectorAll('#nav button')) b.setAttribute('aria-current', b.dataset.view === v ? 'page' : 'false');
    $('who').textContent = !auth ? '' : auth.kind === 'operator' ? 'operator' : 'customer ' + auth.login;
    if (v) refresh();
  }

  function logout(msg) {
    clearTimeout(timer);
    session++;
    auth = null;
    sessionStorage.removeItem(KEY);
    closeEdit();
    lastRender.clear();
    for (const id of ['overview-stats', 'overview-nodes', 'customers-table', 'exits-table', 'usage-chart', 'usage-table', 'me-profile', 'me-chart', 'me-usage']) $(id).replaceChildren();
    $('secret').hidden = true;
    $('secret-value').textContent = '';
    $('refreshed').textContent = '';
    notice(msg || '', Boolean(msg));
    show();
  }

  function loginKind() {
    return $('login-form').elements.kind.value;
  }

  function syncLoginFields() {
    const k = loginKind();
    for (const p of document.querySelectorAll('.for-operator')) p.hidden = k !== 'operator';
    for (const p of document.querySelectorAll('.for-customer')) p.hidden = k !== 'customer';
  }

  async function onLogin(ev) {
    ev.preventDefault();
    const f = ev.target;
    const candidate =
      loginKind() === 'operator'
        ? { kind: 'operator', token: f.elements.token.value.trim() }
        : { kind: 'customer', login: f.elements.login.value.trim(), password: f.elements.password.value };
    $('login-error').textContent = '';
    try {
      await api('GET', candidate.kind === 'operator' ? '/v1/revision' : '/v1/me', undefined, candidate);
    } catch (err) {
      $('login-error').textContent = err.status === 401 || err.status === 403 ? 'Not accepted: ' + err.message : String(err.message || err);
      return;
    }
    f.reset();
    syncLoginFields();
    auth = candidate;
    sessionStorage.setItem(KEY, JSON.stringify(auth));
    notice('', false);
    show();
  }

  async function onCreate(ev) {
    ev.preventDefault();
    const f = ev.target;
    const body = { login: f.elements.login.value.trim(), sources: splitList(f.elements.sources.value), exits: splitList(f.elements.exits.value) };
    try {
      const r = await api('POST', '/v1/customers', body);
      f.reset();
      showSecret('Password for ' + r.customer.login + ':', r.password);
      notice('Customer ' + r.customer.login + ' created', false);
      await refresh();
    } catch (err) {
      failed(err);
    }
  }

  async function onEdit(ev) {
    ev.preventDefault();
    if (!editing) return;
    const id = editing;
    try {
      const c = await api('PATCH', '/v1/customers/' + encodeURIComponent(id), editPatch(ev.target));
      closeEdit();
      notice(c.login + ' saved', false);
      await refresh();
    } catch (err) {
      failed(err);
    }
  }

  function onRotateMine() {
    if (!confirm('Replace your password? Proxy clients using the old one stop working.')) return;
    act(async () => {
      const r = await api('POST', '/v1/me/credentials/rotate');
      auth = { kind: 'customer', login: auth.login, password: r.password };
      sessionStorage.setItem(KEY, JSON.stringify(auth));
      showSecret('Your new password:', r.password);
    });
  }

  function init() {
    const nav = $('nav');
    for (const v of OPERATOR_VIEWS) {
      nav.appendChild(button(v[0].toUpperCase() + v.slice(1), () => {
        location.hash = v;
      }, { 'data-view': v }));
    }
    window.addEventListener('hashchange', show);
    document.addEventListener('visibilitychange', () => {
      if (!document.hidden) refresh();
    });
    $('login-form').addEventListener('submit', onLogin);
    $('login-form').addEventListener('change', syncLoginFields);
    $('create-form').addEventListener('submit', onCreate);
    $('edit-form').addEventListener('submit', onEdit);
    $('edit-cancel').addEventListener('click', closeEdit);
    $('usage-form').addEventListener('submit', (ev) => ev.preventDefault());
    $('usage-form').addEventListener('change', () => refresh());
    $('logout').addEventListener('click', () => logout());
    $('me-rotate').addEventListener('click', onRotateMine);
    $('secret-dismiss').addEventListener('click', () => {
      $('secret').hidden = true;
      $('secret-value').textContent = '';
    });
    syncLoginFields();
    show();
  }

  init();
})();
