/**
 * End-to-end tests of the panel in headless Debian Chromium (`npm run e2e`).
 *
 * The global setup starts JupyterLab with a token on a free port over a fresh store;
 * the tests run a tracked notebook and drive the panel like a person would. Playwright
 * never downloads a browser here: it launches /usr/bin/chromium.
 */
import { defineConfig } from '@playwright/test';

export const CHROMIUM = process.env.TRACKER_CHROMIUM ?? '/usr/bin/chromium';

export default defineConfig({
  testDir: './ui-tests',
  testMatch: '*.spec.ts',
  timeout: 240_000,
  expect: { timeout: 30_000 },
  workers: 1,
  retries: 0,
  reporter: [['list']],
  globalSetup: './ui-tests/global-setup.ts',
  globalTeardown: './ui-tests/global-teardown.ts',
  outputDir: './ui-tests/results',
  use: {
    viewport: { width: 1440, height: 900 },
    launchOptions: {
      executablePath: CHROMIUM,
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--no-first-run'
      ]
    },
    trace: 'off',
    acceptDownloads: true
  }
});
