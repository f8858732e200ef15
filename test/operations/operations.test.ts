/**
 * The operator's read routes the console is built on, over HTTP against the whole local stack: the estate,
 * one user, where placement puts it and why, "test these criteria", and the configuration exported and
 * applied back unchanged. Bad input is a 4xx naming the field.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applyDemoCustomer, DEMO_SITE_IDS } from '../../local/demo/customer';
import { PROVISIONING_QUEUES } from '../../shared/config/queues';
import type { UserRecord } from '../../shared/domain';
import { runSync, startTestStack, type TestStack } from '../support/stack';

const CUSTOMER = 'northwind';
let t: TestStack;
let users: UserRecord[];

beforeAll(async () => {
  t = await startTestStack({ users: 80, seed: 'operations' });
  const demo = t.stack.demo!;
  await applyDemoCustomer(t.stack.endpoints, { tenantId: demo.tenantId, clientId: demo.clientId, credentialReference: `env:${demo.secretSetting}` }, { customerId: CUSTOMER, directRoutingNumbers: 200 });
  // Onboarding starts the first sync; wait for it (a second start is refused while it runs).
  const first = await t.api.json<{ value: Array<{ runId: string }> }>('GET', `/customers/${CUSTOMER}/sync-runs`);
  if (first.value.length === 0) await runSync(t, CUSTOMER, 'full');
  await waitForFirstRun();
  // Flow-through places the synced users at their sites as their messages are handled: the users are read
  // once every message is (the queue quiet a few checks in a row), so the counts asserted are final.
  let quiet = 0;
  for (let i = 0; i < 1200 && quiet < 5; i++) {
    quiet = t.stack.broker.activeIn(PROVISIONING_QUEUES) === 0 ? quiet + 1 : 0;
    await new Promise((r) => setTimeout(r, 100));
  }
  users = [];
  for await (const u of t.storage.users.list(CUSTOMER)) users.push(u.value);
  expect(users.some((u) => 'siteId' in u.state && u.state.kind !== 'needs-attention')).toBe(true);
}, 240_000);

afterAll(async () => t?.stop());

async function waitForFirstRun(): Promise<void> {
  for (let i = 0; i < 600; i++) {
    const runs = await t.api.json<{ value: Array<{ status: string }> }>('GET', `/customers/${CUSTOMER}/sync-runs`);
    if (runs.value.length > 0 && runs.value.every((r) => r.status !== 'running')) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error('the first sync did not finish');
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- the tests read the API's JSON as a client would
async function call(method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> {
  const res = await t.api.request(method, path, body);
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
}

describe('estate', () => {
  it('lists every customer with its last run and exact users per state', async () => {
    const estate = await call('GET', '/estate');
    expect(estate.status).toBe(200);
    const c = estate.body.customers.find((x: { customerId: string }) => x.customerId === CUSTOMER);
    expect(c).toMatchObject({ name: 'Contoso (demo)', users: users.length, heldDeletions: 0, deadLetters: 0, lastRun: { kind: 'full', status: 'succeeded' } });
    const byState = Object.values(c.byState as Record<string, number>).reduce((a, b) => a + b, 0);
    expect(byState).toBe(users.length);
    expect(c.needsAttention).toBe(users.filter((u) => u.state.kind === 'needs-attention').length);
    expect((await fetch(`${t.stack.endpoints.apiUrl}/estate`)).status).toBe(401);
  });
});

describe('one user', () => {
  it('reads the stored record, 404 for an unknown user, 400 for a bad id', async () => {
    const u = users[0];
    const got = await call('GET', `/customers/${CUSTOMER}/users/${u.userId}`);
    expect(got.status).toBe(200);
    expect(got.body).toMatchObject({ userId: u.userId, attributes: { userPrincipalName: u.attributes.userPrincipalName } });
    // Provisioning may move the user meanwhile: the state is whatever storage holds now.
    expect(['at-customer', 'at-site', 'provisioned', 'staged', 'needs-attention']).toContain(got.body.state.kind);
    expect((await call('GET', `/customers/${CUSTOMER}/users/nobody`)).status).toBe(404);
    expect((await call('GET', `/customers/nowhere/users/${u.userId}`)).status).toBe(404);
    const bad = await call('GET', `/customers/${CUSTOMER}/users/${encodeURIComponent('a b')}`);
    expect(bad.status).toBe(400);
    expect(bad.body.errors).toEqual([expect.objectContaining({ in: 'path', path: 'userId' })]);
  });

  it('explains placement criterion by criterion, agreeing with where the user was placed', async () => {
    const placed = users.find((u) => 'siteId' in u.state && u.state.kind !== 'needs-attention');
    expect(placed).toBeDefined();
    const siteId = (placed!.state as { siteId: string }).siteId;
    const p = await call('GET', `/customers/${CUSTOMER}/users/${placed!.userId}/placement`);
    expect(p.status).toBe(200);
    expect(p.body.placement).toMatchObject({ kind: 'site', siteId });
    expect(p.body.sites.map((s: { siteId: string }) => s.siteId).sort()).toEqual(Object.values(DEMO_SITE_IDS).sort());
    const site = p.body.sites.find((s: { siteId: string }) => s.siteId === siteId);
    expect(site).toMatchObject({ matched: true, criteriaId: 'office-by-city' });
    expect(site.criteria.some((c: { satisfied: boolean }) => c.satisfied)).toBe(true);
    // Eligible sites come first, in placement order: highest priority first.
    const priorities = p.body.sites.filter((s: { notEligible?: string }) => !s.notEligible).map((s: { priority: number }) => s.priority);
    expect(priorities).toEqual([...priorities].sort((a, b) => b - a));
  });
});

describe('test these criteria', () => {
  it('counts the users the criteria match, with macros resolved for a site, and saves nothing', async () => {
    const seattle = users.filter((u) => !u.removed && String(u.attributes.city ?? '').toLowerCase() === 'seattle');
    const r = await call('POST', `/customers/${CUSTOMER}/criteria/test`, { criteria: [{ attribute: 'City', condition: 'Equals', value: '{{site.city}}' }], siteId: DEMO_SITE_IDS.SEA, top: 5 });
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ scanned: users.length, matched: seattle.length });
    expect(r.body.users.length).toBe(Math.min(5, seattle.length));
    const none = await call('POST', `/customers/${CUSTOMER}/criteria/test`, { criteria: [{ attribute: 'city', condition: 'Equals', value: '{{site.city}}' }] });
    expect(none.body.matched).toBe(0);
  });

  it('refuses bad criteria naming the field, and an unknown site or customer', async () => {
    const empty = await call('POST', `/customers/${CUSTOMER}/criteria/test`, { criteria: [] });
    expect(empty.status).toBe(400);
    expect(empty.body.errors).toEqual([expect.objectContaining({ path: '/criteria' })]);
    const regex = await call('POST', `/customers/${CUSTOMER}/criteria/test`, { criteria: [{ attribute: 'city', condition: 'Regex Search', value: '(a+)+$' }] });
    expect(regex.status).toBe(400);
    expect(regex.body.errors[0].path).toBe('/criteria/0/value');
    const unknown = await call('POST', `/customers/${CUSTOMER}/criteria/test`, { criteria: [{ attribute: 'city', condition: 'Equals', value: 'x' }], extra: 1 });
    expect(unknown.status).toBe(400);
    expect((await call('POST', `/customers/${CUSTOMER}/criteria/test`, { criteria: [{ attribute: 'city', condition: 'Equals', value: 'x' }], siteId: 'nowhere' })).status).toBe(404);
    expect((await call('POST', `/customers/nowhere/criteria/test`, { criteria: [{ attribute: 'city', condition: 'Equals', value: 'x' }] })).status).toBe(404);
  });
});

describe('configuration document', () => {
  it('exports the whole configuration, and applying the export changes nothing', async () => {
    const doc = await call('GET', `/customers/${CUSTOMER}/configuration`);
    expect(doc.status).toBe(200);
    expect(doc.body.sites).toHaveLength(Object.keys(DEMO_SITE_IDS).length);
    expect(doc.body.customer).not.toHaveProperty('id');
    expect(JSON.stringify(doc.body)).not.toContain('"customerId"');
    const applied = await call('PUT', `/customers/${CUSTOMER}/configuration`, doc.body);
    expect(applied.status).toBe(200);
    expect(applied.body.summary).toMatchObject({ created: 0, updated: 0 });
    expect((await call('GET', '/customers/nowhere/configuration')).status).toBe(404);
  });
});
