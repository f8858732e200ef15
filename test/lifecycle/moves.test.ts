/**
 * Site-to-site moves at the operator's word on the local stack: the preview first (number, licenses,
 * policies, dial plan, groups), then one user and a batch. The number is checked in the inventory and in
 * Microsoft (the emulator's Teams), the policies and dial plan in Teams, and the move is told as an event.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { GlobalSettingsInput, UserRecord } from '../../shared/domain';
import { forgetCustomerContexts } from '../../shared/provisioning';
import { OFFICE_SITES, seedCustomer, startWorld, syncAdd, type World } from '../provisioning/world';
import { EventReader } from './events';

const CUSTOMER = 'movers';
let world: World;
let reader: EventReader;
const settings: GlobalSettingsInput = { moveAndFlowThrough: 'yes', addSync: 'yes', updateSync: 'no', addSyncCriteriaId: 'ft' };

const control = () => world.stack.graph!.control;
const record = async (userId: string): Promise<UserRecord> => (await world.storage.users.get(CUSTOMER, userId))!.value;
const entry = async (siteId: string, number: string) => (await world.storage.numbers.get({ customerId: CUSTOMER, siteId }, number))?.value;
const holderInTeams = (number: string) => control().numbers(world.tenantId).find((n) => n.telephoneNumber === number)?.assignmentTargetId ?? null;
const direct = (userId: string, policyType: string) =>
  control().teamsUser(world.tenantId, userId)?.effectivePolicyAssignments.find((p) => p.policyType === policyType && p.policyAssignment.assignmentType === 'direct')?.policyAssignment.displayName ?? null;

type Placed = UserRecord & { number: string; state: { kind: 'provisioned'; siteId: string; profileId: string } };
const taken = new Set<string>();
/** A provisioned voice user (its number from its site's range), one per call. */
async function voiceUser(notAt?: string): Promise<Placed> {
  for await (const { value } of world.storage.users.list(CUSTOMER)) {
    const s = value.state;
    if (s.kind !== 'provisioned' || s.profileId !== 'voice' || !value.number || taken.has(value.userId) || s.siteId === notAt) continue;
    if (holderInTeams(value.number) !== value.userId || (await entry(s.siteId, value.number))?.userId !== value.userId) continue;
    taken.add(value.userId);
    return value as Placed;
  }
  throw new Error('no provisioned voice user left');
}
/** A site in another country: its dial plan and usage location differ too. */
const otherSite = (siteId: string) => {
  const here = OFFICE_SITES.find((s) => s.id === siteId)!;
  return OFFICE_SITES.find((s) => s.countryCode !== here.countryCode)!;
};

async function transaction(id: string) {
  for (let i = 0; i < 600; i++) {
    const tx = (await world.api('GET', `/customers/${CUSTOMER}/transactions/${id}`)).body;
    if (tx?.outcome && tx.outcome !== 'running') return tx;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`transaction ${id} did not finish`);
}

beforeAll(async () => {
  world = await startWorld({ users: 160, seed: 'moves' });
  await seedCustomer(world, { customerId: CUSTOMER, settings });
  reader = new EventReader(world.stack.settings);
  await world.queue.send(syncAdd(CUSTOMER, world.users.map((u) => u.id)));
  await world.idle(180_000);
  await reader.drain();
}, 300_000);

afterAll(async () => {
  await reader?.close();
  await world?.stop();
});

describe('site-to-site moves', () => {
  it('the preview shows the number released and the one offered, the new site\'s policies and dial plan, and what is taken away; the move then does exactly that', async () => {
    const user = await voiceUser();
    const to = otherSite(user.state.siteId);
    // The new site sets no calling policy: the old site's, held directly, is taken away.
    const defaults = (await world.storage.siteDefaults.get(CUSTOMER, to.id))!.value;
    await world.storage.siteDefaults.upsert({ ...defaults, teamsPolicies: {} });
    forgetCustomerContexts(CUSTOMER);
    expect(direct(user.userId, 'TeamsCallingPolicy')).toBe('AllowCalling');

    const preview = await world.api('GET', `/customers/${CUSTOMER}/users/${user.userId}/move-preview?siteId=${to.id}`);
    expect(preview.status, JSON.stringify(preview.body)).toBe(200);
    const p = preview.body;
    expect(p.from).toEqual({ siteId: user.state.siteId, number: user.number });
    expect(p.to).toEqual({ siteId: to.id, profileId: 'voice' });
    expect(p.number.current).toEqual({ number: user.number, outcome: 'released-to-cooling' });
    expect(p.number.offered).toMatch(/^\+/);
    expect((await entry(to.id, p.number.offered))?.status).toBe('Available');
    expect(p.takenAway.policyTypes).toEqual(['TeamsCallingPolicy']);
    expect(p.changes).toEqual(expect.arrayContaining([
      { kind: 'dialPlan', dialPlan: defaults.dialPlan },
      expect.objectContaining({ kind: 'number', number: p.number.offered }),
    ]));
    expect(p.unmet).toEqual([]);
    // Nothing changed.
    expect((await record(user.userId)).state).toEqual(user.state);
    expect((await entry(to.id, p.number.offered))?.status).toBe('Available');

    const res = await world.api('POST', `/customers/${CUSTOMER}/users/${user.userId}/move`, { siteId: to.id });
    expect(res.status, JSON.stringify(res.body)).toBe(202);
    expect(res.headers.get('location')).toContain(res.body.transactionId);
    const tx = await transaction(res.body.transactionId);
    expect(tx, JSON.stringify(tx)).toMatchObject({ kind: 'move', outcome: 'succeeded' });
    expect(tx.steps.map((s: { name: string }) => s.name)).toEqual(expect.arrayContaining(['move', 'number-release', 'policies']));
    await world.idle(120_000);

    const moved = await record(user.userId);
    expect(moved.state).toMatchObject({ kind: 'provisioned', siteId: to.id, profileId: 'voice' });
    expect(moved.number).toBe(p.number.offered);
    expect(holderInTeams(p.number.offered)).toBe(user.userId);
    expect(holderInTeams(user.number)).toBeNull();
    expect((await entry(user.state.siteId, user.number))?.status).toBe('Cooling');
    expect((await entry(to.id, p.number.offered))).toMatchObject({ status: 'Used', userId: user.userId });
    // The old site's calling policy is taken away: the tenant's Global applies again.
    expect(direct(user.userId, 'TeamsCallingPolicy')).not.toBe('AllowCalling');
    expect(control().teamsUser(world.tenantId, user.userId)?.effectivePolicyAssignments.find((p) => p.policyType === 'TeamsCallingPolicy')?.policyAssignment.displayName).toBe('Global');
    const told = (await reader.drain()).filter((e) => e.body.data.userId === user.userId);
    expect(told.map((e) => [e.body.type, e.body.data.cause, e.body.data.to.siteId])).toEqual([['sitesync.user.moved', 'move', to.id]]);

    // Again to the same site: refused, nothing done.
    const again = await world.api('POST', `/customers/${CUSTOMER}/users/${user.userId}/move`, { siteId: to.id });
    expect(again.status).toBe(409);
    await world.storage.siteDefaults.upsert(defaults);
    forgetCustomerContexts(CUSTOMER);
  }, 300_000);

  it('refuses an unknown site or profile with 404 and a bad body with 400, changing nothing', async () => {
    const user = await voiceUser();
    expect((await world.api('POST', `/customers/${CUSTOMER}/users/${user.userId}/move`, { siteId: 'atlantis' })).status).toBe(404);
    expect((await world.api('POST', `/customers/${CUSTOMER}/users/${user.userId}/move`, { siteId: otherSite(user.state.siteId).id, profileId: 'nobody' })).status).toBe(404);
    expect((await world.api('POST', `/customers/${CUSTOMER}/users/${user.userId}/move`, { site: 'x' })).status).toBe(400);
    expect((await world.api('GET', `/customers/${CUSTOMER}/users/${user.userId}/move-preview`)).status).toBe(400);
    expect((await record(user.userId)).state).toEqual(user.state);
    taken.delete(user.userId);
  });

  it('a batch: each movable user in its own transaction, the others refused with the reason', async () => {
    const first = await voiceUser();
    const to = otherSite(first.state.siteId);
    const second = await voiceUser(to.id);
    const there = (await (async () => {
      for await (const { value } of world.storage.users.list(CUSTOMER)) if ('siteId' in value.state && value.state.siteId === to.id && !taken.has(value.userId)) return value;
      return undefined;
    })())!;
    const res = await world.api('POST', `/customers/${CUSTOMER}/moves`, { siteId: to.id, userIds: [first.userId, second.userId, there.userId, 'nobody'] });
    expect(res.status, JSON.stringify(res.body)).toBe(202);
    expect(res.body.accepted.map((a: { userId: string }) => a.userId).sort()).toEqual([first.userId, second.userId].sort());
    expect(res.body.refused).toEqual([
      { userId: there.userId, reason: expect.stringMatching(/already/) },
      { userId: 'nobody', reason: expect.stringMatching(/not synced/) },
    ]);
    for (const a of res.body.accepted) expect(await transaction(a.transactionId)).toMatchObject({ kind: 'move', outcome: 'succeeded' });
    await world.idle(120_000);
    for (const u of [first, second]) {
      const moved = await record(u.userId);
      expect(moved.state).toMatchObject({ kind: 'provisioned', siteId: to.id });
      expect(moved.number).not.toBe(u.number);
      expect(holderInTeams(moved.number!)).toBe(u.userId);
      expect((await entry(u.state.siteId, u.number))?.status).toBe('Cooling');
    }
    expect((await record(there.userId)).state).toEqual(there.state);
  }, 300_000);
});
