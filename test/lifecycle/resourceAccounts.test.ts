/**
 * Resource accounts on the local stack: the demo tenant's auto attendants and call queues (Entra users that
 * are disabled, with Teams' department for them; Teams configurations with accountType resourceAccount; a
 * service number each) are synced as their own entity type, never stored or placed as people, and their
 * numbers are Used-Utility in the inventory (so flow-through never gives them to anyone). One deleted in
 * Microsoft leaves the catalog at the next sync and its number cools.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applyDemoCustomer } from '../../local/demo/customer';
import { RESOURCE_ACCOUNT_DEPARTMENT } from '../../local/demo/tenant';
import { waitFor } from '../../local/demo/scenario';
import { PROVISIONING_QUEUES } from '../../shared/config/queues';
import { runSync, startTestStack, waitForRun, type RunView, type TestStack } from '../support/stack';

const USERS = 60;
const CUSTOMER = 'ra';
let t: TestStack;

interface AccountView {
  id: string;
  userPrincipalName: string;
  kind: string;
  numbers: string[];
  inventory: Array<{ number: string; status: string | null; reason: string | null }>;
}

beforeAll(async () => {
  t = await startTestStack({ users: USERS, seed: 'resource-accounts', graph: { emulator: { users: USERS, seed: 'resource-accounts', resourceAccounts: true } } });
  const demo = t.stack.demo!;
  await applyDemoCustomer(
    { apiUrl: t.stack.endpoints.apiUrl, functionKey: t.stack.endpoints.functionKey },
    { tenantId: demo.tenantId, clientId: demo.clientId, credentialReference: `env:${demo.secretSetting}` },
    { customerId: CUSTOMER },
  );
}, 120_000);

afterAll(async () => {
  await t?.stop();
});

describe('resource accounts', () => {
  it('are synced as their own entity type, never as people, and their numbers are Used-Utility', async () => {
    const state = t.stack.graph!.control.state(t.stack.demo!.tenantId);
    const accounts = [...state.byId.values()].filter((r) => r.u.department === RESOURCE_ACCOUNT_DEPARTMENT).map((r) => r.u);
    expect(accounts.length).toBe(8);
    expect(accounts.every((a) => a.accountEnabled === false)).toBe(true);

    const first = await waitFor('the first run', async () => (await t.api.json<{ value: RunView[] }>('GET', `/customers/${CUSTOMER}/sync-runs?top=1`)).value[0]);
    const run = (await waitForRun(t, CUSTOMER, first.runId, 240_000)) as RunView & { entities: Record<string, { status: string }> };
    expect(run.entities.resourceAccounts).toEqual({ status: 'succeeded' });
    expect(run.counts.resourceAccounts.added).toBe(8);
    // The tenant's people only: its resource accounts are not users.
    expect(run.counts.users.added).toBe(USERS);
    for (const a of accounts) expect(await t.storage.users.get(CUSTOMER, a.id)).toBeUndefined();

    await waitFor('provisioning to settle', async () => (t.stack.broker.activeIn(PROVISIONING_QUEUES) === 0 ? true : undefined), 240_000, 250);

    const list = await t.api.json<{ value: AccountView[]; byKind: Record<string, number> }>('GET', `/customers/${CUSTOMER}/resource-accounts`);
    expect(list.value).toHaveLength(8);
    expect(list.byKind).toEqual({ 'auto-attendant': 4, 'call-queue': 4, unknown: 0 });
    const raNumbers = new Set<string>();
    for (const a of list.value) {
      expect(a.numbers).toHaveLength(1);
      raNumbers.add(a.numbers[0]);
      expect(a.inventory).toEqual([{ number: a.numbers[0], status: 'Used-Utility', inventory: expect.any(String), reason: `resource account ${a.userPrincipalName} (${a.kind === 'auto-attendant' ? 'auto attendant' : 'call queue'})` }]);
    }
    // The numbers sit in the offices' ranges, yet flow-through gave none of them to a person.
    for await (const { value: user } of t.storage.users.list(CUSTOMER)) {
      if (user.number) expect(raNumbers.has(user.number), `${user.userId} holds ${user.number}`).toBe(false);
    }
    const seattle = await t.api.json<{ items: Array<{ number: string; status: string }> }>('GET', `/customers/${CUSTOMER}/numbers?siteId=site-sea&top=5`);
    expect(seattle.items.filter((i) => raNumbers.has(i.number)).map((i) => i.status)).toEqual(['Used-Utility', 'Used-Utility']);

    // Neither overbuild nor the placement preview offers them.
    const preview = await t.api.json<{ items: Array<{ userId: string }> }>('GET', `/customers/${CUSTOMER}/placement-preview?mode=overbuild&top=100`);
    for (const a of accounts) expect(preview.items.some((i) => i.userId === a.id)).toBe(false);
  }, 300_000);

  it('one deleted in Microsoft leaves at the next sync, and its number cools', async () => {
    const tenantId = t.stack.demo!.tenantId;
    const control = t.stack.graph!.control;
    const cq = [...control.state(tenantId).byId.values()].find((r) => r.u.userPrincipalName.startsWith('cq-lon@'))!.u;
    const number = control.teamsUser(tenantId, cq.id)!.telephoneNumbers[0].telephoneNumber;
    control.hardDeleteUser(tenantId, cq.id);

    const run = (await runSync(t, CUSTOMER, 'full', 240_000)) as RunView & { entities: Record<string, { status: string }> };
    expect(run.entities.resourceAccounts).toEqual({ status: 'succeeded' });
    expect(run.counts.resourceAccounts.deleted).toBe(1);
    const list = await t.api.json<{ value: AccountView[] }>('GET', `/customers/${CUSTOMER}/resource-accounts`);
    expect(list.value.map((a) => a.userPrincipalName)).not.toContain(cq.userPrincipalName);
    const entry = (await t.storage.numbers.get({ customerId: CUSTOMER, siteId: 'site-lon' }, number))!.value;
    expect(entry.status).toBe('Cooling');
    expect(entry.reason).toBeUndefined();
  }, 300_000);
});
