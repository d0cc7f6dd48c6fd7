/**
 * A search in the main-area Tracker tab, in headless Chromium with the real server and
 * token auth: a real tracker.optimize with a latency constraint and pruning (written by
 * the seed below), opened from the Searches tab. Its parallel coordinates draw one line
 * per trial with the pruned greyed and the violations coloured, its importance bars (Optuna's
 * PED-ANOVA, recorded by the search) one per param per objective; hover names a trial,
 * click opens it. Screenshots land in docs/images/ with UPDATE_SCREENSHOTS=1.
 */

import { expect, test, type Page } from '@playwright/test';
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';

import { python, REPO } from './lab';

const SHOTS = process.env.UPDATE_SCREENSHOTS ? path.join(REPO, 'docs', 'images') : path.join(REPO, 'labext', 'ui-tests', 'results', 'screenshots');

// Three params, two objectives, a latency budget: slow trials are pruned at their first step.
const SEED = `
import json, math, optuna, tracker
def objective(trial):
    lr = trial.suggest_float("lr", 1e-4, 1e-1, log=True)
    depth = trial.suggest_int("depth", 1, 8)
    kernel = trial.suggest_categorical("kernel", ["rbf", "linear", "poly"])
    latency = 0.9 * depth + (0.5 if kernel == "poly" else 0.0)
    acc = 0.0
    for step in range(3):
        acc = 0.6 + 0.1 * step - abs(math.log10(lr) + 2) * 0.05 + 0.01 * depth
        if tracker.report(trial, {"accuracy": acc, "latency_ms": latency}, step):
            raise optuna.TrialPruned()
    return {"accuracy": acc, "latency_ms": latency}
res = tracker.optimize(objective, 30, objectives={"accuracy": "maximize", "latency_ms": "minimize"},
    constraints=["latency_ms <= 5"], study_name="e2e-parcoords", sampler="random", seed=0, show_progress=False)
imp = tracker.get_run(res.search_run_id).attrs["search"]["importance"]["objectives"]
print(json.dumps({"n": len(res.trials), "pruned": sum(t.state == "pruned" for t in res.trials),
    "infeasible": sum(t.state == "complete" and not t.feasible for t in res.trials),
    "bars": sum(len(v) for v in imp.values()), "objectives": len(imp)}))
`;

interface Seeded {
  n: number;
  pruned: number;
  infeasible: number;
  bars: number;
  objectives: number;
}

test.describe.configure({ mode: 'serial' });

let page: Page;
let seeded: Seeded;
const main = () => page.locator('#jp-tracker-main');

test.beforeAll(async ({ browser }) => {
  test.skip(!!process.env.TRACKER_E2E_SKIP, process.env.TRACKER_E2E_SKIP ?? '');
  const root = process.env.TRACKER_E2E_ROOT as string;
  const out = execFileSync(python(), ['-c', SEED], {
    cwd: root,
    env: { ...process.env, TRACKER_STORE: `sqlite:///${path.join(root, 'tracker.db')}`, TRACKER_SPOOL_DIR: path.join(root, '.spool') },
    encoding: 'utf8'
  });
  seeded = JSON.parse(out.trim().split('\n').pop() as string) as Seeded;
  page = await browser.newPage();
  page.on('pageerror', err => console.log('page error:', err.message));
  await page.goto(`${process.env.TRACKER_E2E_URL}/lab/tree/tracked.ipynb?reset&token=${process.env.TRACKER_E2E_TOKEN}`);
  await page.waitForSelector('.jp-Notebook .jp-Cell', { timeout: 120_000 });
});

test.afterAll(async () => {
  await page?.close();
});

test("a search's view in the main-area tab: parallel coordinates and importances with the right counts", async () => {
  expect(seeded.n).toBe(30);
  expect(seeded.pruned).toBeGreaterThan(0);
  await page.evaluate(() => (window as any).jupyterapp.commands.execute('tracker:open-main'));
  await expect(main()).toBeVisible();
  await main().locator('#jp-tracker-tab-searches').click();
  await main().locator('tr', { has: page.locator('.jp-tracker-name', { hasText: /^e2e-parcoords$/ }) }).click();
  const view = main().locator('.jp-tracker-search');
  await expect(view.locator('h2')).toHaveText('e2e-parcoords');

  const pc = view.locator('.jp-tracker-pc svg');
  await expect(pc.locator('path.jp-tracker-pc-line')).toHaveCount(seeded.n);
  await expect(pc.locator('path.jp-tracker-pc-line.jp-mod-pruned')).toHaveCount(seeded.pruned);
  await expect(pc.locator('path.jp-tracker-pc-line.jp-mod-infeasible')).toHaveCount(seeded.infeasible);
  // three params then two objectives (the constraint's metric is an objective here)
  await expect(pc.locator('.jp-tracker-pc-axis')).toHaveCount(5);
  await expect(pc.locator('.jp-tracker-pc-axis.jp-mod-param')).toHaveCount(3);

  const bars = view.locator('svg.jp-tracker-importance');
  await expect(bars).toHaveCount(seeded.objectives);
  await expect(bars.locator('rect.jp-tracker-imp-bar')).toHaveCount(seeded.bars);
  await expect(view).toContainText("Optuna's PED-ANOVA over");

  // the Pareto chart counts the pruned trials in its legend
  await expect(view.locator('.jp-tracker-key.jp-mod-pruned').first()).toHaveText(`pruned (${seeded.pruned})`);

  // hover a line: the readout names its trial; then the screenshot for docs/panel.md
  const chosen = pc.locator('path.jp-tracker-pc-line.jp-mod-chosen');
  const line = (await chosen.count()) ? chosen.first() : pc.locator('path.jp-tracker-pc-line').last();
  await line.dispatchEvent('mouseover');
  await expect(view.locator('.jp-tracker-pc-readout')).toContainText(/^trial \d+ \(/);
  // lr is sampled on a log scale (no space= given: the panel sees the values span decades)
  await expect(pc.locator('.jp-tracker-pc-axis[data-key="lr"] title')).toHaveText('param lr (log scale)');
  fs.mkdirSync(SHOTS, { recursive: true });
  await view.locator('.jp-tracker-pc').scrollIntoViewIfNeeded();
  await page.screenshot({ path: path.join(SHOTS, 'panel-search-main.png') });
  await bars.first().scrollIntoViewIfNeeded();
  await view.locator('details.jp-tracker-section', { has: page.locator('svg.jp-tracker-importance') }).screenshot({ path: path.join(SHOTS, 'panel-search-importance.png') });

  // click a line: its trial run opens (trial runs are named "<study> #<number>")
  const number = /^trial (\d+)/.exec((await view.locator('.jp-tracker-pc-readout').textContent()) ?? '')?.[1];
  await line.dispatchEvent('click');
  await expect(main().locator('.jp-tracker-run .jp-tracker-title')).toHaveText(`e2e-parcoords #${number}`);
});
