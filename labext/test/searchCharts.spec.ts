import { axisValue, importanceBars, lineClass, parallelCoordinates, parAxes, parLines, type ParAxis } from '../src/searchCharts';
import { SearchView, trialClass, TRIAL_ROWS } from '../src/searchView';
import type { SearchDetail, TrialRow } from '../src/types';
import { fakeServer, makeContext, makeRun } from './fake';

const HOSTILE = '<img src=x onerror=alert(1)>';

function trial(n: number, over: Partial<TrialRow> = {}): TrialRow {
  const lat = 10 + n * 10;
  return {
    id: `t${n}`,
    name: `trial ${n}`,
    number: n,
    state: 'complete',
    status: 'finished',
    params: { C: 10 ** (n - 3), kernel: n % 2 ? 'rbf' : 'linear', [HOSTILE]: n },
    metrics: { latency_p95_ms: lat },
    values: { accuracy: 0.8 + n / 100 },
    constraints: { 'latency_p95_ms <= 50': { value: lat, violation: Math.max(0, lat - 50), feasible: lat <= 50 } },
    feasible: lat <= 50,
    pareto: false,
    duration_s: 0.5,
    error: null,
    test: null,
    feasible_on_test: null,
    start_time: '2026-01-01T00:00:00+00:00',
    ...over
  };
}

/** Ten trials: 0-4 feasible (3 on the front, 4 chosen), 5-7 break the latency budget, 8 pruned, 9 failed. */
function search(): SearchDetail {
  const trials = Array.from({ length: 10 }, (_, i) => trial(i));
  trials[8] = trial(8, { state: 'pruned', values: { accuracy: null }, feasible: false, metrics: {} });
  trials[9] = trial(9, { state: 'fail', status: 'failed', values: { accuracy: null }, feasible: false, metrics: {} });
  trials[3] = trial(3, { feasible_on_test: false });
  trials[4] = trial(4, { feasible_on_test: true });
  return {
    search: makeRun(1, { kind: 'search', id: 's1', name: 'my search' }),
    study_name: 'st',
    objectives: { accuracy: 'maximize' },
    constraints: [{ expr: 'latency_p95_ms <= 50', metric: 'latency_p95_ms', op: '<=', bound: 50 }],
    sampler: { name: 'TPESampler' },
    space: { C: { type: 'float', low: 0.001, high: 1000000, log: true }, kernel: { type: 'categorical', choices: ['linear', 'rbf'] } },
    budget: null,
    pareto: ['t2', 't3', 't4'],
    chosen: 't4',
    closest: null,
    recheck: {},
    hypervolume: [],
    importance: {
      method: 'PedAnovaImportanceEvaluator',
      n_complete: 8,
      objectives: { accuracy: { C: 0.7, kernel: 0.2, [HOSTILE]: 0.1 } },
      reason: null
    },
    n_trials: 10,
    n_feasible: 5,
    trials
  };
}

describe('parallel coordinates', () => {
  it('puts params (log and category scales), objectives, then constraint metrics on axes', () => {
    const d = search();
    const axes = parAxes(d, parLines(d));
    expect(axes.map(a => [a.key, a.kind, a.type])).toEqual([
      ['C', 'param', 'log'],
      ['kernel', 'param', 'category'],
      [HOSTILE, 'param', 'linear'],
      ['accuracy', 'objective', 'linear'],
      ['latency_p95_ms', 'constraint', 'linear']
    ]);
    expect(axes[1].categories).toEqual(['linear', 'rbf']);
    expect(axes[4].bound).toBe(50);
    expect(axisValue(axes[0], 100)).toBeCloseTo(2);
    expect(axisValue(axes[0], -1)).toBeNaN();
    expect(axisValue(axes[1], 'rbf')).toBe(1);
    expect(axisValue(axes[1], 'poly')).toBeNaN();
    expect(axisValue(axes[3], null)).toBeNaN();
  });

  it('takes a log scale for positive values over two decades when the search recorded no space', () => {
    const d = search();
    d.space = {};
    const axes = parAxes(d, parLines(d));
    expect(axes.find(a => a.key === 'C')?.type).toBe('log');
    d.space = { C: { type: 'float', log: false } };
    expect(parAxes(d, parLines(d)).find(a => a.key === 'C')?.type).toBe('linear');
    d.space = {};
    d.trials = d.trials.map(t => ({ ...t, params: { ...t.params, C: 1 + (t.number ?? 0) } }));
    expect(parAxes(d, parLines(d)).find(a => a.key === 'C')?.type).toBe('linear');
  });

  it('colours constraint violations, greys pruned and failed trials, and draws the choice on top', () => {
    const d = search();
    const lines = parLines(d);
    expect(lines.map(l => l.cls)).toEqual(['feasible', 'feasible', 'pareto', 'pareto', 'chosen', 'infeasible', 'infeasible', 'infeasible', 'pruned', 'failed']);
    const svg = parallelCoordinates(parAxes(d, lines), lines);
    const paths = [...svg.querySelectorAll('path.jp-tracker-pc-line')];
    expect(paths).toHaveLength(10);
    expect(svg.querySelectorAll('path.jp-mod-infeasible')).toHaveLength(3);
    expect(svg.querySelectorAll('path.jp-mod-pruned')).toHaveLength(1);
    expect(paths[paths.length - 1].getAttribute('data-id')).toBe('t4');
    expect(paths[0].getAttribute('class')).toContain('jp-mod-failed');
    // a pruned trial has no objective: its line breaks there instead of dropping to zero
    const pruned = svg.querySelector('path.jp-mod-pruned')?.getAttribute('d') ?? '';
    expect(pruned.match(/M/g)).toHaveLength(1);
    expect(pruned.match(/L/g)).toHaveLength(2);
    expect(svg.querySelectorAll('.jp-tracker-pc-axis')).toHaveLength(5);
    expect(svg.querySelectorAll('line.jp-tracker-pc-bound')).toHaveLength(1);
    expect(lineClass(trial(1, { state: 'pruned', feasible: false }), null, new Set())).toBe('pruned');
    expect(trialClass(trial(1, { state: 'pruned', feasible: false }), null, new Set())).toBe('pruned');
  });

  it('shows names as text, never markup, and reports hover and click', () => {
    const d = search();
    const lines = parLines(d);
    const hovered: Array<string | null> = [];
    const picked: string[] = [];
    const svg = parallelCoordinates(parAxes(d, lines), lines, { onSelect: id => picked.push(id), onHover: l => hovered.push(l ? l.id : null) });
    document.body.appendChild(svg);
    expect(svg.querySelector('img')).toBeNull();
    expect([...svg.querySelectorAll('text')].some(t => t.firstChild?.nodeValue === HOSTILE)).toBe(true);
    const line = svg.querySelector('path[data-id="t5"]') as SVGPathElement;
    expect(line.querySelector('title')?.textContent).toContain('trial 5 (violates a constraint)');
    line.dispatchEvent(new MouseEvent('mouseover', { bubbles: true }));
    line.dispatchEvent(new MouseEvent('click', { bubbles: true }));
    svg.querySelector('g.jp-tracker-lines')?.dispatchEvent(new MouseEvent('mouseleave'));
    expect(hovered).toEqual(['t5', null]);
    expect(picked).toEqual(['t5']);
    svg.remove();
  });

  it('draws an empty chart when there is nothing to draw', () => {
    expect(parallelCoordinates([], []).querySelectorAll('path')).toHaveLength(0);
    const only: ParAxis = { key: 'x', label: 'x', kind: 'param', type: 'linear', categories: [], bound: null, direction: null };
    const svg = parallelCoordinates([only], [{ id: 'a', cls: 'feasible', values: { x: 3 }, label: 'a' }]);
    expect(svg.querySelector('path')?.getAttribute('d')).toMatch(/^M[\d.]+,[\d.]+$/);
  });
});

describe('importanceBars', () => {
  it('draws one bar per param per objective, largest first, widths in proportion', () => {
    const d = search();
    const charts = importanceBars(d.importance!, d.objectives, 400);
    expect(charts).toHaveLength(1);
    const rows = [...charts[0].querySelectorAll('g.jp-tracker-imp-row')];
    expect(rows.map(r => r.getAttribute('data-param'))).toEqual(['C', 'kernel', HOSTILE]);
    const widths = [...charts[0].querySelectorAll('rect.jp-tracker-imp-bar')].map(r => Number(r.getAttribute('width')));
    expect(widths[0]).toBeGreaterThan(widths[1]);
    expect(widths[1] / widths[0]).toBeCloseTo(0.2 / 0.7, 1);
    expect(charts[0].querySelector('img')).toBeNull();
    expect(charts[0].textContent).toContain(HOSTILE);
  });

  it('copes with NaN and negative figures', () => {
    const charts = importanceBars({ method: null, n_complete: 5, objectives: { a: { x: 'NaN', y: -1, z: 0 } }, reason: null }, { a: 'minimize' });
    const widths = [...charts[0].querySelectorAll('rect')].map(r => Number(r.getAttribute('width')));
    expect(widths).toEqual([0, 0, 0]);
  });
});

describe('SearchView search charts', () => {
  it('marks pruned and test-infeasible trials, draws parallel coordinates and importances', async () => {
    const server = fakeServer([]);
    server.search = search();
    const rec = makeContext(server);
    const view = new SearchView(rec.ctx, 's1');
    document.body.appendChild(view.node);
    await view.refresh();
    const pareto = view.node.querySelector('.jp-tracker-pareto svg') as SVGSVGElement;
    expect(pareto.querySelectorAll('circle.jp-mod-pruned')).toHaveLength(0); // no objective value to place it by
    expect(pareto.querySelectorAll('circle.jp-tracker-test-ring')).toHaveLength(1);
    expect(view.node.querySelector('.jp-tracker-key.jp-mod-pruned')?.textContent).toBe('pruned (1)');
    expect(view.node.querySelector('.jp-tracker-key.jp-mod-test')?.textContent).toBe('infeasible on test (1)');
    expect(view.node.querySelectorAll('.jp-tracker-pc path.jp-tracker-pc-line')).toHaveLength(10);
    expect(view.node.querySelectorAll('.jp-tracker-importance rect.jp-tracker-imp-bar')).toHaveLength(3);
    expect(view.node.textContent).toContain("Optuna's PED-ANOVA over 8 completed trials");
    const heads = [...view.node.querySelectorAll('.jp-tracker-trials th')].map(t => t.textContent);
    expect(heads.slice(0, 5)).toEqual(['#', 'State', 'Feasible', 'On test', 'Front']);
    const line = view.node.querySelector('.jp-tracker-pc path[data-id="t6"]') as SVGPathElement;
    line.dispatchEvent(new MouseEvent('mouseover', { bubbles: true }));
    expect(view.node.querySelector('.jp-tracker-pc-readout')?.textContent).toContain('trial 6 (violates a constraint)');
    line.dispatchEvent(new MouseEvent('click', { bubbles: true }));
    expect(rec.opened).toEqual(['run:t6']);
    view.node.remove();
  });

  it('says why there are no importances', async () => {
    const server = fakeServer([]);
    const d = search();
    d.importance = { method: null, n_complete: 3, objectives: {}, reason: '3 completed trial(s); importance needs at least 5' };
    server.search = d;
    const view = new SearchView(makeContext(server).ctx, 's1');
    await view.refresh();
    expect(view.node.querySelector('.jp-tracker-imp-none')?.textContent).toContain('needs at least 5');
    d.importance = null;
    await view.refresh();
    expect(view.node.querySelector('.jp-tracker-imp-none')?.textContent).toBe('Not recorded for this search.');
  });
});

describe('SearchView with many trials', () => {
  it('draws every trial in the charts but lays out the first rows of the table until asked', async () => {
    const server = fakeServer([]);
    const d = search();
    const n = TRIAL_ROWS + 50;
    d.trials = Array.from({ length: n }, (_, i) => trial(i % 5, { id: `m${i}`, number: i }));
    d.pareto = [];
    d.chosen = null;
    server.search = d;
    const view = new SearchView(makeContext(server).ctx, 's1');
    await view.refresh();
    expect(view.node.querySelectorAll('.jp-tracker-pc path.jp-tracker-pc-line')).toHaveLength(n);
    expect(view.node.querySelectorAll('.jp-tracker-trials tbody tr')).toHaveLength(TRIAL_ROWS);
    const more = view.node.querySelector('button.jp-tracker-more') as HTMLButtonElement;
    expect(more.textContent).toBe(`Show all ${n} trials`);
    more.click();
    expect(view.node.querySelectorAll('.jp-tracker-trials tbody tr')).toHaveLength(n);
    expect(view.node.querySelector('button.jp-tracker-more')).toBeNull();
  });
});
