import { TableClient } from '@azure/data-tables';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTableStorage, encodeKey, packJson, TABLES, tableStorageFromSettings } from '../../shared/adapters/tables';
import { recentTransactions } from '../../shared/provisioning';
import { ConfigurationError, readSettings } from '../../shared/config/settings';
import { USER_SHARDS } from '../../shared/adapters/tables/users';
import { newTransactionId, quickAddGroupSchema, siteSchema, type MicrosoftUser, type QuickAddGroup, type TransactionRecord } from '../../shared/domain';
import { ConcurrencyError, ConflictError, NotFoundError, PreconditionFailedError, PROVIDER_SCOPE, type Storage } from '../../shared/ports/storage';
import { startAzurite } from '../support/azurite';
import { updateUser } from '../../shared/provisioning/userRecords';

let azurite: Awaited<ReturnType<typeof startAzurite>>;
let storage: Storage;

beforeAll(async () => {
  azurite = await startAzurite();
  storage = createTableStorage({ connectionString: azurite.connectionString });
});
afterAll(async () => {
  await azurite?.stop();
});

const group = (customerId: string, id: string, name = 'Voice'): QuickAddGroup =>
  quickAddGroupSchema.parse({ id, customerId, name, licenses: [{ skuId: 'sku-e5' }], line: { assignment: 'nextAvailable', numberType: 'DirectRouting' } });

describe('connection', () => {
  it('from the app settings; a second process creating the same tables is harmless', async () => {
    const other = tableStorageFromSettings(readSettings({ SITESYNC_TABLES_CONNECTION_STRING: azurite.connectionString }));
    await Promise.all([other.customers.list(), storage.customers.list(), createTableStorage({ connectionString: azurite.connectionString }).customers.list()]);
    await other.customers.create({ id: 'c-settings', name: 'Contoso', tenantId: '00000000-0000-0000-0000-000000000001' });
    expect((await storage.customers.get('c-settings'))?.value.name).toBe('Contoso');
  });

  it('without a connection string or endpoint, says which settings to set', () => {
    expect(() => tableStorageFromSettings(readSettings({}))).toThrow(ConfigurationError);
    expect(() => tableStorageFromSettings(readSettings({}))).toThrow(/SITESYNC_TABLES_CONNECTION_STRING or SITESYNC_TABLES_ENDPOINT/);
  });
});

describe('configuration documents', () => {
  it('create, read, update with the ETag, list, delete', async () => {
    const created = await storage.quickAddGroups.create(group('c1', 'q1'));
    expect(created.etag).not.toBe('');
    const read = await storage.quickAddGroups.get('c1', 'q1');
    expect(read?.value).toEqual(group('c1', 'q1'));
    const updated = await storage.quickAddGroups.update({ ...group('c1', 'q1'), name: 'Voice 2' }, read!.etag);
    expect(updated.etag).not.toBe(read!.etag);
    expect((await storage.quickAddGroups.list('c1')).map((g) => g.value.name)).toEqual(['Voice 2']);
    await storage.quickAddGroups.delete('c1', 'q1');
    await storage.quickAddGroups.delete('c1', 'q1'); // idempotent
    expect(await storage.quickAddGroups.get('c1', 'q1')).toBeUndefined();
  });

  it('a stale ETag gives a 412 ConcurrencyError; the winner is kept', async () => {
    const first = await storage.sites.create(siteSchema.parse({ id: 's1', customerId: 'c1', name: 'Chicago' }));
    await storage.sites.update({ ...first.value, name: 'Chicago HQ' }, first.etag);
    const stale = storage.sites.update({ ...first.value, name: 'Lost write' }, first.etag);
    await expect(stale).rejects.toBeInstanceOf(ConcurrencyError);
    await expect(stale).rejects.toBeInstanceOf(PreconditionFailedError);
    await expect(storage.sites.delete('c1', 's1', first.etag)).rejects.toBeInstanceOf(ConcurrencyError);
    expect((await storage.sites.get('c1', 's1'))?.value.name).toBe('Chicago HQ');
  });

  it('create twice gives ConflictError; update of a missing item gives NotFoundError', async () => {
    await storage.userProfiles.create({ id: 'p1', customerId: 'c1', name: 'Voice', quickAddGroupId: 'q1', services: { teams: true, voice: true } });
    await expect(storage.userProfiles.create({ id: 'p1', customerId: 'c1', name: 'Again', quickAddGroupId: 'q1', services: { teams: true, voice: false } })).rejects.toBeInstanceOf(ConflictError);
    await expect(storage.userProfiles.update({ id: 'nope', customerId: 'c1', name: 'x', quickAddGroupId: 'q', services: { teams: true, voice: false } }, '*')).rejects.toBeInstanceOf(NotFoundError);
  });

  it('hostile ids are stored as data: no escape from the partition, no filter injection', async () => {
    const evil = ["c1' or PartitionKey ne '", 'c1/../c2', 'c#1?x\\y', "' or 1 eq 1 or '"];
    for (const customerId of evil) await storage.quickAddGroups.create(group(customerId, `q'/${customerId}`, customerId));
    await storage.quickAddGroups.create(group('victim', 'secret'));
    for (const customerId of evil) {
      const listed = await storage.quickAddGroups.list(customerId);
      expect(listed.map((g) => g.value.customerId)).toEqual([customerId]);
      expect((await storage.quickAddGroups.get(customerId, `q'/${customerId}`))?.value.name).toBe(customerId);
    }
    expect((await storage.quickAddGroups.list('victim')).map((g) => g.value.id)).toEqual(['secret']);
    // And nothing was written under a raw, unencoded key.
    const raw = TableClient.fromConnectionString(azurite.connectionString, TABLES.quickAddGroups, { allowInsecureConnection: true });
    for await (const e of raw.listEntities()) expect(`${e.partitionKey}${e.rowKey}`).toMatch(/^[A-Za-z0-9._@!~-]+$/);
  });

  it('global settings per customer and for the provider, with ETags', async () => {
    const provider = await storage.globalSettings.put(PROVIDER_SCOPE, {
      moveAndFlowThrough: 'yes',
      addSync: 'yes',
      updateSync: 'inherit',
      preventDuplicateNumbers: 'inherit',
      deleteThresholds: {},
    });
    await storage.globalSettings.put('c1', { moveAndFlowThrough: 'inherit', addSync: 'no', updateSync: 'inherit', preventDuplicateNumbers: 'yes', deleteThresholds: { users: { maxCount: 5, maxShare: 0.01 } } });
    expect((await storage.globalSettings.get('c1'))?.value.deleteThresholds.users).toEqual({ maxCount: 5, maxShare: 0.01 });
    await storage.globalSettings.put(PROVIDER_SCOPE, { ...provider.value, addSync: 'no' }, provider.etag);
    await expect(storage.globalSettings.put(PROVIDER_SCOPE, provider.value, provider.etag)).rejects.toBeInstanceOf(ConcurrencyError);
  });

  it('sync state: create once, compare-and-swap updates', async () => {
    const v1 = await storage.syncState.create('c1', 'users/deltaLink', { link: 'https://graph/delta?token=1' });
    await expect(storage.syncState.create('c1', 'users/deltaLink', { link: 'x' })).rejects.toBeInstanceOf(ConflictError);
    const v2 = await storage.syncState.put('c1', 'users/deltaLink', { link: 'https://graph/delta?token=2' }, v1.etag);
    await expect(storage.syncState.put('c1', 'users/deltaLink', { link: 'stale' }, v1.etag)).rejects.toBeInstanceOf(ConcurrencyError);
    expect((await storage.syncState.get<{ link: string }>('c1', 'users/deltaLink'))?.value.link).toBe('https://graph/delta?token=2');
    await storage.syncState.delete('c1', 'users/deltaLink', v2.etag);
    expect(await storage.syncState.get('c1', 'users/deltaLink')).toBeUndefined();
  });

  it('sync state: several keys of a scope created or replaced at once, in one request', async () => {
    await storage.syncState.put('c2', 'a', 1);
    const before = azurite.requests();
    await storage.syncState.putAll<unknown>('c2', [{ key: 'a', value: 2 }, { key: 'b/c', value: { x: 'y' } }]);
    expect(azurite.requests() - before).toBe(1);
    expect((await storage.syncState.get('c2', 'a'))?.value).toBe(2);
    expect((await storage.syncState.get('c2', 'b/c'))?.value).toEqual({ x: 'y' });
    await storage.syncState.putAll('c2', []);
  });
});

describe('users', () => {
  const users = (n: number, city = 'Chicago'): MicrosoftUser[] =>
    Array.from({ length: n }, (_, i) => ({ id: `00000000-0000-0000-0000-${String(i).padStart(12, '0')}`, displayName: `User ${i}`, city }));

  async function* slowly(list: MicrosoftUser[]): AsyncIterable<MicrosoftUser> {
    for (const u of list) yield u;
  }

  it('bulk upsert streams batches of up to 100 per partition and lists everything back', async () => {
    const result = await storage.users.upsertMany('bulk', slowly(users(1200)), new Date('2026-01-01T00:00:00Z'));
    expect(result.written).toBe(1200);
    // 16 partitions of about 75 users each: at least one batch per partition, never more than 100 per batch.
    expect(result.batches).toBeGreaterThanOrEqual(Math.ceil(1200 / 100));
    expect(result.batches).toBeLessThanOrEqual(USER_SHARDS * 2);
    const listed = [];
    for await (const u of storage.users.list('bulk')) listed.push(u.value);
    expect(listed.length).toBe(1200);
    expect(listed.every((u) => u.state.kind === 'at-customer' && u.syncedAt === '2026-01-01T00:00:00.000Z')).toBe(true);
  });

  it('a later sync merges attributes without losing the provisioning state', async () => {
    const [u] = users(1);
    await storage.users.upsertMany('merge', [u], new Date());
    const read = await storage.users.get('merge', u.id);
    await storage.users.update({ ...read!.value, state: { kind: 'provisioned', siteId: 's1', profileId: 'p1' }, number: '+14255550100' }, read!.etag);
    await storage.users.upsertMany('merge', [{ ...u, city: 'London', department: 'Sales' }], new Date());
    const after = await storage.users.get('merge', u.id);
    expect(after?.value.state).toEqual({ kind: 'provisioned', siteId: 's1', profileId: 'p1' });
    expect(after?.value.number).toBe('+14255550100');
    expect(after?.value.attributes).toMatchObject({ city: 'London', department: 'Sales' });
    await expect(storage.users.update(read!.value, read!.etag)).rejects.toBeInstanceOf(ConcurrencyError);
  });

  it("provisioning's write from the version it read: one request when nothing changed, the sync's merge kept when it did", async () => {
    const [u, v] = users(2, 'Paris');
    await storage.users.upsertMany('known', [u, v], new Date());
    const first = await storage.users.get('known', u.id);
    const before = azurite.requests();
    await updateUser({ storage }, 'known', u.id, (r) => ({ ...r, state: { kind: 'provisioned', siteId: 's1', profileId: 'p1' } }), first);
    expect(azurite.requests() - before).toBe(1);
    const second = await storage.users.get('known', v.id);
    await storage.users.upsertMany('known', [{ ...v, city: 'Lyon' }], new Date());
    const written = await updateUser({ storage }, 'known', v.id, (r) => ({ ...r, state: { kind: 'provisioned', siteId: 's1', profileId: 'p1' } }), second);
    expect(written?.value).toMatchObject({ state: { kind: 'provisioned' }, attributes: { city: 'Lyon' } });
    expect((await storage.users.get('known', v.id))?.value).toMatchObject({ state: { kind: 'provisioned' }, attributes: { city: 'Lyon' } });
  });

  it('a large attribute set is split across properties and read back', async () => {
    const big: MicrosoftUser = { id: 'big', displayName: 'B'.repeat(50_000), businessPhones: ['+1'] };
    await storage.users.upsertMany('big', [big], new Date());
    expect((await storage.users.get('big', 'big'))?.value.attributes).toEqual(big);
  });

  it('deleteMany removes in batches and ignores users already gone', async () => {
    await storage.users.upsertMany('del', users(150), new Date());
    const ids = users(150).map((u) => u.id);
    await storage.users.deleteMany('del', [...ids.slice(0, 120), 'never-existed']);
    const left = [];
    for await (const u of storage.users.list('del')) left.push(u.value.userId);
    expect(left.sort()).toEqual(ids.slice(120).sort());
  });
});

describe('transactions', () => {
  it('appends steps from concurrent writers without losing any, newest transactions first', async () => {
    const older = newTransactionId(new Date('2026-01-01T00:00:00Z'), 'a');
    const newer = newTransactionId(new Date('2026-01-02T00:00:00Z'), 'b');
    for (const id of [older, newer]) {
      await storage.transactions.create({ id, customerId: 'c1', kind: 'provision', userId: 'u1', startedAt: '2026-01-01T00:00:00Z', outcome: 'running', steps: [] });
    }
    await expect(storage.transactions.create({ id: older, customerId: 'c1', kind: 'provision', startedAt: 'x', outcome: 'running', steps: [] })).rejects.toBeInstanceOf(ConflictError);
    const at = new Date().toISOString();
    await Promise.all(Array.from({ length: 8 }, (_, i) => storage.transactions.appendSteps('c1', older, [{ name: `step ${i}`, result: 'ok', at }])));
    const done = await storage.transactions.appendSteps('c1', older, [{ name: 'number', result: 'failed', detail: 'no number available', at }], 'partially-failed');
    expect(done.value.steps.length).toBe(9);
    expect(done.value.outcome).toBe('partially-failed');
    expect((await storage.transactions.listRecent('c1', 10)).map((t) => t.id)).toEqual([newer, older]);
  });

  it("lists one user's transactions newest first however many of others' came after them", async () => {
    const id = (day: number, who: string) => newTransactionId(new Date(Date.UTC(2026, 0, day)), who);
    const record = (txId: string, userId?: string): TransactionRecord => ({ id: txId, customerId: 'c3', kind: 'provision', ...(userId ? { userId } : {}), startedAt: '2026-01-01T00:00:00Z', outcome: 'succeeded', steps: [] });
    await storage.transactions.create(record(id(1, 'u1-first'), 'u1'));
    await storage.transactions.create(record(id(2, 'u1-second'), 'u1'));
    // Far more of other users' (and of no user's) after them than any page of the recent list holds.
    for (let day = 3; day < 28; day++) for (let k = 0; k < 40; k++) await storage.transactions.create(record(id(day, `other-${k}`), k % 10 === 0 ? undefined : `u${k + 2}`));
    expect((await storage.transactions.listRecent('c3', 10, { userId: 'u1' })).map((t) => t.id)).toEqual([id(2, 'u1-second'), id(1, 'u1-first')]);
    expect((await storage.transactions.listRecent('c3', 1, { userId: 'u1' })).map((t) => t.id)).toEqual([id(2, 'u1-second')]);
    expect(await storage.transactions.listRecent('c3', 10, { userId: 'nobody' })).toEqual([]);
    expect(await storage.transactions.listRecent('c3', 5)).toHaveLength(5);
    // A row written before transactions carried the column: the user's list still shows it while it is recent.
    const legacy = record(id(28, 'u1-legacy'), 'u1');
    const raw = TableClient.fromConnectionString(azurite.connectionString, TABLES.transactions, { allowInsecureConnection: true });
    await raw.createEntity({ partitionKey: encodeKey('c3'), rowKey: encodeKey(legacy.id), ...packJson('Doc', legacy) });
    expect((await storage.transactions.listRecent('c3', 10, { userId: 'u1' })).map((t) => t.id)).not.toContain(legacy.id);
    expect((await recentTransactions(storage, 'c3', { userId: 'u1', top: 10 })).map((t) => t.id)).toEqual([legacy.id, id(2, 'u1-second'), id(1, 'u1-first')]);
  });

  it('appends to a transaction it wrote without reading it first, and reads it again when another instance wrote since', async () => {
    const elsewhere = createTableStorage({ connectionString: azurite.connectionString });
    const id = newTransactionId(new Date('2026-03-01T00:00:00Z'), 'known');
    const at = new Date().toISOString();
    await storage.transactions.create({ id, customerId: 'c2', kind: 'provision', userId: 'u1', startedAt: at, outcome: 'running', steps: [] });
    const before = azurite.requests();
    await storage.transactions.appendSteps('c2', id, [{ name: 'licenses', result: 'ok', at }]);
    expect(azurite.requests() - before).toBe(1); // the write alone
    await elsewhere.transactions.appendSteps('c2', id, [{ name: 'number', result: 'ok', at }]);
    const done = await storage.transactions.appendSteps('c2', id, [{ name: 'groups', result: 'ok', at }], 'succeeded');
    expect(done.value.steps.map((s) => s.name)).toEqual(['licenses', 'number', 'groups']);
    expect((await elsewhere.transactions.get('c2', id))?.value).toMatchObject({ outcome: 'succeeded', steps: [{ name: 'licenses' }, { name: 'number' }, { name: 'groups' }] });
  });
});

describe('pending number assignments', () => {
  const pending = (userId: string, customerId = 'claims') => ({ customerId, userId, number: `+1425555${userId.padStart(4, '0')}`, lineType: 'DirectRouting' as const, siteId: 's', transactionId: `t-${userId}`, startedAt: '2026-01-01T00:00:00.000Z', dueAt: '2026-01-01T00:00:05.000Z', sends: 1, checks: 0, skip: [], cause: {} });

  it('are claimed a batch at a time on their ETags: one request for many, none written when one changed since', async () => {
    const rows = await Promise.all(Array.from({ length: 30 }, (_, i) => storage.pendingNumbers.upsert(pending(String(i)))));
    const later = '2026-01-01T00:01:00.000Z';
    // One of them is written by someone else after it was read: the batch holding it writes nothing.
    await storage.pendingNumbers.update({ ...rows[7].value, checks: 1 }, rows[7].etag);
    const refused = await storage.pendingNumbers.updateAll(rows.map((r) => ({ value: { ...r.value, dueAt: later }, etag: r.etag })));
    expect(refused).toEqual({ written: [], stale: 30 });
    expect((await storage.pendingNumbers.list('claims')).filter((r) => r.value.dueAt === later)).toEqual([]);

    const fresh = await storage.pendingNumbers.list('claims');
    const before = azurite.requests();
    const claimed = await storage.pendingNumbers.updateAll(fresh.map((r) => ({ value: { ...r.value, dueAt: later }, etag: r.etag })));
    expect(azurite.requests() - before).toBe(1);
    expect(claimed.stale).toBe(0);
    expect(claimed.written.map((w) => w.value.userId).sort()).toEqual(fresh.map((r) => r.value.userId).sort());
    // The ETags given back are the rows' own: the claimer's next write goes through, a reader's stale one does not.
    await storage.pendingNumbers.update({ ...claimed.written[0].value, checks: 2 }, claimed.written[0].etag);
    await expect(storage.pendingNumbers.update(fresh[0].value, fresh[0].etag)).rejects.toThrow(ConcurrencyError);
    expect((await storage.pendingNumbers.list('claims')).every((r) => r.value.dueAt === later)).toBe(true);
  });
});
