import { RunsTable } from '../src/runsTable';
import { columnLabel, columnTitle, defaultColumns, sortable, TrackerState } from '../src/state';
import { fakeServer, makeContext, makeRun } from './fake';

afterEach(() => {
  document.body.innerHTML = '';
});

describe('TrackerState', () => {
  it('keeps the selection in order, toggles, and signals each change once', () => {
    const state = new TrackerState();
    const seen: string[][] = [];
    state.selectionChanged.connect((_, ids) => seen.push([...ids]));
    state.toggle('a');
    state.toggle('b');
    state.toggle('a');
    state.select(['c', 'c', 'd']);
    state.select(['c', 'd']); // the same: no signal
    expect(state.selection).toEqual(['c', 'd']);
    expect(state.isSelected('d')).toBe(true);
    expect(seen).toEqual([['a'], ['a', 'b'], ['b'], ['c', 'd']]);
    state.clearSelection();
    expect(state.selection).toEqual([]);
  });

  it('moves, resizes and removes columns; defaults never replace a choice', () => {
    const state = new TrackerState();
    const changes: boolean[] = [];
    state.columnsChanged.connect((_, c) => changes.push(c.byUser));
    state.setColumns([{ key: 'status' }, { key: 'metrics.accuracy' }], false);
    expect(state.columnsChosen).toBe(false);
    state.addColumn('params.C');
    state.addColumn('params.C'); // already shown
    state.moveColumn('params.C', 0);
    state.setWidth('metrics.accuracy', 5000); // clamped
    expect(state.columns).toEqual([{ key: 'params.C' }, { key: 'status' }, { key: 'metrics.accuracy', width: 800 }]);
    state.removeColumn('status');
    state.setColumns([{ key: 'kind' }], false); // a default: ignored once chosen
    expect(state.columns.map(c => c.key)).toEqual(['params.C', 'metrics.accuracy']);
    expect(state.columnsChosen).toBe(true);
    expect(changes).toEqual([false, true, true, true, true]);
    // blank, duplicate and name keys are dropped (the name column is always first)
    state.setColumns([{ key: ' ' }, { key: 'name' }, { key: 'tags.a' }, { key: 'tags.a' }]);
    expect(state.columns).toEqual([{ key: 'tags.a' }]);
  });

  it('flips the sort on the same key and starts names ascending', () => {
    const state = new TrackerState();
    const sorts: string[] = [];
    state.sortChanged.connect((_, o) => sorts.push(o));
    state.sortBy('metrics.accuracy');
    state.sortBy('metrics.accuracy');
    state.sortBy('name');
    expect(sorts).toEqual(['metrics.accuracy desc', 'metrics.accuracy asc', 'name asc']);
  });

  it('signals a filter change only when something changed', () => {
    const state = new TrackerState();
    let n = 0;
    state.filterChanged.connect(() => n++);
    state.setFilter({ filter: 'metrics.accuracy > 0.9' });
    state.setFilter({ filter: 'metrics.accuracy > 0.9' });
    state.setFilter({ kind: 'all' });
    expect(n).toBe(2);
    expect(state.filter).toEqual({ filter: 'metrics.accuracy > 0.9', q: '', kind: 'all', status: '' });
  });

  it('names columns short in the header and in full on hover', () => {
    expect(columnLabel('metrics.accuracy_on_the_held_out_set')).toBe('accuracy_on_the_held_out_set');
    expect(columnTitle('metrics.accuracy')).toBe('metric accuracy');
    expect(columnTitle('params.C')).toBe('param C');
    expect(columnTitle('tags.model')).toBe('tag model');
    expect(columnLabel('start_time')).toBe('Started');
    expect(sortable('duration')).toBe(false);
    expect(sortable('tags.model')).toBe(true);
  });

  it('picks default columns from what the runs have, most common first', () => {
    const cols = defaultColumns(
      {
        metrics: [
          { key: 'rare', count: 1 },
          { key: 'accuracy', count: 9 },
          { key: 'loss', count: 9 }
        ],
        params: [{ key: 'C', count: 3 }],
        tags: [],
        sampled: 9,
        total: 9
      },
      2
    );
    expect(cols.map(c => c.key)).toEqual(['status', 'metrics.accuracy', 'metrics.loss', 'params.C', 'start_time', 'duration', 'kind']);
  });
});

describe('one state, two tables', () => {
  it('shows a selection made in the sidebar in the main-area table, and shares the sort', async () => {
    const server = fakeServer(Array.from({ length: 30 }, (_, i) => makeRun(i)));
    const rec = makeContext(server);
    const sidebar = new RunsTable(rec.ctx, 'sidebar');
    const main = new RunsTable(rec.ctx, 'main');
    document.body.append(sidebar.node, main.node);
    await sidebar.refresh();
    await main.refresh();
    const row = (t: RunsTable, id: string) => t.node.querySelector<HTMLElement>(`.jp-tracker-spacer > [data-run-id="${id}"]`) as HTMLElement;
    row(sidebar, 'run000029').dispatchEvent(new MouseEvent('click', { ctrlKey: true, bubbles: true }));
    row(sidebar, 'run000028').dispatchEvent(new MouseEvent('click', { ctrlKey: true, bubbles: true }));
    expect(row(main, 'run000029').classList.contains('jp-mod-selected')).toBe(true);
    expect(row(main, 'run000028').getAttribute('aria-selected')).toBe('true');
    expect(main.node.querySelector('.jp-tracker-count')?.textContent).toBe('30 runs');
    expect([...main.node.querySelectorAll('button')].find(b => b.textContent?.startsWith('Compare'))?.textContent).toBe('Compare (2)');
    // default columns came from GET /keys; the sidebar keeps the compact set with a metric
    const heads = (t: RunsTable) => [...t.node.querySelectorAll<HTMLElement>('[role=columnheader]')];
    expect(heads(main).map(c => c.textContent?.replace(/[▾▴]/g, '').trim())).toEqual(expect.arrayContaining(['Name', 'Kind', 'Started', 'accuracy', 'loss', 'C']));
    expect(heads(sidebar).map(c => c.dataset.key).slice(0, 4)).toEqual(['select', 'name', 'status', 'metrics.accuracy']);
    expect(heads(main).find(c => c.dataset.key === 'metrics.accuracy')?.title).toBe('metric accuracy');
    // sorting in the main view re-sorts the sidebar too
    await main.sortBy('metrics.accuracy');
    await sidebar.refresh();
    expect(new URL(server.requests[server.requests.length - 1].path, 'http://x/').searchParams.get('order_by')).toBe('metrics.accuracy desc');
    expect(heads(sidebar).find(c => c.dataset.key === 'metrics.accuracy')?.getAttribute('aria-sort')).toBe('descending');
    sidebar.dispose();
    main.dispose();
  });
});
