/**
 * Metric-over-step curves of the compared runs, overlaid in one SVG chart, with a
 * smoothing slider (an exponential moving average, debiased like TensorBoard's) and a
 * log scale. Series colours are CSS classes over JupyterLab's theme variables, so the
 * chart follows the light and dark themes. Hovering a curve (or its legend entry)
 * names the run and its value; clicking opens the run. Names go in as text nodes.
 */

import { linearScale } from './charts';
import type { PanelContext } from './context';
import { clear, h, s } from './dom';
import { formatNumber, toNumber } from './format';
import type { Curves, CurveSeries } from './types';

/** Series colours cycle through this many CSS classes (`jp-tracker-series-N`). */
export const SERIES_COLOURS = 8;

/**
 * Exponential moving average of `values` with weight `w` in [0, 1), debiased so the
 * first points are not pulled towards zero. Non-finite values pass through unchanged
 * and do not enter the average.
 */
export function smooth(values: number[], w: number): number[] {
  if (!(w > 0)) {
    return [...values];
  }
  const weight = Math.min(w, 0.999);
  let acc = 0;
  let n = 0;
  return values.map(v => {
    if (!Number.isFinite(v)) {
      return v;
    }
    acc = acc * weight + (1 - weight) * v;
    n++;
    return acc / (1 - Math.pow(weight, n));
  });
}

interface Series {
  runId: string;
  name: string;
  index: number;
  xs: number[];
  ys: number[];
}

/** The points to draw: smoothed, then (log scale) only the positive values as log10. */
export function prepare(series: CurveSeries, index: number, weight: number, log: boolean): Series {
  const pts = series.points.map(([x, y]) => [x, toNumber(y) ?? NaN] as [number, number]).filter(([x]) => Number.isFinite(x));
  const ys = smooth(
    pts.map(p => p[1]),
    weight
  );
  const out: Series = { runId: series.run_id, name: series.name, index, xs: [], ys: [] };
  pts.forEach(([x], i) => {
    const y = ys[i];
    if (!Number.isFinite(y) || (log && y <= 0)) {
      return;
    }
    out.xs.push(x);
    out.ys.push(log ? Math.log10(y) : y);
  });
  return out;
}

const W = 640;
const H = 300;
const M = { top: 12, right: 16, bottom: 36, left: 60 };

export class CurvesChart {
  readonly node: HTMLElement;
  private data: Curves | null = null;
  private key = '';
  private weight = 0;
  private log = false;
  private keySelect: HTMLSelectElement;
  private slider: HTMLInputElement;
  private logBox: HTMLInputElement;
  private plot: HTMLElement;
  private legend: HTMLElement;
  private readout: HTMLElement;

  constructor(
    private readonly ctx: PanelContext,
    private readonly ids: string[]
  ) {
    this.keySelect = h('select', {
      class: 'jp-tracker-select',
      aria: { label: 'Metric' },
      on: {
        change: () => {
          this.key = this.keySelect.value;
          this.draw();
        }
      }
    });
    this.slider = h('input', {
      class: 'jp-tracker-smoothing',
      attrs: { type: 'range', min: '0', max: '0.99', step: '0.01', value: '0', 'aria-label': 'Smoothing' },
      on: {
        input: () => {
          this.weight = Number(this.slider.value);
          this.draw();
        }
      }
    });
    this.logBox = h('input', {
      attrs: { type: 'checkbox', 'aria-label': 'Log scale' },
      on: {
        change: () => {
          this.log = this.logBox.checked;
          this.draw();
        }
      }
    });
    this.plot = h('div', { class: 'jp-tracker-curves-plot' });
    this.legend = h('div', { class: 'jp-tracker-legend', role: 'list', aria: { label: 'Runs' } });
    this.readout = h('div', { class: 'jp-tracker-readout jp-tracker-muted', aria: { live: 'polite' } }, 'Hover a curve to see its run; click it to open the run.');
    this.node = h(
      'div',
      { class: 'jp-tracker-curves' },
      h(
        'div',
        { class: 'jp-tracker-toolbar' },
        h('label', null, 'Metric ', this.keySelect),
        h('label', { class: 'jp-tracker-check' }, 'Smoothing ', this.slider),
        h('label', { class: 'jp-tracker-check' }, this.logBox, ' Log scale')
      ),
      this.plot,
      this.readout,
      this.legend
    );
  }

  /** Whether some run logged some metric at more than one step (else there are only dots). */
  get hasCurves(): boolean {
    const d = this.data;
    return !!d && d.keys.some(k => (d.curves[k] ?? []).some(c => c.points.length > 1));
  }

  async load(): Promise<void> {
    const got = await this.ctx.api.curves(this.ids, []);
    // An answer without the expected shape (an older server) draws as "no curves".
    this.data = Array.isArray(got?.keys) && got.curves && typeof got.curves === 'object' ? got : { keys: [], curves: {} };
    clear(this.keySelect);
    for (const k of this.data.keys) {
      this.keySelect.appendChild(h('option', { attrs: { value: k } }, k));
    }
    // The first metric with more than one point in some run: a curve, not a dot.
    const keys = this.data.keys;
    this.key = keys.find(k => (this.data?.curves[k] ?? []).some(c => c.points.length > 1)) ?? keys[0] ?? '';
    this.keySelect.value = this.key;
    this.draw();
  }

  /** The smoothing weight and log scale (tests set them as a person would). */
  set(options: { key?: string; smoothing?: number; log?: boolean }): void {
    if (options.key !== undefined) {
      this.key = options.key;
      this.keySelect.value = options.key;
    }
    if (options.smoothing !== undefined) {
      this.weight = options.smoothing;
      this.slider.value = String(options.smoothing);
    }
    if (options.log !== undefined) {
      this.log = options.log;
      this.logBox.checked = options.log;
    }
    this.draw();
  }

  private draw(): void {
    clear(this.plot);
    clear(this.legend);
    const raw = this.data?.curves[this.key] ?? [];
    if (!raw.length) {
      this.plot.appendChild(h('p', { class: 'jp-tracker-muted' }, this.data && !this.data.keys.length ? 'These runs logged no metrics.' : 'No points.'));
      return;
    }
    const series = raw.map((c, i) => prepare(c, i, this.weight, this.log));
    const allX = series.flatMap(sr => sr.xs);
    const allY = series.flatMap(sr => sr.ys);
    const xs = linearScale(allX, M.left, W - M.right);
    const ys = linearScale(allY, H - M.bottom, M.top);
    const svg = s('svg', {
      class: 'jp-tracker-chart jp-tracker-curves-chart',
      viewBox: `0 0 ${W} ${H}`,
      width: '100%',
      role: 'img',
      'aria-label': `${this.key} by step for ${series.length} runs${this.log ? ' (log scale)' : ''}`,
      preserveAspectRatio: 'xMidYMid meet'
    });
    const axes = s('g', { class: 'jp-tracker-axes' });
    axes.appendChild(s('line', { x1: M.left, y1: H - M.bottom, x2: W - M.right, y2: H - M.bottom }));
    axes.appendChild(s('line', { x1: M.left, y1: M.top, x2: M.left, y2: H - M.bottom }));
    for (const t of xs.ticks) {
      const x = xs(t);
      if (x >= M.left - 0.5 && x <= W - M.right + 0.5) {
        axes.appendChild(s('line', { class: 'jp-tracker-grid', x1: x, y1: M.top, x2: x, y2: H - M.bottom }));
        axes.appendChild(s('text', { x, y: H - M.bottom + 14, 'text-anchor': 'middle' }, formatNumber(t, 3)));
      }
    }
    for (const t of ys.ticks) {
      const y = ys(t);
      if (y >= M.top - 0.5 && y <= H - M.bottom + 0.5) {
        axes.appendChild(s('line', { class: 'jp-tracker-grid', x1: M.left, y1: y, x2: W - M.right, y2: y }));
        axes.appendChild(s('text', { x: M.left - 4, y: y + 4, 'text-anchor': 'end' }, formatNumber(this.log ? Math.pow(10, t) : t, 3)));
      }
    }
    axes.appendChild(s('text', { class: 'jp-tracker-axis-label', x: (M.left + W - M.right) / 2, y: H - 4, 'text-anchor': 'middle' }, 'step'));
    const mid = (M.top + H - M.bottom) / 2;
    axes.appendChild(s('text', { class: 'jp-tracker-axis-label', x: 12, y: mid, 'text-anchor': 'middle', transform: `rotate(-90 12 ${mid})` }, this.log ? `${this.key} (log scale)` : this.key));
    svg.appendChild(axes);
    const layer = s('g', { class: 'jp-tracker-series' });
    for (const sr of series) {
      const cls = `jp-tracker-series-${sr.index % SERIES_COLOURS}`;
      const g = s('g', { class: `jp-tracker-curve ${cls}`, 'data-run-id': sr.runId, tabindex: '0', role: 'button', 'aria-label': `${sr.name}: open the run` });
      g.appendChild(s('title', {}, sr.name));
      if (sr.xs.length > 1) {
        const d = sr.xs.map((x, i) => `${i ? 'L' : 'M'}${xs(x).toFixed(1)},${ys(sr.ys[i]).toFixed(1)}`).join(' ');
        g.appendChild(s('path', { class: 'jp-tracker-curve-line', d }));
        // A wide transparent twin makes a thin line easy to hover and click.
        g.appendChild(s('path', { class: 'jp-tracker-curve-hit', d }));
      }
      if (sr.xs.length) {
        const last = sr.xs.length - 1;
        g.appendChild(s('circle', { class: 'jp-tracker-curve-end', cx: xs(sr.xs[last]).toFixed(1), cy: ys(sr.ys[last]).toFixed(1), r: 3 }));
      }
      this.wire(g, sr);
      layer.appendChild(g);
      const item = h(
        'button',
        { class: `jp-tracker-legend-item ${cls}`, role: 'listitem', title: `Open ${sr.name}`, attrs: { type: 'button' }, dataset: { runId: sr.runId } },
        h('span', { class: 'jp-tracker-swatch', attrs: { 'aria-hidden': 'true' } }),
        sr.name
      );
      this.wire(item, sr);
      this.legend.appendChild(item);
    }
    svg.appendChild(layer);
    this.plot.appendChild(svg);
  }

  private wire(el: Element, sr: Series): void {
    const on = () => this.highlight(sr, true);
    const off = () => this.highlight(sr, false);
    el.addEventListener('mouseenter', on);
    el.addEventListener('mouseleave', off);
    el.addEventListener('focus', on);
    el.addEventListener('blur', off);
    el.addEventListener('click', () => this.ctx.openRun(sr.runId));
    el.addEventListener('keydown', ev => {
      const key = (ev as KeyboardEvent).key;
      if (key === 'Enter' || key === ' ') {
        ev.preventDefault();
        this.ctx.openRun(sr.runId);
      }
    });
  }

  private highlight(sr: Series, on: boolean): void {
    for (const el of this.node.querySelectorAll(`[data-run-id]`)) {
      const mine = (el as HTMLElement | SVGElement).dataset.runId === sr.runId;
      el.classList.toggle('jp-mod-hover', on && mine);
      el.classList.toggle('jp-mod-dim', on && !mine);
    }
    if (on) {
      const last = sr.ys.length ? sr.ys[sr.ys.length - 1] : NaN;
      const value = this.log ? Math.pow(10, last) : last;
      this.readout.textContent = Number.isFinite(value)
        ? `${sr.name}: ${this.key} ${formatNumber(value)} at step ${formatNumber(sr.xs[sr.xs.length - 1])}${this.weight ? ' (smoothed)' : ''}`
        : `${sr.name}: no ${this.key} to draw`;
    }
  }
}
