import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applyDemoCustomer, DEMO_CALLING_PLAN_POOL_ID, demoCustomerConfiguration, DEMO_SITE_IDS } from '../../local/demo/customer';
import { DEMO_OFFICES } from '../../local/demo/tenant';
import { configurationDocumentSchema } from '../../shared/onboarding';
import { startApi, TENANT, TENANT_SECRET_SETTING, type Api } from './support';

let api: Api;
const tenant = { tenantId: TENANT.tenantId, clientId: TENANT.clientId, credentialReference: `env:${TENANT_SECRET_SETTING}` };
// Small ranges keep the suite quick; the default document holds 6,000 Direct Routing numbers.
const small = { directRoutingNumbers: 200 };

beforeAll(async () => {
  api = await startApi();
});
afterAll(async () => {
  await api?.stop();
});

describe('the demo customer document', () => {
  it('is valid as it stands, with one site per office and a catch-all last', () => {
    const doc = configurationDocumentSchema('demo').parse(demoCustomerConfiguration(tenant));
    expect(doc.sites.map((s) => s.city)).toEqual(DEMO_OFFICES.map((o) => o.city));
    expect(doc.flowThroughCriteria?.entries.at(-1)?.criteriaId).toBe('ftp-everyone');
    const numbers = doc.numberRanges.filter((r) => r.lineType === 'DirectRouting').reduce((n, r) => n + Number(r.last.slice(-4)) - Number(r.first.slice(-4)) + 1, 0);
    expect(numbers).toBeGreaterThanOrEqual(5_000);
    expect(doc.globalSettings).toMatchObject({ moveAndFlowThrough: 'yes', addSync: 'yes', preventDuplicateNumbers: 'no' });
  });

  it('applies through the API, then a second run changes nothing', async () => {
    const first = await applyDemoCustomer(api.stack.endpoints, tenant, small);
    expect(first.summary.updated).toBe(0);
    expect(first.summary.unchanged).toBe(0);
    expect(first.items.find((i) => i.kind === 'customer')?.outcome).toBe('created');
    const second = await applyDemoCustomer(api.stack.endpoints, tenant, small);
    expect(second.summary).toEqual({ created: 0, updated: 0, unchanged: first.items.length });

    const customer = await api.call('GET', '/customers/demo');
    expect(customer.body).toMatchObject({ tenantId: tenant.tenantId, credentialRef: `env:${TENANT_SECRET_SETTING}` });
    const defaults = await api.call('GET', `/customers/demo/sites/${DEMO_SITE_IDS.LON}/defaults`);
    expect(defaults.body).toMatchObject({ usageLocation: 'GB', dialPlan: 'DP-GB', moveUserCriteriaId: 'office-by-city', teamsPolicies: { OnlineVoiceRoutingPolicy: 'VRP-GB' } });
    const pool = await api.call('GET', '/customers/demo/numbers?top=1000');
    expect(pool.body.items.filter((n: { rangeId: string }) => n.rangeId === DEMO_CALLING_PLAN_POOL_ID)).toHaveLength(5);
    expect((await api.call('GET', '/customers/demo/global-settings/effective')).body).toMatchObject({ moveAndFlowThrough: true, addSync: true, addSyncCriteriaId: 'default' });
  });

  it('reports an edited item as updated and the rest as unchanged', async () => {
    const doc = demoCustomerConfiguration(tenant, small);
    doc.sites![0] = { ...doc.sites![0], name: 'Seattle Headquarters' };
    const r = await api.call('PUT', '/customers/demo/configuration', { body: doc });
    expect(r.status).toBe(200);
    expect(r.body.summary.updated).toBe(1);
    expect(r.body.items.find((i: { outcome: string }) => i.outcome === 'updated')).toMatchObject({ kind: 'site', id: DEMO_SITE_IDS.SEA });
  });
});

describe('validation as a whole, before any write', () => {
  it('refuses a document with broken references and duplicate ids, naming each, and writes nothing', async () => {
    const doc = demoCustomerConfiguration(tenant, small);
    const r = await api.call('PUT', '/customers/fresh/configuration', {
      body: {
        ...doc,
        sites: [...doc.sites!, { id: DEMO_SITE_IDS.SEA, name: 'twice' }],
        userProfiles: [...doc.userProfiles!, { id: 'ghost', name: 'Ghost', quickAddGroupId: 'no-such-group' }],
        numberRanges: [...doc.numberRanges!, { id: 'orphan', siteId: 'no-such-site', first: '+15550000000', last: '+15550000001', lineType: 'DirectRouting' }],
      },
    });
    expect(r.status).toBe(400);
    const paths = r.body.errors.map((e: { path: string }) => e.path);
    expect(paths).toEqual(expect.arrayContaining(['/sites/4/id', `/userProfiles/${doc.userProfiles!.length}/quickAddGroupId`, `/numberRanges/${doc.numberRanges!.length}/siteId`]));
    expect((await api.call('GET', '/customers/fresh')).status).toBe(404);
  });

  it('needs the customer section for a customer not yet onboarded', async () => {
    const r = await api.call('PUT', '/customers/newcomer/configuration', { body: { sites: [{ id: 'a', name: 'A' }] } });
    expect(r.status).toBe(400);
    expect(r.body.errors[0].path).toBe('/customer');
  });

  it('refuses an item of another customer and unknown fields anywhere', async () => {
    const other = await api.call('PUT', '/customers/demo/configuration', { body: { sites: [{ id: 'a', name: 'A', customerId: 'globex' }] } });
    expect(other.status).toBe(400);
    expect(other.body.errors[0].path).toBe('/sites/0/customerId');
    const unknown = await api.call('PUT', '/customers/demo/configuration', { body: { sites: [{ id: 'a', name: 'A', colour: 'red' }], extra: true } });
    expect(unknown.status).toBe(400);
    expect(unknown.body.errors.map((e: { path: string }) => e.path).sort()).toEqual(['/extra', '/sites/0/colour']);
    expect((await api.call('GET', '/customers/demo/sites/a')).status).toBe(404);
  });

  it('leaves items the document does not name alone', async () => {
    expect((await api.call('POST', '/customers/demo/sites', { body: { id: 'extra-site', name: 'Extra' } })).status).toBe(201);
    const r = await applyDemoCustomer(api.stack.endpoints, tenant, small);
    expect(r.summary.created).toBe(0);
    expect((await api.call('GET', '/customers/demo/sites/extra-site')).status).toBe(200);
  });
});
