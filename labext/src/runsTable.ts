/**
 * The runs table: server-side filter and sort, keyset paging (each page is read with the
 * cursor the previous one ended with; scrolling near the end reads the next), a
 * virtualised body (only the rows in view exist in the DOM), one count (exact, or the
 * server's estimate: "about"), multi-select for comparison, full keyboard use.
 *
 * The selection, columns, sort and filter live in the shared `TrackerState`, so the
 * sidebar's compact table and the main-area table show the same runs selected. In the
 * main area the columns can be chosen, resized (drag a header's edge) and moved (drag a
 * header, or the arrows of the column chooser); the name column stays pinned.
 */

import { ColumnChooser } from './columnChooser';
import { buildColumns, type Column, type TableMode } from './columns';
import type { RunsQuery } from './api';
import type { PanelContext, View } from './context';
import { button, clear, h } from './dom';
import { defaultColumns, RUN_FIELDS, type RunFilter, type ColumnSpec } from './state';
import type { RunSummary } from './types';
import { countText, KeysetPages, type RowCount, visibleWindow } from './virtual';

export const ROW_HEIGHT = 28;

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

/** The API query for a filter of the shared state. */
export function queryFor(f: RunFilter, hideKinds: string[]): RunsQuery {
  const q: RunsQuery = {
    filter: f.filter.trim() || undefined,
    q: f.q.trim() || undefined,
    status: f.status ? [f.status] : undefined
  };
  if (f.kind === 'default') {
    q.excludeKind = hideKinds.length ? hideKinds : undefined;
  } else if (f.kind !== 'all') {
    q.kind = [f.kind];
  }
  return q;
}

export class RunsTable implements View {
  readonly node: HTMLElement;
  readonly title = 'Runs';
  readonly live = true;
  /** Milliseconds from the first refresh to the first painted rows (the benchmark reads it). */
  firstRenderMs: number | null = null;
  /** Called after each paint with the count of runs that match (the panel's footer). */
  onTotal: ((count: RowCount) => void) | null = null;

  private started: number | null = null;
  private cache: KeysetPages<RunSummary>;
  private query: RunsQuery = {};
  private columns: Column[] = [];
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
  private chooser: ColumnChooser | null = null;
  private frame = 0;
  private keysAsked = false;
  private keysEmpty = false;
  private disposed = false;
  private readonly idPrefix = `jp-tracker-row-${Math.random().toString(36).slice(2, 8)}`;

  constructor(
    private readonly ctx: PanelContext,
    readonly mode: TableMode = 'sidebar'
  ) {
    const state = ctx.state;
    this.cache = new KeysetPages<RunSummary>(
      ctx.settings.pageSize,
      (cursor, limit) =>
        ctx.api
          .runs({ ...this.query, orderBy: [state.sort], cursor: cursor ?? undefined, limit })
          .then(p => ({ rows: p.runs, total: p.total, exact: p.total_exact !== false, next: p.next ?? null })),
      // The first page is a screenful and a half: what a new sort or filter paints comes back
      // sooner (the server's cost grows with the rows), and the rest follows by cursor.
      () => Math.ceil((1.5 * (this.scroller.clientHeight || 900)) / ROW_HEIGHT)
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
    const tools: HTMLElement[] = [this.searchInput, this.kindSelect, this.statusSelect, this.compareButton];
    if (mode === 'main') {
      this.chooser = new ColumnChooser(ctx);
      tools.push(
        button('Columns…', () => this.chooser?.toggle(this.query), {
          title: 'Choose, order and reset the columns (any param, metric or tag)',
          cls: 'jp-tracker-columns-button'
        })
      );
    }
    this.node = h(
      'div',
      { class: `jp-tracker-runs jp-mod-${mode}` },
      h('div', { class: 'jp-tracker-toolbar' }, ...tools, this.countLabel),
      h('div', { class: 'jp-tracker-toolbar' }, this.filterInput),
      this.chooser?.node ?? null,
      this.filterError,
      h('div', { class: 'jp-tracker-table', role: 'presentation' }, this.scroller)
    );
    this.showFilter(state.filter);
    this.query = queryFor(state.filter, ctx.settings.hideKinds);
    this.setColumns();
    state.selectionChanged.connect(this.onSelection, this);
    state.columnsChanged.connect(this.onColumns, this);
    state.sortChanged.connect(this.onSort, this);
    state.filterChanged.connect(this.onFilter, this);
    this.onSelection();
    if (typeof ResizeObserver !== 'undefined') {
      new ResizeObserver(() => this.schedule()).observe(this.scroller);
    }
  }

  /** Rows currently in the DOM (the virtualisation keeps this small). */
  get renderedRows(): number {
    return this.spacer.children.length;
  }

  /** How many runs match (`count.exact` false: the server's estimate). */
  get total(): number {
    return this.cache.count.n;
  }

  /** The one count this table shows, and the footer with it. */
  get count(): RowCount {
    return this.cache.count;
  }

  /** Rows read so far by cursor (the scrollable length). */
  get loadedRows(): number {
    return this.cache.loaded;
  }

  /** Row slots: the rows read, plus one "loading" row while more pages remain. */
  private get slots(): number {
    return this.cache.loaded + (this.cache.pageCount && !this.cache.done ? 1 : 0);
  }

  private debounce = 0;
  private debouncedApply(): void {
    window.clearTimeout(this.debounce);
    this.debounce = window.setTimeout(() => void this.apply(), 250);
  }

  private showFilter(f: RunFilter): void {
    this.filterInput.value = f.filter;
    this.searchInput.value = f.q;
    this.kindSelect.value = f.kind;
    this.statusSelect.value = f.status;
  }

  /** Put the toolbar's filter in the shared state (both tables reload from the first row). */
  async apply(): Promise<void> {
    this.ctx.state.setFilter({
      filter: this.filterInput.value.trim(),
      q: this.searchInput.value.trim(),
      kind: this.kindSelect.value,
      status: this.statusSelect.value
    });
    await this.reload();
  }

  private onFilter(): void {
    this.showFilter(this.ctx.state.filter);
    void this.reload().catch(err => this.ctx.notify(String((err as Error).message ?? err), 'error'));
  }

  private onSort(): void {
    this.setColumns();
    void this.reload().catch(err => this.ctx.notify(String((err as Error).message ?? err), 'error'));
  }

  private onColumns(): void {
    this.setColumns();
    this.render();
  }

  private onSelection(): void {
    const n = this.ctx.state.selection.length;
    this.compareButton.disabled = n < 2;
    this.compareButton.textContent = n ? `Compare (${n})` : 'Compare';
    this.render();
  }

  private reloading: Promise<void> | null = null;
  private async reload(): Promise<void> {
    const next = queryFor(this.ctx.state.filter, this.ctx.settings.hideKinds);
    const order = this.ctx.state.sort;
    if (this.reloading && JSON.stringify(next) === JSON.stringify(this.query) && order === this.loadedOrder) {
      return this.reloading;
    }
    this.query = next;
    this.cache.invalidate();
    this.scroller.scrollTop = 0;
    this.active = 0;
    this.reloading = this.refresh().finally(() => (this.reloading = null));
    return this.reloading;
  }
  private loadedOrder = '';

  private setColumns(): void {
    const state = this.ctx.state;
    const cols = buildColumns(
      state.columns,
      this.mode,
      run => {
        const box = h('input', {
          attrs: { type: 'checkbox', 'aria-label': `Select ${run.name}`, tabindex: '-1' },
          on: {
            click: (ev: MouseEvent) => {
              ev.stopPropagation();
              state.toggle(run.id);
            }
          }
        });
        box.checked = state.isSelected(run.id);
        return box;
      },
      run =>
        h(
          'span',
          { class: 'jp-tracker-name', title: run.name },
          run.name,
          run.nondeterministic ? h('span', { class: 'jp-tracker-flag', title: 'Same code, inputs and params as another run, different metrics' }, ' ≠') : null
        )
    );
    this.columns = cols;
    this.node.style.setProperty('--jp-tracker-columns', cols.map(c => c.width).join(' '));
    // The narrowest the columns can be: below it the table scrolls sideways.
    this.node.style.setProperty('--jp-tracker-min-width', `${cols.reduce((sum, c) => sum + c.minPx, 0)}px`);
    clear(this.header);
    const [field, dir] = state.sort.split(' ');
    for (const c of cols) {
      const sorted = !!c.sort && c.sort === field;
      const cell = h('div', {
        class: `jp-tracker-cell ${c.numeric ? 'jp-mod-numeric' : ''} ${c.pinned ? 'jp-mod-pinned' : ''}`,
        role: 'columnheader',
        title: c.title,
        dataset: { key: c.id },
        aria: { sort: sorted ? (dir === 'desc' ? 'descending' : 'ascending') : 'none' }
      });
      if (c.sort) {
        const sortKey = c.sort;
        cell.append(
          h(
            'button',
            {
              class: 'jp-tracker-sort',
              title: `Sort by ${c.title}`,
              attrs: { type: 'button' },
              on: { click: () => void this.sortBy(sortKey) }
            },
            c.label
          ),
          // Outside the button's ellipsis: a long name never hides the direction.
          sorted ? h('span', { class: 'jp-tracker-sort-dir', attrs: { 'aria-hidden': 'true' } }, dir === 'desc' ? '▾' : '▴') : ''
        );
      } else {
        cell.appendChild(document.createTextNode(c.label));
      }
      if (c.movable) {
        this.makeMovable(cell, c);
      }
      this.header.appendChild(cell);
    }
  }

  /** Drag a header to move its column; drag its right edge to resize it. */
  private makeMovable(cell: HTMLElement, c: Column): void {
    const state = this.ctx.state;
    cell.draggable = true;
    cell.addEventListener('dragstart', ev => {
      ev.dataTransfer?.setData('text/x-tracker-column', c.id);
    });
    cell.addEventListener('dragover', ev => ev.preventDefault());
    cell.addEventListener('drop', ev => {
      ev.preventDefault();
      const key = ev.dataTransfer?.getData('text/x-tracker-column');
      if (key && key !== c.id) {
        state.moveColumn(key, state.columns.findIndex(s => s.key === c.id));
      }
    });
    const grip = h('span', { class: 'jp-tracker-resize', title: `Drag to resize ${c.title}`, attrs: { 'aria-hidden': 'true' } });
    grip.addEventListener('pointerdown', (ev: PointerEvent) => {
      ev.preventDefault();
      ev.stopPropagation();
      const startX = ev.clientX;
      const startW = cell.getBoundingClientRect().width;
      let width = startW;
      const move = (e: PointerEvent) => {
        width = Math.max(40, startW + e.clientX - startX);
        const widths = this.columns.map(col => (col.id === c.id ? `${Math.round(width)}px` : col.width));
        this.node.style.setProperty('--jp-tracker-columns', widths.join(' '));
      };
      const up = () => {
        window.removeEventListener('pointermove', move);
        window.removeEventListener('pointerup', up);
        state.setWidth(c.id, Math.round(width));
      };
      window.addEventListener('pointermove', move);
      window.addEventListener('pointerup', up);
    });
    grip.addEventListener('dragstart', ev => ev.preventDefault());
    cell.appendChild(grip);
  }

  /** Sort by a server key; a second click on the same column flips the direction. */
  async sortBy(key: string): Promise<void> {
    this.ctx.state.sortBy(key);
    await this.reloading;
  }

  private window() {
    const viewport = this.scroller.clientHeight || 600;
    const top = Math.max(0, this.scroller.scrollTop - this.header.offsetHeight);
    return visibleWindow(top, viewport, ROW_HEIGHT, this.slots);
  }

  /**
   * Read the rows in view again (and the count); called by the live poll. The first call
   * after a new filter or sort reads the first page.
   */
  async refresh(): Promise<void> {
    this.started = this.started ?? performance.now();
    const gen = this.cache.generation;
    const pages = this.toReread();
    const order = this.ctx.state.sort;
    const loading = this.cache.load(pages, true);
    // Columns from the runs' keys, asked beside the first page rather than after it.
    // (An empty store's answer is asked again only once runs show up.)
    const columns = this.ctx.state.columns.length
      ? null
      : this.keysEmpty
        ? loading.then(
            () => (this.cache.loaded ? this.defaultColumns(loading) : undefined),
            () => undefined
          )
        : this.defaultColumns(loading);
    try {
      await loading;
      this.filterError.textContent = '';
      this.filterInput.removeAttribute('aria-invalid');
    } catch (err) {
      if (gen === this.cache.generation) {
        const e = err as { code?: string; message?: string };
        if (e.code === 'invalid_query') {
          this.filterError.textContent = e.message ?? String(err);
          this.filterInput.setAttribute('aria-invalid', 'true');
          this.cache.invalidate();
          this.render();
          return;
        }
      }
      throw err;
    }
    await columns;
    if (gen === this.cache.generation && this.cache.behind) {
      // Runs arrived after the last page read (say, older ones in a sort by time): read it again.
      await this.cache.load([this.cache.pageCount - 1], true);
    }
    if (gen !== this.cache.generation) {
      return;
    }
    this.loadedOrder = order;
    // Pages out of view (beyond a neighbour) are read again, by their cursors, when they come back.
    this.cache.retain([...pages, pages[0] - 1, pages[pages.length - 1] + 1]);
    this.render();
    await this.fill(false);
  }

  /**
   * Pages the poll reads again: those in view, and the last page when the view reaches
   * the end (runs that arrive after it, or into an empty table, show up there).
   */
  private toReread(): number[] {
    const win = this.window();
    const pages = this.cache.pagesIn(win.start, win.end);
    const last = this.cache.pageCount - 1;
    if (last >= 0 && win.end >= this.cache.loaded && !pages.includes(last)) {
      pages.push(last);
    }
    return pages.length ? pages : [0];
  }

  /** Pages that hold the rows in view. */
  private inView(): number[] {
    const win = this.window();
    return this.cache.pagesIn(win.start, win.end);
  }

  private soon = 0;

  /**
   * Read what the view lacks: pages whose rows were dropped, and the next page by cursor
   * when the "loading" row is in view. When the view is within half a page of the end,
   * the next page is read ahead: at once while scrolling (`eager`), else a moment after
   * the paint, so a new sort's first screen never shares the server with it.
   */
  private async fill(eager: boolean): Promise<void> {
    for (let guard = 0; guard < 50; guard++) {
      const gen = this.cache.generation;
      const win = this.window();
      const missing = this.inView().filter(p => !this.cache.has(p));
      const needed = !this.cache.done && win.end > this.cache.loaded;
      const near = !this.cache.done && win.end + this.cache.pageSize / 2 >= this.cache.loaded;
      const more = needed || (near && eager);
      if (near && !more && !this.soon) {
        this.soon = window.setTimeout(() => {
          this.soon = 0;
          if (!this.disposed && gen === this.cache.generation) {
            void this.fill(true).catch(err => this.ctx.notify(String((err as Error).message ?? err), 'error'));
          }
        }, 300);
      }
      if (!missing.length && !more) {
        return;
      }
      const before = this.cache.loaded;
      await Promise.all([this.cache.load(missing), more ? this.cache.loadMore() : null]);
      if (gen !== this.cache.generation) {
        return;
      }
      this.render();
      if (!missing.length && this.cache.loaded === before) {
        return; // nothing new came (a page moved under us): the next scroll or poll retries
      }
    }
  }

  /** Columns when none were chosen: the settings' lists, else what the runs have. */
  private async defaultColumns(loading: Promise<void>): Promise<void> {
    const s = this.ctx.settings;
    const state = this.ctx.state;
    if (s.metricColumns.length || s.paramColumns.length) {
      const cols: ColumnSpec[] = [
        { key: 'status' },
        ...s.metricColumns.map(k => ({ key: `metrics.${k}` })),
        ...s.paramColumns.map(k => ({ key: `params.${k}` })),
        ...RUN_FIELDS.filter(f => f.key !== 'status').map(f => ({ key: f.key }))
      ];
      state.setColumns(cols, false);
      return;
    }
    if (this.keysAsked) {
      return;
    }
    this.keysAsked = true;
    try {
      // The server reads the newest runs that match and lists their keys.
      const keys = await this.ctx.api.keys(this.query);
      if (keys.total === 0 && keys.sampled === 0) {
        this.keysAsked = false; // no runs yet: ask again once there are
        this.keysEmpty = true;
        return;
      }
      state.setColumns(defaultColumns(keys, s.maxAutoColumns), false);
    } catch {
      await loading.catch(() => undefined);
      // An older server without /keys: the keys of the rows loaded.
      const rows: RunSummary[] = [];
      for (let i = 0; i < Math.min(this.cache.loaded, this.cache.pageSize); i++) {
        const r = this.cache.row(i);
        if (r) {
          rows.push(r);
        }
      }
      const count = (list: string[]) => list.map((key, i) => ({ key, count: list.length - i }));
      state.setColumns(
        defaultColumns(
          {
            metrics: count(commonKeys(rows.map(r => r.metrics), s.maxAutoColumns)),
            params: count(commonKeys(rows.map(r => r.params), s.maxAutoColumns)),
            tags: [],
            sampled: rows.length,
            total: this.cache.count.n
          },
          s.maxAutoColumns
        ),
        false
      );
    }
  }

  private schedule(): void {
    if (this.frame || this.disposed) {
      return;
    }
    const raf = typeof requestAnimationFrame === 'function' ? requestAnimationFrame : (fn: FrameRequestCallback) => window.setTimeout(() => fn(performance.now()), 16);
    this.frame = raf(() => {
      this.frame = 0;
      this.render();
      void this.fill(true).catch(err => this.ctx.notify(String((err as Error).message ?? err), 'error'));
    });
  }

  /** Paint the rows in view. */
  render(): void {
    const count = this.cache.count;
    const total = this.slots;
    this.spacer.style.height = `${total * ROW_HEIGHT}px`;
    // -1: the number of rows is not known (an estimate), as ARIA has it.
    this.scroller.setAttribute('aria-rowcount', String(count.exact ? count.n : -1));
    this.countLabel.textContent = countText(count);
    this.countLabel.dataset.exact = String(count.exact);
    this.node.dataset.loadedRows = String(this.cache.loaded);
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
    this.active = Math.min(this.active, Math.max(0, this.cache.loaded - 1));
    if (this.cache.loaded) {
      this.scroller.setAttribute('aria-activedescendant', `${this.idPrefix}-${this.active}`);
    } else {
      this.scroller.removeAttribute('aria-activedescendant');
    }
    if (this.firstRenderMs === null && total > 0 && this.spacer.querySelector('.jp-tracker-name')) {
      this.firstRenderMs = performance.now() - (this.started ?? 0);
      this.node.dataset.firstRenderMs = this.firstRenderMs.toFixed(1);
    }
    this.node.dataset.renderedOrder = this.loadedOrder;
    this.onTotal?.(count);
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
      const more = i >= this.cache.loaded;
      row.classList.toggle('jp-tracker-more', more);
      row.appendChild(h('div', { class: 'jp-tracker-cell jp-mod-loading', role: 'gridcell' }, more ? 'Loading more runs…' : '…'));
      return row;
    }
    row.dataset.runId = run.id;
    const selected = this.ctx.state.isSelected(run.id);
    row.classList.toggle('jp-mod-selected', selected);
    row.setAttribute('aria-selected', String(selected));
    for (const c of this.columns) {
      row.appendChild(
        h('div', { class: `jp-tracker-cell ${c.numeric ? 'jp-mod-numeric' : ''} ${c.pinned ? 'jp-mod-pinned' : ''}`, role: 'gridcell', dataset: { key: c.id } }, c.cell(run))
      );
    }
    row.addEventListener('click', ev => {
      this.active = i;
      if (ev.ctrlKey || ev.metaKey || ev.shiftKey) {
        this.ctx.state.toggle(run.id);
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

  /** Selected run ids, in selection order. */
  get selection(): string[] {
    return [...this.ctx.state.selection];
  }

  private compare(): void {
    if (this.ctx.state.selection.length >= 2) {
      this.ctx.openCompare(this.selection);
    }
  }

  private onKey(ev: KeyboardEvent): void {
    // The rows read so far: End goes to the last of them, and the view reads the next page.
    const total = this.cache.loaded;
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
          this.ctx.state.toggle(run.id);
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
    if (this.disposed) {
      return;
    }
    this.disposed = true;
    window.clearTimeout(this.debounce);
    window.clearTimeout(this.soon);
    const state = this.ctx.state;
    state.selectionChanged.disconnect(this.onSelection, this);
    state.columnsChanged.disconnect(this.onColumns, this);
    state.sortChanged.disconnect(this.onSort, this);
    state.filterChanged.disconnect(this.onFilter, this);
    this.chooser?.dispose();
  }
}
