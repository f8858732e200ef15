import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTableStorage } from '../../shared/adapters/tables';
import type { Storage } from '../../shared/ports/storage';
import { startAzurite } from '../support/azurite';

let azurite: Awaited<ReturnType<typeof startAzurite>>;
let storage: Storage;

beforeAll(async () => {
  azurite = await startAzurite();
  storage = createTableStorage({ connectionString: azurite.connectionString });
});
afterAll(async () => {
  await azurite.stop();
});

describe('reading many users at once', () => {
  it('returns exactly the stored users asked for, across partitions and chunks, odd ids included', async () => {
    const ids = Array.from({ length: 300 }, (_, i) => `user-${i}`);
    const odd = ["o'brien", 'a or RowKey ne ', "x' or '1' eq '1", 'ünïcode/with#slash?'];
    await storage.users.upsertMany('c1', [...ids, ...odd].map((id) => ({ id, displayName: `name ${id}` })), new Date());
    await storage.users.upsertMany('c2', [{ id: 'user-1', displayName: 'other customer' }], new Date());
    const asked = [...ids.filter((_, i) => i % 3 === 0), ...odd, 'missing-1', 'missing-2', 'user-0'];
    const found = await storage.users.getMany('c1', asked);
    expect([...found.keys()].sort()).toEqual([...new Set(asked.filter((id) => !id.startsWith('missing')))].sort());
    expect(found.get("o'brien")?.value.attributes.displayName).toBe("name o'brien");
    expect(found.get('user-0')?.value.customerId).toBe('c1');
    expect((await storage.users.getMany('c2', ['user-1'])).get('user-1')?.value.attributes.displayName).toBe('other customer');
    expect((await storage.users.getMany('c1', [])).size).toBe(0);
  });

  it("where users are placed: by key for a few, by a scan of every shard's placed users for many, with the same answer", async () => {
    const ids = Array.from({ length: 1200 }, (_, i) => `placed-${i}`);
    await storage.users.upsertMany('c3', ids.map((id) => ({ id })), new Date());
    await storage.users.upsertMany('c4', [{ id: 'placed-1' }], new Date());
    // Every tenth user at a site.
    for (const id of ids.filter((_, i) => i % 10 === 0)) {
      const stored = await storage.users.get('c3', id);
      await storage.users.update({ ...stored!.value, state: { kind: 'at-site', siteId: `site-${id}` } }, stored!.etag);
    }
    // Users at customer level, and users not stored, are absent.
    const expected = (asked: string[]) => new Map(asked.filter((id) => ids.includes(id) && Number(id.split('-')[1]) % 10 === 0).map((id) => [id, `site-${id}`]));
    const few = ['placed-0', 'placed-1', 'placed-10', 'missing'];
    expect(await storage.users.sitesOf('c3', few)).toEqual(expected(few));
    const many = [...ids.slice(0, 900), 'missing'];
    expect(await storage.users.sitesOf('c3', many)).toEqual(expected(many));
    expect(await storage.users.sitesOf('c4', many)).toEqual(new Map());
    // A user moved back to customer level is absent again, by either way.
    const moved = await storage.users.get('c3', 'placed-10');
    await storage.users.update({ ...moved!.value, state: { kind: 'at-customer' } }, moved!.etag);
    expect((await storage.users.sitesOf('c3', few)).has('placed-10')).toBe(false);
    expect((await storage.users.sitesOf('c3', many)).has('placed-10')).toBe(false);
  });
});

describe("users' Teams numbers", () => {
  const teams = (numbers: string[]) => ({ present: true, enterpriseVoice: numbers.length > 0, numbers, accountType: null, featureTypes: [], policies: {} });
  const read = async (customerId: string, options?: { readSince?: string }) => {
    const out: Record<string, string[]> = {};
    for await (const row of storage.users.teamsNumbers(customerId, options)) out[row.userId] = row.numbers;
    return out;
  };

  it('since a read began: only the holders stored since, without reading the others', async () => {
    await storage.users.setTeams('n1', [{ userId: 'before', teams: teams(['+15550000001']) }]);
    await new Promise((resolve) => setTimeout(resolve, 5));
    const readSince = new Date().toISOString();
    await storage.users.setTeams('n1', [
      { userId: 'one', teams: teams(['+15550000002']) },
      { userId: 'two', teams: teams(['+15550000003', '+15550000004;ext=12']) },
      { userId: 'none', teams: teams([]) },
    ]);
    await storage.users.setTeams('n2', [{ userId: 'other-customer', teams: teams(['+15550000005']) }]);
    expect(await read('n1', { readSince })).toEqual({ one: ['+15550000002'], two: ['+15550000003', '+15550000004;ext=12'] });
    // Without a start, every stored user, holders or not, whenever stored.
    expect(await read('n1')).toEqual({ before: ['+15550000001'], one: ['+15550000002'], two: ['+15550000003', '+15550000004;ext=12'], none: [] });
  });

  it("whether a customer has any user stored, whichever shard holds it, never another customer's", async () => {
    expect(await storage.users.anyStored('empty')).toBe(false);
    // Customers whose keys sort next to the one asked about (a longer id, a prefix of it) do not count.
    await storage.users.upsertMany('lone0', [{ id: 'x' }], new Date());
    await storage.users.upsertMany('lon', [{ id: 'y' }], new Date());
    expect(await storage.users.anyStored('lone')).toBe(false);
    // One user, in whichever of the sixteen shards its id falls.
    for (const id of ['a', 'b', 'c', 'd']) {
      const customer = `lone-${id}`;
      await storage.users.upsertMany(customer, [{ id }], new Date());
      expect(await storage.users.anyStored(customer)).toBe(true);
      await storage.users.deleteMany(customer, [id]);
      expect(await storage.users.anyStored(customer)).toBe(false);
    }
  });
});
