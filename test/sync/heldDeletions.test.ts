/**
 * Held deletions through the local host, the Graph emulator and Azurite: re-validated by every read, allowed
 * per user or all with Microsoft checked right before, discarded, and shown with their age and run.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runSync, seedDemoCustomer, startTestStack, type RunView, type TestStack } from '../support/stack';

let t: TestStack;
let customerId: string;
let tenantId: string;
const control = () => t.stack.graph!.control;
const activeIds = () => [...control().state(tenantId).byId.values()].filter((r) => r.deletedDateTime === null).map((r) => r.u.id).sort();

interface Held {
  entityType: string;
  id: string;
  runId: string;
  heldAt?: string;
  ageSeconds?: number;
}
const held = async () => (await t.api.json<{ value: Held[] }>('GET', `/customers/${customerId}/held-deletions`)).value;
const stored = async (id: string) => (await t.storage.users.get(customerId, id))?.value;

beforeAll(async () => {
  t = await startTestStack({ users: 100, seed: 'held' });
  customerId = await seedDemoCustomer(t);
  tenantId = t.stack.demo!.tenantId;
  await runSync(t, customerId, 'full');
}, 120_000);
afterAll(async () => {
  await t?.stop();
});

/** Every held user deletion names a user Microsoft does not show. */
async function expectHoldsNameAbsentUsers(): Promise<void> {
  const active = new Set(activeIds());
  for (const h of await held()) if (h.entityType === 'users') expect(active.has(h.id), h.id).toBe(false);
}

describe('held deletions', () => {
  const ids = () => activeIds();
  let victims: string[];
  let holdingRun: RunView;

  it('a full read that misses 70 of 100 users holds them all, each with its age and the run that held it', async () => {
    victims = ids().slice(0, 70);
    for (const id of victims) control().softDeleteUser(tenantId, id);
    holdingRun = await runSync(t, customerId, 'full');
    expect(holdingRun.status).toBe('held');
    const list = await held();
    expect(list.map((h) => h.id).sort()).toEqual([...victims].sort());
    for (const h of list) {
      expect(h.runId).toBe(holdingRun.runId);
      expect(Date.parse(h.heldAt!)).toBeGreaterThan(0);
      expect(h.ageSeconds).toBeGreaterThanOrEqual(0);
    }
  });

  it('allow checks each user against Microsoft right before: a user present again is never deleted, its hold released', async () => {
    const restored = victims.slice(0, 40);
    for (const id of restored) control().restoreUser(tenantId, id);
    const stillGone = victims.slice(40, 50);
    const res = await t.api.request('POST', `/customers/${customerId}/held-deletions/allow`, { userIds: [...restored.slice(0, 10), ...stillGone, 'nobody-held'] });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { applied: Record<string, number>; present: string[]; notHeld: string[] };
    expect(body).toMatchObject({ applied: { users: 10 }, present: [...restored.slice(0, 10)].sort(), notHeld: ['nobody-held'] });
    for (const id of restored.slice(0, 10)) expect(await stored(id), id).toBeDefined();
    for (const id of stillGone) expect(await stored(id), id).toBeUndefined();
    expect((await held()).map((h) => h.id)).not.toEqual(expect.arrayContaining([restored[0]]));
  });

  it('discard drops holds without deleting anything', async () => {
    const dropped = victims.slice(50, 55);
    const res = await t.api.json<{ discarded: Record<string, number>; notHeld: string[] }>('POST', `/customers/${customerId}/held-deletions/discard`, { userIds: dropped });
    expect(res).toMatchObject({ discarded: { users: 5 }, notHeld: [] });
    for (const id of dropped) expect(await stored(id), id).toBeDefined();
    const left = (await held()).map((h) => h.id);
    for (const id of dropped) expect(left).not.toContain(id);
  });

  it('the next complete read releases the holds of users it sees again, and records it; what is still gone stays held', async () => {
    const run = (await runSync(t, customerId, 'full')) as RunView & { holdsReleased?: { count: number; userIds: string[] } };
    expect(run.holdsReleased?.count).toBe(30);
    const left = (await held()).map((h) => h.id).sort();
    expect(left).toEqual(victims.slice(55).sort());
    await expectHoldsNameAbsentUsers();
    // The run that held them says what became of them.
    const original = await t.api.json<RunView>('GET', `/customers/${customerId}/sync-runs/${holdingRun.runId}`);
    expect(original.counts.users.deleted).toBe(10);
    expect(original.counts.users.held).toBe(15);
    expect(original.status).toBe('held');
  });

  it('a delta round that shows a held user present releases its hold', async () => {
    const back = victims[60];
    control().restoreUser(tenantId, back);
    const run = (await runSync(t, customerId, 'delta')) as RunView & { holdsReleased?: { count: number; userIds: string[] } };
    expect(run.holdsReleased).toMatchObject({ count: 1, userIds: [back] });
    expect((await held()).map((h) => h.id)).not.toContain(back);
    await expectHoldsNameAbsentUsers();
  });

  it('allow all deletes what Microsoft no longer shows, and the holding run is settled', async () => {
    const left = await held();
    const res = await t.api.json<{ applied: Record<string, number>; present: string[] }>('POST', `/customers/${customerId}/held-deletions/allow`, { all: true });
    expect(res.applied.users).toBe(left.length);
    expect(res.present).toEqual([]);
    expect(await held()).toEqual([]);
    const original = await t.api.json<RunView>('GET', `/customers/${customerId}/sync-runs/${holdingRun.runId}`);
    expect(original).toMatchObject({ status: 'succeeded', counts: { users: { held: 0 } } });
  });

  it('refuses a selection that is neither some users nor all', async () => {
    for (const body of [{}, { userIds: [] }, { all: false }, { all: true, userIds: ['x'] }]) {
      expect((await t.api.request('POST', `/customers/${customerId}/held-deletions/allow`, body)).status, JSON.stringify(body)).toBe(400);
      expect((await t.api.request('POST', `/customers/${customerId}/held-deletions/discard`, body)).status, JSON.stringify(body)).toBe(400);
    }
  });
});
