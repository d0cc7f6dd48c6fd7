/**
 * The Models view, a model's versions and history, a version's card, and a run's
 * artifacts: what they show, where their buttons go, and that a hostile model name,
 * alias, reason or artifact name stays text.
 */

import { Widget } from '@lumino/widgets';

import { TrackerAPI, type Transport } from '../src/api';
import { artifactsTable, downloadName } from '../src/artifacts';
import { VersionCardView } from '../src/cardView';
import { describeEvent, judgedRequirements, ModelsView, ModelView } from '../src/modelsView';
import { TrackerPanel } from '../src/panel';
import { TrackerState } from '../src/state';
import type { ArtifactInfo, ModelDetail, ModelsList, RegistryEventInfo } from '../src/types';
import { fakeServer, makeContext, makeRun, type Recorder } from './fake';

const XSS = '<img src=x onerror="window.__xss=1"><script>window.__xss=2</script>';
const NAME = `churn ${XSS}`;
const ALIAS = `champ${XSS}`;
const RUN = 'run000001';

function reply(status: number, body: unknown, type = 'application/json'): Response {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  return {
    ok: status >= 200 && status < 300,
    status,
    statusText: String(status),
    headers: { get: () => type },
    json: async () => JSON.parse(text),
    text: async () => text,
    blob: async () => new Blob([text], { type })
  } as unknown as Response;
}

function event(over: Partial<RegistryEventInfo>): RegistryEventInfo {
  return {
    id: 'e',
    name: NAME,
    action: 'register',
    version: 1,
    alias: null,
    previous: null,
    who: `alice${XSS}`,
    timestamp: '2026-01-01T00:00:00+00:00',
    reason: null,
    detail: {},
    ...over
  };
}

const LIST: ModelsList = {
  models: [{ name: NAME, latest_version: 2, versions: 2, aliases: { [ALIAS]: 1 }, created: '2026-01-01T00:00:00+00:00', updated: '2026-01-02T00:00:00+00:00' }]
};

function version(n: number, aliases: string[]) {
  return {
    name: NAME,
    version: n,
    uri: `models:/${NAME}/${n}`,
    source: `runs:/${RUN}/model`,
    run_id: RUN,
    model_name: 'model',
    digest: `${n}`.repeat(32),
    sha256: 'f'.repeat(64),
    created: '2026-01-01T00:00:00+00:00',
    created_by: 'alice',
    aliases,
    meta: {}
  };
}

const DETAIL: ModelDetail = {
  name: NAME,
  latest_version: 2,
  aliases: { [ALIAS]: 1 },
  versions: [version(2, []), version(1, [ALIAS])],
  history: [
    event({ id: 'e1', reason: `first ${XSS}` }),
    event({ id: 'e2', version: 2 }),
    event({
      id: 'e3',
      action: 'promote',
      alias: ALIAS,
      detail: { requirements: [{ requirement: 'latency_p95_ms <= 100', held: true, detail: 'latency_p95_ms = 5' }] }
    }),
    event({
      id: 'e4',
      action: 'promotion_refused',
      version: 2,
      alias: ALIAS,
      previous: 1,
      reason: XSS,
      detail: { requirements: [{ requirement: `latency_p95_ms <= 100`, held: false, detail: `latency_p95_ms = 500 ${XSS}` }] }
    })
  ]
};

const ARTIFACT: ArtifactInfo = {
  run_id: RUN,
  name: `plots/${XSS}.png`,
  digest: 'a'.repeat(32),
  sha256: 'b'.repeat(64),
  size: 2048,
  media_type: 'image/png',
  kind: 'file',
  created: '2026-01-01T00:00:00+00:00',
  meta: {}
};

function transport(paths: string[]): Transport {
  const runs = fakeServer([makeRun(1, { name: 'iris-logreg', source: { notebook: 'nb.ipynb', cell_id: 'cell-7', script: null } })]);
  return async (path, init) => {
    paths.push(path);
    const url = new URL(path, 'http://x/');
    const p = decodeURIComponent(url.pathname.replace(/^\/tracker\/api\/v1\//, ''));
    if (p === 'models') {
      return reply(200, LIST);
    }
    if (p === `models/${NAME}`) {
      return reply(200, DETAIL);
    }
    if (p.startsWith(`models/${NAME}/versions/`)) {
      return reply(200, `<html><body>${XSS}</body></html>`, 'text/html');
    }
    if (p.startsWith(`runs/${RUN}/artifacts/`)) {
      return reply(200, 'PNGBYTES', 'image/png');
    }
    return runs.transport(path, init);
  };
}

function context(): { rec: Recorder; paths: string[]; downloads: Array<[string, string | Blob, string]> } {
  const paths: string[] = [];
  const downloads: Array<[string, string | Blob, string]> = [];
  const rec = makeContext(fakeServer([]));
  rec.ctx = { ...rec.ctx, api: new TrackerAPI(transport(paths), '/base/'), download: (n, t, m) => void downloads.push([n, t, m]) };
  return { rec, paths, downloads };
}

function assertInert(node: HTMLElement): void {
  expect(node.querySelectorAll('script, img, [onerror]')).toHaveLength(0);
  expect((window as unknown as { __xss?: number }).__xss).toBeUndefined();
}

const flush = () => new Promise(r => setTimeout(r, 0));

describe('ModelsView', () => {
  it('lists each model with its latest version and aliases, as text, and opens one', async () => {
    const { rec } = context();
    const view = new ModelsView(rec.ctx);
    await view.refresh();
    const row = view.node.querySelector('tr.jp-tracker-model-row') as HTMLTableRowElement;
    expect(row.querySelector('.jp-tracker-name')?.textContent).toBe(NAME);
    expect(row.textContent).toContain('v2');
    expect(row.querySelector('.jp-tracker-alias')?.textContent).toBe(`@${ALIAS} → v1`);
    assertInert(view.node);
    row.click();
    row.dispatchEvent(new KeyboardEvent('keydown', { key: 'Enter' }));
    expect(rec.opened).toEqual([`model:${NAME}`, `model:${NAME}`]);
  });

  it('says how to register a model when there is none', async () => {
    const rec = makeContext(fakeServer([]));
    rec.ctx = { ...rec.ctx, api: new TrackerAPI(async () => reply(200, { models: [] })) };
    const view = new ModelsView(rec.ctx);
    await view.refresh();
    expect(view.node.textContent).toContain('tracker.register_model');
  });
});

describe('ModelView', () => {
  it('shows the versions with aliases, run, digest and card; the history with refusals and reasons', async () => {
    const { rec } = context();
    const view = new ModelView(rec.ctx, NAME);
    await view.refresh();
    expect(view.title).toBe(NAME);
    const rows = view.node.querySelectorAll('tr.jp-tracker-version-row');
    expect([...rows].map(r => (r as HTMLElement).dataset.version)).toEqual(['2', '1']);
    expect(rows[1].querySelector('.jp-tracker-alias')?.textContent).toBe(`@${ALIAS}`);
    expect(rows[1].querySelector('code[title^="xxh3-128"]')?.textContent).toBe('1'.repeat(12));
    const events = view.node.querySelectorAll('li.jp-tracker-event');
    expect(events).toHaveLength(4);
    // newest first: the refusal, with its reason and the failed requirement
    expect((events[0] as HTMLElement).dataset.action).toBe('promotion_refused');
    expect(events[0].textContent).toContain(`refused to promote v2 to @${ALIAS}`);
    expect(events[0].querySelector('.jp-tracker-event-reason')?.textContent).toBe(`Reason: ${XSS}`);
    expect(events[0].querySelector('.jp-mod-failed')?.textContent).toBe(`✗ latency_p95_ms <= 100: latency_p95_ms = 500 ${XSS}`);
    expect(events[1].textContent).toContain(`promoted v1 to @${ALIAS}`);
    expect(events[3].textContent).toContain(`Reason: first ${XSS}`);
    assertInert(view.node);

    (rows[1].querySelector('.jp-tracker-goto-run') as HTMLButtonElement).click();
    expect(rec.ctx.state.selection).toEqual([RUN]);
    expect(rec.opened).toContain(`run:${RUN}`);
    (rows[1].querySelector('.jp-tracker-version-card-button') as HTMLButtonElement).click();
    expect(rec.opened).toContain(`version-card:${NAME}/1`);
  });

  it('goes to the cell of the run that logged the version', async () => {
    const { rec } = context();
    const cells: Array<[string | null, string]> = [];
    rec.ctx = { ...rec.ctx, goToCell: async (nb, cell) => (cells.push([nb, cell]), true) };
    const view = new ModelView(rec.ctx, NAME);
    await view.refresh();
    (view.node.querySelector('tr.jp-tracker-version-row .jp-tracker-goto') as HTMLButtonElement).click();
    await flush();
    await flush();
    expect(cells).toEqual([['nb.ipynb', 'cell-7']]);
  });

  it('redraws only when the model changed', async () => {
    const { rec } = context();
    const view = new ModelView(rec.ctx, NAME);
    await view.refresh();
    const first = view.node.firstChild;
    await view.refresh();
    expect(view.node.firstChild).toBe(first);
  });
});

describe('registry events', () => {
  it('are sentences naming versions and aliases', () => {
    expect(describeEvent(event({}))).toBe('registered v1');
    expect(describeEvent(event({ action: 'set_alias', alias: 'champion', version: 2, previous: 1 }))).toBe('@champion → v2 (was v1)');
    expect(describeEvent(event({ action: 'remove_alias', alias: 'champion', previous: 2 }))).toBe('removed @champion (was v2)');
  });

  it('keep only well-formed judged requirements', () => {
    expect(judgedRequirements({ requirements: [{ requirement: 'card', held: false, detail: 'x' }, 'junk', null] })).toEqual([
      { requirement: 'card', held: false, detail: 'x' }
    ]);
    expect(judgedRequirements({ requirements: 'no' })).toEqual([]);
  });
});

describe('VersionCardView', () => {
  it('shows the version card only in an empty-sandbox iframe and downloads it', async () => {
    const { rec, paths, downloads } = context();
    const view = new VersionCardView(rec.ctx, NAME, 1, RUN);
    await view.refresh();
    expect(view.title).toBe(`${NAME} v1 card`);
    const frames = view.node.querySelectorAll('iframe');
    expect(frames).toHaveLength(1);
    expect(frames[0].getAttribute('sandbox')).toBe('');
    expect(frames[0].srcdoc).toContain(XSS);
    assertInert(view.node);
    expect(paths[0]).toBe(`tracker/api/v1/models/${encodeURIComponent(NAME)}/versions/1/card?format=html`);
    const json = [...view.node.querySelectorAll('button')].find(b => b.textContent === 'JSON') as HTMLButtonElement;
    json.click();
    await flush();
    await flush();
    expect(downloads[0][0]).toMatch(/^model-card-churn_img_src_x_onerror_[A-Za-z0-9_.-]*-v1\.json$/);
    const runCard = [...view.node.querySelectorAll('button')].find(b => b.textContent === "Run's card") as HTMLButtonElement;
    runCard.click();
    expect(rec.opened).toContain(`card:${RUN}`);
  });
});

describe('artifactsTable', () => {
  it('lists name, size, media type and digest, links to the route and downloads through the API', async () => {
    const { rec, paths, downloads } = context();
    const node = artifactsTable(rec.ctx, [ARTIFACT]);
    document.body.appendChild(node);
    const link = node.querySelector('a.jp-tracker-artifact-link') as HTMLAnchorElement;
    expect(link.textContent).toBe(ARTIFACT.name);
    const href = link.getAttribute('href') as string;
    // each part of the name encoded on its own (the name's own '/' stays a separator)
    const encoded = ARTIFACT.name.split('/').map(encodeURIComponent).join('/');
    expect(href).toBe(`/base/tracker/api/v1/runs/${RUN}/artifacts/${encoded}?download=1`);
    expect(href).not.toMatch(/token/);
    const cells = [...node.querySelectorAll('tbody td')].map(td => td.textContent);
    expect(cells[1]).toBe('2.0 KiB');
    expect(cells[2]).toBe('image/png');
    expect(cells[3]).toBe('a'.repeat(12));
    assertInert(node);
    link.click();
    await flush();
    await flush();
    expect(paths).toEqual([`tracker/api/v1/runs/${RUN}/artifacts/${encoded}?download=1`]);
    expect(downloads).toHaveLength(1);
    expect(downloads[0][0]).toBe(downloadName(ARTIFACT.name));
    expect(downloads[0][1]).toBeInstanceOf(Blob);
    expect((downloads[0][1] as Blob).size).toBe('PNGBYTES'.length);
    expect(downloads[0][2]).toBe('image/png');
    node.remove();
  });

  it('says how to log one when the run has none', () => {
    const { rec } = context();
    expect(artifactsTable(rec.ctx, []).textContent).toContain('run.log_artifact');
  });

  it('names the download after the last part of the name', () => {
    expect(downloadName('plots/roc.png')).toBe('roc.png');
    expect(downloadName('/')).toBe('artifact');
  });
});

describe('the Models tab of the panel', () => {
  const settle = async () => {
    for (let i = 0; i < 5; i++) {
      await new Promise(r => setTimeout(r, 5));
    }
  };

  it('lists models, opens one, and "Go to run" selects the run in the shared state and opens it', async () => {
    const state = new TrackerState();
    const panel = new TrackerPanel(new TrackerAPI(transport([])), { goToCell: async () => true, download: () => undefined }, { refreshInterval: 60_000 }, state);
    Widget.attach(panel, document.body);
    (panel.node.querySelector('#jp-tracker-tab-models') as HTMLButtonElement).click();
    await settle();
    expect(panel.node.querySelector('#jp-tracker-tab-models')?.getAttribute('aria-selected')).toBe('true');
    (panel.node.querySelector('tr.jp-tracker-model-row') as HTMLElement).click();
    await settle();
    expect(panel.node.querySelector('.jp-tracker-model h2')?.textContent).toBe(NAME);
    (panel.node.querySelector('tr.jp-tracker-version-row .jp-tracker-goto-run') as HTMLButtonElement).click();
    await settle();
    expect(state.selection).toEqual([RUN]);
    expect(panel.node.querySelector('.jp-tracker-run .jp-tracker-title')?.textContent).toBe('iris-logreg');
    expect(panel.node.querySelector('.jp-tracker-crumbs')?.textContent).toBe(`${NAME} › iris-logreg`);
    assertInert(panel.node);
    panel.dispose();
  });
});
