import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTableStorage } from '../../shared/adapters/tables';
import type { NumberRange } from '../../shared/domain';
import { ConflictError, DuplicateNumberError, type AllocationResult, type Storage } from '../../shared/ports/storage';
import { startAzurite } from '../support/azurite';

let azurite: Awaited<ReturnType<typeof startAzurite>>;
let storage: Storage;

beforeAll(async () => {
  azurite = await startAzurite();
  storage = createTableStorage({ connectionString: azurite.connectionString });
});
afterAll(async () => {
  await azurite?.stop();
});

const now = new Date('2026-03-01T00:00:00Z');
const range = (customerId: string, id: string, first: string, last: string, siteId?: string): NumberRange => ({
  id,
  customerId,
  ...(siteId ? { siteId } : {}),
  first,
  last,
  vendor: 'Microsoft',
  lineType: 'DirectRouting',
});

describe('number allocation under concurrency', () => {
  it('16 concurrent allocators, 50 numbers, 60 requests: 50 distinct assignments and 10 clear refusals', async () => {
    await storage.numbers.addRange(range('race', 'r1', '+14255550100', '+14255550149', 's1'), { preventDuplicateNumbers: false });
    const requests = Array.from({ length: 60 }, (_, i) => `user-${i}`);
    const results: Array<{ userId: string; result: AllocationResult }> = [];
    const worker = async () => {
      for (let userId = requests.shift(); userId; userId = requests.shift()) {
        results.push({ userId, result: await storage.numbers.allocateNext({ customerId: 'race', siteId: 's1', userId, lineType: 'DirectRouting', now }) });
      }
    };
    await Promise.all(Array.from({ length: 16 }, worker));

    const assigned = results.flatMap((r) => (r.result.ok ? [{ userId: r.userId, number: r.result.entry.value.number }] : []));
    const refused = results.flatMap((r) => (r.result.ok ? [] : [r.result]));
    expect(assigned.length).toBe(50);
    expect(new Set(assigned.map((a) => a.number)).size).toBe(50);
    expect(refused.length).toBe(10);
    for (const r of refused) expect(r).toMatchObject({ reason: 'no-number-available', message: 'no DirectRouting number is available for site s1 or its customer' });

    // The inventory agrees: every number Used, by the user the allocator reported.
    const stored = await storage.numbers.list({ customerId: 'race', siteId: 's1' });
    const holder = new Map(stored.map((e) => [e.value.number, e.value]));
    for (const a of assigned) expect(holder.get(a.number)).toMatchObject({ status: 'Used', userId: a.userId, everUsed: true });
  });

  it('allocation is idempotent per user, prefers the site, then the customer', async () => {
    await storage.numbers.addRange(range('pref', 'site', '+15550000001', '+15550000001', 's1'), { preventDuplicateNumbers: false });
    await storage.numbers.addRange(range('pref', 'cust', '+15550000100', '+15550000101'), { preventDuplicateNumbers: false });
    const a = await storage.numbers.allocateNext({ customerId: 'pref', siteId: 's1', userId: 'u1', now });
    const again = await storage.numbers.allocateNext({ customerId: 'pref', siteId: 's1', userId: 'u1', now });
    const b = await storage.numbers.allocateNext({ customerId: 'pref', siteId: 's1', userId: 'u2', now });
    expect(a.ok && a.entry.value.number).toBe('+15550000001');
    expect(again.ok && again.entry.value.number).toBe('+15550000001');
    expect(b.ok && b.entry.value.number).toBe('+15550000100');
    expect(b.ok && b.entry.value.siteId).toBeUndefined();
  });

  it('a released number cools, and is handed out again only after the never-used ones once cooled', async () => {
    await storage.numbers.addRange(range('cool', 'r', '+15550000001', '+15550000002', 's1'), { preventDuplicateNumbers: false });
    const scope = { customerId: 'cool', siteId: 's1' };
    const first = await storage.numbers.allocateNext({ ...scope, userId: 'u1', now });
    expect(first.ok && first.entry.value.number).toBe('+15550000001');
    await storage.numbers.release(scope, '+15550000001', 'u1', now, 30);
    expect((await storage.numbers.get(scope, '+15550000001'))?.value).toMatchObject({ status: 'Cooling', coolingUntil: '2026-03-31T00:00:00.000Z' });
    const second = await storage.numbers.allocateNext({ ...scope, userId: 'u2', now });
    expect(second.ok && second.entry.value.number).toBe('+15550000002');
    const none = await storage.numbers.allocateNext({ ...scope, userId: 'u3', now });
    expect(none.ok).toBe(false);
    const later = await storage.numbers.allocateNext({ ...scope, userId: 'u3', now: new Date('2026-04-01T00:00:00Z') });
    expect(later.ok && later.entry.value).toMatchObject({ number: '+15550000001', userId: 'u3', status: 'Used' });
  });

  it('an explicit assignment of a number in use is refused', async () => {
    await storage.numbers.addRange(range('explicit', 'r', '+15550000001', '+15550000001', 's1'), { preventDuplicateNumbers: false });
    const scope = { customerId: 'explicit', siteId: 's1' };
    await storage.numbers.assign(scope, '+15550000001', 'u1', now);
    await storage.numbers.assign(scope, '+15550000001', 'u1', now); // same user: no change
    await expect(storage.numbers.assign(scope, '+15550000001', 'u2', now)).rejects.toBeInstanceOf(ConflictError);
    await expect(storage.numbers.remove(scope, '+15550000001')).rejects.toBeInstanceOf(ConflictError);
  });
});

describe('prevent duplicate numbers', () => {
  it('off (the default): a number synced in at a second site becomes a duplicate entry, as the source system does', async () => {
    await storage.numbers.addRange(range('dup-off', 'r1', '+15550000001', '+15550000003', 's1'), { preventDuplicateNumbers: false });
    const overlap = await storage.numbers.addRange(range('dup-off', 'r2', '+15550000003', '+15550000004', 's2'), { preventDuplicateNumbers: false });
    expect(overlap).toEqual({ created: 2, existing: 0, duplicates: [] });
    await storage.numbers.recordInUse({ customerId: 'dup-off', siteId: 's3' }, { number: '+15550000001', userId: 'u9', vendor: 'Microsoft', lineType: 'DirectRouting' }, { preventDuplicateNumbers: false });
    expect((await storage.numbers.get({ customerId: 'dup-off', siteId: 's3' }, '+15550000001'))?.value).toMatchObject({ status: 'Used', userId: 'u9' });
    expect((await storage.numbers.get({ customerId: 'dup-off', siteId: 's1' }, '+15550000001'))?.value.status).toBe('Available');
  });

  it('on: a number exists once per customer; ranges skip and report duplicates; sync refuses with a clear error', async () => {
    const first = await storage.numbers.addRange(range('dup-on', 'r1', '+15550000001', '+15550000003', 's1'), { preventDuplicateNumbers: true });
    expect(first).toEqual({ created: 3, existing: 0, duplicates: [] });
    const overlap = await storage.numbers.addRange(range('dup-on', 'r2', '+15550000003', '+15550000005', 's2'), { preventDuplicateNumbers: true });
    expect(overlap).toEqual({ created: 2, existing: 0, duplicates: ['+15550000003'] });
    expect((await storage.numbers.list({ customerId: 'dup-on', siteId: 's2' })).map((e) => e.value.number)).toEqual(['+15550000004', '+15550000005']);

    // Re-adding the same range in the same scope is harmless.
    expect(await storage.numbers.addRange(range('dup-on', 'r1', '+15550000001', '+15550000003', 's1'), { preventDuplicateNumbers: true })).toEqual({ created: 0, existing: 3, duplicates: [] });

    const syncedElsewhere = storage.numbers.recordInUse({ customerId: 'dup-on', siteId: 's3' }, { number: '+15550000001', userId: 'u9', vendor: 'Microsoft', lineType: 'DirectRouting' }, { preventDuplicateNumbers: true });
    await expect(syncedElsewhere).rejects.toBeInstanceOf(DuplicateNumberError);
    await expect(syncedElsewhere).rejects.toThrow('number +15550000001 already exists in the inventory of site s1');
    // In its own scope the same number is simply recorded as used.
    const own = await storage.numbers.recordInUse({ customerId: 'dup-on', siteId: 's1' }, { number: '+15550000001', userId: 'u9', vendor: 'Microsoft', lineType: 'DirectRouting' }, { preventDuplicateNumbers: true });
    expect(own.value).toMatchObject({ status: 'Used', userId: 'u9' });
    // Another customer is not affected.
    await storage.numbers.recordInUse({ customerId: 'other', siteId: 's3' }, { number: '+15550000001', userId: 'x', vendor: 'Microsoft', lineType: 'DirectRouting' }, { preventDuplicateNumbers: true });
  });

  it('on: concurrent claims of the same number in different sites leave it in exactly one', async () => {
    const results = await Promise.allSettled(
      Array.from({ length: 8 }, (_, i) =>
        storage.numbers.recordInUse({ customerId: 'dup-race', siteId: `s${i}` }, { number: '+15550000042', userId: `u${i}`, vendor: 'Microsoft', lineType: 'CallingPlan' }, { preventDuplicateNumbers: true }),
      ),
    );
    expect(results.filter((r) => r.status === 'fulfilled').length).toBe(1);
    for (const r of results) if (r.status === 'rejected') expect(r.reason).toBeInstanceOf(DuplicateNumberError);
  });

  it("a sync's held numbers are recorded in batches: over an entry that appeared meanwhile, never where another scope holds one", async () => {
    await storage.numbers.addRange(range('bulk', 'r1', '+15550000001', '+15550000002', 's1'), { preventDuplicateNumbers: true });
    await storage.numbers.addRange(range('bulk', 'r2', '+15550000900', '+15550000900', 's2'), { preventDuplicateNumbers: true });
    const scope = { customerId: 'bulk', siteId: 's2' };
    const used = (number: string, holders: string[]) => ({
      number, customerId: 'bulk', siteId: 's2', status: 'Used' as const, vendor: 'Microsoft', lineType: 'DirectRouting' as const, userId: holders[0], everUsed: true, usedSince: now.toISOString(),
      ...(holders.length > 1 ? { heldBy: holders, duplicate: true } : {}),
    });
    // 250 new numbers (three batches), one of them held by two users; one already in the scope (Available);
    // one in site s1's inventory.
    const fresh = Array.from({ length: 250 }, (_, i) => used(`+1555100${String(i).padStart(4, '0')}`, i === 7 ? ['u7', 'u7b'] : [`u${i}`]));
    const result = await storage.numbers.recordManyInUse(scope, [...fresh, used('+15550000900', ['w']), used('+15550000001', ['x'])], { preventDuplicateNumbers: true });
    expect(result).toEqual({ recorded: 251, refused: ['+15550000001'] });
    const entries = new Map((await storage.numbers.list(scope)).map((e) => [e.value.number, e.value]));
    expect(entries.size).toBe(251);
    expect(entries.get('+15551000003')).toMatchObject({ status: 'Used', userId: 'u3' });
    expect(entries.get('+15551000007')).toMatchObject({ status: 'Used', userId: 'u7', heldBy: ['u7', 'u7b'], duplicate: true });
    expect(entries.get('+15550000900')).toMatchObject({ status: 'Used', userId: 'w', rangeId: 'r2' });
    expect((await storage.numbers.get({ customerId: 'bulk', siteId: 's1' }, '+15550000001'))?.value.status).toBe('Available');
    // A repeat changes nothing.
    expect(await storage.numbers.recordManyInUse(scope, fresh.slice(0, 3), { preventDuplicateNumbers: true })).toEqual({ recorded: 3, refused: [] });
    expect((await storage.numbers.list(scope)).length).toBe(251);
  });

  it('switching it on later claims the existing inventory and reports the duplicates', async () => {
    await storage.numbers.addRange(range('dup-later', 'r1', '+15550000001', '+15550000002', 's1'), { preventDuplicateNumbers: false });
    await storage.numbers.addRange(range('dup-later', 'r2', '+15550000002', '+15550000003'), { preventDuplicateNumbers: false });
    const result = await storage.numbers.claimExisting('dup-later');
    expect(result.claimed).toBe(3);
    expect(result.duplicates).toEqual([{ number: '+15550000002', siteIds: [undefined, 's1'] }]);
    const r = await storage.numbers.addRange(range('dup-later', 'r3', '+15550000003', '+15550000004', 's2'), { preventDuplicateNumbers: true });
    expect(r).toEqual({ created: 1, existing: 0, duplicates: ['+15550000003'] });
  });

  it('removing an available number frees it for another site', async () => {
    await storage.numbers.addRange(range('dup-free', 'r1', '+15550000001', '+15550000001', 's1'), { preventDuplicateNumbers: true });
    await storage.numbers.remove({ customerId: 'dup-free', siteId: 's1' }, '+15550000001');
    expect(await storage.numbers.addRange(range('dup-free', 'r2', '+15550000001', '+15550000001', 's2'), { preventDuplicateNumbers: true })).toEqual({ created: 1, existing: 0, duplicates: [] });
  });
});
