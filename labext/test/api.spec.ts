import { API_PATH, queryString, TrackerAPI, TrackerApiError } from '../src/api';
import { fakeServer, makeRun } from './fake';

describe('queryString', () => {
  it('skips empty values and repeats array keys', () => {
    expect(queryString({ a: 1, b: '', c: undefined, key: ['x', 'y z'] })).toBe('?a=1&key=x&key=y+z');
    expect(queryString({})).toBe('');
  });
});

describe('TrackerAPI', () => {
  it('sends list parameters the server understands', async () => {
    const server = fakeServer([makeRun(1), makeRun(2)]);
    const api = new TrackerAPI(server.transport);
    const page = await api.runs({ filter: "params.C = 1", orderBy: ['metrics.accuracy desc'], excludeKind: ['trial', 'cell'], limit: 50, offset: 100 });
    expect(page.total).toBe(2);
    const url = new URL(server.requests[0].path, 'http://x/');
    expect(url.pathname).toBe(`/${API_PATH}/runs`);
    expect(url.searchParams.get('filter')).toBe('params.C = 1');
    expect(url.searchParams.get('order_by')).toBe('metrics.accuracy desc');
    expect(url.searchParams.get('exclude_kind')).toBe('trial,cell');
    expect(url.searchParams.get('limit')).toBe('50');
    expect(url.searchParams.get('offset')).toBe('100');
  });

  it('turns error answers into TrackerApiError with the code and message', async () => {
    const api = new TrackerAPI(fakeServer([]).transport);
    await expect(api.run('nope')).rejects.toMatchObject({ status: 404, code: 'not_found', message: 'no run' });
    const e = await api.runs({ filter: 'metrics.a >' }).catch(err => err);
    expect(e).toBeInstanceOf(TrackerApiError);
    expect(e.code).toBe('invalid_query');
  });

  it('reports a server it cannot reach as a network error', async () => {
    const api = new TrackerAPI(() => Promise.reject(new TypeError('Failed to fetch')));
    await expect(api.store()).rejects.toMatchObject({ status: 0, code: 'network' });
  });

  it('encodes ids in paths and writes with JSON bodies', async () => {
    const server = fakeServer([]);
    const api = new TrackerAPI(server.transport);
    await api.updateRun('a/b', { name: 'x' }).catch(() => undefined);
    await api.updateCard('id', { owners: 'me' }, true).catch(() => undefined);
    expect(server.requests[0].path).toBe(`${API_PATH}/runs/a%2Fb`);
    expect(server.requests[0].init.method).toBe('PATCH');
    expect(JSON.parse(String(server.requests[0].init.body))).toEqual({ name: 'x' });
    expect(server.requests[1].init.method).toBe('PUT');
    expect(JSON.parse(String(server.requests[1].init.body))).toEqual({ sections: { owners: 'me' } });
    expect(api.cardPath('r 1', 'md')).toBe(`${API_PATH}/runs/r%201/card?format=md&download=1`);
  });
});
