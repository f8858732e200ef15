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

  it("where users are placed: by key for a few, by a scan of every shard for many, with the same answer", async () => {
    const ids = Array.from({ length: 1200 }, (_, i) => `placed-${i}`);
    await storage.users.upsertMany('c3', ids.map((id) => ({ id })), new Date());
    await storage.users.upsertMany('c4', [{ id: 'placed-1' }], new Date());
    // Every tenth user at a site.
    for (const id of ids.filter((_, i) => i % 10 === 0)) {
      const stored = await storage.users.get('c3', id);
      await storage.users.update({ ...stored!.value, state: { kind: 'at-site', siteId: `site-${id}` } }, stored!.etag);
    }
    const expected = (asked: string[]) => new Map(asked.filter((id) => ids.includes(id)).map((id) => [id, Number(id.split('-')[1]) % 10 === 0 ? `site-${id}` : undefined]));
    const few = ['placed-0', 'placed-1', 'placed-10', 'missing'];
    expect(await storage.users.sitesOf('c3', few)).toEqual(expected(few));
    const many = [...ids.slice(0, 900), 'missing'];
    expect(await storage.users.sitesOf('c3', many)).toEqual(expected(many));
    expect(await storage.users.sitesOf('c4', many)).toEqual(new Map([['placed-1', undefined]]));
  });
});
