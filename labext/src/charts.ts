/**
 * Small SVG charts: a scatter for Pareto fronts and a line for histories. Plain SVG
 * keeps the panel light (no plotting library) and themeable through CSS variables;
 * labels are text nodes, so names with markup show as typed.
 */

import { s } from './dom';
import { formatNumber } from './format';

export interface Scale {
  (v: number): number;
  ticks: number[];
}

/** "Nice" tick values covering [lo, hi]. */
export function niceTicks(lo: number, hi: number, count = 5): number[] {
  if (!Number.isFinite(lo) || !Number.isFinite(hi)) {
    return [];
  }
  if (lo === hi) {
    return [lo];
  }
  const span = hi - lo;
  const raw = span / Math.max(1, count);
  const mag = Math.pow(10, Math.floor(Math.log10(raw)));
  const step = [1, 2, 2.5, 5, 10].map(m => m * mag).find(st => span / st <= count) ?? 10 * mag;
  const out: number[] = [];
  for (let t = Math.ceil(lo / step) * step; t <= hi + step * 1e-9; t += step) {
    out.push(Number(t.toPrecision(12)));
  }
  return out;
}

/** A linear scale from the data range (padded) to `[r0, r1]`. */
export function linearScale(values: number[], r0: number, r1: number): Scale {
  const finite = values.filter(Number.isFinite);
  let lo = finite.length ? Math.min(...finite) : 0;
  let hi = finite.length ? Math.max(...finite) : 1;
  if (lo === hi) {
    const pad = lo === 0 ? 1 : Math.abs(lo) * 0.05;
    lo -= pad;
    hi += pad;
  } else {
    const pad = (hi - lo) * 0.05;
    lo -= pad;
    hi += pad;
  }
  const f = ((v: number) => r0 + ((v - lo) / (hi - lo)) * (r1 - r0)) as Scale;
  f.ticks = niceTicks(lo, hi);
  return f;
}

export type PointClass = 'pareto' | 'feasible' | 'infeasible' | 'chosen' | 'failed' | 'pruned';

export interface ScatterPoint {
  id: string;
  x: number;
  y: number;
  cls: PointClass;
  label: string;
  /** The test re-check found this trial breaks a constraint on held-out data: drawn ringed. */
  testInfeasible?: boolean;
}

export interface ChartOptions {
  width?: number;
  height?: number;
  xLabel: string;
  yLabel: string;
  title?: string;
}

const M = { top: 12, right: 12, bottom: 36, left: 52 };

function frame(
  opts: ChartOptions,
  xs: Scale,
  ys: Scale,
  width: number,
  height: number
): SVGSVGElement {
  const svg = s('svg', {
    class: 'jp-tracker-chart',
    viewBox: `0 0 ${width} ${height}`,
    width: '100%',
    role: 'img',
    'aria-label': opts.title ?? `${opts.yLabel} against ${opts.xLabel}`,
    preserveAspectRatio: 'xMidYMid meet'
  });
  if (opts.title) {
    svg.appendChild(s('title', {}, opts.title));
  }
  const axes = s('g', { class: 'jp-tracker-axes' });
  axes.appendChild(
    s('line', { x1: M.left, y1: height - M.bottom, x2: width - M.right, y2: height - M.bottom })
  );
  axes.appendChild(s('line', { x1: M.left, y1: M.top, x2: M.left, y2: height - M.bottom }));
  for (const t of xs.ticks) {
    const x = xs(t);
    if (x < M.left - 0.5 || x > width - M.right + 0.5) {
      continue;
    }
    axes.appendChild(s('line', { class: 'jp-tracker-grid', x1: x, y1: M.top, x2: x, y2: height - M.bottom }));
    axes.appendChild(s('text', { x, y: height - M.bottom + 14, 'text-anchor': 'middle' }, formatNumber(t, 3)));
  }
  for (const t of ys.ticks) {
    const y = ys(t);
    if (y < M.top - 0.5 || y > height - M.bottom + 0.5) {
      continue;
    }
    axes.appendChild(s('line', { class: 'jp-tracker-grid', x1: M.left, y1: y, x2: width - M.right, y2: y }));
    axes.appendChild(s('text', { x: M.left - 4, y: y + 4, 'text-anchor': 'end' }, formatNumber(t, 3)));
  }
  axes.appendChild(
    s('text', { class: 'jp-tracker-axis-label', x: (M.left + width - M.right) / 2, y: height - 4, 'text-anchor': 'middle' }, opts.xLabel)
  );
  axes.appendChild(
    s(
      'text',
      {
        class: 'jp-tracker-axis-label',
        x: 12,
        y: (M.top + height - M.bottom) / 2,
        'text-anchor': 'middle',
        transform: `rotate(-90 12 ${(M.top + height - M.bottom) / 2})`
      },
      opts.yLabel
    )
  );
  svg.appendChild(axes);
  return svg;
}

/**
 * A scatter of trials. Infeasible points are drawn grey (class `infeasible`), the
 * front is joined by a step line, and front points can be focused and chosen with the
 * keyboard (`onSelect` on click, Enter or Space).
 */
export function scatterChart(
  points: ScatterPoint[],
  opts: ChartOptions & { frontOrder?: 'x-asc'; onSelect?: (id: string) => void }
): SVGSVGElement {
  const width = opts.width ?? 420;
  const height = opts.height ?? 280;
  const ok = points.filter(p => Number.isFinite(p.x) && Number.isFinite(p.y));
  const xs = linearScale(ok.map(p => p.x), M.left, width - M.right);
  const ys = linearScale(ok.map(p => p.y), height - M.bottom, M.top);
  const svg = frame(opts, xs, ys, width, height);
  const front = ok.filter(p => p.cls === 'pareto' || p.cls === 'chosen').sort((a, b) => a.x - b.x);
  if (front.length > 1) {
    const d = front.map((p, i) => `${i ? 'L' : 'M'}${xs(p.x).toFixed(1)},${ys(p.y).toFixed(1)}`).join(' ');
    svg.appendChild(s('path', { class: 'jp-tracker-front', d }));
  }
  // Draw the greyed and plain points first so the front stays on top.
  const order: PointClass[] = ['failed', 'pruned', 'infeasible', 'feasible', 'pareto', 'chosen'];
  const layer = s('g', { class: 'jp-tracker-points' });
  for (const cls of order) {
    for (const p of ok.filter(q => q.cls === cls)) {
      const focusable = cls === 'pareto' || cls === 'chosen';
      const c = s('circle', {
        class: `jp-tracker-point jp-mod-${cls}`,
        cx: xs(p.x).toFixed(1),
        cy: ys(p.y).toFixed(1),
        r: focusable ? 5 : 3.5,
        'data-id': p.id
      });
      if (p.testInfeasible) {
        // A ring, not a colour: the point keeps its validation class and gains the test verdict.
        layer.appendChild(s('circle', { class: 'jp-tracker-test-ring', cx: xs(p.x).toFixed(1), cy: ys(p.y).toFixed(1), r: 8.5, 'data-id': p.id }));
      }
      c.appendChild(s('title', {}, p.label));
      if (opts.onSelect) {
        const select = opts.onSelect;
        c.addEventListener('click', () => select(p.id));
        if (focusable) {
          c.setAttribute('tabindex', '0');
          c.setAttribute('role', 'button');
          c.setAttribute('aria-label', p.label);
          c.addEventListener('keydown', (ev: KeyboardEvent) => {
            if (ev.key === 'Enter' || ev.key === ' ') {
              ev.preventDefault();
              select(p.id);
            }
          });
        }
      }
      layer.appendChild(c);
    }
  }
  svg.appendChild(layer);
  return svg;
}

export interface LinePoint {
  x: number;
  y: number;
}

/** A line chart (a metric's history, a search's hypervolume by finished trials). */
export function lineChart(points: LinePoint[], opts: ChartOptions): SVGSVGElement {
  const width = opts.width ?? 420;
  const height = opts.height ?? 200;
  const ok = points.filter(p => Number.isFinite(p.x) && Number.isFinite(p.y)).sort((a, b) => a.x - b.x);
  const xs = linearScale(ok.map(p => p.x), M.left, width - M.right);
  const ys = linearScale(ok.map(p => p.y), height - M.bottom, M.top);
  const svg = frame(opts, xs, ys, width, height);
  if (ok.length) {
    const d = ok.map((p, i) => `${i ? 'L' : 'M'}${xs(p.x).toFixed(1)},${ys(p.y).toFixed(1)}`).join(' ');
    svg.appendChild(s('path', { class: 'jp-tracker-line', d }));
    for (const p of ok.length <= 60 ? ok : []) {
      const dot = s('circle', { class: 'jp-tracker-line-dot', cx: xs(p.x).toFixed(1), cy: ys(p.y).toFixed(1), r: 2.5 });
      dot.appendChild(s('title', {}, `${opts.xLabel} ${formatNumber(p.x)}: ${formatNumber(p.y)}`));
      svg.appendChild(dot);
    }
  }
  return svg;
}

/** A tiny inline line (a metric's trend inside a table cell). */
export function sparkline(values: number[], width = 80, height = 18): SVGSVGElement {
  const ok = values.filter(Number.isFinite);
  const svg = s('svg', { class: 'jp-tracker-sparkline', width, height, viewBox: `0 0 ${width} ${height}`, 'aria-hidden': 'true' });
  if (ok.length < 2) {
    return svg;
  }
  const lo = Math.min(...ok);
  const hi = Math.max(...ok);
  const y = (v: number) => (hi === lo ? height / 2 : height - 2 - ((v - lo) / (hi - lo)) * (height - 4));
  const d = ok.map((v, i) => `${i ? 'L' : 'M'}${((i / (ok.length - 1)) * (width - 2) + 1).toFixed(1)},${y(v).toFixed(1)}`).join(' ');
  svg.appendChild(s('path', { d }));
  return svg;
}
