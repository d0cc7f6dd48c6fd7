/**
 * Cells of the runs table by column key (`metrics.accuracy`, `params.C`, `tags.model`,
 * `kind`, `status`, `start_time`, `duration`), and the CSS grid widths. Every value goes
 * in as text (or a `title` attribute), never as markup.
 */

import { h } from './dom';
import { formatAgo, formatDuration, formatTime, formatValue } from './format';
import { columnLabel, columnTitle, sortable, type ColumnSpec } from './state';
import type { RunSummary } from './types';

export type TableMode = 'sidebar' | 'main';

export interface Column {
  id: string;
  label: string;
  /** The full name, shown on hover. */
  title: string;
  /** Server sort key (none: not sortable). */
  sort?: string;
  /** A CSS grid track size. */
  width: string;
  /** The narrowest the column gets, in pixels (below the sum, the table scrolls sideways). */
  minPx: number;
  cell(run: RunSummary): Node | string;
  numeric?: boolean;
  /** Kept in view while the table scrolls sideways. */
  pinned?: boolean;
  /** Can be resized and moved (a column of the state). */
  movable?: boolean;
}

function statusBadge(status: string, compact: boolean): HTMLElement {
  return h('span', { class: `jp-tracker-status jp-mod-${status}${compact ? ' jp-mod-dot' : ''}`, title: status }, compact ? '' : status);
}

function valueCell(value: unknown): HTMLElement {
  const text = formatValue(value as Parameters<typeof formatValue>[0]);
  return h('span', { title: value === undefined ? '' : String(value) }, text);
}

/** The cell of one column key for a run. */
export function cellFor(key: string, run: RunSummary, mode: TableMode): Node | string {
  switch (key) {
    case 'kind':
      return run.kind;
    case 'status':
      return statusBadge(run.status, mode === 'sidebar');
    case 'start_time':
      return h('span', { title: formatTime(run.start_time) }, formatAgo(run.start_time));
    case 'duration':
      return formatDuration(run.duration_s);
  }
  const dot = key.indexOf('.');
  const group = key.slice(0, dot);
  const name = key.slice(dot + 1);
  if (group === 'metrics') {
    return valueCell(run.metrics[name]);
  }
  if (group === 'params') {
    return valueCell(run.params[name]);
  }
  if (group === 'tags') {
    return valueCell(run.tags[name]);
  }
  return '';
}

const FIXED: Record<string, [string, number]> = {
  kind: ['64px', 64],
  status: ['78px', 78],
  start_time: ['88px', 88],
  duration: ['84px', 84]
};

/** The columns a table draws for the state's column specs. */
export function buildColumns(specs: readonly ColumnSpec[], mode: TableMode, selectCell: (run: RunSummary) => Node, nameCell: (run: RunSummary) => Node): Column[] {
  const cols: Column[] = [
    { id: 'select', label: '', title: 'Select for comparison', width: '28px', minPx: 28, cell: selectCell, pinned: true },
    {
      id: 'name',
      label: 'Name',
      title: 'Name',
      sort: 'name',
      width: mode === 'sidebar' ? 'minmax(96px, 1.6fr)' : 'minmax(160px, 2fr)',
      minPx: mode === 'sidebar' ? 96 : 160,
      cell: nameCell,
      pinned: true
    }
  ];
  // The sidebar is the compact live view: status as a dot beside the name, then the
  // param, metric and tag columns (metrics first), so a metric shows at the default width.
  const shown =
    mode === 'sidebar'
      ? [{ key: 'status' }, ...specs.filter(c => c.key.startsWith('metrics.')), ...specs.filter(c => /^(params|tags)\./.test(c.key))]
      : specs;
  for (const spec of shown) {
    const key = spec.key;
    const data = /^(metrics|params|tags)\./.test(key);
    // Wide enough for the header's short name (the full one is on hover), within bounds.
    const fit = Math.min(200, Math.max(72, columnLabel(key).length * 7 + 24));
    let [width, minPx] = FIXED[key] ?? (data ? [`minmax(${fit}px, 1fr)`, fit] : ['minmax(64px, 1fr)', 64]);
    if (mode === 'sidebar' && key === 'status') {
      [width, minPx] = ['20px', 20];
    } else if (mode === 'sidebar' && data) {
      [width, minPx] = ['minmax(64px, 1fr)', 64];
    }
    if (mode === 'main' && typeof spec.width === 'number') {
      [width, minPx] = [`${spec.width}px`, spec.width];
    }
    cols.push({
      id: key,
      label: mode === 'sidebar' && key === 'status' ? '' : columnLabel(key),
      title: columnTitle(key),
      sort: sortable(key) ? key : undefined,
      width,
      minPx,
      numeric: key.startsWith('metrics.') || key === 'duration',
      cell: run => cellFor(key, run, mode),
      movable: mode === 'main'
    });
  }
  return cols;
}
