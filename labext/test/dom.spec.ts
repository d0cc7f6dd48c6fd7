import { h, kvTable, s } from '../src/dom';

const HOSTILE = '<img src=x onerror="window.__xss=1"><script>window.__xss=2</script>';

describe('dom builder', () => {
  it('puts user strings in as text, never as markup', () => {
    const el = h('div', { title: HOSTILE, dataset: { name: HOSTILE } }, HOSTILE, h('span', null, HOSTILE));
    expect(el.textContent).toBe(HOSTILE + HOSTILE);
    expect(el.querySelector('img')).toBeNull();
    expect(el.querySelector('script')).toBeNull();
    expect(el.title).toBe(HOSTILE);
    expect(el.dataset.name).toBe(HOSTILE);
    expect((window as unknown as { __xss?: number }).__xss).toBeUndefined();
  });

  it('sets attributes, aria, styles and listeners', () => {
    const clicks: string[] = [];
    const el = h('button', { aria: { label: 'Go' }, attrs: { type: 'button' }, style: { color: 'red' }, on: { click: () => clicks.push('x') } }, 'go');
    el.click();
    expect(clicks).toEqual(['x']);
    expect(el.getAttribute('aria-label')).toBe('Go');
    expect(el.getAttribute('type')).toBe('button');
    expect(el.style.color).toBe('red');
  });

  it('skips empty children and builds key/value tables', () => {
    const t = kvTable([['a', '1'], [HOSTILE, null]]);
    expect(t.querySelectorAll('tr')).toHaveLength(2);
    expect(t.querySelectorAll('th')[1].textContent).toBe(HOSTILE);
    expect(h('p', null, null, false, undefined, 0).textContent).toBe('0');
  });

  it('builds SVG in the SVG namespace with text labels', () => {
    const t = s('text', { x: 1 }, HOSTILE);
    expect(t.namespaceURI).toBe('http://www.w3.org/2000/svg');
    expect(t.textContent).toBe(HOSTILE);
    expect(t.getAttribute('x')).toBe('1');
  });
});
