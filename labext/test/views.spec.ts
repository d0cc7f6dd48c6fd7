import { bestIndex, CompareView } from '../src/compareView';
import { SearchView, trialClass } from '../src/searchView';
import type { Comparison, SearchDetail, TrialRow } from '../src/types';
import { TrackerAPI } from '../src/api';
import { fakeServer, makeContext, makeRun } from './fake';

function trial(n: number, over: Partial<TrialRow> = {}): TrialRow {
  return {
    id: `t${n}`,
    name: `trial ${n}`,
    number: n,
    state: 'complete',
    status: 'finished',
    params: { C: n },
    metrics: {},
    values: { accuracy: 0.8 + n / 100, latency_p95_ms: 10 + n * 10 },
    constraints: { 'latency_p95_ms <= 50': { value: 10 + n * 10, violation: 0, feasible: 10 + n * 10 <= 50 } },
    feasible: 10 + n * 10 <= 50,
    pareto: false,
    duration_s: 0.5,
    error: null,
    test: null,
    feasible_on_test: null,
    start_time: '2026-01-01T00:00:00+00:00',
    ...over
  };
}

function search(): SearchDetail {
  const trials = Array.from({ length: 8 }, (_, i) => trial(i));
  return {
    search: makeRun(1, { kind: 'search', id: 's1', name: 'my search' }),
    study_name: 'st',
    objectives: { accuracy: 'maximize', latency_p95_ms: 'minimize' },
    constraints: [{ expr: 'latency_p95_ms <= 50', metric: 'latency_p95_ms', op: '<=', bound: 50 }],
    sampler: { name: 'TPESampler' },
    space: { C: { type: 'float' } },
    budget: null,
    pareto: ['t2', 't3', 't4'],
    chosen: 't4',
    closest: null,
    recheck: { t4: { validation: { accuracy: 0.84 }, test: { accuracy: 0.83 }, feasible_on_test: true } },
    hypervolume: [{ step: 1, value: 0.1 }, { step: 2, value: 'NaN' }, { step: 3, value: 0.3 }],
    importance: null,
    n_trials: 8,
    n_feasible: 5,
    trials
  };
}

describe('bestIndex', () => {
  it('takes the max, or the min for losses, latencies and errors', () => {
    expect(bestIndex('accuracy', [0.8, 0.9, 'NaN'])).toBe(1);
    expect(bestIndex('val_loss', [0.8, 0.3, null])).toBe(1);
    expect(bestIndex('latency_p95_ms', [30, 20, 'Infinity'])).toBe(1);
    expect(bestIndex('x', [null, 'NaN'])).toBeNull();
  });
});

describe('trialClass', () => {
  it('greys infeasible and failed trials before anything else', () => {
    const pareto = new Set(['a']);
    expect(trialClass(trial(1, { id: 'a', feasible: false }), null, pareto)).toBe('infeasible');
    expect(trialClass(trial(1, { id: 'a', state: 'fail' }), 'a', pareto)).toBe('failed');
    expect(trialClass(trial(1, { id: 'a' }), 'a', pareto)).toBe('chosen');
    expect(trialClass(trial(1, { id: 'a' }), null, pareto)).toBe('pareto');
    expect(trialClass(trial(1, { id: 'b', pareto: true }), null, pareto)).toBe('pareto');
    expect(trialClass(trial(1, { id: 'c' }), null, pareto)).toBe('feasible');
  });
});

describe('SearchView', () => {
  it('draws the Pareto chart with infeasible trials greyed, the hypervolume and the trials', async () => {
    const server = fakeServer([]);
    server.search = search();
    const rec = makeContext(server);
    const view = new SearchView(rec.ctx, 's1');
    document.body.appendChild(view.node);
    await view.refresh();
    const chart = view.node.querySelector('.jp-tracker-pareto svg') as SVGSVGElement;
    expect(chart.querySelectorAll('circle.jp-mod-infeasible')).toHaveLength(3);
    expect(chart.querySelectorAll('circle.jp-mod-pareto')).toHaveLength(2);
    expect(chart.querySelectorAll('circle.jp-mod-chosen')).toHaveLength(1);
    expect(view.node.querySelector('.jp-tracker-hv path.jp-tracker-line')).not.toBeNull();
    const trialRows = view.node.querySelectorAll('.jp-tracker-trials tbody tr');
    expect(trialRows).toHaveLength(8);
    expect(view.node.querySelectorAll('.jp-tracker-trials tbody tr.jp-mod-infeasible')).toHaveLength(3);
    expect(view.node.textContent).toContain('trial 4accuracy: 0.84 → 0.83');
    (trialRows[2] as HTMLElement).click();
    expect(rec.opened).toEqual(['run:t2']);
    const frontOnly = view.node.querySelector<HTMLInputElement>('input[type=checkbox]') as HTMLInputElement;
    frontOnly.checked = true;
    frontOnly.dispatchEvent(new Event('change'));
    expect(view.node.querySelectorAll('.jp-tracker-trials tbody tr')).toHaveLength(3);
    expect(view.live).toBe(false);
    expect(view.node.querySelector('.jp-tracker-no-choice')).toBeNull();
    // The card of the chosen model is the search's card: its human sections are kept on
    // the search (tracker.model_card(result, ...)), not on the trial.
    [...view.node.querySelectorAll<HTMLButtonElement>('button')].find(b => b.textContent === 'Card of chosen')?.click();
    expect(rec.opened[rec.opened.length - 1]).toBe(`card:${server.search?.search.id}`);
  });

  it('says plainly when no configuration met the budget on held-out data, and shows the closest as such', async () => {
    const server = fakeServer([]);
    const d = search();
    d.chosen = null;
    d.closest = 't3';
    d.recheck = {
      t3: { validation: { latency_p95_ms: 40 }, test: { latency_p95_ms: 55 }, feasible_on_test: false },
      t4: { validation: { latency_p95_ms: 50 }, test: { latency_p95_ms: 70 }, feasible_on_test: false }
    };
    server.search = d;
    const rec = makeContext(server);
    const view = new SearchView(rec.ctx, 's1');
    document.body.appendChild(view.node);
    await view.refresh();
    const notice = view.node.querySelector('.jp-tracker-no-choice') as HTMLElement;
    expect(notice.textContent).toContain('No configuration met the budget on held-out data');
    expect(notice.textContent).toContain('trial 3');
    const chart = view.node.querySelector('.jp-tracker-pareto svg') as SVGSVGElement;
    expect(chart.querySelectorAll('circle.jp-mod-chosen')).toHaveLength(0);
    expect(view.node.textContent).not.toContain('Card of chosen');
    expect(view.node.textContent).toContain('(infeasible on test; the closest, not chosen)');
    expect(view.node.textContent).toContain('★ closest, not chosen');
    (notice.querySelector('button') as HTMLButtonElement).click();
    expect(rec.opened).toEqual(['run:t3']);
  });
});

describe('CompareView', () => {
  it('marks changed values, the best metric, and lists data changes', async () => {
    const cmp: Comparison = {
      runs: [makeRun(1, { id: 'a', name: 'A' }), makeRun(2, { id: 'b', name: 'B' })],
      params: [
        { key: 'C', values: [1, 10], differs: true },
        { key: 'kernel', values: ['rbf', 'rbf'], differs: false }
      ],
      metrics: [{ key: 'accuracy', values: [0.8, 0.9], differs: true }],
      data: [
        {
          name: 'X',
          refs: [
            { digest: 'd1', short: 'd1', kind: 'dataframe', shape: [10, 2], rows: 10, partial: false },
            { digest: 'd2', short: 'd2', kind: 'dataframe', shape: [12, 2], rows: 12, partial: false }
          ],
          changed: true,
          changes: [[], [{ what: 'shape', before: [10, 2], after: [12, 2], text: 'shape: (10, 2) → (12, 2)' }]]
        }
      ],
      environment: []
    };
    const transport = async () => ({ ok: true, status: 200, statusText: '', json: async () => cmp, text: async () => '' }) as unknown as Response;
    const rec = makeContext(fakeServer([]));
    rec.ctx.api = new TrackerAPI(transport);
    const view = new CompareView(rec.ctx, ['a', 'b']);
    await view.refresh();
    expect(view.node.textContent).not.toContain('kernel'); // only differences by default
    expect(view.node.querySelector('td.jp-mod-best')?.textContent).toBe('0.9');
    expect(view.node.querySelectorAll('td.jp-mod-changed').length).toBeGreaterThanOrEqual(3);
    expect(view.node.querySelector('.jp-tracker-changes li')?.textContent).toBe('shape: (10, 2) → (12, 2)');
    const all = view.node.querySelector<HTMLInputElement>('#jp-tracker-only-diff') as HTMLInputElement;
    all.checked = false;
    all.dispatchEvent(new Event('change'));
    expect(view.node.textContent).toContain('kernel');
  });
});
