/** Searches: the list, and one search with its Pareto chart, hypervolume and trials. */

import type { PanelContext, View } from './context';
import { lineChart, scatterChart, type PointClass, type ScatterPoint } from './charts';
import { button, clear, h, kvTable, section } from './dom';
import { formatAgo, formatDuration, formatValue, toNumber } from './format';
import { importanceBars, parallelCoordinates, parAxes, parLines } from './searchCharts';
import type { SearchDetail, SearchesPage, TrialRow } from './types';

export class SearchesView implements View {
  readonly node: HTMLElement;
  readonly title = 'Searches';
  readonly live = true;
  private page: SearchesPage | null = null;

  constructor(private readonly ctx: PanelContext) {
    this.node = h('div', { class: 'jp-tracker-searches' }, h('p', { class: 'jp-tracker-muted' }, 'Loading searches…'));
  }

  async refresh(): Promise<void> {
    this.page = await this.ctx.api.searches({ limit: 200 });
    this.render();
  }

  private render(): void {
    const p = this.page;
    if (!p) {
      return;
    }
    clear(this.node);
    if (!p.searches.length) {
      this.node.appendChild(h('p', { class: 'jp-tracker-empty' }, 'No searches yet. Start one with tracker.optimize(...) in a notebook.'));
      return;
    }
    const body = h('tbody');
    for (const srch of p.searches) {
      const open = () => this.ctx.openSearch(srch.id);
      body.appendChild(
        h(
          'tr',
          {
            class: 'jp-tracker-clickable',
            tabIndex: 0,
            dataset: { runId: srch.id },
            on: {
              click: open,
              keydown: (ev: KeyboardEvent) => {
                if (ev.key === 'Enter') {
                  open();
                }
              }
            }
          },
          h('td', null, h('span', { class: 'jp-tracker-name' }, srch.name)),
          h('td', null, h('span', { class: `jp-tracker-status jp-mod-${srch.status}` }, srch.status)),
          h('td', null, Object.entries(srch.objectives).map(([k, d]) => `${d === 'maximize' ? '↑' : '↓'}${k}`).join(' ')),
          h('td', { class: 'jp-mod-numeric' }, String(srch.n_trials)),
          h('td', { class: 'jp-mod-numeric' }, srch.n_feasible === null ? '' : String(srch.n_feasible)),
          h('td', { class: 'jp-mod-numeric' }, String(srch.pareto_size)),
          h('td', { class: 'jp-mod-numeric' }, formatValue(srch.hypervolume)),
          h('td', null, formatAgo(srch.start_time))
        )
      );
    }
    this.node.appendChild(
      h(
        'table',
        { class: 'jp-tracker-grid-table' },
        h(
          'thead',
          null,
          h('tr', null, ...['Search', 'Status', 'Objectives', 'Trials', 'Feasible', 'Front', 'Hypervolume', 'Started'].map(t => h('th', { attrs: { scope: 'col' } }, t)))
        ),
        body
      )
    );
  }

  dispose(): void {
    this.page = null;
  }
}

/** The class a trial is drawn with on the Pareto chart. */
export function trialClass(t: TrialRow, chosen: string | null, pareto: Set<string>): PointClass {
  if (t.state === 'fail' || t.status === 'failed') {
    return 'failed';
  }
  if (t.state === 'pruned') {
    return 'pruned';
  }
  if (t.feasible === false) {
    return 'infeasible';
  }
  if (t.id === chosen) {
    return 'chosen';
  }
  return pareto.has(t.id) || t.pareto ? 'pareto' : 'feasible';
}

/** Trial rows the table shows before "Show all" (the charts always draw every trial). */
export const TRIAL_ROWS = 100;

export class SearchView implements View {
  readonly node: HTMLElement;
  title = 'Search';
  private data: SearchDetail | null = null;
  private xKey: string | null = null;
  private yKey: string | null = null;
  private frontOnly = false;
  /** Trial table rows shown: laying out 1,000 rows of a dozen cells took most of a big search's first paint. */
  private tableLimit = TRIAL_ROWS;

  constructor(
    private readonly ctx: PanelContext,
    readonly searchId: string
  ) {
    this.node = h('div', { class: 'jp-tracker-search' }, h('p', { class: 'jp-tracker-muted' }, 'Loading search…'));
  }

  get live(): boolean {
    return !this.data || this.data.search.status === 'running';
  }

  async refresh(): Promise<void> {
    this.data = await this.ctx.api.search(this.searchId);
    this.title = this.data.search.name;
    this.render();
  }

  /** The chart's points for the chosen axes (one objective: value by trial number). */
  points(d: SearchDetail): { points: ScatterPoint[]; xLabel: string; yLabel: string } {
    const objs = Object.keys(d.objectives);
    const pareto = new Set(d.pareto);
    const x = this.xKey ?? (objs.length >= 2 ? objs[0] : null);
    const y = this.yKey ?? (objs.length >= 2 ? objs[1] : objs[0] ?? null);
    const value = (t: TrialRow, k: string | null, fallback: number): number => {
      if (k === null) {
        return fallback;
      }
      const v = t.values[k] ?? t.metrics[k];
      const n = toNumber(v as never);
      return n === null ? NaN : n;
    };
    const points = d.trials.map((t, i) => {
      const cls = trialClass(t, d.chosen, pareto);
      const px = value(t, x, t.number ?? i);
      const py = value(t, y, NaN);
      const tags = [cls === 'infeasible' ? 'infeasible' : '', cls === 'pruned' ? 'pruned' : '', t.feasible_on_test === false ? 'infeasible on test' : '', cls === 'pareto' || cls === 'chosen' ? 'on the front' : '', cls === 'chosen' ? 'chosen' : '', t.id === d.closest ? 'closest, breaks the budget on test' : '']
        .filter(Boolean)
        .join(', ');
      return {
        id: t.id,
        x: px,
        y: py,
        cls,
        testInfeasible: t.feasible_on_test === false,
        label: `trial ${t.number ?? '?'}: ${x ?? 'trial'}=${formatValue(px)}, ${y}=${formatValue(py)}${tags ? ` (${tags})` : ''}`
      };
    });
    const dir = (k: string | null) => (k && d.objectives[k] ? ` (${d.objectives[k] === 'maximize' ? '↑ better' : '↓ better'})` : '');
    return { points, xLabel: `${x ?? 'trial number'}${dir(x)}`, yLabel: `${y ?? ''}${dir(y)}` };
  }

  private axisPicker(label: string, current: string, options: string[], set: (k: string) => void): HTMLElement {
    const id = `jp-tracker-axis-${label}-${this.searchId.slice(0, 6)}`;
    const sel = h(
      'select',
      { class: 'jp-tracker-select', attrs: { id }, on: { change: () => set(sel.value) } },
      ...options.map(o => h('option', { attrs: { value: o } }, o))
    );
    sel.value = current;
    return h('label', { attrs: { for: id } }, `${label} `, sel);
  }

  private render(): void {
    const d = this.data;
    if (!d) {
      return;
    }
    clear(this.node);
    const objs = Object.keys(d.objectives);
    const { points, xLabel, yLabel } = this.points(d);
    const counts = { infeasible: 0, front: 0, pruned: 0, test: 0 };
    for (const p of points) {
      counts.infeasible += p.cls === 'infeasible' ? 1 : 0;
      counts.pruned += p.cls === 'pruned' ? 1 : 0;
      counts.test += p.testInfeasible ? 1 : 0;
      counts.front += p.cls === 'pareto' || p.cls === 'chosen' ? 1 : 0;
    }
    this.node.append(
      h('h2', null, d.search.name),
      h(
        'div',
        { class: 'jp-tracker-muted' },
        h('span', { class: `jp-tracker-status jp-mod-${d.search.status}` }, d.search.status),
        ` ${d.n_trials} trials · ${d.n_feasible} feasible · ${counts.front} on the front`,
        d.study_name ? ` · study ${d.study_name}` : '',
        d.sampler && typeof d.sampler['name'] === 'string' ? ` · ${d.sampler['name']}` : ''
      ),
      h('div', { class: 'jp-tracker-actions' }, button('Run details', () => this.ctx.openRun(d.search.id)), d.chosen ? button('Chosen trial', () => this.ctx.openRun(d.chosen as string)) : null, d.chosen ? button('Card of chosen', () => this.ctx.openCard(d.search.id), { title: "The model card of this search: its chosen trial's model, with the sections saved by tracker.model_card(result, ...)" }) : null)
    );
    if (!d.chosen && d.closest) {
      // Hard constraints stay hard: nothing is chosen; the closest is shown as such.
      const closest = d.trials.find(t => t.id === d.closest);
      this.node.append(
        h(
          'p',
          { class: 'jp-tracker-warning jp-tracker-no-choice' },
          `No configuration met the budget on held-out data, so nothing was chosen. The closest, trial ${closest?.number ?? '?'}, breaks it on test. `,
          button('Closest trial', () => this.ctx.openRun(d.closest as string))
        )
      );
    }
    if (objs.length > 2) {
      this.node.append(
        h(
          'div',
          { class: 'jp-tracker-toolbar' },
          this.axisPicker('x', this.xKey ?? objs[0], objs, k => ((this.xKey = k), this.render())),
          this.axisPicker('y', this.yKey ?? objs[1], objs, k => ((this.yKey = k), this.render()))
        )
      );
    }
    // Draw at the panel's width so text keeps its size (SVG scales everything).
    const width = Math.max(280, Math.min(640, (this.node.clientWidth || 420) - 24));
    const chart = scatterChart(points, {
      width,
      height: Math.round(width * 0.66),
      xLabel,
      yLabel,
      title: objs.length >= 2 ? 'Pareto front' : 'Objective by trial',
      onSelect: id => this.ctx.openRun(id)
    });
    this.node.append(
      section(
        objs.length >= 2 ? 'Pareto front' : 'Trials',
        true,
        h('div', { class: 'jp-tracker-chart-box jp-tracker-pareto' }, chart),
        h(
          'div',
          { class: 'jp-tracker-legend' },
          h('span', { class: 'jp-tracker-key jp-mod-pareto' }, 'front'),
          h('span', { class: 'jp-tracker-key jp-mod-chosen' }, 'chosen'),
          h('span', { class: 'jp-tracker-key jp-mod-feasible' }, 'feasible'),
          h('span', { class: 'jp-tracker-key jp-mod-infeasible' }, `infeasible (${counts.infeasible})`),
          counts.pruned ? h('span', { class: 'jp-tracker-key jp-mod-pruned' }, `pruned (${counts.pruned})`) : null,
          counts.test ? h('span', { class: 'jp-tracker-key jp-mod-test' }, `infeasible on test (${counts.test})`) : null
        )
      )
    );
    this.node.append(this.parcoordsSection(d, width), this.importanceSection(d));
    if (d.constraints.length) {
      this.node.append(section('Constraints', true, h('ul', null, ...d.constraints.map(c => h('li', null, h('code', null, c.expr))))));
    }
    const hv = d.hypervolume
      .map((p, i) => ({ x: p.step ?? i + 1, y: toNumber(p.value) ?? NaN }))
      .filter(p => Number.isFinite(p.y));
    this.node.append(
      section(
        'Hypervolume',
        true,
        hv.length
          ? h('div', { class: 'jp-tracker-chart-box jp-tracker-hv' }, lineChart(hv, { width, height: Math.round(width * 0.5), xLabel: 'finished trials', yLabel: 'hypervolume', title: 'Hypervolume history' }))
          : h('p', { class: 'jp-tracker-muted' }, 'No hypervolume logged yet.')
      )
    );
    const recheck = Object.entries(d.recheck);
    if (recheck.length) {
      this.node.append(section('Test re-check', true, this.recheckTable(d)));
    }
    this.node.append(section(`Trials (${d.trials.length})`, true, this.trialTable(d)));
    if (Object.keys(d.space).length) {
      this.node.append(section('Search space', false, kvTable(Object.entries(d.space).map(([k, v]) => [k, JSON.stringify(v)]))));
    }
  }

  /** Params to objectives, one line per trial; hover names the trial, click opens it. */
  private parcoordsSection(d: SearchDetail, chartWidth: number): HTMLElement {
    const lines = parLines(d);
    const axes = parAxes(d, lines);
    const readout = h('p', { class: 'jp-tracker-muted jp-tracker-pc-readout', aria: { live: 'polite' } }, 'Hover a line for its trial; click it to open the trial.');
    const width = Math.max(chartWidth, Math.min(1200, axes.length * 110));
    const chart = parallelCoordinates(axes, lines, {
      width,
      height: 300,
      title: 'Parallel coordinates: params to objectives',
      onSelect: id => this.ctx.openRun(id),
      onHover: l => {
        readout.textContent = l ? l.label : 'Hover a line for its trial; click it to open the trial.';
      }
    });
    return section(
      'Parallel coordinates',
      true,
      h('div', { class: 'jp-tracker-chart-box jp-tracker-hscroll jp-tracker-pc' }, chart),
      h(
        'div',
        { class: 'jp-tracker-legend' },
        h('span', { class: 'jp-tracker-key jp-mod-chosen' }, 'chosen'),
        h('span', { class: 'jp-tracker-key jp-mod-pareto' }, 'front'),
        h('span', { class: 'jp-tracker-key jp-mod-feasible' }, 'feasible'),
        h('span', { class: 'jp-tracker-key jp-mod-violated' }, 'violates a constraint'),
        h('span', { class: 'jp-tracker-key jp-mod-pruned' }, 'pruned')
      ),
      readout
    );
  }

  /** Optuna's importances (computed by the search when it finished), one bar chart per objective. */
  private importanceSection(d: SearchDetail): HTMLElement {
    const imp = d.importance;
    if (!imp || !Object.keys(imp.objectives).length) {
      const why = imp?.reason ?? (d.search.status === 'running' ? 'Computed when the search finishes.' : 'Not recorded for this search.');
      return section('Parameter importance', true, h('p', { class: 'jp-tracker-muted jp-tracker-imp-none' }, why));
    }
    const method = (imp.method ?? '').replace(/ImportanceEvaluator$/, '').replace('PedAnova', 'PED-ANOVA');
    return section(
      'Parameter importance',
      true,
      h('div', { class: 'jp-tracker-imp-grid' }, ...importanceBars(imp, d.objectives)),
      h('p', { class: 'jp-tracker-muted' }, `Optuna's ${method || 'importance'} over ${imp.n_complete} completed trials, normalised per objective.`)
    );
  }

  private recheckTable(d: SearchDetail): HTMLElement {
    const rows: Array<[string, string]> = [];
    for (const [id, raw] of Object.entries(d.recheck)) {
      const t = d.trials.find(tr => tr.id === id);
      const r = (raw ?? {}) as Record<string, Record<string, unknown> | boolean>;
      const val = r['validation'] as Record<string, unknown> | undefined;
      const test = r['test'] as Record<string, unknown> | undefined;
      const keys = Object.keys(test ?? {});
      const text = keys.map(k => `${k}: ${formatValue((val?.[k] ?? null) as never)} → ${formatValue((test?.[k] ?? null) as never)}`).join(', ');
      const ok = r['feasible_on_test'];
      const note = id === d.closest ? ' (infeasible on test; the closest, not chosen)' : ok === false ? ' (infeasible on test)' : '';
      rows.push([`trial ${t?.number ?? id.slice(0, 8)}`, `${text}${note}`]);
    }
    return kvTable(rows);
  }

  private trialTable(d: SearchDetail): HTMLElement {
    const objs = Object.keys(d.objectives);
    const cons = d.constraints.map(c => c.expr);
    const paramKeys = [...new Set(d.trials.flatMap(t => Object.keys(t.params)))].slice(0, 6);
    const pareto = new Set(d.pareto);
    const toggle = h('input', {
      attrs: { type: 'checkbox', id: `jp-tracker-front-only-${d.search.id.slice(0, 6)}` },
      on: {
        change: () => {
          this.frontOnly = toggle.checked;
          this.render();
        }
      }
    });
    toggle.checked = this.frontOnly;
    const tested = d.trials.some(t => typeof t.feasible_on_test === 'boolean');
    const rows = d.trials.filter(t => !this.frontOnly || pareto.has(t.id) || t.pareto);
    const body = h('tbody');
    for (const t of rows.slice(0, this.tableLimit)) {
      const cls = trialClass(t, d.chosen, pareto);
      body.appendChild(
        h(
          'tr',
          {
            class: `jp-tracker-clickable jp-mod-${cls}`,
            tabIndex: 0,
            dataset: { runId: t.id },
            on: {
              click: () => this.ctx.openRun(t.id),
              keydown: (ev: KeyboardEvent) => {
                if (ev.key === 'Enter') {
                  this.ctx.openRun(t.id);
                }
              }
            }
          },
          h('td', { class: 'jp-mod-numeric' }, t.number === null ? '' : String(t.number)),
          h('td', null, t.state ?? t.status),
          h('td', { title: t.feasible === false ? 'violates a constraint' : '' }, t.feasible === null ? '' : t.feasible ? '✓' : '✗'),
          ...(tested ? [h('td', { title: t.feasible_on_test === false ? 'breaks a constraint on test' : '' }, typeof t.feasible_on_test !== 'boolean' ? '' : t.feasible_on_test ? '✓' : '✗')] : []),
          h('td', null, cls === 'pareto' || cls === 'chosen' ? (cls === 'chosen' ? '★ chosen' : t.id === d.closest ? '★ closest, not chosen' : '★') : ''),
          ...objs.map(k => h('td', { class: 'jp-mod-numeric' }, formatValue(t.values[k] as never))),
          ...cons.map(c => {
            const st = t.constraints[c];
            return h('td', { class: `jp-mod-numeric ${st && st.feasible === false ? 'jp-mod-violated' : ''}` }, st ? formatValue(st.value as never) : '');
          }),
          ...paramKeys.map(k => h('td', null, formatValue(t.params[k]))),
          h('td', null, typeof t.duration_s === 'number' ? formatDuration(t.duration_s) : '')
        )
      );
    }
    const heads = ['#', 'State', 'Feasible', ...(tested ? ['On test'] : []), 'Front', ...objs, ...cons, ...paramKeys, 'Duration'];
    return h(
      'div',
      null,
      h('label', { class: 'jp-tracker-check', attrs: { for: toggle.id } }, toggle, ' Front only'),
      h(
        'div',
        { class: 'jp-tracker-hscroll' },
        h('table', { class: 'jp-tracker-grid-table jp-tracker-trials' }, h('thead', null, h('tr', null, ...heads.map(t => h('th', { attrs: { scope: 'col' } }, t)))), body)
      ),
      rows.length > this.tableLimit
        ? button(`Show all ${rows.length} trials`, () => ((this.tableLimit = Infinity), this.render()), {
            cls: 'jp-tracker-more',
            title: `The table shows the first ${this.tableLimit} trials; the charts above draw them all`
          })
        : null
    );
  }

  dispose(): void {
    this.data = null;
  }
}
