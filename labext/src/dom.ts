/**
 * A tiny DOM builder. User data only ever goes in as text nodes or attribute
 * values, never through innerHTML, so a run named `<img onerror=...>` shows as text.
 */

export type Child = Node | string | number | null | undefined | false;

export interface Attrs {
  class?: string;
  title?: string;
  role?: string;
  tabIndex?: number;
  dataset?: Record<string, string>;
  aria?: Record<string, string>;
  style?: Partial<Record<string, string>>;
  on?: Partial<{ [K in keyof HTMLElementEventMap]: (ev: HTMLElementEventMap[K]) => void }>;
  /** Other attributes, set with setAttribute (values are strings, never markup). */
  attrs?: Record<string, string>;
}

/** Append children: strings and numbers become text nodes. */
export function append(el: Node, ...children: Child[]): void {
  for (const c of children) {
    if (c === null || c === undefined || c === false) {
      continue;
    }
    el.appendChild(typeof c === 'string' || typeof c === 'number' ? document.createTextNode(String(c)) : c);
  }
}

/** Create an element with attributes and children. */
export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Attrs | null = null,
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  if (attrs) {
    if (attrs.class) {
      el.className = attrs.class;
    }
    if (attrs.title !== undefined) {
      el.title = attrs.title;
    }
    if (attrs.role) {
      el.setAttribute('role', attrs.role);
    }
    if (attrs.tabIndex !== undefined) {
      el.tabIndex = attrs.tabIndex;
    }
    for (const [k, v] of Object.entries(attrs.dataset ?? {})) {
      el.dataset[k] = v;
    }
    for (const [k, v] of Object.entries(attrs.aria ?? {})) {
      el.setAttribute(`aria-${k}`, v);
    }
    for (const [k, v] of Object.entries(attrs.style ?? {})) {
      if (v !== undefined) {
        el.style.setProperty(k, v);
      }
    }
    for (const [k, v] of Object.entries(attrs.attrs ?? {})) {
      el.setAttribute(k, v);
    }
    for (const [k, fn] of Object.entries(attrs.on ?? {})) {
      if (fn) {
        el.addEventListener(k, fn as EventListener);
      }
    }
  }
  append(el, ...children);
  return el;
}

const SVG_NS = 'http://www.w3.org/2000/svg';

/** Create an SVG element; attribute values are set with setAttribute. */
export function s<K extends keyof SVGElementTagNameMap>(
  tag: K,
  attrs: Record<string, string | number> = {},
  ...children: Child[]
): SVGElementTagNameMap[K] {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs)) {
    el.setAttribute(k, String(v));
  }
  append(el, ...children);
  return el;
}

/** Remove every child. */
export function clear(el: Element): void {
  while (el.firstChild) {
    el.removeChild(el.firstChild);
  }
}

/** A button with a label, a click handler and an optional title. */
export function button(
  label: string,
  onClick: (ev: MouseEvent) => void,
  opts: { title?: string; cls?: string; disabled?: boolean } = {}
): HTMLButtonElement {
  const b = h(
    'button',
    {
      class: `jp-tracker-button ${opts.cls ?? ''}`.trim(),
      title: opts.title,
      attrs: { type: 'button' },
      on: { click: onClick }
    },
    label
  );
  b.disabled = !!opts.disabled;
  return b;
}

/** A `<details>` section with a summary, open or closed. */
export function section(title: Child, open: boolean, ...body: Child[]): HTMLDetailsElement {
  const d = h('details', { class: 'jp-tracker-section' }, h('summary', null, title), ...body);
  d.open = open;
  return d;
}

/** A two-column key/value table. */
export function kvTable(rows: Array<[Child, Child]>, cls = ''): HTMLTableElement {
  const body = h('tbody');
  for (const [k, v] of rows) {
    body.appendChild(h('tr', null, h('th', { attrs: { scope: 'row' } }, k), h('td', null, v)));
  }
  return h('table', { class: `jp-tracker-kv ${cls}`.trim() }, body);
}
