/**
 * The runs table: server-side filter, sort and paging, a virtualised body (only the
 * rows in view exist in the DOM), multi-select for comparison, full keyboard use.
 */

import type { RunsQuery } from './api';
import type { PanelContext, View } from './context';
import { button, clear, h } from './dom';
import { formatAgo, formatDuration, formatTime, formatValue } from './format';
import type { RunSummary } from './types';
import { PageCache, pagesFor, visibleWindow } from './virtual';

export const ROW_HEIGHT = 28;

interface Column {
  id: string;
  label: string;
  /** Server sort key (none: not sortable). */
  sort?: string;
  width: string;
  cell(run: RunSummary): Node | string;
  numeric?: boolean;
}

const KIND_FILTERS: Array<{ label: string; value: string }> = [
  { label: 'All but trials', value: 'default' },
  { label: 'Runs', value: 'run' },
  { label: 'Sessions', value: 'session' },
  { label: 'Searches', value: 'search' },
  { label: 'Trials', value: 'trial' },
  { label: 'Cells', value: 'cell' },
  { label: 'Everything', value: 'all' }
];

const STATUS_FILTERS = ['', 'running', 'finished', 'failed', 'interrupted'];

/** The most frequent keys across rows, most frequent first (ties by name). */
export function commonKeys(rows: Array<Record<string, unknown>>, n: number): string[] {
  const counts = new Map<string, number>();
  for (const r of rows) {
    for (const k of Object.keys(r)) {
      counts.set(k, (counts.get(k) ?? 0) + 1);
    }
  }
  return [...counts.entries()]
    .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))
    .slice(0, n)
    .map(e => e[0]);
}

function statusBadge(status: string): HTMLElement {
  return h('span', { class: `jp-tracker-status jp-mod-${status}`, title: status }, status);
}

export class RunsTable implements View {
  readonly node: HTMLElement;
  readonly title = 'Runs';
  readonly live = true;
  /** Milliseconds from the first refresh to the first painted rows (the benchmark reads it). */
  firstRenderMs: number | null = null;

  private started: number | null = null;
  private cache: PageCache<RunSummary>;
  private query: RunsQuery = {};
  private order = 'start_time desc';
  private columns: Column[] = [];
  private selected = new Set<string>();
  private active = 0;
  private scroller: HTMLElement;
  private spacer: HTMLElement;
  private header: HTMLElement;
  private countLabel: HTMLElement;
  private compareButton: HTMLButtonElement;
  private filterInput: HTMLInputElement;
  private filterError: HTMLElement;
  private kindSelect: HTMLSelectElement;
  private statusSelect: HTMLSelectElement;
  private searchInput: HTMLInputElement;
  private frame = 0;
  private columnsFixed = false;
  private disposed = false;
  private readonly idPrefix = `jp-tracker-row-${Math.random().toString(36).slice(2, 8)}`;

  constructor(private readonly ctx: PanelContext) {
    this.cache = new PageCache<RunSummary>(ctx.settings.pageSize, (offset, limit) =>
      ctx.api.runs({ ...this.query, orderBy: [this.order], offset, limit }).then(p => ({ rows: p.runs, total: p.total }))
    );
    this.searchInput = h('input', {
      class: 'jp-tracker-input jp-tracker-search',
      attrs: { type: 'search', placeholder: 'Search names', 'aria-label': 'Search run names' },
      on: { input: () => this.debouncedApply() }
    });
    this.filterInput = h('input', {
      class: 'jp-tracker-input jp-tracker-filter',
      attrs: {
        type: 'text',
        placeholder: "Filter, e.g. metrics.accuracy > 0.9 and params.kernel = 'rbf'",
        'aria-label': 'Filter expression',
        spellcheck: 'false'
      },
      on: {
        keydown: (ev: KeyboardEvent) => {
          if (ev.key === 'Enter') {
            void this.apply();
          }
        }
      }
    });
    this.filterError = h('div', { class: 'jp-tracker-error', role: 'alert' });
    this.kindSelect = h(
      'select',
      { class: 'jp-tracker-select', aria: { label: 'Kinds of run' }, on: { change: () => void this.apply() } },
      ...KIND_FILTERS.map(k => h('option', { attrs: { value: k.value } }, k.label))
    );
    this.statusSelect = h(
      'select',
      { class: 'jp-tracker-select', aria: { label: 'Status' }, on: { change: () => void this.apply() } },
      ...STATUS_FILTERS.map(st => h('option', { attrs: { value: st } }, st || 'Any status'))
    );
    this.compareButton = button('Compare', () => this.compare(), {
      title: 'Compare the selected runs (select two or more with Space or the checkboxes)',
      disabled: true
    });
    this.countLabel = h('span', { class: 'jp-tracker-count', aria: { live: 'polite' } });
    this.header = h('div', { class: 'jp-tracker-row jp-tracker-header', role: 'row' });
    this.spacer = h('div', { class: 'jp-tracker-spacer' });
    this.scroller = h(
      'div',
      {
        class: 'jp-tracker-scroller',
        role: 'grid',
        tabIndex: 0,
        aria: { label: 'Runs', multiselectable: 'true' },
        on: {
          scroll: () => this.schedule(),
          keydown: (ev: KeyboardEvent) => this.onKey(ev)
        }
      },
      this.header,
      this.spacer
    );
    this.node = h(
      'div',
      { class: 'jp-tracker-runs' },
      h(
        'div',
        { class: 'jp-tracker-toolbar' },
        this.searchInput,
        this.kindSelect,
        this.statusSelect,
        this.compareButton,
        this.countLabel
      ),
      h('div', { class: 'jp-tracker-toolbar' }, this.filterInput),
      this.filterError,
      h('div', { class: 'jp-tracker-table', role: 'presentation' }, this.scroller)
    );
    this.readQuery();
    this.setColumns([], []);
    if (typeof ResizeObserver !== 'undefined') {
      new ResizeObserver(() => this.schedule()).observe(this.scroller);
    }
  }

  /** Rows currently in the DOM (the virtualisation keeps this small). */
  get renderedRows(): number {
    return this.spacer.children.length;
  }

  get total(): number {
    return this.cache.total;
  }

  private debounce = 0;
  private debouncedApply(): void {
    window.clearTimeout(this.debounce);
    this.debounce = window.setTimeout(() => void this.apply(), 250);
  }

  private readQuery(): void {
    const kind = this.kindSelect.value;
    const q: RunsQuery = {
      filter: this.filterInput.value.trim() || undefined,
      q: this.searchInput.value.trim() || undefined,
      status: this.statusSelect.value ? [this.statusSelect.value] : undefined
    };
    if (kind === 'default') {
      q.excludeKind = this.ctx.settings.hideKinds.length ? this.ctx.settings.hideKinds : undefined;
    } else if (kind !== 'all') {
      q.kind = [kind];
    }
    this.query = q;
  }

  /** Apply the toolbar's filter and reload from the first row. */
  async apply(): Promise<void> {
    this.readQuery();
    this.cache.invalidate();
    this.scroller.scrollTop = 0;
    this.active = 0;
    await this.refresh();
  }

  private setColumns(metricKeys: string[], paramKeys: string[]): void {
    const cols: Column[] = [
      {
        id: 'select',
        label: '',
        width: '28px',
        cell: run => {
          const box = h('input', {
            attrs: { type: 'checkbox', 'aria-label': `Select ${run.name}`, tabindex: '-1' },
            on: {
              click: (ev: MouseEvent) => {
                ev.stopPropagation();
                this.toggle(run.id);
              }
            }
          });
          box.checked = this.selected.has(run.id);
          return box;
        }
      },
      {
        id: 'name',
        label: 'Name',
        sort: 'name',
        width: 'minmax(120px, 2fr)',
        cell: run =>
          h(
            'span',
            { class: 'jp-tracker-name', title: run.name },
            run.name,
            run.nondeterministic
              ? h('span', { class: 'jp-tracker-flag', title: 'Same code, inputs and params as another run, different metrics' }, ' ≠')
              : null
          )
      },
      { id: 'kind', label: 'Kind', sort: 'kind', width: '64px', cell: run => run.kind },
      { id: 'status', label: 'Status', sort: 'status', width: '78px', cell: run => statusBadge(run.status) },
      {
        id: 'start',
        label: 'Started',
        sort: 'start_time',
        width: '88px',
        cell: run => h('span', { title: formatTime(run.start_time) }, formatAgo(run.start_time))
      },
      { id: 'duration', label: 'Duration', width: '72px', numeric: true, cell: run => formatDuration(run.duration_s) }
    ];
    for (const k of metricKeys) {
      cols.push({ id: `m:${k}`, label: k, sort: `metrics.${k}`, width: 'minmax(70px, 1fr)', numeric: true, cell: run => formatValue(run.metrics[k]) });
    }
    for (const k of paramKeys) {
      cols.push({ id: `p:${k}`, label: k, sort: `params.${k}`, width: 'minmax(60px, 1fr)', cell: run => formatValue(run.params[k]) });
    }
    this.columns = cols;
    const template = cols.map(c => c.width).join(' ');
    this.node.style.setProperty('--jp-tracker-columns', template);
    // The narrowest the columns can be: below it the table scrolls sideways.
    const minWidth = cols.reduce((sum, c) => sum + Number((/(\d+)px/.exec(c.width) ?? ['', '60'])[1]), 0);
    this.node.style.setProperty('--jp-tracker-min-width', `${minWidth}px`);
    clear(this.header);
    for (const c of cols) {
      const [field, dir] = this.order.split(' ');
      const sorted = c.sort === field;
      const cell = h('div', {
        class: `jp-tracker-cell ${c.numeric ? 'jp-mod-numeric' : ''}`,
        role: 'columnheader',
        aria: { sort: sorted ? (dir === 'desc' ? 'descending' : 'ascending') : 'none' }
      });
      if (c.sort) {
        const sortKey = c.sort;
        cell.appendChild(
          h(
            'button',
            {
              class: 'jp-tracker-sort',
              title: `Sort by ${c.label}`,
              attrs: { type: 'button' },
              on: { click: () => void this.sortBy(sortKey) }
            },
            c.label,
            sorted ? (dir === 'desc' ? ' ▾' : ' ▴') : ''
          )
        );
      } else {
        cell.appendChild(document.createTextNode(c.label));
      }
      this.header.appendChild(cell);
    }
  }

  /** Sort by a server key; a second click on the same column flips the direction. */
  async sortBy(key: string): Promise<void> {
    const [field, dir] = this.order.split(' ');
    this.order = field === key ? `${key} ${dir === 'desc' ? 'asc' : 'desc'}` : `${key} ${key === 'name' ? 'asc' : 'desc'}`;
    this.setColumns(this.metricKeys(), this.paramKeys());
    this.cache.invalidate();
    this.scroller.scrollTop = 0;
    await this.refresh();
  }

  private metricKeys(): string[] {
    return this.columns.filter(c => c.id.startsWith('m:')).map(c => c.id.slice(2));
  }

  private paramKeys(): string[] {
    return this.columns.filter(c => c.id.startsWith('p:')).map(c => c.id.slice(2));
  }

  private window() {
    const viewport = this.scroller.clientHeight || 600;
    const top = Math.max(0, this.scroller.scrollTop - this.header.offsetHeight);
    return visibleWindow(top, viewport, ROW_HEIGHT, this.cache.total);
  }

  /** Reload the rows in view (and the total); called by the live poll. */
  async refresh(): Promise<void> {
    this.started = this.started ?? performance.now();
    const gen = this.cache.generation;
    const pageSize = this.cache.pageSize;
    const pages = this.cache.total ? pagesFor(this.window(), pageSize) : [0];
    try {
      await this.cache.load(pages.length ? pages : [0], true);
      this.filterError.textContent = '';
      this.filterInput.removeAttribute('aria-invalid');
    } catch (err) {
      if (gen === this.cache.generation) {
        const e = err as { code?: string; message?: string };
        if (e.code === 'invalid_query') {
          this.filterError.textContent = e.message ?? String(err);
          this.filterInput.setAttribute('aria-invalid', 'true');
          this.cache.total = 0;
          this.render();
          return;
        }
      }
      throw err;
    }
    if (gen !== this.cache.generation) {
      return;
    }
    this.cache.retain(pages);
    if (!this.columnsFixed) {
      this.autoColumns();
    }
    this.render();
    // Pages that came into view while this one loaded.
    const now = pagesFor(this.window(), pageSize).filter(p => !this.cache.has(p));
    if (now.length) {
      await this.cache.load(now);
      this.render();
    }
  }

  private autoColumns(): void {
    const rows: RunSummary[] = [];
    for (let i = 0; i < Math.min(this.cache.total, this.cache.pageSize); i++) {
      const r = this.cache.row(i);
      if (r) {
        rows.push(r);
      }
    }
    if (!rows.length) {
      return;
    }
    const s = this.ctx.settings;
    const metrics = s.metricColumns.length ? s.metricColumns : commonKeys(rows.map(r => r.metrics), s.maxAutoColumns);
    const params = s.paramColumns.length
      ? s.paramColumns
      : commonKeys(rows.map(r => r.params), Math.max(0, s.maxAutoColumns - 1));
    this.setColumns(metrics, params);
    this.columnsFixed = true;
  }

  private schedule(): void {
    if (this.frame || this.disposed) {
      return;
    }
    const raf = typeof requestAnimationFrame === 'function' ? requestAnimationFrame : (fn: FrameRequestCallback) => window.setTimeout(() => fn(performance.now()), 16);
    this.frame = raf(() => {
      this.frame = 0;
      this.render();
      const missing = pagesFor(this.window(), this.cache.pageSize).filter(p => !this.cache.has(p));
      if (missing.length) {
        void this.cache.load(missing).then(() => this.render(), err => this.ctx.notify(String(err), 'error'));
      }
    });
  }

  /** Paint the rows in view. */
  render(): void {
    const total = this.cache.total;
    this.spacer.style.height = `${total * ROW_HEIGHT}px`;
    this.scroller.setAttribute('aria-rowcount', String(total));
    this.countLabel.textContent = `${total.toLocaleString()} ${total === 1 ? 'run' : 'runs'}`;
    const win = this.window();
    clear(this.spacer);
    for (let i = win.start; i < win.end; i++) {
      this.spacer.appendChild(this.renderRow(i));
    }
    if (total === 0) {
      this.spacer.appendChild(
        h(
          'div',
          { class: 'jp-tracker-empty' },
          this.query.filter || this.query.q
            ? 'No run matches this filter.'
            : 'No runs yet. Run `import tracker` and `with tracker.start_run(): ...` in a notebook, or `%track on`.'
        )
      );
    }
    this.active = Math.min(this.active, Math.max(0, total - 1));
    if (total) {
      this.scroller.setAttribute('aria-activedescendant', `${this.idPrefix}-${this.active}`);
    } else {
      this.scroller.removeAttribute('aria-activedescendant');
    }
    if (this.firstRenderMs === null && total > 0 && this.spacer.querySelector('.jp-tracker-name')) {
      this.firstRenderMs = performance.now() - (this.started ?? 0);
      this.node.dataset.firstRenderMs = this.firstRenderMs.toFixed(1);
    }
  }

  private renderRow(i: number): HTMLElement {
    const run = this.cache.row(i);
    const row = h('div', {
      class: 'jp-tracker-row',
      role: 'row',
      attrs: { id: `${this.idPrefix}-${i}`, 'aria-rowindex': String(i + 1) },
      style: { top: `${i * ROW_HEIGHT}px` }
    });
    if (i === this.active) {
      row.classList.add('jp-mod-active');
    }
    if (!run) {
      row.appendChild(h('div', { class: 'jp-tracker-cell jp-mod-loading', role: 'gridcell' }, '…'));
      return row;
    }
    row.dataset.runId = run.id;
    if (this.selected.has(run.id)) {
      row.classList.add('jp-mod-selected');
      row.setAttribute('aria-selected', 'true');
    } else {
      row.setAttribute('aria-selected', 'false');
    }
    for (const c of this.columns) {
      row.appendChild(h('div', { class: `jp-tracker-cell ${c.numeric ? 'jp-mod-numeric' : ''}`, role: 'gridcell' }, c.cell(run)));
    }
    row.addEventListener('click', ev => {
      this.active = i;
      if (ev.ctrlKey || ev.metaKey || ev.shiftKey) {
        this.toggle(run.id);
      } else {
        this.open(run);
      }
    });
    return row;
  }

  private open(run: RunSummary): void {
    if (run.kind === 'search') {
      this.ctx.openSearch(run.id);
    } else {
      this.ctx.openRun(run.id);
    }
  }

  private toggle(id: string): void {
    if (this.selected.has(id)) {
      this.selected.delete(id);
    } else {
      this.selected.add(id);
    }
    this.compareButton.disabled = this.selected.size < 2;
    this.compareButton.textContent = this.selected.size ? `Compare (${this.selected.size})` : 'Compare';
    this.render();
  }

  /** Selected run ids, in selection order. */
  get selection(): string[] {
    return [...this.selected];
  }

  private compare(): void {
    if (this.selected.size >= 2) {
      this.ctx.openCompare(this.selection);
    }
  }

  private onKey(ev: KeyboardEvent): void {
    const total = this.cache.total;
    if (!total) {
      return;
    }
    const page = Math.max(1, Math.floor((this.scroller.clientHeight || 600) / ROW_HEIGHT) - 1);
    let next = this.active;
    switch (ev.key) {
      case 'ArrowDown':
        next++;
        break;
      case 'ArrowUp':
        next--;
        break;
      case 'PageDown':
        next += page;
        break;
      case 'PageUp':
        next -= page;
        break;
      case 'Home':
        next = 0;
        break;
      case 'End':
        next = total - 1;
        break;
      case 'Enter': {
        const run = this.cache.row(this.active);
        if (run) {
          this.open(run);
        }
        ev.preventDefault();
        return;
      }
      case ' ': {
        const run = this.cache.row(this.active);
        if (run) {
          this.toggle(run.id);
        }
        ev.preventDefault();
        return;
      }
      default:
        return;
    }
    ev.preventDefault();
    this.active = Math.max(0, Math.min(total - 1, next));
    const top = this.active * ROW_HEIGHT;
    if (top < this.scroller.scrollTop) {
      this.scroller.scrollTop = top;
    } else if (top + ROW_HEIGHT > this.scroller.scrollTop + this.scroller.clientHeight) {
      this.scroller.scrollTop = top + ROW_HEIGHT - this.scroller.clientHeight;
    }
    this.render();
    this.schedule();
  }

  dispose(): void {
    this.disposed = true;
    window.clearTimeout(this.debounce);
  }
}
