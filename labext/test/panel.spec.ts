import { Widget } from '@lumino/widgets';

import { TrackerAPI } from '../src/api';
import { TrackerPanel } from '../src/panel';
import { TrackerState } from '../src/state';
import { fakeServer, makeRun } from './fake';

async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) {
    await new Promise(r => setTimeout(r, 5));
  }
}

describe('TrackerPanel', () => {
  it('navigates from the runs table to a run and back, and keeps polling only while visible', async () => {
    const server = fakeServer([makeRun(1, { name: 'alpha' }), makeRun(2, { name: 'beta' })]);
    const panel = new TrackerPanel(new TrackerAPI(server.transport), { goToCell: async () => true, download: () => undefined }, { refreshInterval: 60_000 });
    Widget.attach(panel, document.body);
    await panel.refreshNow();
    await settle();
    expect(panel.node.querySelectorAll('.jp-tracker-spacer .jp-tracker-name')).toHaveLength(2);
    (panel.node.querySelector('.jp-tracker-spacer .jp-tracker-row') as HTMLElement).click();
    await settle();
    expect(panel.node.querySelector('.jp-tracker-title')?.textContent).toBe('beta');
    expect((panel.node.querySelector('.jp-tracker-back') as HTMLButtonElement).hidden).toBe(false);
    panel.node.dispatchEvent(new KeyboardEvent('keydown', { key: 'ArrowLeft', altKey: true }));
    await settle();
    expect(panel.node.querySelector('.jp-tracker-runs')).not.toBeNull();

    const standby = panel.poll.standby as () => boolean | string;
    expect(standby()).toBe('when-hidden');
    panel.hide();
    expect(standby()).toBe(true);
    panel.show();

    // a cell finished: the panel asks the server again shortly after
    const before = server.requests.length;
    server.runs.push(makeRun(3, { name: 'gamma' }));
    panel.cellExecuted();
    await new Promise(r => setTimeout(r, 400));
    await settle();
    expect(server.requests.length).toBeGreaterThan(before);
    expect(panel.node.textContent).toContain('gamma');
    panel.dispose();
    expect(panel.poll.isDisposed).toBe(true);
  });

  it('shows in its footer how many records the store refused, and the command that retries them', async () => {
    const server = fakeServer([makeRun(1)]);
    server.rejected = 3;
    const panel = new TrackerPanel(new TrackerAPI(server.transport), { goToCell: async () => true, download: () => undefined }, { refreshInterval: 60_000 });
    Widget.attach(panel, document.body);
    await panel.refreshNow();
    await settle();
    const line = panel.node.querySelector('.jp-tracker-footer .jp-tracker-rejected') as HTMLElement;
    expect(line.hidden).toBe(false);
    expect(line.textContent).toContain('3 rejected');
    expect(line.title).toContain('tracker sync --rejected');
    panel.dispose();

    const clean = fakeServer([makeRun(1)]);
    const quiet = new TrackerPanel(new TrackerAPI(clean.transport), { goToCell: async () => true, download: () => undefined }, { refreshInterval: 60_000 });
    Widget.attach(quiet, document.body);
    await quiet.refreshNow();
    await settle();
    expect(quiet.node.querySelector('.jp-tracker-footer .jp-tracker-store')?.textContent).toContain('1 runs');
    expect((quiet.node.querySelector('.jp-tracker-rejected') as HTMLElement).hidden).toBe(true);
    quiet.dispose();
  });

  it('switches tabs with the tab buttons', async () => {
    const server = fakeServer([]);
    const panel = new TrackerPanel(new TrackerAPI(server.transport), { goToCell: async () => true, download: () => undefined }, { refreshInterval: 60_000 });
    Widget.attach(panel, document.body);
    (panel.node.querySelector('#jp-tracker-tab-searches') as HTMLButtonElement).click();
    await settle();
    expect(panel.node.querySelector('#jp-tracker-tab-searches')?.getAttribute('aria-selected')).toBe('true');
    expect(panel.node.querySelector('.jp-tracker-searches')).not.toBeNull();
    panel.dispose();
  });

  it('offers "Open Tracker" in the sidebar, and its footer says the count the table shows', async () => {
    const server = fakeServer([makeRun(1, { name: 'alpha' }), makeRun(2, { name: 'beta' }), makeRun(3, { name: 'alphabet' })]);
    let opened = 0;
    const state = new TrackerState();
    const host = { goToCell: async () => true, download: () => undefined, openMain: () => opened++ };
    const panel = new TrackerPanel(new TrackerAPI(server.transport), host, { refreshInterval: 60_000 }, state, 'sidebar');
    Widget.attach(panel, document.body);
    await panel.refreshNow();
    await settle();
    const open = [...panel.node.querySelectorAll('button')].find(b => b.textContent === 'Open Tracker') as HTMLButtonElement;
    open.click();
    expect(opened).toBe(1);
    state.setFilter({ q: 'alpha' });
    await settle();
    await panel.refreshNow();
    await settle();
    expect(panel.node.querySelector('.jp-tracker-count')?.textContent).toBe('2 runs');
    expect(panel.node.querySelector('.jp-tracker-store')?.textContent).toBe('sqlite · 2 of 3 runs shown');
    // the main-area panel has no such button (it is the main view)
    const main = new TrackerPanel(new TrackerAPI(server.transport), host, { refreshInterval: 60_000 }, state, 'main');
    expect([...main.node.querySelectorAll('button')].some(b => b.textContent === 'Open Tracker')).toBe(false);
    expect(main.id).toBe('jp-tracker-main');
    main.dispose();
    panel.dispose();
  });

  it('says the same estimate in the table and the footer when the server counts "about"', async () => {
    const server = fakeServer(Array.from({ length: 500 }, (_, i) => makeRun(i)));
    server.countBound = 200;
    server.estimate = n => n - 37;
    const host = { goToCell: async () => true, download: () => undefined };
    const panel = new TrackerPanel(new TrackerAPI(server.transport), host, { refreshInterval: 60_000 }, new TrackerState(), 'main');
    Widget.attach(panel, document.body);
    await panel.refreshNow();
    await settle();
    expect(panel.node.querySelector('.jp-tracker-count')?.textContent).toBe('about 460 runs');
    expect(panel.node.querySelector('.jp-tracker-store')?.textContent).toBe('sqlite · about 460 of 500 runs shown');
    panel.dispose();
  });
});
