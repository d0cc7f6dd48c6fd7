/**
 * The one state model the sidebar and the main-area view share: which runs are
 * selected, which columns the runs table shows (their order and widths), the sort and
 * the filter. Views change it through its methods and redraw on its signals, so a run
 * selected in one view is selected in the other.
 *
 * Column keys use the filter language of `search_runs`: `metrics.accuracy`,
 * `params.C`, `tags.model`, or a run field (`kind`, `status`, `start_time`,
 * `duration`). The same key sorts the server's query.
 */

import { Signal, type ISignal } from '@lumino/signaling';

import type { KeyCount, RunKeys } from './types';

export type { KeyCount, RunKeys };

/** One column of the runs table; `width` in pixels once the user resized it. */
export interface ColumnSpec {
  key: string;
  width?: number | null;
}

/** What the runs table asks the server for, besides the sort. */
export interface RunFilter {
  /** A `search_runs` filter expression. */
  filter: string;
  /** A substring of run names. */
  q: string;
  /** `default` (all but the hidden kinds), `all`, or one run kind. */
  kind: string;
  /** One status, or `''` for any. */
  status: string;
}

/** Run fields the table can show besides params, metrics and tags. */
export const RUN_FIELDS: ReadonlyArray<{ key: string; label: string; sortable: boolean }> = [
  { key: 'kind', label: 'Kind', sortable: true },
  { key: 'status', label: 'Status', sortable: true },
  { key: 'start_time', label: 'Started', sortable: true },
  { key: 'duration', label: 'Duration', sortable: false }
];

/** The short header of a column key (`metrics.accuracy` -> `accuracy`). */
export function columnLabel(key: string): string {
  const field = RUN_FIELDS.find(f => f.key === key);
  if (field) {
    return field.label;
  }
  const dot = key.indexOf('.');
  return dot > 0 ? key.slice(dot + 1) : key;
}

/** The long header (shown on hover): `metric accuracy`, `param C`, `tag model`. */
export function columnTitle(key: string): string {
  const kinds: Record<string, string> = { metrics: 'metric', params: 'param', tags: 'tag' };
  const dot = key.indexOf('.');
  const prefix = dot > 0 ? kinds[key.slice(0, dot)] : undefined;
  return prefix ? `${prefix} ${key.slice(dot + 1)}` : columnLabel(key);
}

/** Whether the server can sort by this column key. */
export function sortable(key: string): boolean {
  return /^(metrics|params|tags)\../.test(key) || RUN_FIELDS.some(f => f.key === key && f.sortable);
}

/**
 * The columns to show when the user chose none: the status, then the metrics most runs
 * have, then the params (one fewer), by how many runs have them, then when each run
 * started, how long it took and its kind (what a narrow tab can spare first).
 */
export function defaultColumns(keys: RunKeys | null, maxMetrics = 3): ColumnSpec[] {
  const cols: ColumnSpec[] = [{ key: 'status' }];
  const top = (list: KeyCount[], n: number) =>
    [...list]
      .sort((a, b) => b.count - a.count || a.key.localeCompare(b.key))
      .slice(0, Math.max(0, n))
      .map(k => k.key);
  for (const k of top(keys?.metrics ?? [], maxMetrics)) {
    cols.push({ key: `metrics.${k}` });
  }
  for (const k of top(keys?.params ?? [], maxMetrics - 1)) {
    cols.push({ key: `params.${k}` });
  }
  return [...cols, { key: 'start_time' }, { key: 'duration' }, { key: 'kind' }];
}

export const DEFAULT_SORT = 'start_time desc';
export const DEFAULT_FILTER: RunFilter = { filter: '', q: '', kind: 'default', status: '' };

const MIN_WIDTH = 40;
const MAX_WIDTH = 800;

export class TrackerState {
  private _selection: string[] = [];
  private _columns: ColumnSpec[] = [];
  private _chosen = false;
  private _sort = DEFAULT_SORT;
  private _filter: RunFilter = { ...DEFAULT_FILTER };
  private _selectionChanged = new Signal<this, readonly string[]>(this);
  private _columnsChanged = new Signal<this, { columns: readonly ColumnSpec[]; byUser: boolean }>(this);
  private _sortChanged = new Signal<this, string>(this);
  private _filterChanged = new Signal<this, RunFilter>(this);

  /** Selected run ids, in the order they were selected. */
  get selection(): readonly string[] {
    return this._selection;
  }

  get selectionChanged(): ISignal<this, readonly string[]> {
    return this._selectionChanged;
  }

  isSelected(id: string): boolean {
    return this._selection.includes(id);
  }

  /** Add or remove one run from the selection. */
  toggle(id: string): void {
    this._selection = this.isSelected(id) ? this._selection.filter(s => s !== id) : [...this._selection, id];
    this._selectionChanged.emit(this._selection);
  }

  /** Replace the selection (duplicates dropped, order kept). */
  select(ids: readonly string[]): void {
    const next = [...new Set(ids)];
    if (JSON.stringify(next) === JSON.stringify(this._selection)) {
      return;
    }
    this._selection = next;
    this._selectionChanged.emit(this._selection);
  }

  clearSelection(): void {
    this.select([]);
  }

  /** The columns of the runs table, in order. */
  get columns(): readonly ColumnSpec[] {
    return this._columns;
  }

  /** Whether the user chose the columns (else they are defaults from the runs' keys). */
  get columnsChosen(): boolean {
    return this._chosen;
  }

  /** Fired with `byUser` true when a person changed them (those are saved). */
  get columnsChanged(): ISignal<this, { columns: readonly ColumnSpec[]; byUser: boolean }> {
    return this._columnsChanged;
  }

  /**
   * Set the columns. `byUser` marks them chosen (defaults never replace them again);
   * duplicates and blank keys are dropped, widths kept within bounds.
   */
  setColumns(cols: readonly ColumnSpec[], byUser = true): void {
    const seen = new Set<string>();
    const clean: ColumnSpec[] = [];
    for (const c of cols) {
      const key = (c.key ?? '').trim();
      if (!key || key === 'name' || seen.has(key)) {
        continue; // the name column is always there, pinned first
      }
      seen.add(key);
      const width = typeof c.width === 'number' && Number.isFinite(c.width) ? Math.round(Math.min(MAX_WIDTH, Math.max(MIN_WIDTH, c.width))) : null;
      clean.push(width === null ? { key } : { key, width });
    }
    if (!byUser && this._chosen) {
      return;
    }
    const same = JSON.stringify(clean) === JSON.stringify(this._columns);
    this._chosen = this._chosen || byUser;
    if (!same) {
      this._columns = clean;
      this._columnsChanged.emit({ columns: clean, byUser });
    }
  }

  /** Show a column (at `index`, else last); nothing if it is shown already. */
  addColumn(key: string, index?: number): void {
    if (this._columns.some(c => c.key === key)) {
      return;
    }
    const next = [...this._columns];
    next.splice(index ?? next.length, 0, { key });
    this.setColumns(next);
  }

  removeColumn(key: string): void {
    this.setColumns(this._columns.filter(c => c.key !== key));
  }

  /** Move a column to a new position (clamped). */
  moveColumn(key: string, index: number): void {
    const from = this._columns.findIndex(c => c.key === key);
    if (from < 0) {
      return;
    }
    const next = [...this._columns];
    const [col] = next.splice(from, 1);
    next.splice(Math.max(0, Math.min(next.length, index)), 0, col);
    this.setColumns(next);
  }

  /** Set a column's width in pixels (`null`: back to automatic). */
  setWidth(key: string, width: number | null): void {
    this.setColumns(this._columns.map(c => (c.key === key ? { key, width } : c)));
  }

  /** The server order, e.g. `metrics.accuracy desc`. */
  get sort(): string {
    return this._sort;
  }

  get sortChanged(): ISignal<this, string> {
    return this._sortChanged;
  }

  setSort(order: string): void {
    if (order !== this._sort) {
      this._sort = order;
      this._sortChanged.emit(order);
    }
  }

  /** Sort by a key; the same key again flips the direction. Names start ascending. */
  sortBy(key: string): void {
    const [field, dir] = this._sort.split(' ');
    const first = key === 'name' ? 'asc' : 'desc';
    this.setSort(field === key ? `${key} ${dir === 'desc' ? 'asc' : 'desc'}` : `${key} ${first}`);
  }

  get filter(): RunFilter {
    return this._filter;
  }

  get filterChanged(): ISignal<this, RunFilter> {
    return this._filterChanged;
  }

  /** Change part of the filter; fires only when something changed. */
  setFilter(part: Partial<RunFilter>): void {
    const next = { ...this._filter, ...part };
    if (JSON.stringify(next) !== JSON.stringify(this._filter)) {
      this._filter = next;
      this._filterChanged.emit(next);
    }
  }
}
