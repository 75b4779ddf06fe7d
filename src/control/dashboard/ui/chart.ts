/**
 * Small SVG bar charts of a usage series (no chart library): bytes (down and up stacked),
 * connections and failures, one chart each, with the range's totals above them as text.
 * Each bar carries its period and values in data-* attributes and a <title> tooltip.
 */
import { el, svg } from './dom.js';
import { bytes } from './format.js';
import { totals, type Point } from './series.js';

interface Part {
  key: 'bytesDown' | 'bytesUp' | 'connections' | 'failures';
  cls: string;
  label: string;
}
const W = 720;
const H = 150;
const TOP = 16;
const BOTTOM = 18;

function bars(points: readonly Point[], parts: Part[], title: string, fmt: (n: number) => string): SVGElement {
  const value = (p: Point): number => parts.reduce((s, part) => s + p[part.key], 0);
  const max = Math.max(1, ...points.map(value));
  const bw = W / Math.max(1, points.length);
  const scale = (v: number): number => (v / max) * (H - TOP - BOTTOM);
  const g = svg('svg', { viewBox: `0 0 ${W} ${H}`, role: 'img', class: 'bars', 'aria-label': title, preserveAspectRatio: 'none' });
  g.appendChild(svg('title', {}, title));
  points.forEach((p, i) => {
    const x = i * bw + bw * 0.1;
    const w = Math.max(0.5, bw * 0.8);
    let base = H - BOTTOM;
    const bar = svg('g', { class: 'bar', 'data-period': p.period, 'data-value': value(p) });
    bar.appendChild(svg('title', {}, `${p.period} UTC: ${parts.map((part) => `${fmt(p[part.key])} ${part.label}`).join(', ')}`));
    for (const part of parts) {
      const h = scale(p[part.key]);
      bar.appendChild(svg('rect', { class: part.cls, x: x.toFixed(2), y: (base - h).toFixed(2), width: w.toFixed(2), height: h.toFixed(2) }));
      base -= h;
    }
    // An invisible full-height target so that empty periods still show their tooltip.
    bar.appendChild(svg('rect', { class: 'hit', x: (i * bw).toFixed(2), y: 0, width: bw.toFixed(2), height: H }));
    g.appendChild(bar);
  });
  g.appendChild(svg('text', { x: 2, y: 11, class: 'label' }, `${title} · max ${fmt(max)}`));
  if (points.length) {
    g.appendChild(svg('text', { x: 2, y: H - 4, class: 'label' }, points[0]!.period));
    g.appendChild(svg('text', { x: W - 2, y: H - 4, class: 'label end' }, points[points.length - 1]!.period));
  }
  return g;
}

/** The three charts and the totals line (data-* hold raw numbers for scripts and tests). */
export function usageCharts(points: readonly Point[]): HTMLElement {
  const t = totals(points);
  return el(
    'div',
    { class: 'charts' },
    el(
      'p',
      { class: 'totals', 'data-bytes-down': t.bytesDown, 'data-bytes-up': t.bytesUp, 'data-connections': t.connections, 'data-failures': t.failures, 'data-points': points.length },
      `${bytes(t.bytesDown)} down · ${bytes(t.bytesUp)} up · ${t.connections} connections · ${t.failures} failed`,
    ),
    el('div', { class: 'chart', 'data-chart': 'bytes' }, bars(points, [{ key: 'bytesDown', cls: 'down', label: 'down' }, { key: 'bytesUp', cls: 'up', label: 'up' }], 'Bytes (down + up)', bytes)),
    el('div', { class: 'chart', 'data-chart': 'connections' }, bars(points, [{ key: 'connections', cls: 'conns', label: 'connections' }], 'Connections', String)),
    el('div', { class: 'chart', 'data-chart': 'failures' }, bars(points, [{ key: 'failures', cls: 'fails', label: 'failed' }], 'Failures', String)),
  );
}
