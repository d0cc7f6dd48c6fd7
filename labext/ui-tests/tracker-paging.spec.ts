/**
 * Paging and counts of the runs table in a real JupyterLab in headless Chromium, against
 * the real server with token auth, over a store of its own with more runs than a page:
 * the table and the footer say one count (exact, then "about" for a filter the server
 * estimates), and scrolling reads the next page by the cursor the previous page ended
 * with (never an offset) until the last run, where the count becomes exact.
 */

import { expect, test, type Page } from '@playwright/test';
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';

import { python, startLab, stopLab, tempRoot, type LabServer } from './lab';

// Beyond the server's sample (1,000 runs), so a broad filter's count is an estimate.
const RUNS = 1500;
const RUNS_TEXT = RUNS.toLocaleString('en-US');

// Runs written straight through the store's ops (one batch), newest last.
const SEED = `
import sys, time, uuid
from tracker.store import open_store
from tracker.store.ops import CreateRun, EndRun, LogMetrics, MetricRow
store = open_store(sys.argv[1], queued=False)
t0 = time.time() - ${RUNS}
ops = []
for i in range(${RUNS}):
    rid = uuid.uuid4().hex
    ops += [
        CreateRun(rid, f"run {i}", "run", t0 + i),
        LogMetrics(rid, [MetricRow(uuid.uuid4().hex, "accuracy", (i % 97) / 100, None, t0 + i)]),
        EndRun(rid, "finished", t0 + i + 0.5),
    ]
store.write(ops)
store.close()
`;

test.describe.configure({ mode: 'serial' });

let lab: LabServer | null = null;
let page: Page;
const panel = () => page.locator('#jp-tracker-panel');
const count = () => panel().locator('.jp-tracker-count');
const footer = () => panel().locator('.jp-tracker-store');
const loaded = async () => Number(await panel().locator('.jp-tracker-runs').getAttribute('data-loaded-rows'));

/** Every `GET /runs` the page sends, with the `next` cursor its answer carried. */
const pages: Array<{ params: URLSearchParams; next: string | null; runs: number }> = [];

test.beforeAll(async ({ browser }) => {
  test.skip(!!process.env.TRACKER_E2E_SKIP, process.env.TRACKER_E2E_SKIP ?? '');
  const root = tempRoot('tracker-e2e-paging-');
  const store = `sqlite:///${path.join(root, 'tracker.db')}`;
  execFileSync(python(), ['-c', SEED, store], { cwd: root, stdio: 'inherit' });
  lab = await startLab(root, store);
  page = await browser.newPage();
  page.on('pageerror', err => console.log('page error:', err.message));
  page.on('response', async res => {
    const url = new URL(res.url());
    if (url.pathname.endsWith('/tracker/api/v1/runs') && res.ok()) {
      const body = (await res.json()) as { next: string | null; runs: unknown[] };
      pages.push({ params: url.searchParams, next: body.next, runs: body.runs.length });
    }
  });
  await page.goto(`${lab.url}/lab?reset&token=${lab.token}`);
  await page.waitForSelector('.jp-SideBar.jp-mod-right .lm-TabBar-tab[data-id="jp-tracker-panel"]', { timeout: 120_000 });
  await page.waitForFunction(() => (window as any).jupyterapp?.restored !== undefined);
  await page.evaluate(() => (window as any).jupyterapp.restored);
  await page.evaluate(() => (window as any).jupyterapp.shell.activateById('jp-tracker-panel'));
});

test.afterAll(async () => {
  await page?.close();
  if (lab) {
    stopLab(lab.pid);
    await new Promise(r => setTimeout(r, 500));
    fs.rmSync(lab.root, { recursive: true, force: true });
  }
});

test('the table and the footer say one exact count, with the first page only', async () => {
  await expect(count()).toHaveText(`${RUNS_TEXT} runs`);
  await expect(footer()).toHaveText(`sqlite · ${RUNS_TEXT} runs`);
  expect(await loaded()).toBeLessThan(RUNS);
  expect(pages[0].params.get('cursor')).toBeNull();
  expect(pages.every(p => !p.params.has('offset'))).toBe(true);
});

test('a filter the server counts by estimate reads "about" in the table and the footer alike', async () => {
  const filter = panel().locator('.jp-tracker-filter');
  await filter.fill('metrics.accuracy >= 0');
  await filter.press('Enter');
  await expect(count()).toHaveText(/^about [\d,]+ runs$/);
  const about = (await count().textContent())?.replace(/ runs$/, '');
  await expect(footer()).toHaveText(`sqlite · ${about} of ${RUNS_TEXT} runs shown`);
  expect(await panel().locator('[role=grid]').getAttribute('aria-rowcount')).toBe('-1');
});

test('scrolling reads the next page by cursor until the last run, and the count becomes exact', async () => {
  const grid = panel().locator('[role=grid]');
  const filtered = () => pages.filter(p => p.params.get('filter') === 'metrics.accuracy >= 0');
  for (let i = 0; i < 40 && (await loaded()) < RUNS; i++) {
    const before = await loaded();
    await grid.evaluate(el => (el.scrollTop = el.scrollHeight));
    await expect.poll(loaded, { timeout: 30_000 }).toBeGreaterThan(before);
  }
  expect(await loaded()).toBe(RUNS);
  // Each page after the first was asked with the cursor the page before it ended with.
  const chain = filtered();
  const firsts = chain.filter(p => !p.params.get('cursor'));
  expect(firsts.length).toBeGreaterThan(0);
  for (const p of chain.filter(q => q.params.get('cursor'))) {
    expect(chain.some(q => q.next === p.params.get('cursor'))).toBe(true);
  }
  expect(chain.filter(p => p.params.get('cursor')).length).toBeGreaterThanOrEqual(2);
  expect(chain.every(p => !p.params.has('offset'))).toBe(true);
  // The last page is in: the count is the rows read, exact, in the table and the footer.
  await expect(count()).toHaveText(`${RUNS_TEXT} runs`);
  await expect(footer()).toHaveText(`sqlite · ${RUNS_TEXT} runs`);
  await expect(panel().locator('.jp-tracker-more')).toHaveCount(0);
  // Newest first: the last row is the oldest run, and no run was skipped or repeated.
  await grid.evaluate(el => (el.scrollTop = el.scrollHeight));
  await expect(panel().locator('.jp-tracker-spacer > .jp-tracker-row').last().locator('.jp-tracker-name')).toHaveText('run 0');
  const names = await panel()
    .locator('.jp-tracker-spacer > .jp-tracker-row')
    .evaluateAll(rows => rows.map(r => [Number(r.getAttribute('aria-rowindex')), r.querySelector('.jp-tracker-name')?.textContent ?? '']));
  for (const [index, name] of names as Array<[number, string]>) {
    expect(name).toBe(`run ${RUNS - index}`);
  }
});
