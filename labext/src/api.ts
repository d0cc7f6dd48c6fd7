/**
 * Client of the tracker REST API. The transport is injected: in JupyterLab it is
 * `ServerConnection.makeRequest` (auth token and XSRF handled by JupyterLab), in
 * unit tests any `fetch`-like function.
 */

import type {
  ApiErrorBody,
  CardFormat,
  CardSections,
  Comparison,
  Curves,
  Lineage,
  MetricHistories,
  ModelDetail,
  ModelsList,
  RunDetail,
  RunKeys,
  RunPatch,
  RunsPage,
  SearchDetail,
  SearchesPage,
  StoreInfo
} from './types';

export const API_PATH = 'tracker/api/v1';

/** Sends a request to a path relative to the server's base URL. */
export type Transport = (path: string, init: RequestInit) => Promise<Response>;

/** An error answer of the API (or a network failure, with `code = "network"`). */
export class TrackerApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string
  ) {
    super(message);
    this.name = 'TrackerApiError';
  }
}

export interface RunsQuery {
  filter?: string;
  q?: string;
  orderBy?: string[];
  kind?: string[];
  excludeKind?: string[];
  status?: string[];
  parent?: string;
  limit?: number;
  offset?: number;
  /** The `next` of the previous page: the page after it (keyset paging). */
  cursor?: string;
}

/** Build `?a=1&b=2`, skipping empty values; arrays become repeated keys. */
export function queryString(params: Record<string, string | number | string[] | undefined>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v === undefined || v === '') {
      continue;
    }
    if (Array.isArray(v)) {
      for (const item of v) {
        if (item !== '') {
          q.append(k, item);
        }
      }
    } else {
      q.append(k, String(v));
    }
  }
  const text = q.toString();
  return text ? `?${text}` : '';
}

function enc(id: string): string {
  return encodeURIComponent(id);
}

/** An artifact name in a URL path: each `/`-separated part encoded on its own. */
function encPath(name: string): string {
  return name.split('/').map(encodeURIComponent).join('/');
}

export class TrackerAPI {
  /**
   * @param transport Sends a request to a path relative to the server's base URL.
   * @param baseUrl The server's base URL, used only to show links (`url()`); requests
   *   always go through `transport`, which adds the credentials.
   */
  constructor(
    private readonly transport: Transport,
    readonly baseUrl = '/'
  ) {}

  /** The full URL of a path relative to the base URL (for an `href`; never holds a token). */
  url(path: string): string {
    return `${this.baseUrl.replace(/\/+$/, '')}/${path.replace(/^\/+/, '')}`;
  }

  private async request(path: string, init: RequestInit = {}): Promise<Response> {
    let response: Response;
    try {
      response = await this.transport(`${API_PATH}/${path}`, init);
    } catch (err) {
      throw new TrackerApiError(0, 'network', `cannot reach the Jupyter server: ${String(err)}`);
    }
    if (!response.ok) {
      let code = 'error';
      let message = `${response.status} ${response.statusText}`;
      try {
        const body = (await response.json()) as Partial<ApiErrorBody>;
        if (body.error) {
          code = body.error.code;
          message = body.error.message;
        }
      } catch {
        // not JSON (a proxy's error page): keep the status line
      }
      throw new TrackerApiError(response.status, code, message);
    }
    return response;
  }

  private async json<T>(path: string, init: RequestInit = {}): Promise<T> {
    const response = await this.request(path, init);
    return (await response.json()) as T;
  }

  private send<T>(method: string, path: string, body: unknown): Promise<T> {
    return this.json<T>(path, {
      method,
      body: JSON.stringify(body),
      headers: { 'Content-Type': 'application/json' }
    });
  }

  store(): Promise<StoreInfo> {
    return this.json('store');
  }

  runs(q: RunsQuery = {}): Promise<RunsPage> {
    return this.json(`runs${this.runsParams(q)}`);
  }

  private runsParams(q: RunsQuery): string {
    return queryString({
      filter: q.filter,
      q: q.q,
      order_by: q.orderBy,
      kind: q.kind?.join(','),
      exclude_kind: q.excludeKind?.join(','),
      status: q.status?.join(','),
      parent: q.parent,
      limit: q.limit,
      offset: q.offset,
      cursor: q.cursor
    });
  }

  /** The params, metrics and tags the runs matching `q` have (the column chooser). */
  keys(q: RunsQuery = {}): Promise<RunKeys> {
    return this.json(`keys${this.runsParams({ ...q, limit: undefined, offset: undefined, cursor: undefined, orderBy: undefined })}`);
  }

  /** Metric-over-step curves of several runs (`maxPoints` per run and key). */
  curves(ids: string[], keys: string[], maxPoints = 500): Promise<Curves> {
    return this.json(`curves${queryString({ ids: ids.join(','), key: keys, max_points: maxPoints })}`);
  }

  run(id: string): Promise<RunDetail> {
    return this.json(`runs/${enc(id)}`);
  }

  updateRun(id: string, patch: RunPatch): Promise<RunDetail> {
    return this.send('PATCH', `runs/${enc(id)}`, patch);
  }

  metrics(id: string, keys: string[]): Promise<MetricHistories> {
    return this.json(`runs/${enc(id)}/metrics${queryString({ key: keys })}`);
  }

  lineage(id: string): Promise<Lineage> {
    return this.json(`runs/${enc(id)}/lineage`);
  }

  compare(ids: string[]): Promise<Comparison> {
    return this.json(`compare${queryString({ ids: ids.join(',') })}`);
  }

  searches(q: { limit?: number; offset?: number; filter?: string } = {}): Promise<SearchesPage> {
    return this.json(`searches${queryString({ limit: q.limit, offset: q.offset, filter: q.filter })}`);
  }

  search(id: string): Promise<SearchDetail> {
    return this.json(`searches/${enc(id)}`);
  }

  cardSections(id: string): Promise<CardSections> {
    return this.json(`runs/${enc(id)}/card/sections`);
  }

  /** Save human sections: `replace` clears the ones not given (PUT), else merges (PATCH). */
  updateCard(id: string, sections: Record<string, string>, replace = false): Promise<CardSections> {
    return this.send(replace ? 'PUT' : 'PATCH', `runs/${enc(id)}/card`, { sections });
  }

  /** The card as text in one format. */
  async cardText(id: string, format: CardFormat): Promise<string> {
    const response = await this.request(`runs/${enc(id)}/card${queryString({ format })}`);
    return response.text();
  }

  /** The path (relative to the base URL) that downloads the card as a file. */
  cardPath(id: string, format: CardFormat): string {
    return `${API_PATH}/runs/${enc(id)}/card${queryString({ format, download: 1 })}`;
  }

  /** Every registered model (`GET /models`). */
  models(): Promise<ModelsList> {
    return this.json('models');
  }

  /** A registered model's versions, aliases and history. */
  model(name: string): Promise<ModelDetail> {
    return this.json(`models/${enc(name)}`);
  }

  /** A version's card as text (`version`: a number, `latest` or `@alias`). */
  async versionCardText(name: string, version: number | string, format: CardFormat): Promise<string> {
    const response = await this.request(`models/${enc(name)}/versions/${enc(String(version))}/card${queryString({ format })}`);
    return response.text();
  }

  /** The path (relative to the base URL) that downloads a run's artifact as a file. */
  artifactPath(runId: string, name: string): string {
    return `${API_PATH}/runs/${enc(runId)}/artifacts/${encPath(name)}${queryString({ download: 1 })}`;
  }

  /** A run's artifact's bytes, through the authenticated transport (the server checks the digests). */
  async artifactBlob(runId: string, name: string): Promise<Blob> {
    const response = await this.request(`runs/${enc(runId)}/artifacts/${encPath(name)}${queryString({ download: 1 })}`);
    return response.blob();
  }
}
