// First render of the runs table in headless Chromium (used by benchmarks/bench_server.py).
// Usage: node bench_render.mjs <lab url> <token> <repeats>
// Prints JSON: per repeat, ms from opening the panel to painted rows, and the table's own
// figure (first refresh -> first painted rows) read from data-first-render-ms; then the
// re-sort: ms from a click on the first metric column's header to the table repainted in
// that order (data-rendered-order), both directions, and how much of it the sorted page's
// request took (resource timing: sent to answer read).
import { chromium } from 'playwright';

const [url, token, repeatsText] = process.argv.slice(2);
const repeats = Number(repeatsText ?? 5);
const browser = await chromium.launch({
  executablePath: process.env.TRACKER_CHROMIUM ?? '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run']
});
const out = { open_to_rows_ms: [], table_ms: [], resort_ms: [], resort_request_ms: [], total: null, rows_in_dom: null, sort_key: null };
try {
  for (let i = 0; i < repeats; i++) {
    const page = await browser.newPage({ viewport: { width: 1440, height: 900 } });
    await page.goto(`${url}/lab?token=${token}&reset`);
    await page.waitForSelector('.jp-SideBar.jp-mod-right .lm-TabBar-tab[data-id="jp-tracker-panel"]', { timeout: 120000 });
    await page.waitForFunction(() => window.jupyterapp?.restored !== undefined);
    await page.evaluate(() => window.jupyterapp.restored);
    const t0 = await page.evaluate(() => {
      const t = performance.now();
      window.jupyterapp.shell.activateById('jp-tracker-panel');
      return t;
    });
    const t1 = await page.waitForFunction(
      () => {
        const el = document.querySelector('#jp-tracker-panel .jp-tracker-runs');
        return el && el.dataset.firstRenderMs ? performance.now() : false;
      },
      null,
      { timeout: 60000, polling: 'raf' }
    );
    out.open_to_rows_ms.push((await t1.jsonValue()) - t0);
    out.table_ms.push(Number(await page.getAttribute('#jp-tracker-panel .jp-tracker-runs', 'data-first-render-ms')));
    out.total = await page.textContent('#jp-tracker-panel .jp-tracker-count');
    out.rows_in_dom = await page.locator('#jp-tracker-panel .jp-tracker-spacer > .jp-tracker-row').count();
    const header = page.locator('#jp-tracker-panel .jp-tracker-header [data-key^="metrics."]').first();
    await header.waitFor({ timeout: 60000 });
    const key = await header.getAttribute('data-key');
    out.sort_key = key;
    for (const dir of ['desc', 'asc']) {
      const t2 = await page.evaluate(k => {
        const t = performance.now();
        document.querySelector(`#jp-tracker-panel .jp-tracker-header [data-key="${k}"] .jp-tracker-sort`).click();
        return t;
      }, key);
      const t3 = await page.waitForFunction(
        want => {
          const el = document.querySelector('#jp-tracker-panel .jp-tracker-runs');
          return el && el.dataset.renderedOrder === want ? performance.now() : false;
        },
        `${key} ${dir}`,
        { timeout: 60000, polling: 'raf' }
      );
      out.resort_ms.push((await t3.jsonValue()) - t2);
      // The share of the sorted page's request (sent to answer read), from resource timing.
      out.resort_request_ms.push(
        await page.evaluate(
          ([k, d, since]) => {
            const want = encodeURIComponent(`${k} ${d}`).replace(/%20/g, '+');
            const hits = performance
              .getEntriesByType('resource')
              .filter(e => e.startTime >= since && e.name.includes('/tracker/api/v1/runs?') && (e.name.includes(want) || e.name.includes(encodeURIComponent(`${k} ${d}`))));
            return hits.length ? hits[0].responseEnd - hits[0].startTime : null;
          },
          [key, dir, t2]
        )
      );
    }
    await page.close();
  }
} finally {
  await browser.close();
}
console.log(JSON.stringify(out));
