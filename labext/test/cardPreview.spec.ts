/**
 * The card preview never lets card HTML run: the HTML the API serves goes only into the
 * `srcdoc` of an iframe whose `sandbox` grants nothing (no scripts, no same origin, no
 * forms, no popups, no navigation of the panel), and section texts stay form values.
 * tests/test_security_xss.py renders the API's card HTML itself in Chromium without a CSP.
 */

import { CardView } from '../src/cardView';
import { TrackerAPI, type Transport } from '../src/api';
import type { CardSections } from '../src/types';
import { fakeServer, makeContext } from './fake';

const HOSTILE = '<img src=x onerror="window.__xss=1"><script>window.__xss=2</script>';
const CARD_HTML = `<!DOCTYPE html><html><head><title>x</title></head><body>${HOSTILE}<a href="javascript:window.__xss=3">x</a></body></html>`;

function reply(status: number, text: string): Response {
  return {
    ok: status >= 200 && status < 300,
    status,
    statusText: String(status),
    json: async () => JSON.parse(text),
    text: async () => text
  } as unknown as Response;
}

function sections(text: string): CardSections {
  return {
    run_id: 'run000001',
    keys: ['intended_use', 'factors'],
    titles: { intended_use: `Intended use ${HOSTILE}`, factors: 'Factors' },
    prompts: { intended_use: HOSTILE, factors: '' },
    sections: { intended_use: text, factors: '' },
    missing: ['factors'],
    updated: null
  };
}

function view(): { card: CardView; served: string[] } {
  const served: string[] = [];
  let stored = HOSTILE;
  const transport: Transport = async (path, init) => {
    const url = new URL(path, 'http://x/');
    if (url.pathname.endsWith('/card/sections')) {
      return reply(200, JSON.stringify(sections(stored)));
    }
    if (url.pathname.endsWith('/card') && init?.method && init.method !== 'GET') {
      stored = JSON.parse(String(init.body)).sections.intended_use;
      return reply(200, JSON.stringify(sections(stored)));
    }
    if (url.pathname.endsWith('/card')) {
      const html = `${CARD_HTML}<!-- ${served.length} -->`;
      served.push(html);
      return reply(200, html);
    }
    return reply(404, JSON.stringify({ error: { code: 'not_found', message: 'no', status: 404 } }));
  };
  const rec = makeContext(fakeServer([]));
  rec.ctx = { ...rec.ctx, api: new TrackerAPI(transport) };
  return { card: new CardView(rec.ctx, 'run000001'), served };
}

function assertInert(card: CardView, html: string): void {
  const frames = card.node.querySelectorAll('iframe');
  expect(frames).toHaveLength(1);
  const frame = frames[0];
  // An empty sandbox: every restriction on, nothing allowed back.
  expect(frame.hasAttribute('sandbox')).toBe(true);
  expect(frame.getAttribute('sandbox')).toBe('');
  expect(frame.srcdoc).toBe(html);
  expect(frame.getAttribute('src')).toBeNull();
  // Nothing of the card's markup is in the panel's own DOM.
  expect(card.node.querySelectorAll('script, img, a[href], [onerror]')).toHaveLength(0);
  expect((window as unknown as { __xss?: number }).__xss).toBeUndefined();
}

test('the preview shows the served HTML only in an empty-sandbox iframe', async () => {
  const { card, served } = view();
  await card.refresh();
  assertInert(card, served[0]);
  const area = card.node.querySelector('textarea[name="intended_use"]') as HTMLTextAreaElement;
  expect(area.value).toBe(HOSTILE);
  expect(area.placeholder).toBe(HOSTILE);
  expect(card.node.querySelector('label')?.textContent).toContain(HOSTILE);
});

test('after saving, the new preview is sandboxed the same way', async () => {
  const { card, served } = view();
  await card.refresh();
  const area = card.node.querySelector('textarea[name="intended_use"]') as HTMLTextAreaElement;
  area.value = `${HOSTILE} edited`;
  area.dispatchEvent(new Event('input'));
  await card.save();
  expect(served).toHaveLength(2);
  assertInert(card, served[1]);
  expect((card.node.querySelector('textarea[name="intended_use"]') as HTMLTextAreaElement).value).toBe(`${HOSTILE} edited`);
});

test('counts the sections saved with text as filled, and follows the edits', async () => {
  const { card } = view();
  await card.refresh();
  expect(card.node.textContent).toContain('1 of 2 human sections need input');
  expect(card.missing()).toEqual(['factors']);
  const area = card.node.querySelector('textarea[name="factors"]') as HTMLTextAreaElement;
  area.value = 'Digits written by adults';
  area.dispatchEvent(new Event('input'));
  expect(card.missing()).toEqual([]);
});
