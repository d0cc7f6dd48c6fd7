// A search's view in the main-area Tracker tab, in headless Chromium (benchmarks/bench_search_view.py).
// Usage: node bench_search.mjs <lab url> <token> <search name> <trials> <repeats>
// Prints JSON: per repeat, ms from the click on the search in the Searches list to its view
// painted with the Pareto chart, one parallel-coordinates line per trial and the importance
// bars (the fetch of GET /searches/{id} included, and reported on its own as fetch_ms).
import { chromium } from 'playwright';

const [url, token, name, trialsText, repeatsText] = process.argv.slice(2);
const trials = Number(trialsText);
const repeats = Number(repeatsText ?? 5);
const browser = await chromium.launch({
  executablePath: process.env.TRACKER_CHROMIUM ?? '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run']
});
const out = { open_ms: [], fetch_ms: [], phases: [], lines: null, bars: null, points: null };
try {
  for (let i = 0; i < repeats; i++) {
    const page = await browser.newPage({ viewport: { width: 1440, height: 900 } });
    await page.goto(`${url}/lab?token=${token}&reset`);
    await page.waitForFunction(() => window.jupyterapp?.restored !== undefined, null, { timeout: 120000 });
    await page.evaluate(() => window.jupyterapp.restored);
    await page.evaluate(() => window.jupyterapp.commands.execute('tracker:open-main'));
    await page.click('#jp-tracker-main #jp-tracker-tab-searches');
    const row = page.locator('#jp-tracker-main tr', { has: page.locator('.jp-tracker-name', { hasText: name }) });
    await row.waitFor({ timeout: 60000 });
    const t0 = await row.evaluate(el => {
      const t = performance.now();
      el.click();
      return t;
    });
    const t1 = await page.waitForFunction(
      n => {
        const v = document.querySelector('#jp-tracker-main .jp-tracker-search');
        if (!v || v.querySelectorAll('.jp-tracker-pc path.jp-tracker-pc-line').length !== n) {
          return false;
        }
        return v.querySelector('svg.jp-tracker-importance rect') && v.querySelector('.jp-tracker-pareto circle') ? performance.now() : false;
      },
      trials,
      { timeout: 60000, polling: 'raf' }
    );
    // one more frame: the browser has laid out and painted what the DOM holds
    const t2 = await page.evaluate(() => new Promise(r => requestAnimationFrame(() => r(performance.now()))));
    const dom = await t1.jsonValue();
    out.open_ms.push(Math.max(dom, t2) - t0);
    const fetched = await page.evaluate(() => {
      const e = performance.getEntriesByType('resource').filter(r => /\/searches\/[0-9a-f]+/.test(r.name)).pop();
      return e ? [e.startTime, e.responseEnd] : [null, null];
    });
    // click -> request sent, request -> answer, answer -> DOM built, DOM -> painted
    out.phases.push([fetched[0] - t0, fetched[1] - fetched[0], dom - fetched[1], t2 - dom].map(Math.round));
    // the share of it that is the server's answer (resource timing of GET /searches/{id})
    out.fetch_ms.push(
      await page.evaluate(() => {
        const e = performance.getEntriesByType('resource').filter(r => /\/searches\/[0-9a-f]+/.test(r.name)).pop();
        return e ? e.responseEnd - e.startTime : null;
      })
    );
    out.lines = await page.locator('#jp-tracker-main .jp-tracker-pc path.jp-tracker-pc-line').count();
    out.bars = await page.locator('#jp-tracker-main svg.jp-tracker-importance rect').count();
    out.points = await page.locator('#jp-tracker-main .jp-tracker-pareto circle').count();
    await page.close();
  }
} finally {
  await browser.close();
}
console.log(JSON.stringify(out));
