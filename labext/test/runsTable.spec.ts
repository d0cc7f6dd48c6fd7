import { commonKeys, ROW_HEIGHT, RunsTable } from '../src/runsTable';
import { fakeServer, makeContext, makeRun } from './fake';

const HOSTILE = '<img src=x onerror="window.__xss=1">';

function mount(n: number) {
  const runs = Array.from({ length: n }, (_, i) => makeRun(i));
  const server = fakeServer(runs);
  const rec = makeContext(server);
  const table = new RunsTable(rec.ctx);
  document.body.appendChild(table.node);
  return { runs, server, rec, table };
}

function rows(table: RunsTable): HTMLElement[] {
  return [...table.node.querySelectorAll<HTMLElement>('.jp-tracker-spacer > .jp-tracker-row')];
}

afterEach(() => {
  document.body.innerHTML = '';
});

describe('commonKeys', () => {
  it('orders keys by how many rows have them', () => {
    expect(commonKeys([{ a: 1, b: 1 }, { b: 1, c: 1 }, { b: 1, c: 2 }], 2)).toEqual(['b', 'c']);
  });
});

describe('RunsTable', () => {
  it('renders only the rows in view of 10,000 runs, fetching one page', async () => {
    const { table, server } = mount(10_000);
    await table.refresh();
    expect(table.total).toBe(10_000);
    expect(rows(table).length).toBeGreaterThan(10);
    expect(rows(table).length).toBeLessThan(60);
    expect(server.requests.filter(r => r.path.includes('/runs?'))).toHaveLength(1);
    // The first page is a screenful and a half (jsdom has no layout: 900 px), and the
    // scrollable length is the rows read by cursor plus one "loading more" row.
    expect(table.loadedRows).toBe(49);
    expect(table.node.querySelector('.jp-tracker-spacer')?.getAttribute('style')).toContain(`height: ${50 * ROW_HEIGHT}px`);
    expect(new URL(server.requests[0].path, 'http://x/').searchParams.has('offset')).toBe(false);
    expect(table.node.querySelector('.jp-tracker-count')?.textContent).toBe('10,000 runs');
    expect(table.firstRenderMs).not.toBeNull();
    // newest first by default
    expect(rows(table)[0].dataset.runId).toBe('run009999');
  });

  it('reads the next page by cursor when the view nears the last row read, and stops at the end', async () => {
    const runs = Array.from({ length: 250 }, (_, i) => makeRun(i));
    const server = fakeServer(runs);
    const table = new RunsTable(makeContext(server).ctx);
    document.body.appendChild(table.node);
    const grid = table.node.querySelector<HTMLElement>('[role=grid]') as HTMLElement;
    Object.defineProperty(grid, 'clientHeight', { value: 560, configurable: true }); // jsdom has no layout
    Object.defineProperty(grid, 'scrollTop', { value: 0, writable: true, configurable: true });
    const asked = () => server.requests.filter(r => r.path.includes('/runs?')).map(r => new URL(r.path, 'http://x/').searchParams);
    const scrollTo = async (row: number) => {
      grid.scrollTop = row * ROW_HEIGHT;
      grid.dispatchEvent(new Event('scroll'));
      await new Promise(r => setTimeout(r, 50));
    };
    await table.refresh();
    expect(table.loadedRows).toBe(30); // a screenful and a half first
    expect(asked()[0].get('limit')).toBe('30');
    await scrollTo(10); // the "loading more" row comes into view
    expect(table.loadedRows).toBe(130);
    expect(asked()[1].get('cursor')).toBe('after:run000220'); // the first page's last run
    expect(asked()[1].get('limit')).toBe('100');
    expect(asked().every(q => !q.has('offset'))).toBe(true);
    expect(table.node.querySelector('.jp-tracker-count')?.textContent).toBe('250 runs');
    await scrollTo(80); // within half a page of the end: the next page is read ahead
    expect(asked().map(q => q.get('cursor'))).toEqual([null, 'after:run000220', 'after:run000120']);
    expect(table.loadedRows).toBe(230);
    await scrollTo(190);
    expect(table.loadedRows).toBe(250);
    expect(asked()).toHaveLength(4);
    expect(table.node.querySelector('.jp-tracker-more')).toBeNull();
    expect(table.node.querySelector('.jp-tracker-spacer')?.getAttribute('style')).toContain(`height: ${250 * ROW_HEIGHT}px`);
    // every row in view is the run at its place in the order: no gap or repeat between pages
    for (const r of rows(table)) {
      expect(r.dataset.runId).toBe(`run${String(250 - Number(r.getAttribute('aria-rowindex'))).padStart(6, '0')}`);
    }
    // the live poll re-reads the pages in view by their own cursors
    await table.refresh();
    expect(asked().slice(4).map(q => q.get('cursor'))).toEqual(['after:run000120']);
  });

  it('says "about" while the server estimates, in the count and to ARIA', async () => {
    const { table, server } = mount(1000);
    server.countBound = 200;
    server.estimate = n => n + 37;
    const totals: Array<{ n: number; exact: boolean }> = [];
    table.onTotal = c => totals.push(c);
    await table.refresh();
    expect(table.node.querySelector('.jp-tracker-count')?.textContent).toBe('about 1,000 runs');
    expect(table.node.querySelector('[role=grid]')?.getAttribute('aria-rowcount')).toBe('-1');
    expect(totals[totals.length - 1]).toEqual({ n: 1037, exact: false });
  });

  it('picks the most common metric and param columns and sorts on the server', async () => {
    const { table, server } = mount(300);
    await table.refresh();
    const headers = [...table.node.querySelectorAll('[role=columnheader]')].map(c => c.textContent);
    expect(headers).toEqual(expect.arrayContaining(['Name', 'accuracy', 'loss', 'C', 'kernel']));
    const sortButton = [...table.node.querySelectorAll<HTMLButtonElement>('.jp-tracker-sort')].find(b => b.textContent?.startsWith('accuracy'));
    sortButton?.click();
    await new Promise(r => setTimeout(r, 0));
    await table.refresh();
    const last = new URL(server.requests[server.requests.length - 1].path, 'http://x/');
    expect(last.searchParams.get('order_by')).toBe('metrics.accuracy desc');
    expect(rows(table)[0].textContent).toContain('0.99');
    const header = [...table.node.querySelectorAll('[role=columnheader]')].find(c => c.textContent?.startsWith('accuracy'));
    expect(header?.getAttribute('aria-sort')).toBe('descending');
  });

  it('is driven by the keyboard: move, select for comparison, open', async () => {
    const { table, rec } = mount(50);
    await table.refresh();
    const grid = table.node.querySelector<HTMLElement>('[role=grid]') as HTMLElement;
    const key = (k: string) => grid.dispatchEvent(new KeyboardEvent('keydown', { key: k, bubbles: true }));
    key('ArrowDown');
    key(' ');
    key('ArrowDown');
    key(' ');
    const compare = [...table.node.querySelectorAll<HTMLButtonElement>('button')].find(b => b.textContent?.startsWith('Compare'));
    expect(compare?.disabled).toBe(false);
    expect(compare?.textContent).toBe('Compare (2)');
    compare?.click();
    expect(rec.compared).toEqual([['run000048', 'run000047']]);
    // End goes to the last row read, and the view reads the next page by cursor
    key('End');
    key('Enter');
    expect(rec.opened).toEqual(['run:run000001']);
    await new Promise(r => setTimeout(r, 50));
    key('End');
    key('Enter');
    expect(rec.opened).toEqual(['run:run000001', 'run:run000000']);
    expect(grid.getAttribute('aria-activedescendant')).toMatch(/-49$/);
    key('Home');
    key('Enter');
    expect(rec.opened[2]).toBe('run:run000049');
  });

  it('opens a search in the search view', async () => {
    const { table, rec, server } = mount(0);
    server.runs.push(makeRun(1, { kind: 'search', id: 'srch' }));
    await table.refresh();
    rows(table)[0].click();
    expect(rec.opened).toEqual(['search:srch']);
  });

  it('shows user-supplied names with markup as text', async () => {
    const { table, server } = mount(0);
    server.runs.push(makeRun(1, { name: HOSTILE, tags: { x: HOSTILE }, params: { p: HOSTILE } }));
    await table.refresh();
    expect(table.node.querySelector('img')).toBeNull();
    expect(table.node.querySelector('.jp-tracker-name')?.textContent).toBe(HOSTILE);
    expect((window as unknown as { __xss?: number }).__xss).toBeUndefined();
  });

  it('explains a bad filter next to the box and shows no rows', async () => {
    const { table } = mount(20);
    await table.refresh();
    const input = table.node.querySelector<HTMLInputElement>('.jp-tracker-filter') as HTMLInputElement;
    input.value = 'metrics.accuracy >';
    input.dispatchEvent(new KeyboardEvent('keydown', { key: 'Enter' }));
    await new Promise(r => setTimeout(r, 10));
    expect(table.node.querySelector('.jp-tracker-error')?.textContent).toContain('ends where a value was expected');
    expect(input.getAttribute('aria-invalid')).toBe('true');
    expect(rows(table)).toHaveLength(0);
  });

  it('shows runs that arrive in a table that was empty, or after its last page', async () => {
    const { table, server } = mount(0);
    await table.refresh();
    expect(table.node.querySelector('.jp-tracker-count')?.textContent).toBe('0 runs');
    server.runs.push(makeRun(1), makeRun(2));
    await table.refresh();
    expect(rows(table).map(r => r.dataset.runId)).toEqual(['run000002', 'run000001']);
    expect(table.node.querySelector('.jp-tracker-count')?.textContent).toBe('2 runs');
    // a page that came back exactly full is followed by an empty last page: read it again too
    const full = mount(49);
    await full.table.refresh();
    await new Promise(r => setTimeout(r, 400)); // the read-ahead finds the empty last page
    expect(full.table.count).toEqual({ n: 49, exact: true });
    full.server.runs.unshift(makeRun(-1, { id: 'run-old', start_time: '2025-01-01T00:00:00Z' }));
    await full.table.refresh();
    expect(full.table.count).toEqual({ n: 50, exact: true });
  });

  it('says how to start when the store is empty', async () => {
    const { table } = mount(0);
    await table.refresh();
    expect(table.node.querySelector('.jp-tracker-empty')?.textContent).toContain('No runs yet');
  });
});
