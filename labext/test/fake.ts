/** An in-memory API server for unit tests: answers like the real one, from arrays. */

import { TrackerAPI, type Transport } from '../src/api';
import { DEFAULT_SETTINGS, type PanelContext } from '../src/context';
import { TrackerState } from '../src/state';
import type { RunSummary, SearchDetail, StoreInfo } from '../src/types';

export function makeRun(i: number, over: Partial<RunSummary> = {}): RunSummary {
  return {
    id: `run${String(i).padStart(6, '0')}`,
    name: `run ${i}`,
    kind: 'run',
    status: 'finished',
    start_time: new Date(Date.UTC(2026, 0, 1) + i * 1000).toISOString(),
    end_time: null,
    duration_s: 1.5,
    parent_id: null,
    tags: {},
    params: { C: i % 7, kernel: 'rbf' },
    metrics: { accuracy: (i % 100) / 100, loss: 1 - (i % 100) / 100 },
    notes: '',
    source: { notebook: null, cell_id: null, script: null },
    error: null,
    data_names: [],
    nondeterministic: false,
    ...over
  };
}

function reply(status: number, body: unknown): Response {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  return {
    ok: status >= 200 && status < 300,
    status,
    statusText: String(status),
    json: async () => JSON.parse(text),
    text: async () => text
  } as unknown as Response;
}

export interface FakeServer {
  runs: RunSummary[];
  requests: Array<{ path: string; init: RequestInit }>;
  search?: SearchDetail;
  /** Metric histories by run id and key, as `[step, value]` (`GET /curves`). */
  histories?: Record<string, Record<string, Array<[number, number]>>>;
  /** What `GET /store` reports as `rejected`. */
  rejected?: number;
  /** Runs counted exactly; beyond, `total` is `estimate(n)` and `total_exact` false (as the server's bound). */
  countBound?: number;
  estimate?: (n: number) => number;
  transport: Transport;
}

/** A transport over `runs`: filter `q`, sort by start time or a metric, page. */
export function fakeServer(runs: RunSummary[]): FakeServer {
  const server: FakeServer = {
    runs,
    requests: [],
    transport: async (path, init) => {
      server.requests.push({ path, init });
      const url = new URL(path, 'http://x/');
      const p = url.pathname.replace(/^\/tracker\/api\/v1\//, '');
      if (p === 'runs') {
        const filter = url.searchParams.get('filter');
        if (filter && filter.includes('>') && !/\d/.test(filter)) {
          return reply(400, { error: { code: 'invalid_query', message: 'the run filter ends where a value was expected', status: 400 } });
        }
        const q = url.searchParams.get('q');
        let rows = q ? server.runs.filter(r => r.name.includes(q)) : [...server.runs];
        const order = url.searchParams.get('order_by') ?? 'start_time desc';
        const [field, dir] = order.split(' ');
        const key = (r: RunSummary): number | string =>
          field.startsWith('metrics.') ? Number(r.metrics[field.slice(8)]) : field === 'name' ? r.name : r.start_time;
        rows.sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : a.id < b.id ? -1 : 1) * (dir === 'desc' ? -1 : 1));
        let offset = Number(url.searchParams.get('offset') ?? 0);
        const limit = Number(url.searchParams.get('limit') ?? 100);
        const cursor = url.searchParams.get('cursor');
        if (cursor) {
          // Keyset: the page after the cursor's run, wherever it now sits.
          const at = rows.findIndex(r => `after:${r.id}` === cursor);
          if (at < 0) {
            return reply(400, { error: { code: 'invalid_query', message: 'the cursor names no run', status: 400 } });
          }
          offset += at + 1;
        }
        const page = rows.slice(offset, offset + limit);
        const bound = server.countBound ?? Infinity;
        const exact = rows.length <= bound;
        return reply(200, {
          runs: page,
          total: exact ? rows.length : (server.estimate ?? (n => n))(rows.length),
          total_exact: exact,
          next: page.length === limit ? `after:${page[page.length - 1].id}` : null,
          offset,
          limit,
          order_by: [order]
        });
      }
      if (p === 'keys') {
        const count = (pick: (r: RunSummary) => Record<string, unknown>) => {
          const m = new Map<string, number>();
          for (const r of server.runs) {
            for (const k of Object.keys(pick(r))) {
              m.set(k, (m.get(k) ?? 0) + 1);
            }
          }
          return [...m].map(([key, n]) => ({ key, count: n }));
        };
        return reply(200, { metrics: count(r => r.metrics), params: count(r => r.params), tags: count(r => r.tags), sampled: server.runs.length, total: server.runs.length });
      }
      if (p === 'curves') {
        const ids = (url.searchParams.get('ids') ?? '').split(',');
        let keys = url.searchParams.getAll('key');
        if (!keys.length) {
          keys = [...new Set(ids.flatMap(id => Object.keys(server.histories?.[id] ?? {})))];
        }
        const curves: Record<string, unknown[]> = {};
        for (const k of keys) {
          curves[k] = ids.map(id => ({ run_id: id, name: server.runs.find(r => r.id === id)?.name ?? id, points: server.histories?.[id]?.[k] ?? [], dropped: 0 }));
        }
        return reply(200, { keys, curves });
      }
      if (p === 'store') {
        const info: StoreInfo = {
          kind: 'sqlite',
          url: 'sqlite:////tmp/t.db',
          path: '/tmp/t.db',
          schema_revision: '0001',
          server_version: '3',
          runs: server.runs.length,
          runs_by_kind: {},
          runs_by_status: {},
          cells: 0,
          exists: true,
          configured_by: 'env',
          api_version: 1,
          tracker_version: '0.1.0',
          rejected: server.rejected ?? 0
        };
        return reply(200, info);
      }
      if (p.startsWith('searches/') && server.search) {
        return reply(200, server.search);
      }
      const m = /^runs\/([^/]+)$/.exec(p);
      if (m) {
        const r = server.runs.find(x => x.id === decodeURIComponent(m[1]));
        if (!r) {
          return reply(404, { error: { code: 'not_found', message: 'no run', status: 404 } });
        }
        return reply(200, { ...r, data: {}, environment: null, attrs: {}, cells: [], fingerprint: null, outcome_hash: null, children: 0, error: null });
      }
      return reply(404, { error: { code: 'not_found', message: `no route ${p}`, status: 404 } });
    }
  };
  return server;
}

export interface Recorder {
  ctx: PanelContext;
  opened: string[];
  compared: string[][];
  notes: string[];
}

export function makeContext(server: FakeServer): Recorder {
  const rec: Recorder = { opened: [], compared: [], notes: [], ctx: undefined as unknown as PanelContext };
  rec.ctx = {
    api: new TrackerAPI(server.transport),
    state: new TrackerState(),
    settings: { ...DEFAULT_SETTINGS },
    openRun: id => rec.opened.push(`run:${id}`),
    openSearch: id => rec.opened.push(`search:${id}`),
    openCompare: ids => rec.compared.push(ids),
    openCard: id => rec.opened.push(`card:${id}`),
    openModel: name => rec.opened.push(`model:${name}`),
    openVersionCard: (name, version) => rec.opened.push(`version-card:${name}/${version}`),
    goToCell: async () => true,
    download: () => undefined,
    notify: msg => rec.notes.push(msg)
  };
  return rec;
}
