/**
 * Start JupyterLab over a fresh store with the tracked notebook in its root.
 * Without Chromium the tests skip with the reason, except under CI, where they fail.
 */

import * as fs from 'fs';
import * as path from 'path';

import { CHROMIUM } from '../playwright.config';
import { startLab, tempRoot } from './lab';

const STATE = path.join(__dirname, '.state.json');

export default async function globalSetup(): Promise<void> {
  const inCI = ['1', 'true', 'yes'].includes((process.env.CI ?? '').toLowerCase());
  if (!fs.existsSync(CHROMIUM)) {
    const reason = `${CHROMIUM} is missing: install Debian's chromium (apt-get install chromium) to run the browser tests`;
    if (inCI) {
      throw new Error(`CI must run the browser tests: ${reason}`);
    }
    process.env.TRACKER_E2E_SKIP = reason;
    console.warn(`SKIPPED browser tests: ${reason}`);
    return;
  }
  const root = tempRoot('tracker-e2e-');
  for (const f of fs.readdirSync(path.join(__dirname, 'notebook'))) {
    fs.copyFileSync(path.join(__dirname, 'notebook', f), path.join(root, f));
  }
  const lab = await startLab(root, `sqlite:///${path.join(root, 'tracker.db')}`);
  fs.writeFileSync(STATE, JSON.stringify(lab));
  process.env.TRACKER_E2E_URL = lab.url;
  process.env.TRACKER_E2E_TOKEN = lab.token;
  process.env.TRACKER_E2E_ROOT = root;
}
