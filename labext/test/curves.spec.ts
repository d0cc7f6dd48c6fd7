import { CompareView } from '../src/compareView';
import { prepare, smooth } from '../src/curves';
import { fakeServer, makeContext, makeRun } from './fake';

const HOSTILE = '<img src=x onerror="window.__xss=1">';

describe('smooth', () => {
  it('is the identity at weight 0 and a debiased moving average above', () => {
    expect(smooth([1, 2, 3], 0)).toEqual([1, 2, 3]);
    const out = smooth([1, 1, 1, 1], 0.9);
    out.forEach(v => expect(v).toBeCloseTo(1)); // debiased: a constant stays constant
    const noisy = smooth([0, 10, 0, 10, 0, 10], 0.8);
    expect(Math.max(...noisy.slice(2)) - Math.min(...noisy.slice(2))).toBeLessThan(10);
    expect(smooth([1, NaN, 3], 0.5)[1]).toBeNaN();
  });

  it('drops values a log scale cannot show', () => {
    const s = prepare({ run_id: 'a', name: 'a', points: [[0, 0], [1, 10], [2, 'NaN'], [3, 100]], dropped: 0 }, 0, 0, true);
    expect(s.xs).toEqual([1, 3]);
    expect(s.ys).toEqual([1, 2]);
  });
});

describe('compare curves', () => {
  it('overlays the curves of the runs; hover names the run, click opens it', async () => {
    const runs = [makeRun(1, { name: 'first' }), makeRun(2, { name: HOSTILE }), makeRun(3, { name: 'third' })];
    const server = fakeServer(runs);
    server.histories = {};
    runs.forEach((r, k) => {
      server.histories![r.id] = { accuracy: Array.from({ length: 20 }, (_, i) => [i, 1 - 1 / (i + 2 + k)] as [number, number]) };
    });
    const rec = makeContext(server);
    const ids = runs.map(r => r.id);
    // /compare is not in the fake server: the view still draws the curves
    const view = new CompareView(rec.ctx, ids);
    document.body.appendChild(view.node);
    await view.curves.load();
    expect(view.curves.hasCurves).toBe(true);
    const curves = [...view.curves.node.querySelectorAll<SVGGElement>('g.jp-tracker-curve')];
    expect(curves).toHaveLength(3);
    expect(curves.every(g => g.querySelector('path.jp-tracker-curve-line'))).toBe(true);
    expect(curves[1].querySelector('title')?.textContent).toBe(HOSTILE);
    expect(view.curves.node.querySelector('img')).toBeNull();
    curves[2].dispatchEvent(new MouseEvent('mouseenter'));
    expect(view.curves.node.querySelector('.jp-tracker-readout')?.textContent).toContain('third: accuracy');
    expect(curves[0].classList.contains('jp-mod-dim')).toBe(true);
    curves[2].dispatchEvent(new MouseEvent('click'));
    expect(rec.opened).toEqual([`run:${ids[2]}`]);
    const before = curves[0].querySelector('path')?.getAttribute('d');
    view.curves.set({ smoothing: 0.9, log: true });
    const after = view.curves.node.querySelector('g.jp-tracker-curve path')?.getAttribute('d');
    expect(after).not.toBe(before);
    expect(view.curves.node.querySelector('svg')?.getAttribute('aria-label')).toContain('log scale');
    view.dispose();
  });
});
