/**
 * Hostile and broken input on every kind of route: each answer is a 4xx problem+json, never a 5xx, and
 * what is stored is unchanged afterwards.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { customerBody, startApi, type Api, type Reply } from './support';

let api: Api;
const C = '/customers/acme';
let snapshot: string;

async function stored(): Promise<string> {
  const parts = await Promise.all(
    ['/customers', `${C}/sites`, `${C}/criteria`, `${C}/quick-add-groups`, `${C}/user-profiles`, `${C}/number-ranges`, `${C}/numbers?top=1000`, `${C}/global-settings`, `${C}/users`].map(async (p) => (await api.call('GET', p)).text),
  );
  return parts.join('\n');
}

function expectProblem(r: Reply, status?: number) {
  expect(r.status, r.text).toBeGreaterThanOrEqual(400);
  expect(r.status, r.text).toBeLessThan(500);
  if (status !== undefined) expect(r.status, r.text).toBe(status);
  expect(r.headers.get('content-type')).toBe('application/problem+json');
  expect(r.body).toMatchObject({ type: expect.any(String), title: expect.any(String), status: r.status });
}

beforeAll(async () => {
  api = await startApi();
  expect((await api.call('POST', '/customers', { body: customerBody('acme') })).status).toBe(201);
  expect((await api.call('POST', `${C}/sites`, { body: { id: 'sea', name: 'Seattle', city: 'Seattle' } })).status).toBe(201);
  expect((await api.call('POST', `${C}/quick-add-groups`, { body: { id: 'voice', name: 'Voice' } })).status).toBe(201);
  expect((await api.call('POST', `${C}/number-ranges`, { body: { id: 'r1', siteId: 'sea', first: '+12065550000', last: '+12065550004', lineType: 'DirectRouting' } })).status).toBe(201);
  await api.storage.users.upsertMany('acme', [{ id: 'u1', userPrincipalName: 'a@acme.example' }], new Date());
  snapshot = await stored();
});
afterAll(async () => {
  expect(await stored()).toBe(snapshot);
  await api?.stop();
});

const ODD_IDS: Array<[string, string]> = [
  ['quote', "sea'"],
  ['OData or', "sea' or '1' eq '1"],
  ['OData or, encoded', "sea'%20or%20PartitionKey%20ne%20'"],
  ['encoded slash', 'sea%2Fchi'],
  ['backslash', 'sea%5Cchi'],
  ['NUL', 'sea%00'],
  ['control', 'sea%0Abad'],
  ['unicode', 'si%C3%A9ge'],
  ['emoji', '%F0%9F%93%9E'],
  ['very long', 'a'.repeat(2000)],
  ['leading dot', '.hidden'],
  ['leading dash', '-x'],
  ['hash', 'sea%23x'],
  ['question', 'sea%3Fx'],
  ['double quote', 'sea%22'],
  ['space', 'se%20a'],
  ['percent', 'sea%25'],
];

describe.each(ODD_IDS)('odd id (%s)', (_name, id) => {
  it.each([
    ['GET', `/customers/${id}`],
    ['GET', `/customers/${id}/sites`],
    ['GET', `${C}/sites/${id}`],
    ['GET', `${C}/sites/${id}/defaults`],
    ['GET', `${C}/sites/${id}/users`],
    ['GET', `${C}/quick-add-groups/${id}`],
    ['DELETE', `${C}/sites/${id}`],
    ['PUT', `${C}/criteria/${id}`],
  ])('%s %s', async (method, path) => {
    const r = await api.call(method, path, { body: method === 'PUT' ? { name: 'x' } : undefined, headers: { 'if-match': '*' } });
    // A raw slash or a dot segment may not reach the route at all (404 from the host); either way a 4xx.
    expectProblem(r);
    expect([400, 404]).toContain(r.status);
  });
});

describe.each([
  ['odd id in a body', `${C}/sites`, { id: "x' or '1' eq '1", name: 'x' }, '/id'],
  ['slash id in a body', `${C}/sites`, { id: 'a/b', name: 'x' }, '/id'],
  ['NUL id in a body', `${C}/quick-add-groups`, { id: 'a\u0000', name: 'x' }, '/id'],
  ['wrong type', `${C}/sites`, { id: 'ok', name: 42 }, '/name'],
  ['null', `${C}/sites`, { id: 'ok', name: null }, '/name'],
  ['array for object', `${C}/quick-add-groups`, { id: 'g2', name: 'x', line: [] }, '/line'],
  ['unknown field', `${C}/sites`, { id: 'ok', name: 'x', colour: 'red' }, '/colour'],
  ['unknown nested field', `${C}/quick-add-groups`, { id: 'g2', name: 'x', line: { assignment: 'none', extra: 1 } }, '/line/extra'],
  ['bad enum', `${C}/criteria`, { id: 'c', name: 'c', usage: 'Sometimes', criteria: [{ attribute: 'city', condition: 'Equals', value: 'x' }] }, '/usage'],
  ['unsafe regex', `${C}/criteria`, { id: 'c', name: 'c', usage: 'Move User', criteria: [{ attribute: 'city', condition: 'Regex Search', value: '(a+)+$' }] }, '/criteria/0/value'],
  ['unknown macro', `${C}/criteria`, { id: 'c', name: 'c', usage: 'Move User', criteria: [{ attribute: 'city', condition: 'Equals', value: '{{env.SECRET}}' }] }, '/criteria/0/value'],
  ['other customer in the body', `${C}/sites`, { id: 'ok', name: 'x', customerId: 'globex' }, '/customerId'],
  ['not E.164', `${C}/number-ranges`, { id: 'r2', first: '12065550000', last: '+12065550001', lineType: 'DirectRouting' }, '/first'],
  ['range backwards', `${C}/number-ranges`, { id: 'r2', first: '+12065550009', last: '+12065550001', lineType: 'DirectRouting' }, '/last'],
  ['tenant not a GUID', '/customers', { ...customerBody('new'), tenantId: "x' or 1=1" }, '/tenantId'],
  ['very long name', `${C}/sites`, { id: 'ok', name: 'n'.repeat(5000) }, '/name'],
  ['vendor with a control character', `${C}/number-ranges`, { id: 'r2', first: '+12065550010', last: '+12065550011', lineType: 'DirectRouting', vendor: 'Acme\u0007Telecom' }, '/vendor'],
  ['vendor with markup', `${C}/number-ranges`, { id: 'r2', first: '+12065550010', last: '+12065550011', lineType: 'DirectRouting', vendor: '<script>' }, '/vendor'],
  ['vendor with a line break', `${C}/number-ranges`, { id: 'r2', first: '+12065550010', last: '+12065550011', lineType: 'DirectRouting', vendor: 'Acme\nInjected: yes' }, '/vendor'],
  ['usage location not assigned', `${C}/quick-add-groups`, { id: 'g3', name: 'x', usageLocation: 'ZZ' }, '/usageLocation'],
  ['usage location UK (ISO says GB)', `${C}/quick-add-groups`, { id: 'g3', name: 'x', usageLocation: 'UK' }, '/usageLocation'],
  ['usage location in lower case', `${C}/quick-add-groups`, { id: 'g3', name: 'x', usageLocation: 'us' }, '/usageLocation'],
  ['usage location alpha-3', `${C}/quick-add-groups`, { id: 'g3', name: 'x', usageLocation: 'USA' }, '/usageLocation'],
  ['name with a bidirectional override', `${C}/sites`, { id: 'ok', name: 'Seattle\u202Eelttaes' }, '/name'],
  ['name with padding', `${C}/sites`, { id: 'ok', name: ' Seattle ' }, '/name'],
  ['city with a line separator', `${C}/sites`, { id: 'ok', name: 'Seattle', city: 'Sea\u2028ttle' }, '/city'],
  ['policy name with a control character', `${C}/quick-add-groups`, { id: 'g3', name: 'x', teamsPolicies: { TeamsCallingPolicy: 'Allow\u0000' } }, '/teamsPolicies/TeamsCallingPolicy'],
  ['criterion attribute not a name', `${C}/criteria`, { id: 'c', name: 'c', usage: 'Move User', criteria: [{ attribute: "city') or (1", condition: 'Equals', value: 'x' }] }, '/criteria/0/attribute'],
])('body: %s', (_name, path, body, field) => {
  it('is a 400 naming the field', async () => {
    const r = await api.call('POST', path, { body });
    expectProblem(r, 400);
    expect(r.body.errors.map((e: { path: string }) => e.path)).toContain(field);
    expect(r.body.errors.every((e: { in: string }) => e.in === 'body')).toBe(true);
  });
});

describe.each([
  ['malformed JSON', '{"id": "x",', 'application/json', 400],
  ['JSON but not an object', '[1,2,3]', 'application/json', 400],
  ['a bare string', '"sea"', 'application/json', 400],
  ['empty body', '', 'application/json', 400],
  ['not UTF-8', '\u00ff', 'application/json; charset=latin1', 400],
  ['form-encoded', 'id=x&name=y', 'application/x-www-form-urlencoded', 415],
  ['text', '{"id":"x","name":"y"}', 'text/plain', 415],
  ['no content type', '{"id":"x","name":"y"}', '', 415],
])('raw body: %s', (_name, raw, type, status) => {
  it(`is a ${status}`, async () => {
    const headers: Record<string, string> = type ? { 'content-type': type } : {};
    const bytes = _name === 'not UTF-8' ? new Uint8Array([0x7b, 0xff, 0xfe, 0x7d]) : raw;
    const r = await api.call('POST', `${C}/sites`, { raw: bytes, headers });
    expectProblem(r, status);
  });
});

describe('oversized bodies', () => {
  it('refuses a body over the limit with 413', async () => {
    const r = await api.call('POST', `${C}/sites`, { body: { id: 'big', name: 'x', macros: { A: 'y'.repeat(300 * 1024) } } });
    expectProblem(r, 413);
  });
  it('refuses an oversized configuration document with 413', async () => {
    const r = await api.call('PUT', `${C}/configuration`, { body: { sites: [{ id: 'x', name: 'z'.repeat(5 * 1024 * 1024) }] } });
    expectProblem(r, 413);
  });
  it('refuses too many items in a configuration document with 400', async () => {
    const sites = Array.from({ length: 1001 }, (_, i) => ({ id: `s${i}`, name: 's' }));
    const r = await api.call('PUT', `${C}/configuration`, { body: { sites } });
    expectProblem(r, 400);
  });
});

describe.each([
  ['top not a number', 'top=abc', 'top'],
  ['top zero', 'top=0', 'top'],
  ['top too large', 'top=100000', 'top'],
  ['top negative', 'top=-1', 'top'],
  ['top twice', 'top=1&top=2', 'top'],
  ['forged continuation', 'continuation=bm90IG91cnM', 'continuation'],
  ['continuation with quotes', "continuation=a'%20or%20'1", 'continuation'],
  ['unknown parameter', '$filter=PartitionKey%20ne%20%27%27', '$filter'],
  ['state not a state', 'state=everything', 'state'],
  ['site id injection', "siteId=sea'%20or%20'1'%20eq%20'1", 'siteId'],
  ['search with NUL', 'search=a%00b', 'search'],
  ['search too long', `search=${'s'.repeat(300)}`, 'search'],
])('query: %s', (_name, query, param) => {
  it('is a 400 naming the parameter', async () => {
    const r = await api.call('GET', `${C}/users?${query}`);
    expectProblem(r, 400);
    expect(r.body.errors.map((e: { path: string }) => e.path)).toContain(param);
    expect(r.body.errors[0].in).toBe('query');
  });
});

describe('query filters that are merely odd', () => {
  it.each([["search=a' or '1' eq '1"], ['search=%E2%98%8E'], ['search=%25'], ['status=Available&siteId=sea']])('%s is answered, not harmed', async (query) => {
    const path = query.startsWith('status') ? `${C}/numbers?${query}` : `${C}/users?${query}`;
    const r = await api.call('GET', path);
    expect(r.status).toBe(200);
    if (query.startsWith('search')) expect(r.body.items).toEqual([]);
    else expect(r.body.items).toHaveLength(5);
  });
  it('a bad status filter is a 400', async () => {
    expectProblem(await api.call('GET', `${C}/numbers?status=Free`), 400);
  });
});

describe('If-Match', () => {
  it.each([
    ['garbage', 'not-an-etag', 412],
    ['unicode', 'W/"d\u00e9j\u00e0"', 412],
    ['very long', `W/"${'x'.repeat(1000)}"`, 412],
    ['quoted OData', `W/"datetime'2020' or '1'"`, 412],
  ])('%s is a %s', async (_name, value, status) => {
    const r = await api.call('PUT', `${C}/sites/sea`, { body: { name: 'Hacked' }, headers: { 'if-match': value } });
    expectProblem(r, status);
  });
});
