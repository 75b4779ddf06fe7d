/**
 * The exit page's health (#exit/<id>, GET /v1/exits/{id}/health-history): each ingress node's
 * latest report and probe, an up/down timeline per node across the chosen window, the probes
 * per minute (ok and failed bars, mean latency in each bar's tooltip) and the transitions.
 * Raw figures ride in data-* attributes for scripts and tests.
 */
import { api, enc } from './api.js';
import type { HealthHistory } from './api-types.js';
import { $, badge, el, render, svg, table } from './dom.js';
import { ago } from './format.js';
import { HEALTH_RANGES, isHealthRange, probeBars, timeline, type HealthRangeId, type ProbeBar } from './health-series.js';
import { kick } from './shell.js';

const W = 720;
const H = 120;
const STATE_BADGE = { up: 'good', down: 'bad', draining: 'warn' } as const;

let chosen: HealthRangeId = '24h';

function picker(): HTMLElement {
  const box = el('div', { class: 'range', role: 'group', 'aria-label': 'health time range' });
  const sync = (): void => {
    for (const b of box.querySelectorAll('button')) b.setAttribute('aria-pressed', String(b.dataset.range === chosen));
  };
  for (const [id, r] of Object.entries(HEALTH_RANGES)) {
    box.appendChild(el('button', { type: 'button', 'data-range': id, onclick: () => {
      if (!isHealthRange(id)) return;
      chosen = id;
      sync();
      kick();
    } }, r.label));
  }
  sync();
  return box;
}

/** One track per node, segments placed in % of the window (CSSOM, allowed under the page's CSP): crisp at any width. */
function timelineTracks(h: HealthHistory, startMs: number, endMs: number): HTMLElement {
  const lines = timeline(h, startMs, endMs);
  if (lines.size === 0) return el('p', { class: 'empty' }, 'No ingress has reported this exit yet.');
  const span = Math.max(1, endMs - startMs);
  const pct = (ms: number): string => `${(((ms - startMs) / span) * 100).toFixed(3)}%`;
  const box = el('div', { class: 'timeline', role: 'img', 'aria-label': 'up/down timeline per ingress node' });
  for (const [node, segs] of lines) {
    const track = el('div', { class: 'track' });
    for (const s of segs) {
      const from = new Date(s.fromMs).toISOString();
      const to = new Date(s.toMs).toISOString();
      const seg = el('span', { class: `seg ${s.state}`, title: `${node}: ${s.state} from ${from} to ${to}`, 'data-state': s.state, 'data-from': from, 'data-to': to });
      seg.style.left = pct(s.fromMs);
      seg.style.width = `${(((s.toMs - s.fromMs) / span) * 100).toFixed(3)}%`;
      track.appendChild(seg);
    }
    box.appendChild(el('div', { class: 'node', 'data-node': node }, el('span', { class: 'name' }, node), track));
  }
  box.appendChild(el('div', { class: 'axis' }, el('span', {}, `${new Date(startMs).toISOString().slice(0, 16).replace('T', ' ')} UTC`), el('span', {}, 'now')));
  return box;
}

function probesSvg(bars: readonly ProbeBar[]): HTMLElement {
  const ok = bars.reduce((s, b) => s + b.ok, 0);
  const failed = bars.reduce((s, b) => s + b.failed, 0);
  const max = Math.max(1, ...bars.map((b) => b.ok + b.failed));
  const bw = W / Math.max(1, bars.length);
  const scale = (v: number): number => (v / max) * (H - 30);
  const g = svg('svg', { viewBox: `0 0 ${W} ${H}`, role: 'img', class: 'bars', 'aria-label': 'probes', preserveAspectRatio: 'none' });
  bars.forEach((b, i) => {
    const bar = svg('g', { class: 'bar', 'data-period': b.start, 'data-ok': b.ok, 'data-failed': b.failed });
    bar.appendChild(svg('title', {}, `${b.start} UTC (${b.minutes} min): ${b.ok} ok, ${b.failed} failed${b.latencyMs !== null ? `, mean ${b.latencyMs} ms` : ''}`));
    let base = H - 16;
    for (const [cls, v] of [['ok', b.ok], ['fails', b.failed]] as const) {
      const hgt = scale(v);
      bar.appendChild(svg('rect', { class: cls, x: (i * bw + bw * 0.1).toFixed(2), y: (base - hgt).toFixed(2), width: Math.max(0.5, bw * 0.8).toFixed(2), height: hgt.toFixed(2) }));
      base -= hgt;
    }
    bar.appendChild(svg('rect', { class: 'hit', x: (i * bw).toFixed(2), y: 0, width: bw.toFixed(2), height: H }));
    g.appendChild(bar);
  });
  g.appendChild(svg('text', { x: 2, y: 11, class: 'label' }, `Probes per ${bars[0]?.minutes ?? 1} min · max ${max}`));
  const latencies = bars.filter((b) => b.latencyMs !== null);
  const mean = latencies.length ? Math.round((latencies.reduce((s, b) => s + b.latencyMs! * b.ok, 0) / Math.max(1, latencies.reduce((s, b) => s + b.ok, 0))) * 10) / 10 : null;
  return el(
    'div',
    { class: 'charts' },
    el('p', { class: 'totals', 'data-ok': ok, 'data-failed': failed, 'data-bars': bars.length, 'data-latency-ms': mean ?? '' }, `${ok} probes ok · ${failed} failed${mean !== null ? ` · mean ${mean} ms` : ''}`),
    el('div', { class: 'chart', 'data-chart': 'probes' }, g),
  );
}

export async function healthPanel(exitId: string): Promise<void> {
  const box = $('exit-health-range');
  if (!box.firstChild) box.appendChild(picker());
  const range = chosen;
  const h = await api<HealthHistory>('GET', `/v1/exits/${enc(exitId)}/health-history?range=${HEALTH_RANGES[range].range}`);
  const endMs = Date.now();
  const startMs = Date.parse(`${h.from}:00Z`);
  render('exit-health-now', [h.exit, h.health, h.nodes], () =>
    el(
      'div',
      {},
      el('p', { 'data-health': h.health }, 'Now: ', badge(h.health, STATE_BADGE[h.health]), ' as the ingresses last reported'),
      table(
        ['Ingress', 'State', 'Reported', 'Last probe'],
        h.nodes.map((n) =>
          el(
            'tr',
            { 'data-node': n.node, 'data-state': n.state },
            el('td', { 'data-label': 'Ingress' }, n.node),
            el('td', { 'data-label': 'State', class: 'state' }, badge(n.state, STATE_BADGE[n.state]), n.fresh ? null : badge('stale', 'tag')),
            el('td', { 'data-label': 'Reported' }, ago(n.reportedAt)),
            el('td', { 'data-label': 'Last probe', class: 'probe' }, n.lastProbe ? `${n.lastProbe.ok ? `ok, ${n.lastProbe.latencyMs ?? '?'} ms` : `failed: ${n.lastProbe.error ?? ''}`} (${ago(n.lastProbe.at)})` : '–'),
          ),
        ),
        'No ingress has reported this exit yet.',
      ),
    ),
  );
  // Drawn again on every refresh: the window's end is now.
  render('exit-health-timeline', null, () => timelineTracks(h, startMs, endMs), true);
  render('exit-health-chart', null, () => probesSvg(probeBars(h.series, startMs, endMs)), true);
  render('exit-health-transitions', [range, h.transitions, h.truncated], () =>
    el(
      'div',
      {},
      table(
        ['At (UTC)', 'Ingress', 'Change', 'Reason'],
        h.transitions
          .slice()
          .reverse()
          .map((t) => el('tr', { 'data-to': t.to, 'data-at': t.at }, el('td', { 'data-label': 'At (UTC)' }, t.at.replace('T', ' ').slice(0, 19)), el('td', { 'data-label': 'Ingress' }, t.node), el('td', { 'data-label': 'Change', class: 'change' }, `${t.from} → ${t.to}`), el('td', { 'data-label': 'Reason' }, t.reason))),
        'No up/down transition in this range.',
      ),
      h.truncated ? el('p', { class: 'hint' }, 'Only the newest transitions are shown: pick a shorter range.') : null,
    ),
  );
}
