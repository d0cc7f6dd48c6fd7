/** Windowing arithmetic and a page cache for the virtualised runs table. */

export interface RowWindow {
  /** First row index to render. */
  start: number;
  /** One past the last row index to render. */
  end: number;
}

/** Rows to render for a scroll position: the visible ones plus `overscan` on each side. */
export function visibleWindow(
  scrollTop: number,
  viewportHeight: number,
  rowHeight: number,
  total: number,
  overscan = 8
): RowWindow {
  if (total <= 0 || rowHeight <= 0) {
    return { start: 0, end: 0 };
  }
  const first = Math.floor(Math.max(0, scrollTop) / rowHeight);
  const count = Math.ceil(Math.max(viewportHeight, rowHeight) / rowHeight) + 1;
  const start = Math.max(0, Math.min(total - 1, first - overscan));
  const end = Math.min(total, first + count + overscan);
  return { start, end: Math.max(start, end) };
}

/** The page indexes that hold rows `[start, end)`. */
export function pagesFor(win: RowWindow, pageSize: number): number[] {
  if (win.end <= win.start) {
    return [];
  }
  const first = Math.floor(win.start / pageSize);
  const last = Math.floor((win.end - 1) / pageSize);
  const out: number[] = [];
  for (let p = first; p <= last; p++) {
    out.push(p);
  }
  return out;
}

/** One answer of the runs route: a page of rows, the count that match, the next cursor. */
export interface KeysetAnswer<T> {
  rows: T[];
  /** How many rows match (all pages). */
  total: number;
  /** False when `total` is the server's estimate. */
  exact: boolean;
  /** The cursor of the page after this one; `null` on the last page. */
  next: string | null;
}

/** The count a table shows: `exact` false means "about". */
export interface RowCount {
  n: number;
  exact: boolean;
}

interface KeysetPage<T> {
  /** The cursor this page was read after (`null`: the first page). */
  cursor: string | null;
  /** Rows asked for: a page with fewer is the last. */
  limit: number;
  /** Its rows; `null` once dropped to save memory (read again by `cursor`). */
  rows: T[] | null;
  size: number;
  next: string | null;
}

/**
 * Pages of rows read by keyset: page `k + 1` is read with the `next` cursor of page `k`,
 * so the server seeks to it instead of walking an offset, and a page stays put when
 * runs are added before it. Pages load in order (`loadMore`); a loaded page can be read
 * again by the cursor it was read after (the live poll), and when it comes back with a
 * different end, the pages after it were read past another anchor and are dropped.
 *
 * A fetch under way is shared; `invalidate()` drops everything (a new filter or sort),
 * and `generation` tells stale answers from current ones.
 */
export class KeysetPages<T> {
  private pages: Array<KeysetPage<T>> = [];
  private pending = new Map<string, Promise<void>>();
  private gen = 0;
  /** The server's count of matching rows, and whether it is exact. */
  total = 0;
  exact = true;

  /**
   * @param pageSize Rows per page.
   * @param fetchPage Reads `limit` rows after `cursor` (`null`: from the first).
   * @param firstSize Rows of the first page (default `pageSize`): a screenful comes back
   *   sooner than a full page, and the rest follows by cursor.
   */
  constructor(
    readonly pageSize: number,
    private readonly fetchPage: (cursor: string | null, limit: number) => Promise<KeysetAnswer<T>>,
    private readonly firstSize: () => number = () => pageSize
  ) {}

  get generation(): number {
    return this.gen;
  }

  /** Pages known (loaded or dropped), in order from the first. */
  get pageCount(): number {
    return this.pages.length;
  }

  /** Rows read so far, from the first: the table's scrollable length. */
  get loaded(): number {
    let n = 0;
    for (const p of this.pages) {
      n += p.size;
    }
    return n;
  }

  /** Whether the last page was read (there is nothing more to load). */
  get done(): boolean {
    const last = this.pages[this.pages.length - 1];
    return !!last && last.next === null;
  }

  /**
   * The count to show, the same in every place that shows one: the server's when exact;
   * when it estimated, exactly the rows read once the last page is in, else the estimate.
   */
  get count(): RowCount {
    if (this.exact) {
      return { n: this.total, exact: true };
    }
    if (this.done) {
      return { n: this.loaded, exact: true };
    }
    return { n: Math.max(this.total, this.loaded), exact: false };
  }

  /** Whether the server counts rows the pages read do not hold (runs came after the end). */
  get behind(): boolean {
    return this.done && this.exact && this.total > this.loaded;
  }

  /** The page holding row `index` and the row's place in it; `page` -1 past the rows read. */
  private locate(index: number): { page: number; at: number } {
    let start = 0;
    for (let p = 0; p < this.pages.length; p++) {
      const size = this.pages[p].size;
      if (index < start + size) {
        return { page: p, at: index - start };
      }
      start += size;
    }
    return { page: -1, at: 0 };
  }

  /** The row at `index`, if its page is loaded. */
  row(index: number): T | undefined {
    const { page, at } = this.locate(index);
    const rows = page >= 0 ? this.pages[page].rows : null;
    return rows ? rows[at] : undefined;
  }

  /** The pages read so far that hold rows `[start, end)`. */
  pagesIn(start: number, end: number): number[] {
    const out: number[] = [];
    let first = 0;
    this.pages.forEach((p, i) => {
      if (first < end && first + p.size > start) {
        out.push(i);
      }
      first += p.size;
    });
    return out;
  }

  /** Whether page `p`'s rows are in memory. */
  has(page: number): boolean {
    return !!this.pages[page]?.rows;
  }

  /** Read the page after the last one read (the first when none); nothing once done. */
  loadMore(): Promise<void> {
    if (this.done) {
      return Promise.resolve();
    }
    const index = this.pages.length;
    return index ? this.fetch(index, this.pages[index - 1].next, this.pageSize) : this.fetch(0, null, this.firstLimit());
  }

  private firstLimit(): number {
    return Math.max(1, Math.min(this.pageSize, Math.round(this.firstSize())));
  }

  /**
   * Read pages again by the cursors they were read after (`force`), or only those whose
   * rows were dropped; with no page read yet, read the first.
   */
  async load(pages: number[], force = false): Promise<void> {
    if (!this.pages.length) {
      return this.loadMore();
    }
    const jobs = pages
      .filter(p => p < this.pages.length && (force || !this.pages[p].rows))
      .map(p => this.fetch(p, this.pages[p].cursor, this.pages[p].limit));
    await Promise.all(jobs);
  }

  private fetch(index: number, cursor: string | null, limit: number): Promise<void> {
    const key = `${index} ${cursor ?? ''} ${limit}`;
    // A fetch under way is as fresh as a forced one would be (invalidate() drops the
    // pending ones): share it, so the live poll never doubles a slow sorted query.
    const running = this.pending.get(key);
    if (running) {
      return running;
    }
    const gen = this.gen;
    const job = this.fetchPage(cursor, limit)
      .then(answer => {
        if (gen !== this.gen || !this.fits(index, cursor)) {
          return; // the query changed, or the page before this one moved while it loaded
        }
        const before = this.pages[index];
        this.pages[index] = { cursor, limit, rows: answer.rows, size: answer.rows.length, next: answer.next };
        if (!before || before.next !== answer.next || before.size !== answer.rows.length) {
          // The pages after it were read past another anchor: read them again when needed.
          this.pages.length = index + 1;
        }
        this.total = answer.total;
        this.exact = answer.exact;
      })
      .finally(() => {
        if (this.pending.get(key) === job) {
          this.pending.delete(key);
        }
      });
    this.pending.set(key, job);
    return job;
  }

  /** Whether a page read after `cursor` is still page `index` of the chain. */
  private fits(index: number, cursor: string | null): boolean {
    if (index === 0) {
      return cursor === null;
    }
    const prev = this.pages[index - 1];
    return index <= this.pages.length && !!prev && prev.next === cursor;
  }

  /** Drop the rows of pages other than `keep` (their cursors stay; `load` reads them again). */
  retain(keep: number[]): void {
    this.pages.forEach((p, i) => {
      if (!keep.includes(i)) {
        p.rows = null;
      }
    });
  }

  invalidate(): void {
    this.gen++;
    this.pages = [];
    this.pending.clear();
    this.total = 0;
    this.exact = true;
  }
}

/** `1,234 runs`, or `about 49,000 runs` for an estimate (two significant digits: its precision). */
export function countText(count: RowCount, one = 'run', many = 'runs'): string {
  const word = count.n === 1 && count.exact ? one : many;
  if (count.exact) {
    return `${count.n.toLocaleString()} ${word}`;
  }
  const digits = Math.max(0, String(Math.round(count.n)).length - 2);
  const rounded = Math.round(count.n / 10 ** digits) * 10 ** digits;
  return `about ${rounded.toLocaleString()} ${word}`;
}
