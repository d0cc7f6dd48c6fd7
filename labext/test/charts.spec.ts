import { lineChart, linearScale, niceTicks, scatterChart, sparkline, type ScatterPoint } from '../src/charts';

const HOSTILE = '<img src=x onerror=alert(1)>';

function points(): ScatterPoint[] {
  return [
    { id: 'a', x: 0.9, y: 20, cls: 'pareto', label: 'trial 0' },
    { id: 'b', x: 0.95, y: 40, cls: 'chosen', label: 'trial 1' },
    { id: 'c', x: 0.97, y: 80, cls: 'infeasible', label: HOSTILE },
    { id: 'd', x: 0.8, y: 30, cls: 'feasible', label: 'trial 3' },
    { id: 'e', x: NaN, y: 1, cls: 'failed', label: 'failed' }
  ];
}

describe('scales', () => {
  it('picks round ticks inside the range', () => {
    expect(niceTicks(0, 10)).toEqual([0, 2, 4, 6, 8, 10]);
    expect(niceTicks(0.81, 0.99, 4)).toEqual([0.85, 0.9, 0.95]);
    expect(niceTicks(3, 3)).toEqual([3]);
  });

  it('maps the padded data range onto the pixel range', () => {
    const f = linearScale([0, 10], 0, 100);
    expect(f(5)).toBeCloseTo(50);
    expect(f(0)).toBeGreaterThan(0);
    expect(f(10)).toBeLessThan(100);
    expect(linearScale([4, 4], 0, 100)(4)).toBeCloseTo(50);
  });
});

describe('scatterChart', () => {
  it('greys infeasible trials, joins the front, and skips points it cannot place', () => {
    const svg = scatterChart(points(), { xLabel: 'accuracy', yLabel: 'latency' });
    expect(svg.querySelectorAll('circle')).toHaveLength(4);
    expect(svg.querySelectorAll('circle.jp-mod-infeasible')).toHaveLength(1);
    expect(svg.querySelector('circle.jp-mod-infeasible')?.getAttribute('r')).toBe('3.5');
    expect(svg.querySelector('path.jp-tracker-front')?.getAttribute('d')).toMatch(/^M[\d.]+,[\d.]+ L[\d.]+,[\d.]+$/);
    // the front is drawn last, on top of the greyed points
    const classes = [...svg.querySelectorAll('circle')].map(c => c.getAttribute('class'));
    expect(classes.indexOf('jp-tracker-point jp-mod-infeasible')).toBeLessThan(classes.indexOf('jp-tracker-point jp-mod-pareto'));
  });

  it('labels points with text, so names with markup stay text', () => {
    const svg = scatterChart(points(), { xLabel: HOSTILE, yLabel: 'latency' });
    expect(svg.querySelector('img')).toBeNull();
    const titles = [...svg.querySelectorAll('circle title')].map(t => t.textContent);
    expect(titles).toContain(HOSTILE);
    expect([...svg.querySelectorAll('text')].some(t => t.textContent === HOSTILE)).toBe(true);
  });

  it('lets the keyboard reach and pick the front points', () => {
    const picked: string[] = [];
    const svg = scatterChart(points(), { xLabel: 'x', yLabel: 'y', onSelect: id => picked.push(id) });
    const focusable = [...svg.querySelectorAll('circle[tabindex="0"]')];
    expect(focusable.map(c => c.getAttribute('data-id')).sort()).toEqual(['a', 'b']);
    focusable[0].dispatchEvent(new KeyboardEvent('keydown', { key: 'Enter' }));
    svg.querySelector('circle.jp-mod-infeasible')?.dispatchEvent(new MouseEvent('click'));
    expect(picked).toHaveLength(2);
    expect(picked[1]).toBe('c');
  });
});

describe('lineChart and sparkline', () => {
  it('draws the history in x order', () => {
    const svg = lineChart([{ x: 2, y: 0.2 }, { x: 1, y: 0.1 }, { x: 3, y: NaN }], { xLabel: 'trials', yLabel: 'hv' });
    const d = svg.querySelector('path.jp-tracker-line')?.getAttribute('d') ?? '';
    expect(d.split(' ')).toHaveLength(2);
    expect(svg.querySelectorAll('circle.jp-tracker-line-dot')).toHaveLength(2);
  });

  it('needs two values for a sparkline', () => {
    expect(sparkline([1]).querySelector('path')).toBeNull();
    expect(sparkline([1, 3, 2]).querySelector('path')).not.toBeNull();
  });
});
