/**
 * The main-area Tracker tab in a real JupyterLab in headless Chromium, with the real
 * server and token auth: the sidebar at its default width shows a metric; "Open Tracker"
 * opens the tab beside the notebook; choose a column (saved in the settings registry),
 * filter and sort on the server, select three runs (the sidebar shows them selected)
 * and see their curves overlaid. Runs after panel.spec.ts (files run in name order),
 * over the same store, with runs of its own written by the tracker's run API.
 * Screenshots land in docs/images/ with UPDATE_SCREENSHOTS=1.
 */

import { expect, test, type Page } from '@playwright/test';
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';

import { python, REPO } from './lab';

const SHOTS = process.env.UPDATE_SCREENSHOTS ? path.join(REPO, 'docs', 'images') : path.join(REPO, 'labext', 'ui-tests', 'results', 'screenshots');
const LONG_METRIC = 'val_accuracy_on_held_out_digits';

// Five runs with a loss curve of 40 steps each, a long metric name, and params.
const SEED = `
import math, tracker
for i in range(5):
    with tracker.start_run(name=f"curve-{i}", tags={"suite": "e2e-main"}) as run:
        run.log_params({"lr": round(0.1 / (i + 1), 4), "depth": i + 2, "optimizer": "adam" if i % 2 else "sgd"})
        for step in range(40):
            run.log_metric("loss", math.exp(-step / (4 + 2 * i)) + 0.02 * i + 0.01 * math.sin(step), step=step)
        run.log_metrics({"${LONG_METRIC}": 0.8 + 0.03 * i})
`;

test.describe.configure({ mode: 'serial' });

let page: Page;
const sidebar = () => page.locator('#jp-tracker-panel');
const main = () => page.locator('#jp-tracker-main');
const mainRows = () => main().locator('.jp-tracker-spacer > .jp-tracker-row');
const mainRow = (name: string) => mainRows().filter({ has: page.locator('.jp-tracker-name', { hasText: new RegExp(`^${name}$`) }) });

async function shot(name: string): Promise<void> {
  fs.mkdirSync(SHOTS, { recursive: true });
  await page.screenshot({ path: path.join(SHOTS, name) });
}

test.beforeAll(async ({ browser }) => {
  test.skip(!!process.env.TRACKER_E2E_SKIP, process.env.TRACKER_E2E_SKIP ?? '');
  const root = process.env.TRACKER_E2E_ROOT as string;
  execFileSync(python(), ['-c', SEED], {
    cwd: root,
    env: { ...process.env, TRACKER_STORE: `sqlite:///${path.join(root, 'tracker.db')}`, TRACKER_SPOOL_DIR: path.join(root, '.spool') },
    stdio: 'inherit'
  });
  page = await browser.newPage();
  page.on('pageerror', err => console.log('page error:', err.message));
  // ?reset: JupyterLab's default layout (the earlier spec widened the sidebar).
  await page.goto(`${process.env.TRACKER_E2E_URL}/lab/tree/tracked.ipynb?reset&token=${process.env.TRACKER_E2E_TOKEN}`);
  await page.waitForSelector('.jp-Notebook .jp-Cell', { timeout: 120_000 });
});

test.afterAll(async () => {
  await page?.close();
});

test('at the default sidebar width the runs table shows a metric column', async () => {
  await page.locator('.jp-SideBar.jp-mod-right .lm-TabBar-tab[data-id="jp-tracker-panel"]').click();
  await expect(sidebar().locator('.jp-tracker-spacer .jp-tracker-name', { hasText: 'curve-4' })).toHaveCount(1);
  const box = await sidebar().boundingBox();
  const metric = sidebar().locator('.jp-tracker-header [role=columnheader][data-key^="metrics."]').first();
  await expect(metric).toBeVisible();
  const mbox = await metric.boundingBox();
  expect(box && mbox).toBeTruthy();
  // the whole metric header is inside the sidebar, not scrolled or cut off
  expect((mbox?.x ?? 0) + (mbox?.width ?? 0)).toBeLessThanOrEqual((box?.x ?? 0) + (box?.width ?? 0) + 1);
  expect(await metric.getAttribute('title')).toMatch(/^metric /);
  await shot('panel-sidebar-default.png');
});

test('"Open Tracker" is a command, a launcher card and a sidebar button; it opens a main-area tab', async () => {
  expect(await page.evaluate(() => (window as any).jupyterapp.commands.hasCommand('tracker:open-main'))).toBe(true);
  await page.evaluate(() => (window as any).jupyterapp.commands.execute('launcher:create'));
  await expect(page.locator('.jp-Launcher').first().locator('.jp-LauncherCard', { hasText: 'Open Tracker' })).toHaveCount(1);
  // close the launchers: the notebook is the tab the tracker opens beside
  await page.evaluate(() => {
    const app = (window as any).jupyterapp;
    for (const w of Array.from(app.shell.widgets('main')) as any[]) {
      if (w.title?.label === 'Launcher') {
        w.close();
      }
    }
  });
  await page.evaluate(() => (window as any).jupyterapp.shell.collapseLeft());
  await sidebar().getByRole('button', { name: 'Open Tracker' }).click();
  await expect(main()).toBeVisible();
  await expect(page.locator('.lm-DockPanel-tabBar .lm-TabBar-tab', { hasText: 'Tracker' })).toHaveCount(1);
  // beside the notebook, not instead of it
  await expect(page.locator('.jp-NotebookPanel')).toBeVisible();
  await expect(mainRow('curve-4')).toHaveCount(1);
});

test('chooses a column, filters and sorts on the server, one count', async () => {
  await main().getByRole('button', { name: 'Columns…' }).click();
  const chooser = main().locator('.jp-tracker-chooser');
  await expect(chooser.locator('input[data-key="params.optimizer"]')).toHaveCount(1);
  await chooser.locator('input[data-key="params.optimizer"]').check();
  await chooser.getByRole('button', { name: 'Done' }).click();
  const optimizer = main().locator('.jp-tracker-header [role=columnheader][data-key="params.optimizer"]');
  await expect(optimizer).toHaveCount(1);
  expect(await optimizer.getAttribute('title')).toBe('param optimizer');
  // the long metric's header names it in full on hover
  await expect(main().locator(`.jp-tracker-header [data-key="metrics.${LONG_METRIC}"]`)).toHaveAttribute('title', `metric ${LONG_METRIC}`);
  // the choice is saved in JupyterLab's settings registry
  await expect
    .poll(async () =>
      page.evaluate(async () => {
        const app = (window as any).jupyterapp;
        const s = await app.serviceManager.settings.fetch('jupyterlab-tracker:plugin');
        return JSON.stringify(s.raw);
      })
    )
    .toContain('params.optimizer');

  const filter = main().locator('.jp-tracker-filter');
  await filter.fill("tags.suite = 'e2e-main' and params.depth >= 3");
  await filter.press('Enter');
  await expect(main().locator('.jp-tracker-count')).toHaveText('4 runs');
  await expect(mainRows()).toHaveCount(4);
  // the sidebar shares the filter, and the footers say the same count
  await expect(sidebar().locator('.jp-tracker-count')).toHaveText('4 runs');
  await expect(main().locator('.jp-tracker-store')).toContainText(/ 4 of \d+ runs shown/);

  await main().locator(`.jp-tracker-header [data-key="metrics.${LONG_METRIC}"] .jp-tracker-sort`).click();
  await expect(main().locator(`.jp-tracker-header [data-key="metrics.${LONG_METRIC}"]`)).toHaveAttribute('aria-sort', 'descending');
  await expect(mainRows().first()).toHaveAttribute('data-run-id', /.+/);
  await expect(mainRows().first().locator('.jp-tracker-name')).toHaveText('curve-4');
  await main().locator(`.jp-tracker-header [data-key="metrics.${LONG_METRIC}"] .jp-tracker-sort`).click();
  await expect(mainRows().first().locator('.jp-tracker-name')).toHaveText('curve-1');
  await main().locator('.jp-tracker-scroller').evaluate(el => (el.scrollLeft = 0));
  await shot('panel-main.png');
});

test('selects three runs (the sidebar shows them selected) and compares their curves', async () => {
  for (const name of ['curve-2', 'curve-3', 'curve-4']) {
    await mainRow(name).click({ modifiers: ['Control'] });
  }
  await expect(main().locator('.jp-tracker-spacer > .jp-tracker-row.jp-mod-selected')).toHaveCount(3);
  await expect(sidebar().locator('.jp-tracker-spacer > .jp-tracker-row.jp-mod-selected')).toHaveCount(3);
  await main().getByRole('button', { name: 'Compare (3)' }).click();
  const view = main().locator('.jp-tracker-compare');
  await expect(view.locator('h2')).toHaveText('Comparing 3 runs');
  const curves = view.locator('g.jp-tracker-curve');
  await expect(curves).toHaveCount(3);
  await expect(view.locator('g.jp-tracker-curve path.jp-tracker-curve-line')).toHaveCount(3);
  await expect(view.locator('.jp-tracker-curves select')).toHaveValue('loss');
  // the params diff is there too
  await expect(view.locator('tr.jp-mod-differs th', { hasText: 'lr' })).toHaveCount(1);
  // hover a curve (its wide transparent twin takes the pointer) or its legend entry
  await curves.nth(1).dispatchEvent('mouseenter');
  await expect(view.locator('.jp-tracker-readout')).toContainText(/^curve-\d: loss /);
  await expect(curves.nth(0)).toHaveClass(/jp-mod-dim/);
  await curves.nth(1).dispatchEvent('mouseleave');
  await view.locator('.jp-tracker-legend-item').nth(2).hover();
  await expect(view.locator('.jp-tracker-readout')).toContainText(/^curve-\d: loss /);
  const before = await view.locator('g.jp-tracker-curve path.jp-tracker-curve-line').first().getAttribute('d');
  await view.locator('.jp-tracker-smoothing').fill('0.8');
  await view.getByLabel('Log scale').check();
  await expect.poll(() => view.locator('g.jp-tracker-curve path.jp-tracker-curve-line').first().getAttribute('d')).not.toBe(before);
  await page.mouse.move(5, 5);
  await shot('panel-main-compare.png');
  // the curves follow the dark theme
  const stroke = () => view.locator('.jp-tracker-axes line').first().evaluate(el => getComputedStyle(el).stroke + getComputedStyle(el.closest('svg') as Element).fill);
  const light = await stroke();
  await page.evaluate(() => (window as any).jupyterapp.commands.execute('apputils:change-theme', { theme: 'JupyterLab Dark' }));
  await expect.poll(stroke).not.toBe(light);
  await page.waitForSelector('#jupyterlab-splash', { state: 'detached' }); // the theme's splash
  await page.waitForTimeout(300);
  await shot('panel-main-compare-dark.png');
  await page.evaluate(() => (window as any).jupyterapp.commands.execute('apputils:change-theme', { theme: 'JupyterLab Light' }));
  // click a curve: its run opens
  await view.locator('.jp-tracker-legend-item', { hasText: 'curve-3' }).click();
  await expect(main().locator('.jp-tracker-title')).toHaveText('curve-3');
});
