/** The 1 h / 24 h / 7 d / 30 d buttons above a chart; the choice is kept per chart for the tab. */
import { el } from './dom.js';
import { RANGES, isRange, type RangeId } from './series.js';

const chosen = new Map<string, RangeId>();
export function rangeOf(chart: string): RangeId {
  return chosen.get(chart) ?? '24h';
}

export function rangePicker(chart: string, onChange: () => void): HTMLElement {
  const box = el('div', { class: 'range', role: 'group', 'aria-label': 'time range', 'data-range-for': chart });
  const sync = (): void => {
    for (const b of box.querySelectorAll('button')) b.setAttribute('aria-pressed', String(b.dataset.range === rangeOf(chart)));
  };
  for (const [id, r] of Object.entries(RANGES)) {
    box.appendChild(
      el('button', {
        type: 'button',
        'data-range': id,
        onclick: () => {
          if (!isRange(id)) return;
          chosen.set(chart, id);
          sync();
          onChange();
        },
      }, r.label),
    );
  }
  sync();
  return box;
}
