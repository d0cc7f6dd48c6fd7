/**
 * The search view's own charts: parallel coordinates (params to objectives, one line per
 * trial) and parameter importance bars. Plain SVG like charts.ts, for the same reasons:
 * no plotting library in the panel, colours from JupyterLab's CSS variables so both themes
 * work, and every name and value goes in as a text node (a param named `<img onerror>`
 * shows as typed). One listener per chart, not per line, keeps 1,000 trials cheap.
 */

import { s } from './dom';
import { formatNumber, formatValue, toNumber } from './format';
import type { Direction, JSONValue, ParamImportance, ParamValue, SearchDetail, TrialRow } from './types';

/** How a trial's line is drawn: the front and the choice on top, pruned and failed greyed. */
export type LineClass = 'chosen' | 'pareto' | 'feasible' | 'infeasible' | 'pruned' | 'failed';

export interface ParAxis {
  key: string;
  label: string;
  kind: 'param' | 'objective' | 'constraint';
  /** `log` when the search space samples the param on a log scale and every value is > 0. */
  type: 'linear' | 'log' | 'category';
  /** Category axes: the values in their order top to bottom. */
  categories: string[];
  /** Constraint axes: where the bound is (a marker on the axis). */
  bound: number | null;
  direction: Direction | null;
}

export interface ParLine {
  id: string;
  cls: LineClass;
  values: Record<string, ParamValue | JSONValue | undefined>;
  label: string;
}

const CAT = (v: unknown): string => (typeof v === 'string' ? v : formatValue(v as JSONValue));

/** A value on an axis as a number to scale (category index, log10), or NaN when missing. */
export function axisValue(axis: ParAxis, v: ParamValue | JSONValue | undefined): number {
  if (v === undefined || v === null) {
    return NaN;
  }
  if (axis.type === 'category') {
    const i = axis.categories.indexOf(CAT(v));
    return i < 0 ? NaN : i;
  }
  const n = typeof v === 'boolean' ? Number(v) : toNumber(v as JSONValue);
  if (n === null || !Number.isFinite(n)) {
    return NaN;
  }
  if (axis.type === 'log') {
    return n > 0 ? Math.log10(n) : NaN;
  }
  return n;
}

/** The axes of a search: its params (as the space describes them), objectives, then constraint metrics. */
export function parAxes(d: SearchDetail, lines: ParLine[], maxParams = 12): ParAxis[] {
  const space = d.space as Record<string, Record<string, JSONValue> | undefined>;
  const params = [...new Set([...Object.keys(d.space), ...d.trials.flatMap(t => Object.keys(t.params))])].slice(0, maxParams);
  const axes: ParAxis[] = [];
  for (const key of params) {
    const vals = lines.map(l => l.values[key]).filter(v => v !== undefined && v !== null);
    const numeric = vals.every(v => typeof v === 'number');
    // Log scale when the space says so, or (a define-by-run search records no space) when
    // the values are positive and span two decades or more, as a log-sampled param does.
    const nums = vals.filter((v): v is number => typeof v === 'number');
    const positive = nums.length > 0 && nums.every(v => v > 0);
    const declared = space[key]?.['log'];
    const wide = positive && Math.max(...nums) / Math.min(...nums) >= 100;
    const logScale = positive && (declared === true || (declared === undefined && wide));
    const categories = numeric ? [] : [...new Set(vals.map(CAT))].sort();
    axes.push({ key, label: key, kind: 'param', type: numeric ? (logScale ? 'log' : 'linear') : 'category', categories, bound: null, direction: null });
  }
  for (const [key, dir] of Object.entries(d.objectives)) {
    axes.push({ key, label: `${key} ${dir === 'maximize' ? '↑' : '↓'}`, kind: 'objective', type: 'linear', categories: [], bound: null, direction: dir });
  }
  for (const c of d.constraints) {
    if (c.metric && !(c.metric in d.objectives) && !axes.some(a => a.key === c.metric)) {
      const bound = toNumber(c.bound);
      axes.push({ key: c.metric, label: c.expr, kind: 'constraint', type: 'linear', categories: [], bound: bound !== null && Number.isFinite(bound) ? bound : null, direction: null });
    }
  }
  return axes;
}

/** The class a trial's line is drawn with. */
export function lineClass(t: TrialRow, chosen: string | null, pareto: Set<string>): LineClass {
  if (t.state === 'fail' || t.status === 'failed') {
    return 'failed';
  }
  if (t.state === 'pruned') {
    return 'pruned';
  }
  if (t.feasible === false) {
    return 'infeasible';
  }
  if (t.id === chosen) {
    return 'chosen';
  }
  return pareto.has(t.id) || t.pareto ? 'pareto' : 'feasible';
}

/** One line per trial: its params, objective values and constraint metrics. */
export function parLines(d: SearchDetail): ParLine[] {
  const pareto = new Set(d.pareto);
  return d.trials.map(t => {
    const cls = lineClass(t, d.chosen, pareto);
    const values: ParLine['values'] = { ...t.metrics, ...t.params };
    for (const [k, v] of Object.entries(t.values)) {
      if (v !== null && v !== undefined) {
        values[k] = v;
      }
    }
    const shown = [...Object.entries(t.params), ...Object.keys(d.objectives).map(k => [k, values[k]] as const)]
      .map(([k, v]) => `${k}=${formatValue(v as JSONValue)}`)
      .join(', ');
    const state = cls === 'pruned' ? 'pruned' : cls === 'failed' ? 'failed' : cls === 'infeasible' ? 'violates a constraint' : cls === 'chosen' ? 'chosen' : cls === 'pareto' ? 'on the front' : 'feasible';
    return { id: t.id, cls, values, label: `trial ${t.number ?? '?'} (${state}): ${shown}` };
  });
}

interface Range {
  lo: number;
  hi: number;
}

function range(axis: ParAxis, lines: ParLine[]): Range {
  if (axis.type === 'category') {
    return { lo: 0, hi: Math.max(1, axis.categories.length - 1) };
  }
  const vals = lines.map(l => axisValue(axis, l.values[axis.key])).filter(Number.isFinite);
  if (axis.bound !== null) {
    vals.push(axis.bound);
  }
  if (!vals.length) {
    return { lo: 0, hi: 1 };
  }
  let lo = Math.min(...vals);
  let hi = Math.max(...vals);
  if (lo === hi) {
    const pad = lo === 0 ? 1 : Math.abs(lo) * 0.05;
    lo -= pad;
    hi += pad;
  }
  return { lo, hi };
}

export interface ParOptions {
  width?: number;
  height?: number;
  title?: string;
  onSelect?: (id: string) => void;
  /** Called with the hovered line's label (null when the pointer leaves every line). */
  onHover?: (line: ParLine | null) => void;
}

const ORDER: LineClass[] = ['failed', 'pruned', 'infeasible', 'feasible', 'pareto', 'chosen'];
const PM = { top: 28, bottom: 30, left: 40, right: 40 };

/** The tick labels of an axis: its categories, or the ends and middle of its range. */
function axisTicks(axis: ParAxis, r: Range): Array<{ v: number; text: string }> {
  if (axis.type === 'category') {
    return axis.categories.map((c, i) => ({ v: i, text: c }));
  }
  const show = (v: number) => formatNumber(axis.type === 'log' ? Math.pow(10, v) : v, 3);
  return [r.lo, (r.lo + r.hi) / 2, r.hi].map(v => ({ v, text: show(v) }));
}

/**
 * Parallel coordinates: one vertical axis per param, objective and constraint metric, one
 * polyline per trial across them. A line breaks where a trial has no value (a pruned trial
 * has no objective). Hover a line for the trial; click it for `onSelect`.
 */
export function parallelCoordinates(axes: ParAxis[], lines: ParLine[], opts: ParOptions = {}): SVGSVGElement {
  const width = opts.width ?? 640;
  const height = opts.height ?? 300;
  const svg = s('svg', {
    class: 'jp-tracker-chart jp-tracker-parcoords',
    viewBox: `0 0 ${width} ${height}`,
    width: '100%',
    role: 'img',
    'aria-label': opts.title ?? 'Parallel coordinates of the trials',
    preserveAspectRatio: 'xMidYMid meet'
  });
  svg.appendChild(s('title', {}, opts.title ?? 'Parallel coordinates'));
  if (!axes.length) {
    return svg;
  }
  const step = axes.length > 1 ? (width - PM.left - PM.right) / (axes.length - 1) : 0;
  const xs = axes.map((_, i) => (axes.length > 1 ? PM.left + i * step : width / 2));
  const ranges = axes.map(a => range(a, lines));
  const y = (i: number, v: number): number => {
    const r = ranges[i];
    // categories top to bottom in their order; numbers with the largest at the top
    const f = axes[i].type === 'category' ? (v - r.lo) / (r.hi - r.lo || 1) : 1 - (v - r.lo) / (r.hi - r.lo);
    return PM.top + f * (height - PM.top - PM.bottom);
  };
  const layer = s('g', { class: 'jp-tracker-lines' });
  const byId = new Map<string, ParLine>();
  for (const cls of ORDER) {
    for (const l of lines) {
      if (l.cls !== cls) {
        continue;
      }
      byId.set(l.id, l);
      let d = '';
      let pen = false;
      axes.forEach((a, i) => {
        const v = axisValue(a, l.values[a.key]);
        if (!Number.isFinite(v)) {
          pen = false;
          return;
        }
        d += `${pen ? 'L' : 'M'}${xs[i].toFixed(1)},${y(i, v).toFixed(1)}`;
        pen = true;
      });
      if (!d) {
        continue;
      }
      const path = s('path', { class: `jp-tracker-pc-line jp-mod-${cls}`, d, 'data-id': l.id });
      path.appendChild(s('title', {}, l.label));
      layer.appendChild(path);
    }
  }
  svg.appendChild(layer);
  const axesG = s('g', { class: 'jp-tracker-axes jp-tracker-pc-axes' });
  axes.forEach((a, i) => {
    const x = xs[i];
    const g = s('g', { class: `jp-tracker-pc-axis jp-mod-${a.kind}`, 'data-key': a.key });
    g.appendChild(s('line', { x1: x, y1: PM.top, x2: x, y2: height - PM.bottom }));
    const anchor = i === 0 ? 'start' : i === axes.length - 1 ? 'end' : 'middle';
    const name = s('text', { class: 'jp-tracker-axis-label', x, y: PM.top - 10, 'text-anchor': anchor }, a.label);
    name.appendChild(s('title', {}, `${a.kind} ${a.key}${a.type === 'log' ? ' (log scale)' : ''}`));
    g.appendChild(name);
    for (const t of axisTicks(a, ranges[i])) {
      g.appendChild(s('text', { class: 'jp-tracker-pc-tick', x: x + 3, y: y(i, t.v) + 3, 'text-anchor': 'start' }, t.text));
    }
    if (a.bound !== null) {
      const yb = y(i, a.bound);
      g.appendChild(s('line', { class: 'jp-tracker-pc-bound', x1: x - 6, y1: yb, x2: x + 6, y2: yb }));
    }
    axesG.appendChild(g);
  });
  svg.appendChild(axesG);
  const target = (ev: Event): ParLine | null => {
    const el = ev.target as Element | null;
    const id = el && el.getAttribute ? el.getAttribute('data-id') : null;
    return id ? byId.get(id) ?? null : null;
  };
  if (opts.onSelect) {
    const select = opts.onSelect;
    layer.addEventListener('click', ev => {
      const l = target(ev);
      if (l) {
        select(l.id);
      }
    });
  }
  if (opts.onHover) {
    const hover = opts.onHover;
    layer.addEventListener('mouseover', ev => hover(target(ev)));
    layer.addEventListener('mouseleave', () => hover(null));
  }
  return svg;
}

/**
 * Horizontal bars of each param's importance for each objective, largest first, with the
 * figure as text. Returns one SVG per objective (in the search's objective order).
 */
export function importanceBars(imp: ParamImportance, objectives: Record<string, Direction>, width = 360): SVGSVGElement[] {
  const out: SVGSVGElement[] = [];
  const names = [...Object.keys(objectives), ...Object.keys(imp.objectives).filter(k => !(k in objectives))];
  for (const obj of names) {
    const raw = imp.objectives[obj];
    if (!raw) {
      continue;
    }
    const rows = Object.entries(raw)
      .map(([k, v]) => ({ k, v: toNumber(v) ?? 0 }))
      .map(r => ({ k: r.k, v: Number.isFinite(r.v) ? Math.max(0, r.v) : 0 }))
      .sort((a, b) => b.v - a.v || a.k.localeCompare(b.k));
    const rowH = 18;
    const label = Math.min(140, Math.round(width * 0.35));
    const height = 22 + rows.length * rowH;
    const max = Math.max(...rows.map(r => r.v), 1e-12);
    const svg = s('svg', {
      class: 'jp-tracker-chart jp-tracker-importance',
      viewBox: `0 0 ${width} ${height}`,
      width: '100%',
      role: 'img',
      'aria-label': `Parameter importance for ${obj}`,
      'data-objective': obj
    });
    svg.appendChild(s('title', {}, `Parameter importance for ${obj}`));
    svg.appendChild(s('text', { class: 'jp-tracker-axis-label', x: 0, y: 13 }, obj));
    rows.forEach((r, i) => {
      const y0 = 20 + i * rowH;
      const w = Math.max(0, ((width - label - 48) * r.v) / max);
      const g = s('g', { class: 'jp-tracker-imp-row', 'data-param': r.k });
      g.appendChild(s('text', { x: label - 4, y: y0 + 12, 'text-anchor': 'end' }, r.k));
      const bar = s('rect', { class: 'jp-tracker-imp-bar', x: label, y: y0 + 2, width: w.toFixed(1), height: rowH - 5 });
      bar.appendChild(s('title', {}, `${r.k}: ${formatNumber(r.v, 3)} for ${obj}`));
      g.appendChild(bar);
      g.appendChild(s('text', { class: 'jp-tracker-imp-value', x: label + w + 4, y: y0 + 12 }, formatNumber(r.v, 2)));
      svg.appendChild(g);
    });
    out.push(svg);
  }
  return out;
}
