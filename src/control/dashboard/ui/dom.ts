/**
 * Text-only DOM building: API data reaches the page as text nodes and attribute values, never
 * as markup (the page runs under Trusted Types with no policy, so an HTML sink would throw).
 */
export type Child = Node | string | number | null | undefined | false | Child[];
type Attrs = Record<string, string | number | boolean | null | undefined | ((ev: Event) => void)>;

export const $ = <T extends HTMLElement = HTMLElement>(id: string): T => {
  const e = document.getElementById(id);
  if (!e) throw new Error(`dashboard: #${id} missing from index.html`);
  return e as T;
};

export function add(parent: Node, c: Child): void {
  if (c === undefined || c === null || c === false) return;
  if (Array.isArray(c)) for (const x of c) add(parent, x);
  else if (c instanceof Node) parent.appendChild(c);
  else parent.appendChild(document.createTextNode(String(c)));
}

export function el<K extends keyof HTMLElementTagNameMap>(tag: K, attrs?: Attrs, ...children: Child[]): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs ?? {})) {
    if (v === undefined || v === null || v === false) continue;
    if (typeof v === 'function') e.addEventListener(k.replace(/^on/, ''), v);
    else if (k === 'class') e.className = String(v);
    else e.setAttribute(k, v === true ? '' : String(v));
  }
  add(e, children);
  return e;
}

const SVG_NS = 'http://www.w3.org/2000/svg';
export function svg(tag: string, attrs?: Record<string, string | number>, ...children: (Node | string)[]): SVGElement {
  const e: SVGElement = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs ?? {})) e.setAttribute(k, String(v));
  for (const c of children) e.appendChild(typeof c === 'string' ? document.createTextNode(c) : c);
  return e;
}

export type Row = Node | Child[];
/** A table in its own scrolling box (.scroll): a wide table never widens the page on a phone. */
export function table(head: string[], rows: Row[], empty: string, attrs?: Attrs): HTMLElement {
  if (rows.length === 0) return el('p', { class: 'empty' }, empty);
  return el(
    'div',
    { class: 'scroll' },
    el(
      'table',
      attrs,
      el('thead', {}, el('tr', {}, head.map((h) => el('th', {}, h)))),
      el('tbody', {}, rows.map((r) => (r instanceof Node ? r : el('tr', {}, r.map((c, i) => el('td', { 'data-label': head[i] ?? '' }, c)))))),
    ),
  );
}

export function stats(pairs: [string, Child][]): DocumentFragment {
  const f = document.createDocumentFragment();
  for (const [k, v] of pairs) f.append(el('dt', {}, k), el('dd', {}, v));
  return f;
}

export function badge(text: string, kind: string): HTMLElement {
  return el('span', { class: `badge ${kind}` }, text);
}

export function button(label: string, onclick: () => void, attrs?: Attrs): HTMLButtonElement {
  return el('button', { type: 'button', onclick, ...attrs }, label);
}

export function link(label: string, hash: string, attrs?: Attrs): HTMLAnchorElement {
  return el('a', { href: `#${hash}`, ...attrs }, label);
}

/** Rebuilds a container unless the data it shows is unchanged (keeps focus, scroll and clicks steady across refreshes). */
const lastRender = new Map<string, string>();
export function render<T>(id: string, data: T, build: (d: T) => Node, always = false): void {
  const key = JSON.stringify(data);
  if (!always && lastRender.get(id) === key) return;
  lastRender.set(id, key);
  $(id).replaceChildren(build(data));
}
/** Empties every container render() filled and forgets what they showed (log out: nothing of the last session stays in the page). */
export function clearRenders(): void {
  for (const id of lastRender.keys()) $(id).replaceChildren();
  lastRender.clear();
}

/** A form's named control (input, select, textarea). */
export function field(form: HTMLFormElement, name: string): HTMLInputElement {
  const f = form.elements.namedItem(name);
  if (!(f instanceof HTMLInputElement || f instanceof HTMLSelectElement || f instanceof HTMLTextAreaElement)) throw new Error(`dashboard: form field ${name} missing`);
  return f as HTMLInputElement;
}

/** The checked value of a radio group. */
export function radio(form: HTMLFormElement, name: string): string {
  const f = form.elements.namedItem(name);
  if (f instanceof RadioNodeList) return f.value;
  if (f instanceof HTMLInputElement) return f.checked ? f.value : '';
  throw new Error(`dashboard: radio group ${name} missing`);
}
