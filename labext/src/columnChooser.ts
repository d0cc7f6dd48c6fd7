/**
 * The column chooser of the main-area runs table: every param, metric and tag the
 * matching runs have (from `GET /keys`), ticked when shown; the shown columns in order
 * with buttons to move and remove them (the keyboard way to do what dragging a header
 * does); a box to add any key by name; and a reset to the defaults.
 */

import type { RunsQuery } from './api';
import type { PanelContext } from './context';
import { button, clear, h } from './dom';
import { columnTitle, defaultColumns, RUN_FIELDS, type RunKeys } from './state';

export class ColumnChooser {
  readonly node: HTMLElement;
  private keys: RunKeys | null = null;
  private filterBox: HTMLInputElement;
  private list: HTMLElement;
  private shown: HTMLElement;
  private status: HTMLElement;

  constructor(private readonly ctx: PanelContext) {
    this.filterBox = h('input', {
      class: 'jp-tracker-input',
      attrs: { type: 'search', placeholder: 'Find a key, or type metrics.NAME and press Enter', 'aria-label': 'Find or add a column' },
      on: {
        input: () => this.render(),
        keydown: (ev: KeyboardEvent) => {
          const key = this.filterBox.value.trim();
          if (ev.key === 'Enter' && /^(metrics|params|tags)\.\S/.test(key)) {
            ctx.state.addColumn(key);
            this.filterBox.value = '';
            this.render();
          }
        }
      }
    });
    this.list = h('div', { class: 'jp-tracker-chooser-keys', role: 'group', aria: { label: 'Available columns' } });
    this.shown = h('ol', { class: 'jp-tracker-chooser-shown', aria: { label: 'Shown columns, in order' } });
    this.status = h('span', { class: 'jp-tracker-muted' });
    this.node = h(
      'div',
      { class: 'jp-tracker-chooser', role: 'dialog', aria: { label: 'Columns' } },
      h(
        'div',
        { class: 'jp-tracker-toolbar' },
        this.filterBox,
        button('Reset', () => ctx.state.setColumns(defaultColumns(this.keys, ctx.settings.maxAutoColumns)), { title: 'Back to the columns chosen from what the runs have' }),
        button('Done', () => this.close(), { cls: 'jp-mod-accept' })
      ),
      this.status,
      h('div', { class: 'jp-tracker-chooser-body' }, this.list, h('div', null, h('strong', null, 'Shown (Name is pinned first)'), this.shown))
    );
    this.node.hidden = true;
    ctx.state.columnsChanged.connect(this.render, this);
  }

  dispose(): void {
    this.ctx.state.columnsChanged.disconnect(this.render, this);
  }

  get isOpen(): boolean {
    return !this.node.hidden;
  }

  /** Open (reading the keys the runs matching `query` have) or close. */
  async toggle(query: RunsQuery): Promise<void> {
    if (this.isOpen) {
      this.close();
      return;
    }
    this.node.hidden = false;
    this.status.textContent = 'Reading the keys the runs have…';
    try {
      this.keys = await this.ctx.api.keys(query);
      const k = this.keys;
      this.status.textContent =
        k.sampled < k.total ? `Keys of the newest ${k.sampled.toLocaleString()} of ${k.total.toLocaleString()} matching runs; type any other key to add it.` : `Keys of the ${k.total.toLocaleString()} matching runs.`;
    } catch (err) {
      this.status.textContent = `Keys not read: ${String((err as Error).message ?? err)}`;
    }
    this.render();
    this.filterBox.focus();
  }

  close(): void {
    this.node.hidden = true;
  }

  private render(): void {
    if (!this.isOpen) {
      return;
    }
    const state = this.ctx.state;
    const shownKeys = new Set(state.columns.map(c => c.key));
    const needle = this.filterBox.value.trim().toLowerCase();
    clear(this.list);
    const groups: Array<[string, Array<{ key: string; count: number | null }>]> = [
      ['Run', RUN_FIELDS.map(f => ({ key: f.key, count: null }))],
      ['Metrics', (this.keys?.metrics ?? []).map(k => ({ key: `metrics.${k.key}`, count: k.count }))],
      ['Params', (this.keys?.params ?? []).map(k => ({ key: `params.${k.key}`, count: k.count }))],
      ['Tags', (this.keys?.tags ?? []).map(k => ({ key: `tags.${k.key}`, count: k.count }))]
    ];
    for (const [label, items] of groups) {
      const matching = items.filter(i => !needle || i.key.toLowerCase().includes(needle));
      if (!matching.length) {
        continue;
      }
      const fs = h('fieldset', { class: 'jp-tracker-chooser-group' }, h('legend', null, label));
      for (const item of matching) {
        const box = h('input', {
          attrs: { type: 'checkbox', 'data-key': item.key },
          on: {
            change: () => (box.checked ? state.addColumn(item.key) : state.removeColumn(item.key))
          }
        });
        box.checked = shownKeys.has(item.key);
        fs.appendChild(
          h(
            'label',
            { class: 'jp-tracker-check', title: item.count === null ? columnTitle(item.key) : `${columnTitle(item.key)}: ${item.count} runs have it` },
            box,
            ` ${item.key}`,
            item.count === null ? null : h('span', { class: 'jp-tracker-muted' }, ` (${item.count})`)
          )
        );
      }
      this.list.appendChild(fs);
    }
    clear(this.shown);
    state.columns.forEach((c, i) => {
      this.shown.appendChild(
        h(
          'li',
          { dataset: { key: c.key } },
          h('span', { class: 'jp-tracker-chooser-name', title: columnTitle(c.key) }, c.key),
          button('↑', () => state.moveColumn(c.key, i - 1), { title: `Move ${c.key} left`, cls: 'jp-mod-small', disabled: i === 0 }),
          button('↓', () => state.moveColumn(c.key, i + 1), { title: `Move ${c.key} right`, cls: 'jp-mod-small', disabled: i === state.columns.length - 1 }),
          c.width ? button('↔', () => state.setWidth(c.key, null), { title: `Automatic width for ${c.key}`, cls: 'jp-mod-small' }) : null,
          button('×', () => state.removeColumn(c.key), { title: `Hide ${c.key}`, cls: 'jp-mod-small' })
        )
      );
    });
  }
}
