/**
 * The side panel: tabs for runs, searches and models, a stack of detail views (run,
 * compare, search, card, model) with a Back button, a status line, and the live poll.
 *
 * Live updates: a `Poll` refreshes the view on top every `refreshInterval` ms while
 * the panel is visible and the browser tab is shown (it stands by otherwise, and backs
 * off after errors); `cellExecuted()` asks for a refresh when a notebook cell finishes.
 */

import { Poll } from '@lumino/polling';
import { Widget } from '@lumino/widgets';

import type { TrackerAPI } from './api';
import { CardView, VersionCardView } from './cardView';
import { CompareView } from './compareView';
import { DEFAULT_SETTINGS, type PanelContext, type PanelSettings, type View } from './context';
import { button, clear, h } from './dom';
import { ModelsView, ModelView } from './modelsView';
import { RunView } from './runView';
import { RunsTable } from './runsTable';
import { SearchesView, SearchView } from './searchView';
import { TrackerState } from './state';
import type { StoreInfo } from './types';
import { countText, type RowCount } from './virtual';

export interface PanelHost {
  goToCell(notebook: string | null, cellId: string): Promise<boolean>;
  download(filename: string, text: string | Blob, mime: string): void;
  /** Open the tracker as a main-area tab (the sidebar shows a button for it when given). */
  openMain?(): void;
}

/** Where the panel lives: the compact sidebar or a main-area tab. */
export type PanelMode = 'sidebar' | 'main';

type Tab = 'runs' | 'searches' | 'models';

export class TrackerPanel extends Widget {
  readonly poll: Poll;
  readonly ctx: PanelContext;
  private tab: Tab = 'runs';
  private runs: RunsTable;
  private searches: SearchesView | null = null;
  private models: ModelsView | null = null;
  private stack: View[] = [];
  private body: HTMLElement;
  private crumbs: HTMLElement;
  private backButton: HTMLButtonElement;
  private tabs: Record<Tab, HTMLButtonElement>;
  private message: HTMLElement;
  private storeLine: HTMLElement;
  private rejectedLine: HTMLElement;
  private ticks = 0;
  private pending = new Set<number>();
  private storeInfo: StoreInfo | null = null;
  private shown: RowCount | null = null;

  constructor(
    readonly api: TrackerAPI,
    private readonly host: PanelHost,
    settings: Partial<PanelSettings> = {},
    readonly state: TrackerState = new TrackerState(),
    readonly mode: PanelMode = 'sidebar'
  ) {
    super();
    this.id = mode === 'main' ? 'jp-tracker-main' : 'jp-tracker-panel';
    this.addClass('jp-tracker-panel');
    this.addClass(`jp-mod-${mode}`);
    this.title.caption = 'Tracker: runs, searches and model cards';
    this.ctx = {
      api,
      state,
      settings: { ...DEFAULT_SETTINGS, ...settings },
      openRun: id => this.push(new RunView(this.ctx, id)),
      openSearch: id => this.push(new SearchView(this.ctx, id)),
      openCompare: ids => this.push(new CompareView(this.ctx, ids)),
      openCard: id => this.push(new CardView(this.ctx, id)),
      openModel: name => this.push(new ModelView(this.ctx, name)),
      openVersionCard: (name, version, runId) => this.push(new VersionCardView(this.ctx, name, version, runId ?? null)),
      goToCell: (nb, cell) => this.host.goToCell(nb, cell),
      download: (name, text, mime) => this.host.download(name, text, mime),
      notify: (msg, kind) => this.notify(msg, kind)
    };
    this.runs = this.newTable();
    this.backButton = button('← Back', () => this.back(), { title: 'Back (Alt+Left)', cls: 'jp-tracker-back' });
    this.crumbs = h('span', { class: 'jp-tracker-crumbs' });
    const tab = (id: Tab, label: string) =>
      h(
        'button',
        {
          class: 'jp-tracker-tab',
          role: 'tab',
          attrs: { type: 'button', id: `jp-tracker-tab-${id}`, 'aria-controls': 'jp-tracker-body' },
          on: { click: () => this.showTab(id) }
        },
        label
      );
    this.tabs = { runs: tab('runs', 'Runs'), searches: tab('searches', 'Searches'), models: tab('models', 'Models') };
    this.body = h('div', { class: 'jp-tracker-body', role: 'tabpanel', attrs: { id: 'jp-tracker-body' } });
    this.message = h('span', { class: 'jp-tracker-message', role: 'status', aria: { live: 'polite' } });
    this.storeLine = h('span', { class: 'jp-tracker-store', title: 'The store this server reads' });
    this.rejectedLine = h('span', { class: 'jp-tracker-rejected', role: 'status' });
    this.rejectedLine.hidden = true;
    this.node.append(
      h(
        'div',
        { class: 'jp-tracker-top' },
        h(
          'div',
          { class: 'jp-tracker-tabs', role: 'tablist', aria: { label: 'Tracker views' } },
          this.tabs.runs,
          this.tabs.searches,
          this.tabs.models,
          mode === 'sidebar' && host.openMain
            ? button('Open Tracker', () => host.openMain?.(), {
                title: 'Open the tracker in a main-area tab: choose columns, compare curves (the sidebar stays the live view)',
                cls: 'jp-tracker-open-main jp-mod-small'
              })
            : null
        ),
        h('div', { class: 'jp-tracker-nav' }, this.backButton, this.crumbs)
      ),
      this.body,
      h('div', { class: 'jp-tracker-footer' }, this.message, this.rejectedLine, this.storeLine)
    );
    this.node.addEventListener('keydown', ev => {
      if (ev.altKey && ev.key === 'ArrowLeft') {
        ev.preventDefault();
        this.back();
      }
    });
    this.poll = new Poll({
      auto: false,
      factory: () => this.tick(),
      frequency: { interval: this.ctx.settings.refreshInterval, backoff: true, max: 30_000 },
      name: 'jupyterlab-tracker:refresh',
      standby: () => !this.isVisible || 'when-hidden'
    });
    this.showTab('runs');
  }

  /** Apply new settings (from the settings editor). */
  configure(settings: Partial<PanelSettings>): void {
    const before = this.ctx.settings;
    this.ctx.settings = { ...DEFAULT_SETTINGS, ...settings };
    const s = this.ctx.settings;
    if (before.refreshInterval !== s.refreshInterval) {
      this.poll.frequency = { ...this.poll.frequency, interval: s.refreshInterval };
    }
    // Column changes reach the tables through the shared state, not by rebuilding them.
    const rest = (p: PanelSettings) => JSON.stringify({ ...p, columns: [] });
    if (rest(before) !== rest(s)) {
      this.runs.dispose();
      this.runs = this.newTable();
      if (this.tab === 'runs' && !this.stack.length) {
        this.mount(this.runs);
      }
      void this.refreshNow();
    }
  }

  private newTable(): RunsTable {
    const table = new RunsTable(this.ctx, this.mode);
    table.onTotal = count => {
      this.shown = count;
      this.showCount();
    };
    return table;
  }

  /** The runs table (tests and the benchmark read it). */
  get runsTable(): RunsTable {
    return this.runs;
  }

  /** The view on screen. */
  get current(): View {
    return this.stack.length ? this.stack[this.stack.length - 1] : this.root();
  }

  private root(): View {
    if (this.tab === 'runs') {
      return this.runs;
    }
    if (this.tab === 'models') {
      this.models = this.models ?? new ModelsView(this.ctx);
      return this.models;
    }
    this.searches = this.searches ?? new SearchesView(this.ctx);
    return this.searches;
  }

  showTab(tab: Tab): void {
    this.tab = tab;
    for (const v of this.stack) {
      v.dispose();
    }
    this.stack = [];
    for (const [id, b] of Object.entries(this.tabs)) {
      b.setAttribute('aria-selected', String(id === tab));
      b.classList.toggle('jp-mod-active', id === tab);
      b.tabIndex = id === tab ? 0 : -1;
    }
    this.mount(this.root());
    if (this.isVisible) {
      void this.refreshNow(); // a hidden panel loads when shown (onAfterShow)
    }
  }

  private push(view: View): void {
    this.stack.push(view);
    this.mount(view);
    void this.refreshNow();
  }

  back(): void {
    const view = this.stack.pop();
    if (!view) {
      return;
    }
    view.dispose();
    this.mount(this.current);
    void this.refreshNow();
  }

  private mount(view: View): void {
    // Keyboard users keep their place: focus follows them into the new view.
    const hadFocus = this.node.contains(document.activeElement);
    clear(this.body);
    this.body.appendChild(view.node);
    if (hadFocus) {
      const target = view.node.querySelector<HTMLElement>('[role=grid]') ?? view.node;
      if (target === view.node) {
        view.node.tabIndex = -1;
      }
      target.focus();
    }
    this.backButton.hidden = this.stack.length === 0;
    // No empty band under the tabs on the root view.
    this.crumbs.parentElement?.classList.toggle('jp-mod-empty', this.stack.length === 0);
    clear(this.crumbs);
    this.crumbs.textContent = this.stack.map(v => v.title).join(' › ');
  }

  /** Refresh the view on screen now (and restart the poll's clock). */
  async refreshNow(): Promise<void> {
    if (this.poll.isDisposed) {
      return;
    }
    await this.poll.refresh();
  }

  /** A notebook cell finished: its records reach the store a moment later. */
  cellExecuted(): void {
    for (const delay of [300, 1200]) {
      const t = window.setTimeout(() => {
        this.pending.delete(t);
        if (this.isVisible) {
          void this.refreshNow();
        }
      }, delay);
      this.pending.add(t);
    }
  }

  private async tick(): Promise<void> {
    const view = this.current;
    this.ticks++;
    try {
      if (view.live || this.ticks === 1 || this.needsFirstLoad(view)) {
        await view.refresh();
        this.loaded.add(view);
      }
      if (this.ticks % 10 === 1) {
        void this.api.store().then(
          info => this.showStore(info),
          () => undefined
        );
      }
      if (this.message.classList.contains('jp-mod-error') && this.message.dataset.source === 'poll') {
        this.notify('');
      }
      this.crumbs.textContent = this.stack.map(v => v.title).join(' › ');
    } catch (err) {
      const e = err as { message?: string };
      this.notify(e.message ?? String(err), 'error', 'poll');
      throw err; // the poll backs off
    }
  }

  private loaded = new WeakSet<View>();
  private needsFirstLoad(view: View): boolean {
    return !this.loaded.has(view);
  }

  private showStore(info: StoreInfo): void {
    const where = info.kind === 'sqlite' ? (info.path ?? info.url) : info.url;
    this.storeInfo = info;
    this.showCount();
    this.storeLine.title = `Store: ${where} (from ${info.configured_by})`;
    // Records the database refused are never silent: the footer says how many are kept aside.
    const rejected = info.rejected ?? 0;
    this.rejectedLine.hidden = rejected === 0;
    this.rejectedLine.textContent = rejected ? `⚠ ${rejected.toLocaleString()} rejected` : '';
    this.rejectedLine.title = rejected
      ? `${rejected.toLocaleString()} record(s) the store refused are kept in the spool's rejected/ folder; ` +
        'run `tracker sync --rejected` to see them and retry'
      : '';
  }

  /** One count: the table's, with the store's total beside it when the filter hides some. */
  private showCount(): void {
    const info = this.storeInfo;
    if (!info) {
      return;
    }
    const all = info.runs.toLocaleString();
    const shown = this.shown;
    // The table's count word for word ("about" included), so the two never disagree.
    this.storeLine.textContent =
      shown === null || (shown.exact && shown.n === info.runs)
        ? `${info.kind} · ${all} runs`
        : `${info.kind} · ${countText(shown).replace(/ runs?$/, '')} of ${all} runs shown`;
  }

  notify(message: string, kind: 'info' | 'error' = 'info', source = 'view'): void {
    this.message.textContent = message;
    this.message.classList.toggle('jp-mod-error', kind === 'error' && !!message);
    this.message.dataset.source = source;
  }

  protected onAfterShow(): void {
    void this.refreshNow();
  }

  protected onAfterAttach(): void {
    if (!this.poll.isDisposed) {
      void this.poll.start();
    }
  }

  dispose(): void {
    if (this.isDisposed) {
      return;
    }
    for (const t of this.pending) {
      window.clearTimeout(t);
    }
    this.poll.dispose();
    this.runs.dispose();
    for (const v of this.stack) {
      v.dispose();
    }
    super.dispose();
  }
}
