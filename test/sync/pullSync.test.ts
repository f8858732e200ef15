import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runSync, seedDemoCustomer, startTestStack, type TestStack } from '../support/stack';

let t: TestStack;
let customerId: string;

beforeAll(async () => {
  t = await startTestStack({ users: 300 });
  customerId = await seedDemoCustomer(t);
});
afterAll(async () => {
  await t?.stop();
});

describe('pull sync', () => {
  it('a first full sync imports every user and the catalog, and creates the default syncs', async () => {
    const run = await runSync(t, customerId, 'full');
    expect(run.errors).toEqual([]);
    expect(run.status).toBe('succeeded');
    expect(run.counts.users).toMatchObject({ added: 300, changed: 0, unchanged: 0, deleted: 0 });
    expect(run.counts.licenses.added).toBeGreaterThan(0);
    expect(run.counts.dialPlans.added).toBeGreaterThan(0);
    expect(run.counts.policies.added).toBeGreaterThan(0);
    const syncs = await t.api.json<{ value: Array<{ kind: string; enabled: boolean }> }>('GET', `/customers/${customerId}/syncs`);
    expect(syncs.value.map((s) => `${s.kind}:${s.enabled}`).sort()).toEqual(['delta:true', 'full:true', 'staging:false']);
  });
});
