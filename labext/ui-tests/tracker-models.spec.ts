/**
 * The Models tab in a real JupyterLab in headless Chromium, with the real server and
 * token auth: a model logged on a run (a LogisticRegression on load_iris), registered,
 * given the alias `champion`, and refused a promotion; the tab lists it, its versions,
 * alias and history; the version's card opens in the sandboxed preview; "Go to run"
 * opens the run, whose artifacts download through the authenticated API (200, the bytes).
 * Runs after tracker-main.spec.ts (files run in name order) over the same store.
 * Screenshots land in docs/images/ with UPDATE_SCREENSHOTS=1.
 */

import { expect, test, type Page } from '@playwright/test';
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';

import { python, REPO } from './lab';

const SHOTS = process.env.UPDATE_SCREENSHOTS ? path.join(REPO, 'docs', 'images') : path.join(REPO, 'labext', 'ui-tests', 'results', 'screenshots');
const MODEL = 'iris-classifier';
const NOTES = 'The iris model, trained on 120 flowers.\n';

const SEED = `
import tracker
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split

X, y = load_iris(return_X_y=True, as_frame=True)
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.2, random_state=0)
with tracker.start_run(name="iris-logreg", tags={"suite": "e2e-models"}) as run:
    model = LogisticRegression(max_iter=500).fit(X_train, y_train)
    run.log_metrics({"accuracy": model.score(X_test, y_test), "latency_p95_ms": 3.0})
    run.log_text(${JSON.stringify(NOTES)}, "notes.txt")
    ref = run.log_model(model, "model", input_example=X_train.head(2))
tracker.register_model(ref, "${MODEL}", reason="first fit on iris")
tracker.set_alias("${MODEL}", "champion", 1, reason="the only one")
try:
    tracker.promote("${MODEL}", 1, alias="production", require=["latency_p95_ms <= 1"])
except tracker.PromotionRefused:
    pass
`;

test.describe.configure({ mode: 'serial' });

let page: Page;
const main = () => page.locator('#jp-tracker-main');

async function shot(name: string): Promise<void> {
  fs.mkdirSync(SHOTS, { recursive: true });
  await page.screenshot({ path: path.join(SHOTS, name) });
}

test.beforeAll(async ({ browser }) => {
  test.skip(!!process.env.TRACKER_E2E_SKIP, process.env.TRACKER_E2E_SKIP ?? '');
  const root = process.env.TRACKER_E2E_ROOT as string;
  execFileSync(python(), ['-c', SEED], {
    cwd: root,
    env: { ...process.env, TRACKER_STORE: `sqlite:///${path.join(root, 'tracker.db')}`, TRACKER_SPOOL_DIR: path.join(root, '.spool'), TRACKER_USER: 'e2e' },
    stdio: 'inherit'
  });
  page = await browser.newPage();
  page.on('pageerror', err => console.log('page error:', err.message));
  await page.goto(`${process.env.TRACKER_E2E_URL}/lab/tree/tracked.ipynb?reset&token=${process.env.TRACKER_E2E_TOKEN}`);
  await page.waitForSelector('.jp-Notebook .jp-Cell', { timeout: 120_000 });
});

test.afterAll(async () => {
  await page?.close();
});

test('the Models tab lists the registered model with its latest version and alias', async () => {
  expect(await page.evaluate(() => (window as any).jupyterapp.commands.hasCommand('tracker:open-models'))).toBe(true);
  await page.evaluate(() => (window as any).jupyterapp.shell.collapseLeft());
  await page.evaluate(() => (window as any).jupyterapp.commands.execute('tracker:open-main'));
  await expect(main()).toBeVisible();
  await main().locator('.jp-tracker-tab', { hasText: 'Models' }).click();
  const row = main().locator('tr.jp-tracker-model-row', { has: page.locator('.jp-tracker-name', { hasText: MODEL }) });
  await expect(row).toHaveCount(1);
  await expect(row.locator('.jp-tracker-alias')).toHaveText('@champion → v1');
  await expect(row).toContainText('v1');
  await shot('panel-models.png');
  await row.click();
});

test("a model's versions, alias and history, with the refused promotion and its reason", async () => {
  const view = main().locator('.jp-tracker-model');
  await expect(view.locator('h2')).toHaveText(MODEL);
  const version = view.locator('tr.jp-tracker-version-row[data-version="1"]');
  await expect(version).toHaveCount(1);
  await expect(version.locator('.jp-tracker-alias')).toHaveText('@champion');
  await expect(version.locator('code[title^="xxh3-128"]')).toHaveText(/^[0-9a-f]{12}$/);
  const events = view.locator('li.jp-tracker-event');
  await expect(events).toHaveCount(3);
  const refused = view.locator('li.jp-tracker-event[data-action="promotion_refused"]');
  await expect(refused).toContainText('refused to promote v1 to @production');
  await expect(refused.locator('.jp-mod-failed')).toContainText('✗ latency_p95_ms <= 1');
  await expect(view.locator('li.jp-tracker-event[data-action="register"] .jp-tracker-event-reason')).toHaveText('Reason: first fit on iris');
  await shot('panel-model.png');
});

test("the version's card opens in the sandboxed preview", async () => {
  await main().locator('tr.jp-tracker-version-row[data-version="1"]').getByRole('button', { name: 'Card' }).click();
  const card = main().locator('.jp-tracker-version-card');
  await expect(card.locator('h2')).toHaveText(`Model card: ${MODEL} version 1`);
  const frame = card.locator('iframe.jp-tracker-card-preview');
  await expect(frame).toHaveAttribute('sandbox', '');
  await expect(page.frameLocator('#jp-tracker-main iframe.jp-tracker-card-preview').locator('body')).toContainText(MODEL);
  await shot('panel-model-card.png');
  await main().getByRole('button', { name: '← Back' }).click();
});

test('"Go to run" opens the run; its artifacts download through the API', async () => {
  await main().locator('tr.jp-tracker-version-row[data-version="1"]').getByRole('button', { name: 'Go to run' }).click();
  await expect(main().locator('.jp-tracker-run .jp-tracker-title')).toHaveText('iris-logreg');
  const artifacts = main().locator('table.jp-tracker-artifacts');
  await expect(artifacts.locator('tr.jp-tracker-artifact')).toHaveCount(2);
  const notes = artifacts.locator('tr.jp-tracker-artifact[data-name="notes.txt"]');
  await expect(notes).toContainText('text/plain');
  const link = notes.locator('a.jp-tracker-artifact-link');
  const href = (await link.getAttribute('href')) as string;
  expect(href).toMatch(/\/tracker\/api\/v1\/runs\/[^/]+\/artifacts\/notes\.txt\?download=1$/);
  expect(href).not.toContain('token');
  await artifacts.scrollIntoViewIfNeeded();
  await shot('panel-run-artifacts.png');
  const [response, download] = await Promise.all([
    page.waitForResponse(r => r.url().includes('/artifacts/notes.txt')),
    page.waitForEvent('download'),
    link.click()
  ]);
  expect(response.status()).toBe(200);
  expect(response.headers()['x-tracker-digest']).toMatch(/^[0-9a-f]{32}$/);
  expect(download.suggestedFilename()).toBe('notes.txt');
  expect(fs.readFileSync(await download.path(), 'utf8')).toBe(NOTES);
  // the link itself is the server's route: the browser's login session (no token in it) gets the bytes
  const direct = await page.request.get(new URL(href, process.env.TRACKER_E2E_URL).toString());
  expect(direct.status()).toBe(200);
  expect(await direct.text()).toBe(NOTES);
  // the model's bytes come down whole too
  const model = artifacts.locator('tr.jp-tracker-artifact[data-name="model"] a.jp-tracker-artifact-link');
  const [modelResponse, modelDownload] = await Promise.all([
    page.waitForResponse(r => r.url().includes('/artifacts/model')),
    page.waitForEvent('download'),
    model.click()
  ]);
  expect(modelResponse.status()).toBe(200);
  const size = Number(modelResponse.headers()['content-length']);
  expect(size).toBeGreaterThan(100);
  expect(fs.statSync(await modelDownload.path()).size).toBe(size);
});
