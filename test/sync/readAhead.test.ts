import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createTableStorage, TableProvider } from '../../shared/adapters/tables';
import { TablePendingDeletionStore } from '../../shared/adapters/tables/sync';
import type { MicrosoftUser as DomainUser } from '../../shared/domain';
import type { MicrosoftUser, TeamsUserConfiguration } from '../../shared/ports/microsoft';
import type { Storage } from '../../shared/ports/storage';
import type { ProvisionUserMessage } from '../../shared/provisioning/messages';
import type { CustomerMicrosoft } from '../../shared/sync/ports';
import { latestBehind, syncTeamsPages, syncUsersPages, type UserSyncDeps } from '../../shared/sync/users';
import { startAzurite } from '../support/azurite';

let azurite: Awaited<ReturnType<typeof startAzurite>>;
let storage: Storage;
let deps: UserSyncDeps;
const sent: ProvisionUserMessage[] = [];

beforeAll(async () => {
  azurite = await startAzurite();
  storage = createTableStorage({ connectionString: azurite.connectionString });
  deps = { storage, pending: new TablePendingDeletionStore(new TableProvider({ connectionString: azurite.connectionString })), queue: { send: async (m) => void sent.push(...m) } };
});
afterAll(async () => {
  await azurite?.stop();
});

const PAGE = 10;
const user = (id: string) => ({ id, userPrincipalName: `${id}@example.com`, displayName: id, accountEnabled: true, assignedLicenses: [], businessPhones: [] }) as unknown as MicrosoftUser;
const teams = (id: string): TeamsUserConfiguration => ({
  id, userPrincipalName: `${id}@example.com`, accountType: 'user', isEnterpriseVoiceEnabled: true, featureTypes: [], telephoneNumbers: [{ telephoneNumber: `+1555${id.slice(2).padStart(7, '0')}`, assignmentCategory: 'primary' }], effectivePolicyAssignments: [],
  modifiedDateTime: null,
});

/** A tenant of `pages` pages that records the order of page requests and of the writes they lead to. */
function tenant(pages: number, events: string[], failReadOf?: number) {
  const pageOf = (link: string | undefined) => (link ? Number(link.split('=')[1]) : 0);
  const ids = (n: number) => Array.from({ length: PAGE }, (_, i) => `u-${n * PAGE + i}`);
  const next = (n: number) => (n + 1 < pages ? `page=${n + 1}` : undefined);
  const microsoft = {
    tenant: {
      usersPage: async (link: string | undefined) => {
        const n = pageOf(link);
        events.push(`read ${n}`);
        await new Promise((resolve) => setTimeout(resolve, 5));
        if (n === failReadOf) throw new Error(`page ${n} could not be read`);
        return { users: ids(n).map(user), nextLink: next(n) };
      },
      teamsConfigurationsPage: async (link: string | undefined) => {
        const n = pageOf(link);
        events.push(`read ${n}`);
        return { configurations: ids(n).map(teams), nextLink: next(n) };
      },
    },
  } as unknown as CustomerMicrosoft;
  return microsoft;
}

describe('a full read, a few pages an activity', () => {
  it('asks for each next page before it writes the current one, and stops after its pages with the link to go on from', async () => {
    const events: string[] = [];
    const microsoft = tenant(5, events);
    const upsert = storage.users.upsertMany.bind(storage.users);
    const spy = vi.spyOn(storage.users, 'upsertMany').mockImplementation(async (customerId, users, at, handoffs) => {
      const list = [...(users as DomainUser[])];
      events.push(`write ${Number(list[0].id.split('-')[1]) / PAGE}`);
      return upsert(customerId, list, at, handoffs);
    });
    try {
      const args = { customerId: 'ahead', runStartedAt: new Date().toISOString(), firstSync: true, maxPages: 3 };
      const first = await syncUsersPages(deps, microsoft, args);
      expect(first).toMatchObject({ pages: 3, nextLink: 'page=3', counts: { added: 3 * PAGE } });
      // Page 1 is asked for before page 0 is written, page 2 before page 1; nothing beyond the activity's pages.
      expect(events).toEqual(['read 0', 'read 1', 'write 0', 'read 2', 'write 1', 'write 2']);
      const rest = await syncUsersPages(deps, microsoft, { ...args, link: first.nextLink });
      expect(rest).toMatchObject({ pages: 2, counts: { added: 2 * PAGE } });
      expect(rest.nextLink).toBeUndefined();
    } finally {
      spy.mockRestore();
    }
    const stored: string[] = [];
    for await (const { value } of storage.users.list('ahead')) stored.push(value.userId);
    expect(stored).toHaveLength(5 * PAGE);
  });

  it('stops after its time with the link to go on from, the page it had asked for not lost', async () => {
    const microsoft = tenant(50, []);
    const args = { customerId: 'timed', runStartedAt: new Date().toISOString(), firstSync: true, maxMs: 40 };
    let link: string | undefined;
    let activities = 0;
    let added = 0;
    do {
      const result = await syncUsersPages(deps, microsoft, { ...args, link });
      activities++;
      added += result.counts.added;
      expect(result.pages).toBeLessThan(50);
      link = result.nextLink;
    } while (link);
    expect(activities).toBeGreaterThan(1);
    expect(added).toBe(50 * PAGE);
  });

  it('a failed write ends the activity with its error, the page read ahead failing too is not left unhandled', async () => {
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    const spy = vi.spyOn(storage.users, 'upsertMany').mockRejectedValue(new Error('storage refused the batch'));
    try {
      const microsoft = tenant(3, [], 1);
      await expect(syncUsersPages(deps, microsoft, { customerId: 'failing', runStartedAt: new Date().toISOString(), firstSync: true })).rejects.toThrow('storage refused the batch');
      await new Promise((resolve) => setTimeout(resolve, 50));
      expect(unhandled).toEqual([]);
    } finally {
      spy.mockRestore();
      process.off('unhandledRejection', onUnhandled);
    }
  });

  it('the Teams pass marks its end only with its last page', async () => {
    const microsoft = tenant(3, []);
    const startedAt = new Date().toISOString();
    const first = await syncTeamsPages(storage, microsoft, { customerId: 'teams', startedAt, maxPages: 2 });
    expect(first).toMatchObject({ joined: 2 * PAGE, pages: 2, nextLink: 'page=2' });
    expect(await storage.syncState.get('teams', 'teamsPass')).toBeUndefined();
    const last = await syncTeamsPages(storage, microsoft, { customerId: 'teams', startedAt, link: first.nextLink });
    expect(last).toMatchObject({ joined: PAGE, pages: 1 });
    expect((await storage.syncState.get<{ runStartedAt: string }>('teams', 'teamsPass'))?.value.runStartedAt).toBe(startedAt);
    let numbers = 0;
    for await (const row of storage.users.teamsNumbers('teams')) numbers += row.numbers.length;
    expect(numbers).toBe(3 * PAGE);
  });
});

describe('progress written behind the pages', () => {
  it('writes one value at a time, the latest offered, and gives the last write and its failure to written()', async () => {
    const writes: number[] = [];
    let release!: () => void;
    const behind = latestBehind(async (n: number) => {
      writes.push(n);
      if (n === 1) await new Promise<void>((resolve) => (release = resolve));
    });
    behind.offer(1);
    await Promise.resolve();
    // While the first write is going, later values supersede each other: only the last is written.
    behind.offer(2);
    behind.offer(3);
    behind.offer(4);
    release();
    await behind.written();
    expect(writes).toEqual([1, 4]);

    const failing = latestBehind(async () => {
      throw new Error('storage refused the progress');
    });
    failing.offer(1);
    failing.offer(2);
    await expect(failing.written()).rejects.toThrow('storage refused the progress');
  });
});
