/**
 * Each customer's window of the provisioning queue, on the local stack (Azurite, the broker, the host's
 * Service Bus trigger): a customer handed off after a large one is served beside it, not after it; no
 * customer ever has more than its window in the queue; finished hand-offs leave neither places nor backlog
 * behind; a window whose messages were lost after it counted them (a kill between its write and the send)
 * moves again through the reconciler, which never sends a hand-off still waiting its turn; hand-offs whose
 * chunk a kill left unnamed are sent by the reconciler although others wait, and the chunk is removed.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { QUEUES } from '../../shared/config/queues';
import { HANDOFF_WINDOW, handOffMark, handOffMarkOf, handOffScope, handOffToProvisioning, provisionMessageId, readHandOffWindow, reconcileProvisioning, releaseHandOff, transactionIdFor, type HandOffWindowRecord } from '../../shared/provisioning';
import type { KeyValueStore } from '../../shared/ports/storage';
import { OFFICE_SITES, seedCustomer, startWorld, syncAdd, toDomainUser, type World } from './world';

const LARGE = 'window-large';
const SMALL = 'window-small';
const LOST = 'window-lost';
const KILLED = 'window-killed';
const ORPHAN = 'window-orphan';
const DIRECT = 'window-direct';
let world: World;

beforeAll(async () => {
  world = await startWorld({ users: 400, seed: 'handoff-window' });
  await seedCustomer(world, { customerId: LARGE, settings: { moveAndFlowThrough: 'yes', addSync: 'yes', updateSync: 'yes', addSyncCriteriaId: 'ft' } });
  // Same tenant, other users.
  await seedCustomer(world, { customerId: SMALL, settings: { moveAndFlowThrough: 'yes', addSync: 'yes', updateSync: 'yes', addSyncCriteriaId: 'ft' } });
  await seedCustomer(world, { customerId: LOST, settings: { moveAndFlowThrough: 'yes', addSync: 'yes', updateSync: 'yes', addSyncCriteriaId: 'ft' } });
  await seedCustomer(world, { customerId: KILLED, settings: { moveAndFlowThrough: 'yes', addSync: 'yes', updateSync: 'yes', addSyncCriteriaId: 'ft' } });
  await seedCustomer(world, { customerId: ORPHAN, settings: { moveAndFlowThrough: 'yes', addSync: 'yes', updateSync: 'yes', addSyncCriteriaId: 'ft' } });
  await seedCustomer(world, { customerId: DIRECT, settings: { moveAndFlowThrough: 'yes', addSync: 'yes', updateSync: 'yes', addSyncCriteriaId: 'ft' } });
});
afterAll(async () => {
  await world?.stop();
});

const windowDeps = () => ({ store: world.storage.syncState, queue: world.queue });
const members = () => world.users.filter((u) => u.userType === 'Member');
/** Members at no office: flow-through keeps them at customer level (a transaction, no Microsoft writes). */
const unplaced = () => members().filter((u) => !OFFICE_SITES.some((s) => s.city === u.city)).map((u) => u.id);
/** Everyone else, in order: the tests take disjoint slices. */
const others = () => members().map((u) => u.id).filter((id) => !unplaced().slice(0, 11).includes(id));

/** Marks the users handed off on their rows, as a sync's page does, and hands them to the window. */
async function handOff(customerId: string, userIds: string[], at = new Date().toISOString()): Promise<void> {
  const users = world.users.filter((u) => userIds.includes(u.id));
  await world.storage.users.upsertMany(customerId, users.map(toDomainUser), new Date(at), new Map(userIds.map((id) => [id, { reason: 'sync-add' as const, observedAt: at, requestedAt: at }])));
  await handOffToProvisioning(windowDeps(), customerId, syncAdd(customerId, userIds, at));
}

async function startedInOrder(customerId: string): Promise<string[]> {
  return (await world.storage.transactions.listRecent(customerId, 1_000)).map((t) => t.startedAt).sort();
}

async function pendingHandOffs(customerId: string): Promise<number> {
  let n = 0;
  for await (const _ of world.storage.users.pendingHandOffs(customerId, new Date(Date.now() + 60_000))) n++;
  return n;
}

describe('a customer\'s window of the provisioning queue', () => {
  it('serves a customer handed off after a large one beside it, never more than a window of either in the queue', async () => {
    const large = others().slice(0, 110);
    const small = unplaced().slice(0, 10);
    let most = 0;
    let watching = true;
    const watch = (async () => {
      while (watching) {
        // Waiting for a handler: a message being handled has released its place or is about to.
        most = Math.max(most, world.stack.broker.activeByProperty([QUEUES.userProvisioning], 'customerId', ['available', 'scheduled']).get(LARGE) ?? 0);
        await new Promise((r) => setTimeout(r, 5));
      }
    })();
    await handOff(LARGE, large);
    await handOff(SMALL, small);
    await world.idle(120_000);
    watching = false;
    await watch;

    expect(most).toBeGreaterThan(0);
    expect(most).toBeLessThanOrEqual(HANDOFF_WINDOW);
    const largeStarts = await startedInOrder(LARGE);
    const smallStarts = await startedInOrder(SMALL);
    expect(largeStarts).toHaveLength(large.length);
    expect(smallStarts).toHaveLength(small.length);
    // First in, first out without windows, every one of the small customer's users would start after the
    // large one's 110th; with them, after about one window of it.
    expect(smallStarts.at(-1)! < largeStarts[2 * HANDOFF_WINDOW]).toBe(true);
    // Everything finished: no hand-off left open, no place held, no backlog, no chunk left behind.
    for (const c of [LARGE, SMALL]) {
      expect(await pendingHandOffs(c)).toBe(0);
      expect(await readHandOffWindow(world.storage.syncState, c)).toEqual({ backlog: [], inFlight: {} });
      expect((await world.storage.syncState.list(handOffScope(c))).length).toBe(1);
    }
  });

  it('gives a place back once, however often the same hand-off is released', async () => {
    const user = unplaced()[10];
    await handOff(SMALL, [user]);
    await world.idle();
    const [message] = syncAdd(SMALL, [user]);
    await releaseHandOff(windowDeps(), message);
    await releaseHandOff(windowDeps(), message);
    expect(await readHandOffWindow(world.storage.syncState, SMALL)).toEqual({ backlog: [], inFlight: {} });
  });

  it('moves again through the reconciler when its places are held by messages that are gone', async () => {
    const lost = others().slice(110, 110 + HANDOFF_WINDOW);
    const waiting = others().slice(110 + HANDOFF_WINDOW, 130 + HANDOFF_WINDOW);
    expect(waiting).toHaveLength(20);
    const at = new Date(Date.now() - 120_000).toISOString();
    // Every place held by a message that is gone (deleted from the queue by hand, or dead-lettered by a
    // host that died before giving its place back), the rest waiting in the backlog, every user marked.
    const users = world.users.filter((u) => [...lost, ...waiting].includes(u.id));
    await world.storage.users.upsertMany(LOST, users.map(toDomainUser), new Date(at), new Map([...lost, ...waiting].map((id) => [id, { reason: 'sync-add' as const, observedAt: at, requestedAt: at }])));
    const scope = handOffScope(LOST);
    await world.storage.syncState.create(scope, 'chunk:lost', { observedAt: at, requestedAt: at, users: waiting.map((id) => [id, 'sync-add']) });
    const stuck: HandOffWindowRecord = { backlog: [{ key: 'chunk:lost', sent: 0 }], inFlight: Object.fromEntries(lost.map((id) => [id, at])) };
    await world.storage.syncState.create(scope, 'window', stuck);
    await world.idle();
    expect(await pendingHandOffs(LOST)).toBe(lost.length + waiting.length);

    // Within the bound nothing is sent again, and nothing waiting its turn ever is.
    const early = await reconcileProvisioning({ storage: world.storage, queue: world.queue }, { staleAfterMs: 600_000, sendAllowanceMs: 0 });
    expect(early.resent.filter((r) => r.customerId === LOST)).toEqual([]);

    const report = await reconcileProvisioning({ storage: world.storage, queue: world.queue }, { staleAfterMs: 60_000, sendAllowanceMs: 0 });
    expect(report.resent.filter((r) => r.customerId === LOST).map((r) => r.userId).sort()).toEqual([...lost].sort());
    // The lost ones' handlers give their places back as they finish, and the window sends the waiting ones
    // meanwhile: what the reconciler takes back is what was still held when it looked.
    expect(report.placesTakenBack).toBeLessThanOrEqual(lost.length);
    await world.idle();
    expect(await pendingHandOffs(LOST)).toBe(0);
    expect(await readHandOffWindow(world.storage.syncState, LOST)).toEqual({ backlog: [], inFlight: {} });
    const outcomes = (await world.storage.transactions.listRecent(LOST, 1_000)).map((t) => t.outcome);
    expect(outcomes).toHaveLength(lost.length + waiting.length);
    expect(outcomes.every((o) => o !== 'running')).toBe(true);
  });

  it('loses nothing and repeats nothing when a writer is killed between its send and its write', async () => {
    const users = others().slice(110 + HANDOFF_WINDOW + 20, 110 + 2 * HANDOFF_WINDOW + 40);
    expect(users).toHaveLength(HANDOFF_WINDOW + 20);
    const at = new Date().toISOString();
    const rows = world.users.filter((u) => users.includes(u.id));
    await world.storage.users.upsertMany(KILLED, rows.map(toDomainUser), new Date(at), new Map(users.map((id) => [id, { reason: 'sync-add' as const, observedAt: at, requestedAt: at }])));
    // The killed writer had written its chunk and sent the first window's messages; its window write never
    // happened, so the window still lists every hand-off as waiting and none as sent.
    const scope = handOffScope(KILLED);
    await world.storage.syncState.create(scope, 'chunk:killed', { observedAt: at, requestedAt: at, users: users.map((id) => [id, 'sync-add']) });
    await world.storage.syncState.create(scope, 'window', { backlog: [{ key: 'chunk:killed', sent: 0 }], inFlight: {} } satisfies HandOffWindowRecord);
    await world.queue.send(syncAdd(KILLED, users.slice(0, HANDOFF_WINDOW), at));
    // Those messages finish, the window passes over them in its backlog and sends the rest: no reconciler.
    await world.idle();
    expect(await pendingHandOffs(KILLED)).toBe(0);
    expect(await readHandOffWindow(world.storage.syncState, KILLED)).toEqual({ backlog: [], inFlight: {} });
    const transactions = await world.storage.transactions.listRecent(KILLED, 1_000);
    expect(transactions.map((t) => t.userId).sort()).toEqual([...users].sort());
    expect(transactions.every((t) => t.outcome !== 'running')).toBe(true);
  });

  it('sends the hand-offs of a chunk a kill left unnamed, while others wait their turn, and removes the chunk', async () => {
    const start = 110 + 2 * HANDOFF_WINDOW + 40;
    const orphaned = others().slice(start, start + 10);
    const queued = others().slice(start + 10, start + 20);
    expect(queued).toHaveLength(10);
    const at = new Date(Date.now() - 120_000).toISOString();
    const rows = world.users.filter((u) => [...orphaned, ...queued].includes(u.id));
    await world.storage.users.upsertMany(ORPHAN, rows.map(toDomainUser), new Date(at), new Map([...orphaned, ...queued].map((id) => [id, { reason: 'sync-add' as const, observedAt: at, requestedAt: at }])));
    // One sync page's chunk was written and named; another's was written by a sync killed before its window
    // write. Every place is held by hand-offs sent a moment ago (they never finish here: no such users).
    const scope = handOffScope(ORPHAN);
    const named = `chunk:${at}:00000000-0000-4000-8000-000000000001`;
    const unnamed = `chunk:${at}:00000000-0000-4000-8000-000000000002`;
    await world.storage.syncState.create(scope, named, { observedAt: at, requestedAt: at, users: queued.map((id) => [id, 'sync-add']) });
    await world.storage.syncState.create(scope, unnamed, { observedAt: at, requestedAt: at, users: orphaned.map((id) => [id, 'sync-add']) });
    const held = Object.fromEntries(Array.from({ length: HANDOFF_WINDOW }, (_, i) => [`ghost-${i}`, new Date().toISOString()]));
    await world.storage.syncState.create(scope, 'window', { backlog: [{ key: named, sent: 0 }], inFlight: held } satisfies HandOffWindowRecord);

    const report = await reconcileProvisioning({ storage: world.storage, queue: world.queue }, { staleAfterMs: 60_000, sendAllowanceMs: 0 });
    expect(report.resent.filter((r) => r.customerId === ORPHAN).map((r) => r.userId).sort()).toEqual([...orphaned].sort());
    expect(report.waiting).toBe(queued.length);
    expect(report.chunksRemoved).toBe(1);
    expect(await world.storage.syncState.get(scope, unnamed)).toBeUndefined();
    expect(await world.storage.syncState.get(scope, named)).toBeDefined();
    await world.idle();
    expect(await pendingHandOffs(ORPHAN)).toBe(queued.length);

    // Once the held places pass the bound, the window takes them back and sends the ones that waited.
    const later = await reconcileProvisioning({ storage: world.storage, queue: world.queue }, { staleAfterMs: 0, sendAllowanceMs: 0 });
    expect(later.resent.filter((r) => r.customerId === ORPHAN)).toEqual([]);
    expect(later.placesTakenBack).toBe(HANDOFF_WINDOW);
    await world.idle();
    expect(await pendingHandOffs(ORPHAN)).toBe(0);
    expect(await readHandOffWindow(world.storage.syncState, ORPHAN)).toEqual({ backlog: [], inFlight: {} });
    expect(await world.storage.syncState.keys(scope)).toEqual(['window']);
    const transactions = await world.storage.transactions.listRecent(ORPHAN, 1_000);
    expect(transactions.map((t) => t.userId).sort()).toEqual([...orphaned, ...queued].sort());
  });

  it('sends what finds nothing waiting and room in the window straight to the queue, without a chunk', async () => {
    const start = 110 + 2 * HANDOFF_WINDOW + 60;
    const few = others().slice(start, start + 3);
    const many = others().slice(start + 3, start + 3 + HANDOFF_WINDOW + 8);
    expect(many).toHaveLength(HANDOFF_WINDOW + 8);
    const created: string[] = [];
    // The window's store, recording what it creates.
    const store: KeyValueStore = Object.assign(Object.create(world.storage.syncState) as KeyValueStore, {
      create: <T>(scope: string, key: string, value: T) => {
        created.push(key);
        return world.storage.syncState.create(scope, key, value);
      },
    });
    const handOffThrough = async (userIds: string[]) => {
      const at = new Date().toISOString();
      const rows = world.users.filter((u) => userIds.includes(u.id));
      await world.storage.users.upsertMany(DIRECT, rows.map(toDomainUser), new Date(at), new Map(userIds.map((id) => [id, { reason: 'sync-add' as const, observedAt: at, requestedAt: at }])));
      await handOffToProvisioning({ store, queue: world.queue }, DIRECT, syncAdd(DIRECT, userIds, at));
    };
    await handOffThrough(few);
    expect(created).toEqual(['window']);
    await world.idle();
    // More than the window holds waits in a chunk.
    await handOffThrough(many);
    expect(created.filter((k) => k.startsWith('chunk:'))).toHaveLength(1);
    await world.idle();
    expect(await pendingHandOffs(DIRECT)).toBe(0);
    expect(await readHandOffWindow(world.storage.syncState, DIRECT)).toEqual({ backlog: [], inFlight: {} });
    expect(await world.storage.syncState.keys(handOffScope(DIRECT))).toEqual(['window']);
    const transactions = await world.storage.transactions.listRecent(DIRECT, 1_000);
    expect(transactions.map((t) => t.userId).sort()).toEqual([...few, ...many].sort());
  });

  it('gives back the places of a page handed off again after a crash (same cause, a later hand-off), each user provisioned once', async () => {
    const REPEATED = 'window-repeated';
    await seedCustomer(world, { customerId: REPEATED, settings: { moveAndFlowThrough: 'yes', addSync: 'yes', updateSync: 'yes', addSyncCriteriaId: 'ft' } });
    const users = others().slice(0, HANDOFF_WINDOW + 8);
    const observedAt = new Date().toISOString();
    const rows = world.users.filter((u) => users.includes(u.id)).map(toDomainUser);
    // A first sync's page: its users written with their hand-off marks and handed off, all of them finished.
    const page = async (requestedAt: string) => {
      await world.storage.users.upsertMany(REPEATED, rows, new Date(observedAt), new Map(users.map((id) => [id, { reason: 'sync-add' as const, observedAt, requestedAt }])));
      await handOffToProvisioning(windowDeps(), REPEATED, users.map((userId) => ({ customerId: REPEATED, userId, reason: 'sync-add' as const, observedAt, requestedAt })));
    };
    await page(observedAt);
    await world.idle();
    // The activity is run again (its host died before it answered): the same users, the same run, handed off
    // again. Were these messages dropped as repeats of the first ones, their places would never come back,
    // and the customer's next hand-offs would wait behind them for the reconciler.
    await page(new Date(Date.now() + 1).toISOString());
    await world.idle();
    expect(await readHandOffWindow(world.storage.syncState, REPEATED)).toEqual({ backlog: [], inFlight: {} });
    expect(await pendingHandOffs(REPEATED)).toBe(0);
    const transactions = await world.storage.transactions.listRecent(REPEATED, 1_000);
    expect(transactions.map((t) => t.userId).sort()).toEqual([...users].sort());
    expect(transactions.every((t) => t.outcome !== 'running')).toBe(true);
    // And the customer's next user goes straight through.
    const next = unplaced()[0];
    await handOffToProvisioning(windowDeps(), REPEATED, syncAdd(REPEATED, [next]));
    await world.idle();
    expect(await readHandOffWindow(world.storage.syncState, REPEATED)).toEqual({ backlog: [], inFlight: {} });
  });

  it('leaves the work to the first hand-off while it is under way: a later hand-off of the same cause neither runs it again nor clears its mark', async () => {
    const UNDER_WAY = 'window-under-way';
    await seedCustomer(world, { customerId: UNDER_WAY, settings: { moveAndFlowThrough: 'yes', addSync: 'yes', updateSync: 'yes', addSyncCriteriaId: 'ft' } });
    const user = unplaced()[1];
    const observedAt = new Date().toISOString();
    const first = { customerId: UNDER_WAY, userId: user, reason: 'sync-add' as const, observedAt, requestedAt: observedAt };
    const again = { ...first, requestedAt: new Date(Date.now() + 5).toISOString() };
    expect(transactionIdFor(again)).toBe(transactionIdFor(first));
    expect(provisionMessageId(again)).not.toBe(provisionMessageId(first));
    // The transaction names the hand-off that started it, whatever turn or resend it came in; an id from before
    // hand-offs were marked names none (its work is never left to another).
    expect(handOffMarkOf(provisionMessageId({ ...first, turn: 2, resentAt: again.requestedAt }))).toBe(handOffMark(first));
    expect(handOffMarkOf(`sync-add:${UNDER_WAY}:${user}:${observedAt}`)).toBeUndefined();
    await world.storage.users.upsertMany(UNDER_WAY, world.users.filter((u) => u.id === user).map(toDomainUser), new Date(observedAt), new Map([[user, { reason: 'sync-add' as const, observedAt, requestedAt: again.requestedAt }]]));
    // The first hand-off's message is being handled (its transaction running, started by it).
    const id = transactionIdFor(first);
    await world.storage.transactions.create({ id, customerId: UNDER_WAY, kind: 'provision', userId: user, trigger: provisionMessageId(first), startedAt: observedAt, outcome: 'running', steps: [] });
    await world.queue.send([again]);
    await world.idle();
    expect((await world.storage.transactions.get(UNDER_WAY, id))?.value).toMatchObject({ outcome: 'running', steps: [] });
    expect((await world.storage.users.get(UNDER_WAY, user))?.value.handoff).toMatchObject({ observedAt });
    // The first hand-off's message (delivered again once its lock expired) finishes the work and the mark.
    await world.queue.send([first]);
    await world.idle();
    expect((await world.storage.transactions.get(UNDER_WAY, id))?.value.outcome).not.toBe('running');
    expect(await pendingHandOffs(UNDER_WAY)).toBe(0);
  });

  it('holds as many hand-offs in the queue as its size says (SITESYNC_HANDOFF_WINDOW)', async () => {
    const SIZED = 'window-sized';
    const sent: string[] = [];
    // A queue that only records: nothing is delivered, so nothing gives its place back.
    const deps = { store: world.storage.syncState, queue: { send: async (messages: readonly { userId: string }[]) => void sent.push(...messages.map((m) => m.userId)) }, size: 4 };
    const users = Array.from({ length: 10 }, (_, i) => `sized-${i}`);
    await handOffToProvisioning(deps, SIZED, syncAdd(SIZED, users.slice(0, 3)));
    await handOffToProvisioning(deps, SIZED, syncAdd(SIZED, users.slice(3)));
    expect(sent).toEqual(users.slice(0, 4));
    const window = await readHandOffWindow(world.storage.syncState, SIZED);
    expect(Object.keys(window?.inFlight ?? {}).sort()).toEqual(users.slice(0, 4));
    await releaseHandOff(deps, syncAdd(SIZED, [users[1]])[0]);
    expect(sent).toEqual(users.slice(0, 5));
  });
});
