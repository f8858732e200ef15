/**
 * The rest of a placed user's life on the local stack: leavers (disabled or soft-deleted in Microsoft) under
 * each of the customer's leaver settings, a restored leaver returning to its site with its number, and an
 * operator's move back to customer level, one user and a batch. Every number is checked twice: in the
 * inventory and in Microsoft (the emulator's Teams).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { GlobalSettingsInput, LeaverSettings, UserRecord } from '../../shared/domain';
import { seedCustomer, startWorld, syncAdd, type World } from '../provisioning/world';
import { customerUnderTest } from './customer';
import { EventReader } from './events';
import { ApiClient } from '../../local/demo/api';

const CUSTOMER = 'leavers';
let world: World;
let reader: EventReader;
const base: GlobalSettingsInput = { moveAndFlowThrough: 'yes', addSync: 'yes', updateSync: 'no', addSyncCriteriaId: 'ft' };

const record = async (userId: string): Promise<UserRecord> => (await world.storage.users.get(CUSTOMER, userId))!.value;
const entry = async (siteId: string, number: string) => (await world.storage.numbers.get({ customerId: CUSTOMER, siteId }, number))?.value;
const { control, holderInTeams, sync, voiceUser } = customerUnderTest(() => world, CUSTOMER);

/** Runs a timer function now, as the host's admin API does (master key). */
async function runTimer(name: string): Promise<Response> {
  return new ApiClient(world.stack.endpoints).request('POST', `/admin/functions/${name}`, {}, 'master');
}

async function leaverSetting(leavers: LeaverSettings): Promise<void> {
  await world.storage.globalSettings.put(CUSTOMER, { moveAndFlowThrough: 'yes', addSync: 'yes', updateSync: 'no', preventDuplicateNumbers: 'inherit', addSyncCriteriaId: 'ft', deleteThresholds: {}, leavers });
}



beforeAll(async () => {
  world = await startWorld({ users: 80, seed: 'leavers' });
  await seedCustomer(world, { customerId: CUSTOMER, settings: base });
  reader = new EventReader(world.stack.settings);
  await world.queue.send(syncAdd(CUSTOMER, world.users.map((u) => u.id)));
  await world.idle(180_000);
  // A first full read keeps the delta link the later rounds read from.
  await sync('full');
  await reader.drain();
}, 300_000);

afterAll(async () => {
  await reader?.close();
  await world?.stop();
});

describe('leavers', () => {
  it('offboard at once: a user disabled in Microsoft goes back to customer level, its number unassigned and cooling; enabled again, it returns with its number', async () => {
    await leaverSetting({ action: 'offboard-at-once' });
    const user = await voiceUser();
    control().updateUser(world.tenantId, user.userId, { accountEnabled: false });
    await sync('delta');

    const left = await record(user.userId);
    expect(left.state).toEqual({ kind: 'at-customer', reason: expect.stringMatching(/^offboarded: a leaver, disabled in Microsoft since /) });
    expect(left.leaver).toMatchObject({ reason: 'disabled' });
    expect(left.returnTo).toMatchObject({ siteId: user.state.siteId, number: user.number });
    expect(left.number).toBeUndefined();
    expect((await entry(user.state.siteId, user.number))?.status).toBe('Cooling');
    expect(holderInTeams(user.number)).toBeNull();
    const tx = (await world.api('GET', `/customers/${CUSTOMER}/transactions/${left.lastTransactionId}`)).body;
    expect(tx).toMatchObject({ kind: 'offboard', outcome: 'succeeded' });
    expect(tx.steps.map((s: { name: string }) => s.name)).toEqual(expect.arrayContaining(['move', 'number-release', 'policies']));
    const told = (await reader.drain()).filter((e) => e.body.data.userId === user.userId);
    expect(told.map((e) => [e.body.type, e.body.data.cause])).toEqual([['sitesync.user.offboarded', 'leaver']]);

    control().updateUser(world.tenantId, user.userId, { accountEnabled: true });
    await sync('delta');
    const back = await record(user.userId);
    expect(back.state, JSON.stringify(back.state)).toMatchObject({ kind: 'provisioned', siteId: user.state.siteId });
    expect(back.number).toBe(user.number);
    expect(back.leaver).toBeUndefined();
    expect(back.returnTo).toBeUndefined();
    expect((await entry(user.state.siteId, user.number))?.status).toBe('Used');
    expect(holderInTeams(user.number)).toBe(user.userId);
  }, 300_000);

  it('a leaver whose number went to someone else meanwhile stays at customer level, saying why', async () => {
    await leaverSetting({ action: 'offboard-at-once' });
    const user = await voiceUser();
    control().updateUser(world.tenantId, user.userId, { accountEnabled: false });
    await sync('delta');
    expect((await record(user.userId)).state.kind).toBe('at-customer');
    // The operator reserves the cooling number for something else.
    await world.storage.numbers.update({ customerId: CUSTOMER, siteId: user.state.siteId }, user.number, (e) => ({ ...e, status: 'Reserved', reason: 'lobby phone', userId: undefined, coolingUntil: undefined }));
    control().updateUser(world.tenantId, user.userId, { accountEnabled: true });
    await sync('delta');
    const after = await record(user.userId);
    expect(after.state).toEqual({ kind: 'at-customer', reason: expect.stringContaining(`its number ${user.number} is no longer free`) });
    expect(after.leaver).toBeUndefined();
    expect(holderInTeams(user.number)).toBeNull();
  }, 300_000);

  it('keep: a soft-deleted user stays at its site with its number, marked a leaver; restored, the mark goes', async () => {
    await leaverSetting({ action: 'keep' });
    const user = await voiceUser();
    control().softDeleteUser(world.tenantId, user.userId);
    await sync('delta');
    const kept = await record(user.userId);
    expect(kept.state).toMatchObject({ kind: 'provisioned', siteId: user.state.siteId });
    expect(kept.removed).toMatchObject({ kind: 'soft' });
    expect(kept.leaver).toMatchObject({ reason: 'soft-deleted' });
    expect(kept.number).toBe(user.number);
    expect((await entry(user.state.siteId, user.number))?.status).toBe('Used');
    expect(holderInTeams(user.number)).toBe(user.userId);

    control().restoreUser(world.tenantId, user.userId);
    await sync('delta');
    const restored = await record(user.userId);
    expect(restored.leaver).toBeUndefined();
    expect(restored.removed).toBeUndefined();
    expect(restored.state).toMatchObject({ kind: 'provisioned', siteId: user.state.siteId });
    expect(holderInTeams(user.number)).toBe(user.userId);
  }, 300_000);

  it('offboard after N days: marked with its date; the leavers timer offboards it once due, not before', async () => {
    await leaverSetting({ action: 'offboard-after-days', afterDays: 3 });
    const user = await voiceUser();
    const before = Date.now();
    control().updateUser(world.tenantId, user.userId, { accountEnabled: false });
    await sync('delta');
    const marked = await record(user.userId);
    expect(marked.state.kind).toBe('provisioned');
    const due = Date.parse(marked.leaver!.offboardAt!);
    expect(due - Date.parse(marked.leaver!.since)).toBe(3 * 86_400_000);
    expect(due).toBeGreaterThan(before);

    expect((await runTimer('leavers')).status).toBe(202);
    await world.idle();
    expect((await record(user.userId)).state.kind).toBe('provisioned');

    // Three days pass: the mark's date is moved to the past, as the clock would.
    const stored = (await world.storage.users.get(CUSTOMER, user.userId))!;
    await world.storage.users.update({ ...stored.value, leaver: { ...stored.value.leaver!, offboardAt: new Date(Date.now() - 1_000).toISOString() } }, stored.etag);
    expect((await runTimer('leavers')).status).toBe(202);
    let now = await record(user.userId);
    for (let i = 0; i < 300 && now.state.kind !== 'at-customer'; i++) {
      await new Promise((r) => setTimeout(r, 100));
      now = await record(user.userId);
    }
    await world.idle();
    now = await record(user.userId);
    expect(now.state).toEqual({ kind: 'at-customer', reason: expect.stringMatching(/^offboarded: a leaver, disabled in Microsoft/) });
    expect((await entry(user.state.siteId, user.number))?.status).toBe('Cooling');
    expect(holderInTeams(user.number)).toBeNull();
  }, 300_000);
});

describe('back to customer level at the operator\'s word', () => {
  it('one user: 202 with its transaction; the number unassigned and cooling, the site policy taken away; a repeat is a 409', async () => {
    const user = await voiceUser();
    const res = await world.api('POST', `/customers/${CUSTOMER}/users/${user.userId}/offboard`);
    expect(res.status).toBe(202);
    expect(res.headers.get('location')).toContain(`/transactions/${res.body.transactionId}`);
    await world.idle();
    const after = await record(user.userId);
    expect(after.state).toEqual({ kind: 'at-customer', reason: "offboarded: the operator's request" });
    expect((await entry(user.state.siteId, user.number))?.status).toBe('Cooling');
    expect(holderInTeams(user.number)).toBeNull();
    const teams = control().teamsUser(world.tenantId, user.userId)!;
    // The site's calling policy is taken away: the tenant's Global applies again.
    expect(teams.effectivePolicyAssignments.find((p) => p.policyType === 'TeamsCallingPolicy')?.policyAssignment.displayName).toBe('Global');
    const tx = (await world.api('GET', `/customers/${CUSTOMER}/transactions/${res.body.transactionId}`)).body;
    expect(tx).toMatchObject({ kind: 'offboard', outcome: 'succeeded' });

    const again = await world.api('POST', `/customers/${CUSTOMER}/users/${user.userId}/offboard`);
    expect(again.status).toBe(409);
    expect(again.contentType).toContain('application/problem+json');
    expect((await world.api('POST', `/customers/${CUSTOMER}/users/nobody/offboard`)).status).toBe(404);
  }, 300_000);

  it('a batch: each placed user offboarded in its own transaction, the others refused with the reason', async () => {
    const a = await voiceUser();
    const b = await voiceUser();
    let atCustomer: string | undefined;
    for await (const { value } of world.storage.users.list(CUSTOMER)) if (value.state.kind === 'at-customer' && !value.returnTo) atCustomer ??= value.userId;
    const res = await world.api('POST', `/customers/${CUSTOMER}/offboard`, { userIds: [a.userId, b.userId, atCustomer, 'nobody'] });
    expect(res.status).toBe(202);
    expect(res.body.accepted.map((x: { userId: string }) => x.userId)).toEqual([a.userId, b.userId]);
    expect(res.body.refused).toEqual([
      { userId: atCustomer, reason: 'the user is at customer level already' },
      { userId: 'nobody', reason: `user nobody is not synced to customer ${CUSTOMER}` },
    ]);
    await world.idle();
    for (const u of [a, b]) {
      expect((await record(u.userId)).state.kind).toBe('at-customer');
      expect((await entry(u.state.siteId, u.number))?.status).toBe('Cooling');
      expect(holderInTeams(u.number)).toBeNull();
    }
    expect((await world.api('POST', `/customers/${CUSTOMER}/offboard`, { userIds: [] })).status).toBe(400);
  }, 300_000);
});
