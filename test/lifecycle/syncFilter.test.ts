/**
 * The sync filter for large tenants on the local stack: a full read asks Graph for the filtered users only
 * (the emulator applies the `$filter` as Graph does), a delta round and a change notification are checked
 * the same way here; users outside are never stored, and a user that leaves the filter is a leaver offboarded
 * per the customer's setting — never a deletion held by the guard.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inSyncFilter, syncFilterQuery, type GlobalSettingsInput, type SyncFilter, type UserRecord } from '../../shared/domain';
import { toDomainUser } from '../../shared/sync/users';
import { createMicrosoftTenant } from '../../shared/adapters/graph';
import { readSettings } from '../../shared/config/settings';
import { seedCustomer, startWorld, type World } from '../provisioning/world';
import { customerUnderTest } from './customer';

const CUSTOMER = 'filtered';
const OUT = 'Finance';
let world: World;
const filter: SyncFilter = {
  membersOnly: true,
  attributes: [{ attribute: 'department', values: ['Sales', 'Customer Support', 'Engineering', 'Human Resources', 'Marketing', 'Operations', 'IT', 'Executive'] }],
};
const settings: GlobalSettingsInput = { moveAndFlowThrough: 'yes', addSync: 'yes', updateSync: 'no', addSyncCriteriaId: 'ft', leavers: { action: 'offboard-at-once' }, syncFilter: filter };

const { control, holderInTeams, sync, voiceUser } = customerUnderTest(() => world, CUSTOMER);
const record = async (userId: string): Promise<UserRecord | undefined> => (await world.storage.users.get(CUSTOMER, userId))?.value;

async function storedIds(): Promise<Set<string>> {
  const ids = new Set<string>();
  for await (const { value } of world.storage.users.list(CUSTOMER)) ids.add(value.userId);
  return ids;
}



async function noHeldDeletions(): Promise<void> {
  const held = (await world.api('GET', `/customers/${CUSTOMER}/held-deletions`)).body;
  expect(held.items ?? held.value ?? held).toEqual([]);
}

beforeAll(async () => {
  world = await startWorld({ users: 80, seed: 'sync-filter' });
  await seedCustomer(world, { customerId: CUSTOMER, settings });
  // The sync, not the seed, decides who is stored here.
  await world.storage.users.deleteMany(CUSTOMER, world.users.map((u) => u.id));
  await sync('full');
}, 300_000);

afterAll(async () => {
  await world?.stop();
});

describe('the sync filter', () => {
  it('refuses a filter Graph could not apply, with the field named', async () => {
    const res = await world.api('PUT', `/customers/${CUSTOMER}/global-settings`, { ...settings, syncFilter: { attributes: [{ attribute: 'streetAddress', values: ['x'] }] } });
    expect(res.status).toBe(400);
    expect(JSON.stringify(res.body)).toMatch(/syncFilter/);
  });

  it('a full read stores exactly the users inside the filter: no guests, no one from the department left out', async () => {
    const inside = world.users.filter((u) => inSyncFilter(toDomainUser(u), filter)).map((u) => u.id);
    const outside = world.users.filter((u) => !inSyncFilter(toDomainUser(u), filter));
    expect(outside.some((u) => u.userType === 'Guest')).toBe(true);
    expect(outside.some((u) => u.department === OUT)).toBe(true);
    expect([...(await storedIds())].sort()).toEqual(inside.sort());
    // The read itself is filtered: Graph (here the emulator) answers the first page's $filter.
    const demo = world.stack.demo!;
    const tenant = createMicrosoftTenant({ tenantId: demo.tenantId, clientId: demo.clientId, credentialRef: `env:${demo.secretSetting}` }, readSettings(world.stack.settings));
    const read: string[] = [];
    let page = await tenant.usersPage(undefined, syncFilterQuery(filter));
    for (;;) {
      read.push(...page.users.map((u) => u.id));
      if (!page.nextLink) break;
      page = await tenant.usersPage(page.nextLink);
    }
    expect(read.sort()).toEqual(inside.sort());
  });

  it('a user outside the filter changed in Microsoft is still not stored after a delta round', async () => {
    const out = world.users.find((u) => u.department === OUT && u.userType !== 'Guest')!;
    control().updateUser(world.tenantId, out.id, { jobTitle: 'Controller of Everything' });
    await sync('delta');
    expect(await record(out.id)).toBeUndefined();
  }, 300_000);

  it('a placed user moved out of the filter (delta round) is a leaver offboarded at once, not a deletion', async () => {
    const user = await voiceUser();
    control().updateUser(world.tenantId, user.userId, { department: OUT });
    await sync('delta');
    const left = (await record(user.userId))!;
    expect(left.leaver).toMatchObject({ reason: 'outside-filter' });
    expect(left.state).toEqual({ kind: 'at-customer', reason: expect.stringMatching(/^offboarded: a leaver, no longer in the customer's sync filter since /) });
    expect(left.number).toBeUndefined();
    // Cooling in whichever inventory holds it: the site's, or the customer's own that every site shares.
    const cooled = (await world.storage.numbers.get({ customerId: CUSTOMER, siteId: user.state.siteId }, user.number)) ?? (await world.storage.numbers.get({ customerId: CUSTOMER }, user.number));
    expect(cooled?.value.status).toBe('Cooling');
    expect(holderInTeams(user.number)).toBeNull();
    await noHeldDeletions();
  }, 300_000);

  it('many placed users leaving the filter before a full read are leavers, never held as a mass deletion', async () => {
    const users = [await voiceUser(), await voiceUser()];
    // Beyond the built-in threshold's share when counted as deletions: the guard would hold them.
    const others: string[] = [];
    for await (const { value } of world.storage.users.list(CUSTOMER)) if (!value.leaver && !users.some((u) => u.userId === value.userId)) others.push(value.userId);
    const many = others.slice(0, 10);
    for (const id of [...users.map((u) => u.userId), ...many]) control().updateUser(world.tenantId, id, { department: OUT });
    control().resetDelta(world.tenantId);
    await sync('full');
    await noHeldDeletions();
    for (const user of users) {
      const left = (await record(user.userId))!;
      expect(left.leaver).toMatchObject({ reason: 'outside-filter' });
      expect(left.state.kind, JSON.stringify([left.state, (await world.api('GET', `/customers/${CUSTOMER}/transactions/${left.lastTransactionId}`)).body])).toBe('at-customer');
      expect(holderInTeams(user.number)).toBeNull();
    }
    for (const id of many) expect((await record(id))?.leaver).toMatchObject({ reason: 'outside-filter' });
  }, 300_000);

  it('back inside the filter, a leaver returns to its site with its number', async () => {
    const user = await voiceUser();
    control().updateUser(world.tenantId, user.userId, { department: OUT });
    await sync('delta');
    expect((await record(user.userId))?.state.kind).toBe('at-customer');
    control().updateUser(world.tenantId, user.userId, { department: 'Sales' });
    await sync('delta');
    const back = (await record(user.userId))!;
    expect(back.leaver).toBeUndefined();
    // On failure, say why the user stands where it does: its state's reason and its last transaction's steps.
    const why = JSON.stringify([back.state, (await world.api('GET', `/customers/${CUSTOMER}/transactions/${back.lastTransactionId}`)).body]);
    expect(back.state, why).toMatchObject({ kind: 'provisioned', siteId: user.state.siteId });
    expect(holderInTeams(user.number)).toBe(user.userId);
  }, 300_000);
});
