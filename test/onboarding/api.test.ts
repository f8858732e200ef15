import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registeredRoutes } from '../../shared/http';
import { customerBody, startApi, TENANT, type Api } from './support';

let api: Api;
const C = '/customers/acme';

beforeAll(async () => {
  api = await startApi();
  expect((await api.call('POST', '/customers', { body: customerBody('acme') })).status).toBe(201);
});
afterAll(async () => {
  await api?.stop();
});

const moveCriteria = { id: 'by-city', name: 'By city', usage: 'Move User', criteria: [{ attribute: 'city', condition: 'Equals', value: '{{site.city}}' }] };
const ftpCriteria = { id: 'sales', name: 'Sales', usage: 'Flow Through Provisioning', criteria: [{ attribute: 'department', condition: 'Equals', value: 'Sales' }] };
const group = { id: 'voice', name: 'Voice', licenses: [{ skuId: 'e5' }], line: { assignment: 'nextAvailable', numberType: 'DirectRouting' } };
const profile = { id: 'seller', name: 'Seller', quickAddGroupId: 'voice', services: { teams: true, voice: true } };

describe('customers', () => {
  it('onboards with the tenant and a credential reference, never a secret', async () => {
    const r = await api.call('POST', '/customers', { body: customerBody('globex') });
    expect(r.status).toBe(201);
    expect(r.headers.get('etag')).toBeTruthy();
    expect(r.headers.get('location')).toBe('/api/customers/globex');
    expect(r.body.customer).toEqual({ id: 'globex', name: 'Customer globex', ...TENANT });
    // This host runs without Durable: the first sync cannot start, the customer is onboarded all the same,
    // and the report says what did not follow.
    expect(r.body.followUps).toEqual([expect.objectContaining({ name: 'first-sync', ok: false }), expect.objectContaining({ name: 'graph-subscription', ok: true })]);
    expect((await api.call('POST', '/customers', { body: customerBody('globex') })).status).toBe(409);
  });

  it.each([
    ['a raw client secret', 'Xy8Q~abcDEF123456789_ghiJKLmnoPQRstu.vwx'],
    ['a secret after kv:', 'kv:Xy8Q~abcDEF123456789'],
    ['a long random name after kv:', 'kv:a8F3kLm29QzX7pW4nB6vC1dR5tY0uE'],
    ['a PEM', '-----BEGIN PRIVATE KEY-----MIIE'],
    ['an unknown store', 'vault:name'],
  ])('refuses %s as the credential, without echoing it', async (_name, value) => {
    const r = await api.call('POST', '/customers', { body: { ...customerBody('leaky'), credentialRef: value } });
    expect(r.status).toBe(400);
    expect(r.body.errors).toEqual([expect.objectContaining({ in: 'body', path: '/credentialRef' })]);
    expect(r.text).not.toContain(value);
    expect((await api.call('GET', '/customers/leaky')).status).toBe(404);
  });

  it('accepts env: and kv: references', async () => {
    const r = await api.call('POST', '/customers', { body: { ...customerBody('initech'), credentialRef: 'env:SITESYNC_SECRET_CONTOSO' } });
    expect(r.status).toBe(201);
  });

  it('lists, reads, replaces with If-Match and deletes', async () => {
    const list = await api.call('GET', '/customers?top=2');
    expect(list.status).toBe(200);
    expect(list.body.items.map((c: { id: string }) => c.id)).toEqual(['acme', 'globex']);
    const next = await api.call('GET', `/customers?top=2&continuation=${list.body.continuation}`);
    expect(next.body.items.map((c: { id: string }) => c.id)).toEqual(['initech']);
    expect(next.body.continuation).toBeUndefined();

    const read = await api.call('GET', '/customers/globex');
    const etag = read.headers.get('etag') as string;
    expect((await api.call('PUT', '/customers/globex', { body: { ...customerBody('globex'), name: 'Globex' } })).status).toBe(428);
    const put = await api.call('PUT', '/customers/globex', { body: { ...customerBody('globex'), name: 'Globex' }, headers: { 'if-match': etag } });
    expect(put.status).toBe(200);
    expect(put.body.name).toBe('Globex');
    const stale = await api.call('PUT', '/customers/globex', { body: { ...customerBody('globex'), name: 'Stale' }, headers: { 'if-match': etag } });
    expect(stale.status).toBe(412);
    expect(stale.headers.get('content-type')).toBe('application/problem+json');
    expect((await api.call('GET', '/customers/globex')).body.name).toBe('Globex');

    expect((await api.call('DELETE', '/customers/globex')).status).toBe(428);
    expect((await api.call('DELETE', '/customers/globex', { headers: { 'if-match': etag } })).status).toBe(412);
    expect((await api.call('DELETE', '/customers/globex', { headers: { 'if-match': put.headers.get('etag') as string } })).status).toBe(204);
    expect((await api.call('GET', '/customers/globex')).status).toBe(404);
  });

  it('needs the function key', async () => {
    expect((await api.call('GET', '/customers', { key: null })).status).toBe(401);
    expect((await api.call('GET', '/customers', { key: 'wrong' })).status).toBe(401);
  });
});

describe('configuration items', () => {
  it('creates sites, reads them back, pages them and replaces them with If-Match', async () => {
    for (const [id, city] of [['sea', 'Seattle'], ['chi', 'Chicago'], ['lon', 'London']]) {
      const r = await api.call('POST', `${C}/sites`, { body: { id, name: city, city } });
      expect(r.status).toBe(201);
      expect(r.body).toEqual({ id, customerId: 'acme', name: city, city, macros: {} });
    }
    expect((await api.call('POST', `${C}/sites`, { body: { id: 'sea', name: 'again' } })).status).toBe(409);
    const page = await api.call('GET', `${C}/sites?top=2`);
    expect(page.body.items.map((s: { id: string }) => s.id)).toEqual(['chi', 'lon']);
    const rest = await api.call('GET', `${C}/sites?top=2&continuation=${page.body.continuation}`);
    expect(rest.body.items.map((s: { id: string }) => s.id)).toEqual(['sea']);

    const got = await api.call('GET', `${C}/sites/sea`);
    const put = await api.call('PUT', `${C}/sites/sea`, { body: { name: 'Seattle HQ', city: 'Seattle' }, headers: { 'if-match': got.headers.get('etag') as string } });
    expect(put.status).toBe(200);
    expect(put.body.name).toBe('Seattle HQ');
    const any = await api.call('PUT', `${C}/sites/sea`, { body: { name: 'Seattle', city: 'Seattle' }, headers: { 'if-match': '*' } });
    expect(any.status).toBe(200);
    expect((await api.call('PUT', `${C}/sites/nowhere`, { body: { name: 'x' }, headers: { 'if-match': '*' } })).status).toBe(404);
    const other = await api.call('PUT', `${C}/sites/sea`, { body: { id: 'chi', name: 'x' }, headers: { 'if-match': '*' } });
    expect(other.status).toBe(400);
    expect(other.body.errors[0].path).toBe('/id');
    expect((await api.call('GET', '/customers/nobody/sites')).status).toBe(404);
  });

  it('creates criteria, site defaults, Quick Add Groups, profiles and flow-through criteria with their references checked', async () => {
    expect((await api.call('POST', `${C}/criteria`, { body: moveCriteria })).status).toBe(201);
    expect((await api.call('POST', `${C}/criteria`, { body: ftpCriteria })).status).toBe(201);

    const badDefaults = await api.call('PUT', `${C}/sites/sea/defaults`, { body: { moveUserCriteriaId: 'sales' } });
    expect(badDefaults.status).toBe(400);
    expect(badDefaults.body.errors[0]).toMatchObject({ path: '/moveUserCriteriaId', message: expect.stringContaining('Move User') });
    const defaults = await api.call('PUT', `${C}/sites/sea/defaults`, { body: { moveUserCriteriaId: 'by-city', usageLocation: 'US', teamsPolicies: { TeamsCallingPolicy: 'AllowCalling' } } });
    expect(defaults.status).toBe(201);
    expect(defaults.body).toMatchObject({ siteId: 'sea', customerId: 'acme', placementPriority: 0, includeForOverbuild: false });
    expect((await api.call('PUT', `${C}/sites/sea/defaults`, { body: { usageLocation: 'GB' } })).status).toBe(428);
    const replaced = await api.call('PUT', `${C}/sites/sea/defaults`, { body: { moveUserCriteriaId: 'by-city', usageLocation: 'US', placementPriority: 5 }, headers: { 'if-match': defaults.headers.get('etag') as string } });
    expect(replaced.status).toBe(200);
    expect((await api.call('GET', `${C}/sites/sea/defaults`)).body.placementPriority).toBe(5);
    expect((await api.call('GET', `${C}/sites/chi/defaults`)).status).toBe(404);
    expect((await api.call('PUT', `${C}/sites/nowhere/defaults`, { body: {} })).status).toBe(404);

    const missingGroup = await api.call('POST', `${C}/user-profiles`, { body: profile });
    expect(missingGroup.status).toBe(400);
    expect(missingGroup.body.errors[0].path).toBe('/quickAddGroupId');
    expect((await api.call('POST', `${C}/quick-add-groups`, { body: group })).status).toBe(201);
    expect((await api.call('POST', `${C}/user-profiles`, { body: profile })).status).toBe(201);
    expect((await api.call('GET', `${C}/quick-add-groups/voice`)).body.line).toEqual({ assignment: 'nextAvailable', numberType: 'DirectRouting' });

    const wrongUsage = await api.call('PUT', `${C}/flow-through-criteria`, { body: { name: 'FTP', entries: [{ criteriaId: 'by-city', profileId: 'seller' }] } });
    expect(wrongUsage.status).toBe(400);
    expect(wrongUsage.body.errors[0].path).toBe('/entries/0/criteriaId');
    const ftc = await api.call('PUT', `${C}/flow-through-criteria`, { body: { name: 'FTP', entries: [{ criteriaId: 'sales', profileId: 'seller', role: 'Seller' }] } });
    expect(ftc.status).toBe(201);
    expect(ftc.body.id).toBe('default');
    expect((await api.call('PUT', `${C}/flow-through-criteria`, { body: { id: 'second', name: 'x', entries: [] }, headers: { 'if-match': '*' } })).status).toBe(409);
    const again = await api.call('PUT', `${C}/flow-through-criteria`, { body: { name: 'FTP v2', entries: [{ criteriaId: 'sales', profileId: 'seller' }] }, headers: { 'if-match': ftc.headers.get('etag') as string } });
    expect(again.status).toBe(200);
    expect((await api.call('GET', `${C}/flow-through-criteria`)).body.name).toBe('FTP v2');
  });

  it('global settings: stored inherit/yes/no and the resolved view', async () => {
    const none = await api.call('GET', `${C}/global-settings`);
    expect(none.status).toBe(200);
    expect(none.body.moveAndFlowThrough).toBe('inherit');
    expect((await api.call('GET', `${C}/global-settings/effective`)).body).toMatchObject({ moveAndFlowThrough: false, addSync: false, preventDuplicateNumbers: false });

    const bad = await api.call('PUT', `${C}/global-settings`, { body: { moveAndFlowThrough: 'yes', addSyncCriteriaId: 'missing' } });
    expect(bad.status).toBe(400);
    expect(bad.body.errors[0].path).toBe('/addSyncCriteriaId');
    const put = await api.call('PUT', `${C}/global-settings`, { body: { moveAndFlowThrough: 'yes', addSync: 'yes', addSyncCriteriaId: 'default', preventDuplicateNumbers: 'no' } });
    expect(put.status).toBe(201);
    expect((await api.call('GET', `${C}/global-settings/effective`)).body).toMatchObject({ moveAndFlowThrough: true, addSync: true, updateSync: false, addSyncCriteriaId: 'default' });
    expect((await api.call('PUT', `${C}/global-settings`, { body: { addSync: 'no' } })).status).toBe(428);
    expect((await api.call('PUT', `${C}/global-settings`, { body: { addSync: 'no' }, headers: { 'if-match': 'W/"datetime\'2000-01-01T00%3A00%3A00Z\'"' } })).status).toBe(412);
  });

  it('refuses to delete what is still referenced (409 with the reason), then deletes in order', async () => {
    const etag = async (path: string) => (await api.call('GET', path)).headers.get('etag') as string;
    const del = (path: string, tag: string) => api.call('DELETE', path, { headers: { 'if-match': tag } });

    const group409 = await del(`${C}/quick-add-groups/voice`, await etag(`${C}/quick-add-groups/voice`));
    expect(group409.status).toBe(409);
    expect(group409.body.detail).toContain('user profile seller');
    const profile409 = await del(`${C}/user-profiles/seller`, '*');
    expect(profile409.status).toBe(409);
    expect(profile409.body.detail).toContain('flow-through criteria default');
    const criteria409 = await del(`${C}/criteria/by-city`, '*');
    expect(criteria409.status).toBe(409);
    expect(criteria409.body.detail).toContain('site defaults sea');
    const ftc409 = await del(`${C}/flow-through-criteria`, '*');
    expect(ftc409.status).toBe(409);
    expect(ftc409.body.detail).toContain('global settings');
    // Changing the criteria's usage would break the site defaults that use it.
    const usage409 = await api.call('PUT', `${C}/criteria/by-city`, { body: { ...moveCriteria, usage: 'Flow Through Provisioning' }, headers: { 'if-match': '*' } });
    expect(usage409.status).toBe(409);

    // Nothing was harmed.
    expect((await api.call('GET', `${C}/quick-add-groups/voice`)).status).toBe(200);
    expect((await api.call('GET', `${C}/user-profiles/seller`)).status).toBe(200);
    expect((await api.call('GET', `${C}/criteria/by-city`)).body.usage).toBe('Move User');

    expect((await api.call('PUT', `${C}/global-settings`, { body: { moveAndFlowThrough: 'yes' }, headers: { 'if-match': '*' } })).status).toBe(200);
    expect((await del(`${C}/flow-through-criteria`, await etag(`${C}/flow-through-criteria`))).status).toBe(204);
    expect((await del(`${C}/user-profiles/seller`, '*')).status).toBe(204);
    expect((await del(`${C}/quick-add-groups/voice`, '*')).status).toBe(204);
    expect((await del(`${C}/quick-add-groups/voice`, '*')).status).toBe(404);
    expect((await del(`${C}/sites/sea/defaults`, '*')).status).toBe(204);
    expect((await del(`${C}/criteria/by-city`, '*')).status).toBe(204);
  });
});

describe('numbers and users', () => {
  it('adds ranges, expands them into the inventory and lists numbers by status with paging', async () => {
    const r = await api.call('POST', `${C}/number-ranges`, { body: { id: 'chi-dr', siteId: 'chi', first: '+13125550000', last: '+13125550009', lineType: 'DirectRouting' } });
    expect(r.status).toBe(201);
    expect(r.body).toMatchObject({ created: 10, existing: 0, duplicates: [] });
    const again = await api.call('POST', `${C}/number-ranges`, { body: { id: 'chi-dr', siteId: 'chi', first: '+13125550000', last: '+13125550011', lineType: 'DirectRouting' } });
    expect(again.body).toMatchObject({ created: 2, existing: 10 });
    expect((await api.call('POST', `${C}/number-ranges`, { body: { id: 'pool', first: '+13125559000', last: '+13125559001', lineType: 'CallingPlan' } })).status).toBe(201);
    expect((await api.call('POST', `${C}/number-ranges`, { body: { id: 'x', siteId: 'nowhere', first: '+13125550000', last: '+13125550001', lineType: 'DirectRouting' } })).status).toBe(400);
    const huge = await api.call('POST', `${C}/number-ranges`, { body: { id: 'huge', first: '+13120000000', last: '+13129999999', lineType: 'DirectRouting' } });
    expect(huge.status).toBe(400);
    expect(huge.body.errors[0].path).toBe('/last');

    const ranges = await api.call('GET', `${C}/number-ranges`);
    expect(ranges.body.items.map((x: { id: string }) => x.id)).toEqual(['chi-dr', 'pool']);

    await api.storage.numbers.assign({ customerId: 'acme', siteId: 'chi' }, '+13125550003', 'user-1', new Date());
    const used = await api.call('GET', `${C}/numbers?status=Used`);
    expect(used.body.items.map((n: { number: string }) => n.number)).toEqual(['+13125550003']);
    const site = await api.call('GET', `${C}/numbers?siteId=chi&top=5`);
    expect(site.body.items).toHaveLength(5);
    const all: string[] = [];
    let token: string | undefined;
    do {
      const page = await api.call('GET', `${C}/numbers?top=5${token ? `&continuation=${token}` : ''}`);
      all.push(...page.body.items.map((n: { number: string }) => n.number));
      token = page.body.continuation;
    } while (token);
    expect(all).toHaveLength(14);
    expect(new Set(all).size).toBe(14);
    expect((await api.call('GET', `${C}/numbers?siteId=nowhere`)).status).toBe(404);
  });

  it('lists users at the customer and at a site with state, site and text filters', async () => {
    const users = Array.from({ length: 12 }, (_, i) => ({
      id: `u${String(i).padStart(2, '0')}`,
      userPrincipalName: `${i % 2 ? 'alice' : 'bob'}${i}@acme.example`,
      displayName: `${i % 2 ? 'Alice' : 'Bob'} ${i}`,
      city: 'Chicago',
    }));
    await api.storage.users.upsertMany('acme', users, new Date());
    for (const id of ['u01', 'u02', 'u03']) {
      const current = await api.storage.users.get('acme', id);
      await api.storage.users.update({ ...current!.value, state: { kind: 'at-site', siteId: 'chi' } }, current!.etag);
    }
    const all = await api.call('GET', `${C}/users?top=5`);
    expect(all.status).toBe(200);
    expect(all.body.items.map((u: { userId: string }) => u.userId)).toEqual(['u00', 'u01', 'u02', 'u03', 'u04']);
    expect((await api.call('GET', `${C}/users?state=at-site`)).body.items).toHaveLength(3);
    expect((await api.call('GET', `${C}/users?siteId=chi&search=ALICE`)).body.items.map((u: { userId: string }) => u.userId)).toEqual(['u01', 'u03']);
    expect((await api.call('GET', `${C}/users?search=Bob%201`)).body.items.map((u: { userId: string }) => u.userId)).toEqual(['u10']);
    const site = await api.call('GET', `${C}/sites/chi/users?top=2`);
    expect(site.body.items.map((u: { userId: string }) => u.userId)).toEqual(['u01', 'u02']);
    const rest = await api.call('GET', `${C}/sites/chi/users?top=2&continuation=${site.body.continuation}`);
    expect(rest.body.items.map((u: { userId: string }) => u.userId)).toEqual(['u03']);
    expect((await api.call('GET', `${C}/sites/nowhere/users`)).status).toBe(404);
  });

  it('will not delete a site with users, nor a customer with sites', async () => {
    const site = await api.call('DELETE', `${C}/sites/chi`, { headers: { 'if-match': '*' } });
    expect(site.status).toBe(409);
    expect(site.body.detail).toContain('3 user(s) are at the site');
    const customer = await api.call('DELETE', C, { headers: { 'if-match': '*' } });
    expect(customer.status).toBe(409);
    expect(customer.body.detail).toContain('site(s) remain');
    expect((await api.call('DELETE', `${C}/sites/lon`, { headers: { 'if-match': '*' } })).status).toBe(204);
  });
});

describe('OpenAPI', () => {
  it('serves a 3.1 document, anonymously, with every registered route and its schemas', async () => {
    const r = await api.call('GET', '/openapi.json', { key: null });
    expect(r.status).toBe(200);
    const doc = r.body;
    expect(doc.openapi).toBe('3.1.0');
    expect(doc.components.schemas.Problem).toBeDefined();
    // The test process loads the function files too (through the stack), so the registry is the host's.
    const routes = registeredRoutes();
    expect(routes.length).toBeGreaterThanOrEqual(30);
    for (const route of routes) {
      const path = `/api/${route.path}`.replace(/\{(\w+)(:[A-Za-z]+)?\??\}/g, '{$1}');
      const op = doc.paths[path]?.[route.method.toLowerCase()];
      expect(op, `${route.method} ${path}`).toBeDefined();
      expect(op.operationId).toBe(route.name);
      if (route.body) expect(op.requestBody.content['application/json'].schema.type).toBe('object');
    }
    const create = doc.paths['/api/customers/{customerId}/sites'].post;
    const schema = create.requestBody.content['application/json'].schema;
    expect(schema.additionalProperties).toBe(false);
    expect(schema.properties.id).toBeDefined();
    expect(schema.properties.customerId).toBeUndefined();
    expect(create.responses['201'].content['application/json'].schema.properties.name).toBeDefined();
    expect(create.responses['400'].content['application/problem+json']).toBeDefined();
    const users = doc.paths['/api/customers/{customerId}/users'].get;
    expect(users.parameters.map((p: { name: string }) => p.name)).toEqual(expect.arrayContaining(['customerId', 'top', 'continuation', 'state', 'siteId', 'search']));
    const configuration = doc.paths['/api/customers/{customerId}/configuration'].put.requestBody.content['application/json'].schema;
    expect(configuration.properties.sites.items.properties.customerId).toBeUndefined();
    expect(configuration.properties.sites.items.properties.city).toBeDefined();
    expect(doc.paths['/api/openapi.json'].get.security).toEqual([]);
  });
});

describe('strict formats that are right', () => {
  it('takes company names as vendors and assigned ISO 3166-1 codes as usage locations', async () => {
    const range = await api.call('POST', `${C}/number-ranges`, { body: { id: 'r-att', first: '+12065559020', last: '+12065559021', lineType: 'DirectRouting', vendor: 'AT&T (Bell) Co.' } });
    expect(range.status, range.text).toBe(201);
    const gb = await api.call('POST', `${C}/quick-add-groups`, { body: { id: 'g-gb', name: 'Voice GB', usageLocation: 'GB' } });
    expect(gb.status, gb.text).toBe(201);
  });
});
