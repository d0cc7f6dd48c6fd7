import { PageCache, pagesFor, visibleWindow } from '../src/virtual';

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

describe('PageCache', () => {
  it('fetches each page once, shares fetches under way, and reloads on force', async () => {
    const calls: number[] = [];
    const cache = new PageCache<number>(10, async (offset, limit) => {
      calls.push(offset);
      return { rows: Array.from({ length: limit }, (_, i) => offset + i), total: 95 };
    });
    await Promise.all([cache.load([0, 1]), cache.load([1])]);
    expect(calls).toEqual([0, 10]);
    expect(cache.row(15)).toBe(15);
    expect(cache.total).toBe(95);
    await cache.load([1]);
    expect(calls).toEqual([0, 10]);
    await cache.load([1], true);
    expect(calls).toEqual([0, 10, 10]);
    cache.retain([1]);
    expect(cache.has(0)).toBe(false);
    expect(cache.row(3)).toBeUndefined();
  });

  it('drops answers that arrive after the query changed', async () => {
    let release: () => void = () => undefined;
    const cache = new PageCache<string>(10, (offset) =>
      new Promise(resolve => {
        release = () => resolve({ rows: [`old ${offset}`], total: 1 });
      })
    );
    const pending = cache.load([0]);
    cache.invalidate();
    release();
    await pending;
    expect(cache.row(0)).toBeUndefined();
    expect(cache.total).toBe(0);
  });
});

describe('PageCache sharing', () => {
  it('shares a fetch under way even when the poll forces a reload', async () => {
    let calls = 0;
    const cache = new PageCache<number>(10, async (offset, limit) => {
      calls++;
      await new Promise(r => setTimeout(r, 5));
      return { rows: Array.from({ length: limit }, (_, i) => offset + i), total: 100 };
    });
    await Promise.all([cache.load([0], true), cache.load([0], true)]);
    expect(calls).toBe(1);
    await cache.load([0], true); // nothing under way: a forced load fetches again
    expect(calls).toBe(2);
  });
});
