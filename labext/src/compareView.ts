/**
 * Two or more runs side by side: their metric curves overlaid, the params and metrics
 * that differ, which data changed and how (all computed on the server: `GET /compare`
 * from tracker.compare, the same diff as `tracker diff`; `GET /curves` for the curves).
 */

import type { PanelContext, View } from './context';
import { CurvesChart } from './curves';
import { clear, h, section } from './dom';
import { formatValue, shortId, toNumber } from './format';
import type { CompareRow, Comparison, JSONValue } from './types';

/** Index of the best value per row: the max, or the min for names that read as losses. */
export function bestIndex(key: string, values: JSONValue[]): number | null {
  const nums = values.map(v => toNumber(v));
  const lower = /(loss|error|latency|_ms$|time|mse|mae|rmse)/i.test(key);
  let best: number | null = null;
  nums.forEach((n, i) => {
    if (n === null || !Number.isFinite(n)) {
      return;
    }
    if (best === null || (lower ? n < (nums[best] as number) : n > (nums[best] as number))) {
      best = i;
    }
  });
  return best;
}

export class CompareView implements View {
  readonly node: HTMLElement;
  readonly title: string;
  readonly live = false;
  private data: Comparison | null = null;
  private onlyDiff = true;
  /** The overlaid metric curves (kept across redraws: its controls keep their values). */
  readonly curves: CurvesChart;

  constructor(
    private readonly ctx: PanelContext,
    readonly ids: string[]
  ) {
    this.title = `Compare ${ids.length}`;
    this.curves = new CurvesChart(ctx, ids);
    this.node = h('div', { class: 'jp-tracker-compare' }, h('p', { class: 'jp-tracker-muted' }, 'Loading comparison…'));
  }

  async refresh(): Promise<void> {
    const [data] = await Promise.all([
      this.ctx.api.compare(this.ids),
      this.curves.load().catch(err => {
        clear(this.curves.node);
        this.curves.node.appendChild(h('p', { class: 'jp-tracker-error' }, `Curves not loaded: ${String((err as Error).message ?? err)}`));
      })
    ]);
    this.data = data;
    this.render();
  }

  private headRow(): HTMLElement {
    const d = this.data as Comparison;
    return h(
      'thead',
      null,
      h(
        'tr',
        null,
        h('th', null, ''),
        ...d.runs.map((r, i) =>
          h(
            'th',
            { attrs: { scope: 'col' } },
            h(
              'button',
              { class: 'jp-tracker-link', attrs: { type: 'button' }, title: r.id, on: { click: () => this.ctx.openRun(r.id) } },
              r.name
            ),
            h('div', { class: 'jp-tracker-muted' }, i === 0 ? `${shortId(r.id)} (baseline)` : shortId(r.id))
          )
        )
      )
    );
  }

  private table(rows: CompareRow[], metric: boolean): HTMLElement {
    const shown = this.onlyDiff ? rows.filter(r => r.differs) : rows;
    if (!shown.length) {
      return h('p', { class: 'jp-tracker-muted' }, rows.length ? 'All equal.' : 'None recorded.');
    }
    const body = h('tbody');
    for (const r of shown) {
      const best = metric ? bestIndex(r.key, r.values) : null;
      const base = r.values[0];
      body.appendChild(
        h(
          'tr',
          { class: r.differs ? 'jp-mod-differs' : '' },
          h('th', { attrs: { scope: 'row' } }, r.key),
          ...r.values.map((v, i) => {
            const cls = [
              i > 0 && JSON.stringify(v) !== JSON.stringify(base) ? 'jp-mod-changed' : '',
              best === i && r.differs ? 'jp-mod-best' : '',
              metric ? 'jp-mod-numeric' : ''
            ]
              .filter(Boolean)
              .join(' ');
            return h('td', { class: cls, title: best === i && r.differs ? 'best' : undefined }, v === null ? '—' : formatValue(v));
          })
        )
      );
    }
    return h('div', { class: 'jp-tracker-hscroll' }, h('table', { class: 'jp-tracker-grid-table' }, this.headRow(), body));
  }

  private render(): void {
    const d = this.data;
    if (!d) {
      return;
    }
    clear(this.node);
    const toggle = h('input', {
      attrs: { type: 'checkbox', id: 'jp-tracker-only-diff' },
      on: {
        change: () => {
          this.onlyDiff = toggle.checked;
          this.render();
        }
      }
    });
    toggle.checked = this.onlyDiff;
    this.node.append(
      h('h2', null, `Comparing ${d.runs.length} runs`),
      // Runs that logged one value per metric have no curve: the section starts closed.
      section(this.curves.hasCurves ? 'Curves' : 'Curves (no metric was logged by step)', this.curves.hasCurves, this.curves.node),
      h('label', { class: 'jp-tracker-check', attrs: { for: 'jp-tracker-only-diff' } }, toggle, ' Only differences'),
      section('Parameters', true, this.table(d.params, false)),
      section('Metrics', true, this.table(d.metrics, true)),
      section('Data', true, this.dataTable()),
      section('Environment', false, this.table(d.environment, false))
    );
  }

  private dataTable(): HTMLElement {
    const d = this.data as Comparison;
    const rows = this.onlyDiff ? d.data.filter(r => r.changed) : d.data;
    if (!rows.length) {
      return h('p', { class: 'jp-tracker-muted' }, d.data.length ? 'Every run used the same data.' : 'No data logged.');
    }
    const body = h('tbody');
    for (const r of rows) {
      body.appendChild(
        h(
          'tr',
          { class: r.changed ? 'jp-mod-differs' : '' },
          h('th', { attrs: { scope: 'row' } }, r.name),
          ...r.refs.map((ref, i) => {
            const changes = r.changes[i] ?? [];
            return h(
              'td',
              { class: i > 0 && changes.length ? 'jp-mod-changed' : '' },
              ref ? h('code', { title: ref.digest }, ref.short) : '—',
              changes.length ? h('ul', { class: 'jp-tracker-changes' }, ...changes.map(c => h('li', null, c.text))) : null,
              i > 0 && ref && !changes.length ? h('div', { class: 'jp-tracker-muted' }, 'same') : null
            );
          })
        )
      );
    }
    return h('div', { class: 'jp-tracker-hscroll' }, h('table', { class: 'jp-tracker-grid-table' }, this.headRow(), body));
  }

  dispose(): void {
    this.data = null;
  }
}
