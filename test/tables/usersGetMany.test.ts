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
});
