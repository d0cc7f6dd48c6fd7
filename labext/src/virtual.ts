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

/**
 * Pages of rows fetched on demand. A fetch already under way for a page is shared;
 * `invalidate()` drops everything (a new filter or sort), `generation` tells stale
 * answers from current ones.
 */
export class PageCache<T> {
  private pages = new Map<number, T[]>();
  private pending = new Map<number, Promise<void>>();
  private gen = 0;
  total = 0;

  constructor(
    readonly pageSize: number,
    private readonly fetchPage: (offset: number, limit: number) => Promise<{ rows: T[]; total: number }>
  ) {}

  get generation(): number {
    return this.gen;
  }

  /** The row at `index`, if its page is loaded. */
  row(index: number): T | undefined {
    const page = this.pages.get(Math.floor(index / this.pageSize));
    return page ? page[index % this.pageSize] : undefined;
  }

  has(page: number): boolean {
    return this.pages.has(page);
  }

  /** Load (or reload, with `force`) the given pages; resolves when all are in. */
  async load(pages: number[], force = false): Promise<void> {
    const gen = this.gen;
    await Promise.all(
      pages.map(p => {
        if (!force && this.pages.has(p)) {
          return Promise.resolve();
        }
        // A fetch under way is as fresh as a forced one would be (invalidate() drops the
        // pending ones): share it, so the live poll never doubles a slow sorted query.
        const running = this.pending.get(p);
        if (running) {
          return running;
        }
        const job = this.fetchPage(p * this.pageSize, this.pageSize)
          .then(({ rows, total }) => {
            if (gen === this.gen) {
              this.pages.set(p, rows);
              this.total = total;
            }
          })
          .finally(() => {
            if (this.pending.get(p) === job) {
              this.pending.delete(p);
            }
          });
        this.pending.set(p, job);
        return job;
      })
    );
  }

  /** Forget loaded pages except `keep` (they are refreshed by the next load with force). */
  retain(keep: number[]): void {
    for (const p of [...this.pages.keys()]) {
      if (!keep.includes(p)) {
        this.pages.delete(p);
      }
    }
  }

  invalidate(): void {
    this.gen++;
    this.pages.clear();
    this.pending.clear();
    this.total = 0;
  }
}
