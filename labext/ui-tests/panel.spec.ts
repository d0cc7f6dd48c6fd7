/**
 * The panel in a real JupyterLab in headless Chromium: run a tracked notebook, then
 * see its runs, a comparison, a search's Pareto chart, a card and the cell lineage.
 * Screenshots land in docs/images/ for docs/panel.md with UPDATE_SCREENSHOTS=1 (else in
 * ui-tests/results/, so a test run leaves the work tree as it was).
 */

import { expect, test, type Page } from '@playwright/test';
import * as fs from 'fs';
import * as path from 'path';

import { REPO } from './lab';

const HOSTILE = '<img src=x onerror="window.__xss=1">bad<script>window.__xss=2</script>';
const SHOTS = process.env.UPDATE_SCREENSHOTS
  ? path.join(REPO, 'docs', 'images')
  : path.join(REPO, 'labext', 'ui-tests', 'results', 'screenshots');

test.describe.configure({ mode: 'serial' });

let page: Page;

const panel = () => page.locator('#jp-tracker-panel');
const rows = () => panel().locator('.jp-tracker-spacer > .jp-tracker-row');
const rowNamed = (name: string) => rows().filter({ has: page.locator('.jp-tracker-name', { hasText: name }) });

async function shot(name: string): Promise<void> {
  fs.mkdirSync(SHOTS, { recursive: true });
  await page.screenshot({ path: path.join(SHOTS, name) });
}

async function runCells(ids: string[]): Promise<void> {
  await page.evaluate(async (cellIds: string[]) => {
    const app = (window as any).jupyterapp;
    const nbPanel = app.shell.currentWidget;
    await nbPanel.sessionContext.ready;
    const nb = nbPanel.content;
    for (const id of cellIds) {
      const index = nb.widgets.findIndex((c: any) => c.model.id === id);
      nb.activeCellIndex = index;
      await app.commands.execute('notebook:run-cell');
    }
  }, ids);
}

async function back(): Promise<void> {
  await panel().getByRole('button', { name: '← Back' }).click();
}

test.beforeAll(async ({ browser }) => {
  test.skip(!!process.env.TRACKER_E2E_SKIP, process.env.TRACKER_E2E_SKIP ?? '');
  page = await browser.newPage();
  page.on('pageerror', err => console.log('page error:', err.message));
  await page.goto(`${process.env.TRACKER_E2E_URL}/lab/tree/tracked.ipynb?token=${process.env.TRACKER_E2E_TOKEN}`);
  await page.waitForSelector('.jp-Notebook .jp-Cell', { timeout: 120_000 });
  await page.waitForFunction(() => (window as any).jupyterapp?.shell?.currentWidget?.sessionContext?.session?.kernel, null, { timeout: 120_000 });
  // A wider right sidebar (as a person would drag it), so the screenshots are readable.
  await page.evaluate(() => {
    const app = (window as any).jupyterapp;
    app.shell.collapseLeft();
    const split = app.shell._hsplitPanel;
    if (split?.setRelativeSizes) {
      split.setRelativeSizes([0, 0.55, 0.45]);
    }
  });
});

test.afterAll(async () => {
  await page?.close();
});

test('runs a tracked notebook and sees its runs in the panel', async () => {
  // %track on, data, two runs, a run with a hostile name, a constrained search (Optuna)
  await runCells(['setup', 'load', 'train', 'hostile', 'search']);
  await expect(page.locator('.jp-Cell').filter({ hasText: 'tracker.optimize(' }).locator('.jp-OutputArea-output').last()).toContainText('on the front', { timeout: 120_000 });
  await page.locator('.jp-SideBar.jp-mod-right .lm-TabBar-tab[data-id="jp-tracker-panel"]').click();
  await expect(rowNamed('svc-C5.0')).toHaveCount(1);
  await expect(rowNamed('svc-C0.5')).toHaveCount(1);
  await expect(rowNamed('svc search')).toHaveCount(1);
  await expect(panel().locator('.jp-tracker-count')).toContainText('runs');
  await expect(panel().locator('[role=columnheader]', { hasText: 'accuracy' })).toHaveCount(1);
  await shot('panel-runs.png');
});

test('user-supplied strings containing HTML render as text', async () => {
  const name = panel().locator('.jp-tracker-spacer .jp-tracker-name').filter({ hasText: 'bad' });
  await expect(name).toHaveCount(1);
  expect(await name.evaluate(el => el.firstChild?.textContent)).toBe(HOSTILE);
  await expect(panel().locator('img, script')).toHaveCount(0);
  await rowNamed('bad').click();
  await expect(panel().locator('.jp-tracker-title')).toHaveText(HOSTILE);
  await expect(panel().locator('.jp-tracker-tag')).toContainText(HOSTILE);
  await expect(panel().locator('img, script')).toHaveCount(0);
  expect(await page.evaluate(() => (window as any).__xss)).toBeUndefined();
  await back();
});

test('compares two runs: params, metrics and how the data changed', async () => {
  await rowNamed('svc-C5.0').click({ modifiers: ['Control'] });
  await rowNamed('svc-C0.5').click({ modifiers: ['Control'] });
  await panel().getByRole('button', { name: 'Compare (2)' }).click();
  const view = panel().locator('.jp-tracker-compare');
  await expect(view.locator('h2')).toHaveText('Comparing 2 runs');
  await expect(view.locator('tr.jp-mod-differs th', { hasText: 'C' }).first()).toBeVisible();
  await expect(view.locator('.jp-tracker-changes li', { hasText: 'shape: (1200, 64) → (900, 64)' })).toHaveCount(1);
  await expect(view.locator('td.jp-mod-best')).toHaveCount(1);
  await shot('panel-compare.png');
  await back();
});

test("shows a search's Pareto front with infeasible trials greyed", async () => {
  await rowNamed('svc search').click();
  const view = panel().locator('.jp-tracker-search');
  await expect(view.locator('h2')).toHaveText('svc search');
  const chart = view.locator('.jp-tracker-pareto svg');
  await expect(chart.locator('circle')).toHaveCount(16); // every trial of tracker.optimize(n_trials=16)
  expect(await chart.locator('circle.jp-mod-infeasible').count()).toBeGreaterThan(0);
  expect(await chart.locator('circle.jp-mod-pareto, circle.jp-mod-chosen').count()).toBeGreaterThan(0);
  await expect(view.locator('.jp-tracker-hv path.jp-tracker-line')).toHaveCount(1);
  await expect(view.locator('.jp-tracker-trials tbody tr')).toHaveCount(16);
  const grey = await chart.locator('circle.jp-mod-infeasible').first().evaluate(el => getComputedStyle(el).opacity);
  expect(Number(grey)).toBeLessThan(1);
  await shot('panel-search.png');
});

test('shows, edits and downloads the model card of the chosen trial', async () => {
  await panel().getByRole('button', { name: 'Card of chosen' }).click();
  const card = panel().locator('.jp-tracker-card');
  const intended = card.getByLabel(/intended uses/i);
  await intended.fill('Sorting digits <b>only</b> in the e2e test');
  await card.getByRole('button', { name: 'Save sections' }).click();
  await expect(card).toContainText('Saved.');
  const preview = page.frameLocator('.jp-tracker-card-preview');
  await expect(preview.locator('body')).toContainText('Sorting digits <b>only</b> in the e2e test');
  await expect(preview.locator('b')).toHaveCount(0);
  const [download] = await Promise.all([page.waitForEvent('download'), card.getByRole('button', { name: 'Markdown' }).click()]);
  expect(download.suggestedFilename()).toMatch(/^model-card-[0-9a-f]{8}\.md$/);
  const text = fs.readFileSync(await download.path(), 'utf8');
  expect(text).toContain('Sorting digits');
  await shot('panel-card.png');
  await back();
  await back();
});

test('a run view shows the cell records, and "go to cell" scrolls the notebook there', async () => {
  await panel().locator('select').first().selectOption('session');
  await rows().first().click();
  const view = panel().locator('.jp-tracker-run');
  await view.locator('summary', { hasText: /^Cells \(\d+\)$/ }).click();
  // the cell records %track on made, with JupyterLab's cell ids
  const searchCell = view.locator('.jp-tracker-cellrec[data-cell-id="search"]');
  await expect(searchCell.locator('code')).toContainText('tracker.optimize(');
  await expect(searchCell.locator('.jp-tracker-io').first()).toContainText('X_val');
  // put the notebook's focus elsewhere first
  await page.evaluate(() => {
    (window as any).jupyterapp.shell.currentWidget.content.activeCellIndex = 0;
  });
  await searchCell.getByRole('button', { name: 'Go to cell' }).click();
  const active = page.locator('.jp-Notebook .jp-Cell.jp-mod-active');
  await expect(active).toContainText('tracker.optimize(');
  await expect(active).toBeInViewport();
  await view.locator('summary', { hasText: 'Lineage' }).click();
  await expect(view.locator('.jp-tracker-lineage li')).not.toHaveCount(0);
  await shot('panel-run.png');
  await back();
  await panel().locator('select').first().selectOption('default');
});

test('a run recorded by a notebook cell appears while the panel is open', async () => {
  await expect(rowNamed('live-run')).toHaveCount(0);
  await runCells(['live']);
  await expect(rowNamed('live-run')).toHaveCount(1, { timeout: 10_000 });
});

test('works with the keyboard and follows the dark theme', async () => {
  const grid = panel().locator('[role=grid]');
  await grid.focus();
  await page.keyboard.press('Home');
  await page.keyboard.press('Enter');
  await expect(panel().locator('.jp-tracker-title')).toHaveText('live-run');
  await page.keyboard.press('Alt+ArrowLeft');
  await expect(panel().locator('.jp-tracker-runs')).toHaveCount(1);
  const light = await panel().evaluate(el => getComputedStyle(el).backgroundColor);
  await page.evaluate(() => (window as any).jupyterapp.commands.execute('apputils:change-theme', { theme: 'JupyterLab Dark' }));
  await expect.poll(() => panel().evaluate(el => getComputedStyle(el).backgroundColor)).not.toBe(light);
  await shot('panel-dark.png');
  await page.evaluate(() => (window as any).jupyterapp.commands.execute('apputils:change-theme', { theme: 'JupyterLab Light' }));
});
