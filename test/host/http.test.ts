import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalHost } from '../../local/host/host';
import { KEYS, startFixtureHost, type LogEntry } from './support';

let host: LocalHost;
let logs: LogEntry[];

beforeAll(async () => {
  ({ host, logs } = await startFixtureHost());
});
afterAll(async () => {
  await host.stop();
});

describe('HTTP routing', () => {
  it('matches a template with parameters, an optional segment and the query', async () => {
    const res = await fetch(`${host.apiUrl}/items/42/parts/wheel?q=blue`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('application/json');
    const body = (await res.json()) as Record<string, unknown>;
    expect(body).toMatchObject({ id: '42', part: 'wheel', q: 'blue', functionName: 'echo' });
    expect(body.invocationId).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('leaves an optional parameter out and decodes the path', async () => {
    const res = await fetch(`${host.apiUrl}/ITEMS/7/Parts`);
    expect(await res.json()).toMatchObject({ id: '7', part: null });
    const encoded = await fetch(`${host.apiUrl}/items/7/parts/a%20b`);
    expect(await encoded.json()).toMatchObject({ part: 'a b' });
  });

  it('applies route constraints', async () => {
    expect((await fetch(`${host.apiUrl}/items/abc`)).status).toBe(404);
  });

  it('passes the body of a POST', async () => {
    const res = await fetch(`${host.apiUrl}/items/1/parts`, { method: 'POST', body: 'hello' });
    expect(await res.json()).toMatchObject({ body: 'hello' });
  });

  it('uses the function name when no route is given, under the /api prefix', async () => {
    expect((await fetch(`${host.apiUrl}/defaultRoute`)).status).toBe(204);
    expect((await fetch(`${host.url}/defaultRoute`)).status).toBe(404);
  });

  it('answers 405 for a method the function does not accept and 404 for unknown routes', async () => {
    const res = await fetch(`${host.apiUrl}/secured`, { method: 'DELETE' });
    expect(res.status).toBe(405);
    expect(res.headers.get('content-type')).toBe('application/problem+json');
    expect((await fetch(`${host.apiUrl}/nothing/here`)).status).toBe(404);
  });
});

describe('auth levels', () => {
  const cases: Array<[string, string, Record<string, string>, string, number]> = [
    ['function: no key', 'secured', {}, '', 401],
    ['function: wrong key', 'secured', { 'x-functions-key': 'nope' }, '', 401],
    ['function: function key in header', 'secured', { 'x-functions-key': KEYS.functionKey }, '', 200],
    ['function: function key as code', 'secured', {}, `?code=${KEYS.functionKey}`, 200],
    ['function: master key', 'secured', { 'x-functions-key': KEYS.masterKey }, '', 200],
    ['admin: no key', 'admin-only', {}, '', 401],
    ['admin: function key is not enough', 'admin-only', { 'x-functions-key': KEYS.functionKey }, '', 401],
    ['admin: wrong key as code', 'admin-only', {}, '?code=wrong', 401],
    ['admin: master key', 'admin-only', {}, `?code=${KEYS.masterKey}`, 200],
    ['anonymous: no key', 'items/1/parts', {}, '', 200],
    ['anonymous: wrong key is ignored', 'items/1/parts', { 'x-functions-key': 'nope' }, '', 200],
  ];
  it.each(cases)('%s', async (_name, route, headers, query, status) => {
    const res = await fetch(`${host.apiUrl}/${route}${query}`, { headers });
    expect(res.status).toBe(status);
    if (status === 401) expect(((await res.json()) as { title: string }).title).toBe('Unauthorized');
  });
});

describe('a handler that throws', () => {
  it('gives a bare 500 with no internals and logs the error', async () => {
    const res = await fetch(`${host.apiUrl}/boom`);
    expect(res.status).toBe(500);
    const text = await res.text();
    expect(text).not.toContain('secret');
    expect(text).toBe('');
    expect(logs.some((l) => l.level === 'error' && l.source === 'boom' && l.message.includes('secret internal detail'))).toBe(true);
    // The host keeps serving.
    expect((await fetch(`${host.apiUrl}/items/1/parts`)).status).toBe(200);
  });
});

describe('a malformed path', () => {
  it.each(['/api/items/%zz/parts', '/api/%zz', '/%', '/admin/functions/%zz', '/api/items/1/parts%E0%A4%A'])('%s is a 400, never a 500', async (path) => {
    const res = await fetch(`${host.url}${path}`, { method: path.startsWith('/admin') ? 'POST' : 'GET', headers: { 'x-functions-key': KEYS.masterKey } });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { title: string }).title).toBe('Bad Request');
  });
});
