import { countText, type KeysetAnswer, KeysetPages, pagesFor, visibleWindow } from '../src/virtual';

describe('visibleWindow', () => {
  it('covers the viewport plus overscan, clamped to the rows there are', () => {
    expect(visibleWindow(0, 280, 28, 10000, 5)).toEqual({ start: 0, end: 16 });
    const w = visibleWindow(28 * 5000, 280, 28, 10000, 5);
    expect(w.start).toBe(4995);
    expect(w.end).toBe(5016);
    expect(visibleWindow(28 * 20000, 280, 28, 10000, 5).end).toBe(10000);
    expect(visibleWindow(0, 280, 28, 0)).toEqual({ start: 0, end: 0 });
  });

  it('never renders more than a screenful for any size of table', () => {
    for (const total of [1, 50, 10_000, 1_000_000]) {
      const w = visibleWindow(28 * (total / 2), 600, 28, total, 8);
      expect(w.end - w.start).toBeLessThanOrEqual(Math.ceil(600 / 28) + 1 + 16);
    }
  });
});

describe('pagesFor', () => {
  it('lists the pages that hold a window', () => {
    expect(pagesFor({ start: 95, end: 105 }, 100)).toEqual([0, 1]);
    expect(pagesFor({ start: 0, end: 100 }, 100)).toEqual([0]);
    expect(pagesFor({ start: 0, end: 0 }, 100)).toEqual([]);
  });
});

/** A keyset source over `rows()` (read at each fetch, so a test can add rows between pages). */
function source(rows: () => number[], opts: { bound?: number; delay?: number } = {}) {
  const calls: Array<string | null> = [];
  const fetch = async (cursor: string | null, limit: number): Promise<KeysetAnswer<number>> => {
    calls.push(cursor);
    if (opts.delay) {
      await new Promise(r => setTimeout(r, opts.delay));
    }
    const all = rows();
    const start = cursor === null ? 0 : all.indexOf(Number(cursor)) + 1;
    const page = all.slice(start, start + limit);
    const exact = all.length <= (opts.bound ?? Infinity);
    return {
      rows: page,
      total: exact ? all.length : Math.round(all.length * 1.04),
      exact,
      next: page.length === limit ? String(page[page.length - 1]) : null
    };
  };
  return { calls, fetch };
}

const range = (from: number, n: number) => Array.from({ length: n }, (_, i) => from + i);

describe('KeysetPages', () => {
  it('reads page after page by the cursor the previous one ended with, never by offset', async () => {
    const src = source(() => range(0, 25));
    const pages = new KeysetPages<number>(10, src.fetch);
    expect(pages.count).toEqual({ n: 0, exact: true });
    await pages.loadMore();
    expect(pages.loaded).toBe(10);
    expect(pages.done).toBe(false);
    await Promise.all([pages.loadMore(), pages.loadMore()]); // the second shares the first
    await pages.loadMore();
    expect(src.calls).toEqual([null, '9', '19']);
    expect(pages.loaded).toBe(25);
    expect(pages.done).toBe(true);
    expect(pages.row(24)).toBe(24);
    await pages.loadMore(); // nothing after the last page
    expect(src.calls).toHaveLength(3);
  });

  it('says "about" while the server estimates, and the exact rows once the last page is in', async () => {
    const src = source(() => range(0, 30), { bound: 12 });
    const pages = new KeysetPages<number>(10, src.fetch);
    await pages.loadMore();
    expect(pages.count).toEqual({ n: 31, exact: false });
    expect(countText(pages.count)).toBe('about 31 runs');
    await pages.loadMore();
    await pages.loadMore();
    await pages.loadMore();
    expect(pages.done).toBe(true);
    expect(pages.count).toEqual({ n: 30, exact: true });
    expect(countText(pages.count)).toBe('30 runs');
  });

  it('re-reads a page by its own cursor, and drops the pages after it when its end moved', async () => {
    let all = range(100, 30);
    const src = source(() => all);
    const pages = new KeysetPages<number>(10, src.fetch);
    await pages.loadMore();
    await pages.loadMore();
    await pages.loadMore();
    // A page in the middle keeps its place when rows arrive before it (keyset, not offset).
    all = [1, 2, ...all];
    await pages.load([1], true);
    expect(src.calls[src.calls.length - 1]).toBe('109');
    expect(pages.row(10)).toBe(110);
    expect(pages.pageCount).toBe(3);
    // The first page now ends elsewhere: the pages after it are read again when needed.
    await pages.load([0], true);
    expect(pages.row(0)).toBe(1);
    expect(pages.pageCount).toBe(1);
    expect(pages.loaded).toBe(10);
    await pages.loadMore();
    expect(src.calls[src.calls.length - 1]).toBe('107');
    expect(pages.row(10)).toBe(108);
  });

  it('ignores a page read after a cursor that is no longer the chain end', async () => {
    let all = range(0, 30);
    const src = source(() => all, { delay: 5 });
    const pages = new KeysetPages<number>(10, src.fetch);
    await pages.loadMore();
    await pages.loadMore();
    all = [-2, -1, ...all];
    await Promise.all([pages.load([0], true), pages.load([1], true)]);
    expect(pages.pageCount).toBe(1);
    expect(pages.row(10)).toBeUndefined();
  });

  it('drops the rows of pages out of view but keeps their cursors', async () => {
    const src = source(() => range(0, 35));
    const pages = new KeysetPages<number>(10, src.fetch);
    for (let i = 0; i < 4; i++) {
      await pages.loadMore();
    }
    pages.retain([3]);
    expect(pages.has(1)).toBe(false);
    expect(pages.row(15)).toBeUndefined();
    expect(pages.loaded).toBe(35);
    await pages.load([1, 3]);
    expect(src.calls.slice(4)).toEqual(['9']);
    expect(pages.row(15)).toBe(15);
    expect(pages.pageCount).toBe(4);
  });

  it('drops answers that arrive after the query changed', async () => {
    let release: () => void = () => undefined;
    const pages = new KeysetPages<string>(10, () =>
      new Promise(resolve => {
        release = () => resolve({ rows: ['old'], total: 1, exact: true, next: null });
      })
    );
    const pending = pages.loadMore();
    pages.invalidate();
    release();
    await pending;
    expect(pages.row(0)).toBeUndefined();
    expect(pages.count).toEqual({ n: 0, exact: true });
  });

  it('shares a fetch under way even when the poll forces a reload', async () => {
    const src = source(() => range(0, 100), { delay: 5 });
    const pages = new KeysetPages<number>(10, src.fetch);
    await pages.loadMore();
    await Promise.all([pages.load([0], true), pages.load([0], true)]);
    expect(src.calls).toHaveLength(2);
    await pages.load([0], true); // nothing under way: a forced load fetches again
    expect(src.calls).toHaveLength(3);
  });
});

describe('countText', () => {
  it('counts exactly, or rounds an estimate to its two significant digits', () => {
    expect(countText({ n: 1, exact: true })).toBe('1 run');
    expect(countText({ n: 12345, exact: true })).toBe('12,345 runs');
    expect(countText({ n: 49_321, exact: false })).toBe('about 49,000 runs');
    expect(countText({ n: 100_400, exact: false })).toBe('about 100,000 runs');
  });
});
