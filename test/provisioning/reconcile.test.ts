/**
 * The reconciler, on the local stack: work whose message was lost (handed off by a sync that died before
 * sending, a Quick User whose message never left) is found and finished; finished work leaves no mark;
 * work that may still be queued or is being worked on is left alone; work whose message was dead-lettered
 * leaves its user needing attention with the reason, is counted, and is never sent again; a number
 * assignment finishing clears its hand-off; an assignment whose pass never finished finishes no user.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newTransactionId, type TransactionRecord } from '../../shared/domain';
import { readSettings } from '../../shared/config/settings';
import { microsoftConnector } from '../../shared/app/provisioning';
import { DEAD_LETTERED_STEP, MAX_TURNS, handleProvisioningMessage, waitsItsTurn, numberCheckMessage, openWorkScope, provisionMessageId, reconcileProvisioning, transactionIdFor, type OpenWork, type ProvisionUserMessage } from '../../shared/provisioning';
import { customerSummary } from '../../shared/provisioning/summary';
import { OFFICE_SITES, seedCustomer, startWorld, toDomainUser, type World } from './world';

const CUSTOMER = 'contoso-rc';
let world: World;

beforeAll(async () => {
  world = await startWorld({ users: 60, seed: 'reconcile' });
  await seedCustomer(world, { customerId: CUSTOMER, settings: { moveAndFlowThrough: 'yes', addSync: 'yes', updateSync: 'yes', addSyncCriteriaId: 'ft' } });
});
afterAll(async () => {
  await world?.stop();
});

const deps = () => ({ storage: world.storage, queue: world.queue });
const members = () => world.users.filter((u) => u.userType === 'Member' && u.accountEnabled);
/** Members at an office with a site: flow-through places them. */
const placeable = () => members().filter((u) => OFFICE_SITES.some((s) => s.city === u.city));

async function pendingCount(): Promise<number> {
  let n = 0;
  for await (const _ of world.storage.users.pendingHandOffs(CUSTOMER, new Date(Date.now() + 60_000))) n++;
  return n;
}

describe('the provisioning reconciler', () => {
  it('is a timer trigger of the function app', () => {
    const fn = world.stack.host.registry.get('provisioningReconciler');
    expect(fn?.trigger).toMatchObject({ type: 'timerTrigger', schedule: '0 */5 * * * *' });
  });

  it('sends again the hand-offs of a sync that died between writing its users and sending their messages', async () => {
    const lost = members().slice(0, 8);
    const requestedAt = new Date(Date.now() - 60_000).toISOString();
    // What a page activity killed after its row writes leaves: users marked handed off, no message sent.
    await world.storage.users.upsertMany(CUSTOMER, lost.map(toDomainUser), new Date(requestedAt), new Map(lost.map((u) => [u.id, { reason: 'sync-add' as const, observedAt: requestedAt, requestedAt }])));
    expect(await pendingCount()).toBe(lost.length);
    // Within the bound nothing happens: the message may be on its way.
    expect((await reconcileProvisioning(deps())).resent).toEqual([]);

    const report = await reconcileProvisioning(deps(), { staleAfterMs: 10_000, sendAllowanceMs: 0 });
    expect(report.resent.map((r) => r.userId).sort()).toEqual(lost.map((u) => u.id).sort());
    await world.idle();
    for (const u of lost) {
      const stored = (await world.storage.users.get(CUSTOMER, u.id))!.value;
      expect(stored.handoff, u.id).toBeUndefined();
      expect(stored.state.kind === 'at-customer' ? stored.state.reason : 'placed', u.id).toBeTruthy();
      expect((await world.storage.transactions.get(CUSTOMER, transactionIdFor({ customerId: CUSTOMER, userId: u.id, reason: 'sync-add', observedAt: requestedAt, requestedAt })))?.value.outcome).not.toBe('running');
    }
    // Nothing left to do: a second pass sends nothing.
    const again = await reconcileProvisioning(deps(), { staleAfterMs: 10_000, sendAllowanceMs: 0 });
    expect(again.resent).toEqual([]);
    expect(await pendingCount()).toBe(0);
  });

  it('clears the mark of work that finished, and leaves work that may still be queued', async () => {
    const [done, waiting] = members().slice(10, 12);
    const at = new Date(Date.now() - 60_000).toISOString();
    const message: ProvisionUserMessage = { customerId: CUSTOMER, userId: done.id, reason: 'sync-add', observedAt: at, requestedAt: at };
    const finished: TransactionRecord = { id: transactionIdFor(message), customerId: CUSTOMER, kind: 'provision', userId: done.id, startedAt: at, finishedAt: at, outcome: 'succeeded', steps: [] };
    await world.storage.transactions.create(finished);
    await world.storage.users.upsertMany(CUSTOMER, [toDomainUser(done)], new Date(at), new Map([[done.id, { reason: 'sync-add' as const, observedAt: at, requestedAt: at }]]));
    const settled = await reconcileProvisioning(deps(), { staleAfterMs: 10_000, sendAllowanceMs: 0 });
    expect(settled).toMatchObject({ resent: [], settled: 1 });
    expect((await world.storage.users.get(CUSTOMER, done.id))!.value.handoff).toBeUndefined();

    // A queue whose oldest message is older than the hand-off may still hold its message.
    await world.storage.users.upsertMany(CUSTOMER, [toDomainUser(waiting)], new Date(at), new Map([[waiting.id, { reason: 'sync-add' as const, observedAt: at, requestedAt: at }]]));
    const busyQueue = { send: world.queue.send.bind(world.queue), oldestQueuedAt: async () => new Date(Date.parse(at) - 1_000) };
    const left = await reconcileProvisioning({ storage: world.storage, queue: busyQueue }, { staleAfterMs: 10_000, sendAllowanceMs: 0 });
    expect(left).toMatchObject({ resent: [], maybeQueued: 1 });
    const sent = await reconcileProvisioning(deps(), { staleAfterMs: 10_000, sendAllowanceMs: 0 });
    expect(sent.resent.map((r) => r.userId)).toEqual([waiting.id]);
    await world.idle();
    expect((await world.storage.users.get(CUSTOMER, waiting.id))!.value.handoff).toBeUndefined();
  });

  it('sends again a Quick User whose transaction is running past the bound with no message', async () => {
    const user = members()[20];
    const at = new Date(Date.now() - 60_000);
    const transactionId = newTransactionId(at, 'lost-quick-user');
    const message: ProvisionUserMessage = { customerId: CUSTOMER, userId: user.id, reason: 'quick-user', transactionId, siteId: 'sea', quickAddGroupId: 'standard', line: { kind: 'none' }, requestedAt: at.toISOString() };
    // What a host killed between accepting a Quick User and sending its message leaves.
    await world.storage.syncState.put<OpenWork>(openWorkScope(CUSTOMER), transactionId, { transactionId, message, since: at.toISOString() });
    await world.storage.transactions.create({ id: transactionId, customerId: CUSTOMER, kind: 'quick-user', userId: user.id, trigger: 'quick-user', startedAt: at.toISOString(), outcome: 'running', steps: [{ name: 'accepted', result: 'ok', at: at.toISOString() }] });
    const report = await reconcileProvisioning(deps(), { staleAfterMs: 10_000, sendAllowanceMs: 0 });
    expect(report.resent).toEqual([{ customerId: CUSTOMER, userId: user.id, reason: 'quick-user', transactionId }]);
    await world.idle();
    const done = (await world.storage.transactions.get(CUSTOMER, transactionId))!.value;
    expect(done.outcome).not.toBe('running');
    expect(done.steps.map((s) => s.name)).toContain('move');
    expect((await world.storage.users.get(CUSTOMER, user.id))!.value.state).toMatchObject({ siteId: 'sea' });
    expect(await world.storage.syncState.list(openWorkScope(CUSTOMER))).toEqual([]);
  });

  it('leaves a running transaction alone while it moves', async () => {
    const user = members()[25];
    const at = new Date(Date.now() - 60_000);
    const transactionId = newTransactionId(at, 'slow-quick-user');
    const message: ProvisionUserMessage = { customerId: CUSTOMER, userId: user.id, reason: 'quick-user', transactionId, siteId: 'sea', quickAddGroupId: 'standard', requestedAt: at.toISOString() };
    await world.storage.syncState.put<OpenWork>(openWorkScope(CUSTOMER), transactionId, { transactionId, message, since: at.toISOString() });
    await world.storage.transactions.create({ id: transactionId, customerId: CUSTOMER, kind: 'quick-user', userId: user.id, startedAt: at.toISOString(), outcome: 'running', steps: [{ name: 'retry', result: 'skipped', at: new Date().toISOString() }] });
    const report = await reconcileProvisioning(deps(), { staleAfterMs: 10_000, sendAllowanceMs: 0 });
    expect(report).toMatchObject({ resent: [], inProgress: 1 });
    await world.storage.syncState.delete(openWorkScope(CUSTOMER), transactionId);
  });

  it('finishes a voice user when its number assignment is checked, and clears its hand-off mark then', async () => {
    // A salesperson (the voice profile) licensed for Teams Phone already, without a number yet.
    const user = placeable().find((u) => {
      const teams = world.stack.graph!.control.teamsUser(world.tenantId, u.id);
      return u.department === 'Sales' && teams?.featureTypes.includes('PhoneSystem') && teams.telephoneNumbers.length === 0;
    })!;
    const at = new Date().toISOString();
    await world.storage.users.upsertMany(CUSTOMER, [toDomainUser(user)], new Date(at), new Map([[user.id, { reason: 'sync-add' as const, observedAt: at, requestedAt: at }]]));
    await world.queue.send([{ customerId: CUSTOMER, userId: user.id, reason: 'sync-add', observedAt: at, requestedAt: at }]);
    await world.idle();
    const stored = (await world.storage.users.get(CUSTOMER, user.id))!.value;
    expect(stored.state.kind, JSON.stringify(stored.state)).toBe('provisioned');
    expect(stored.number).toBeDefined();
    expect(stored.handoff).toBeUndefined();
    expect(await world.storage.pendingNumbers.get(CUSTOMER, user.id)).toBeUndefined();
  });

  it('finishes no user from an assignment whose pass never finished (a crash between sending it and storing the outcome)', async () => {
    const user = members()[30];
    const before = (await world.storage.users.get(CUSTOMER, user.id))!.value;
    const now = new Date();
    const message: ProvisionUserMessage = { customerId: CUSTOMER, userId: user.id, reason: 'sync-add', observedAt: now.toISOString(), requestedAt: now.toISOString() };
    // The intent as stored before the request goes out, with no outcome of the pass yet.
    await world.storage.pendingNumbers.upsert({
      customerId: CUSTOMER, userId: user.id, number: '+14255550199', lineType: 'DirectRouting', siteId: 'sea', transactionId: transactionIdFor(message),
      startedAt: now.toISOString(), dueAt: now.toISOString(), sends: 1, checks: 0, skip: [], cause: { ...message },
    });
    await world.queue.send([numberCheckMessage(CUSTOMER, user.id, now)]);
    await waitUntil(async () => ((await world.storage.pendingNumbers.get(CUSTOMER, user.id))?.value.checks ?? 0) > 0);
    expect((await world.storage.users.get(CUSTOMER, user.id))!.value.state).toEqual(before.state);
    await world.storage.pendingNumbers.delete(CUSTOMER, user.id);
  });

  it('leaves work waiting for Teams to finish a number assignment to the number check, and sends an overdue check again', async () => {
    const user = members()[40];
    const at = new Date(Date.now() - 60_000).toISOString();
    const message: ProvisionUserMessage = { customerId: CUSTOMER, userId: user.id, reason: 'sync-add', observedAt: at, requestedAt: at };
    const transactionId = transactionIdFor(message);
    await world.storage.users.upsertMany(CUSTOMER, [toDomainUser(user)], new Date(at), new Map([[user.id, { reason: 'sync-add' as const, observedAt: at, requestedAt: at }]]));
    await world.storage.transactions.create({ id: transactionId, customerId: CUSTOMER, kind: 'provision', userId: user.id, startedAt: at, outcome: 'running', steps: [{ name: 'number-request', result: 'ok', at }] });
    const pending = {
      customerId: CUSTOMER, userId: user.id, number: '+14255550198', lineType: 'DirectRouting' as const, siteId: 'sea', transactionId,
      startedAt: at, dueAt: new Date(Date.now() + 60_000).toISOString(), sends: 1, checks: 0, skip: [], then: { kind: 'provisioned' as const, siteId: 'sea', profileId: 'voice' }, cause: { ...message },
    };
    await world.storage.pendingNumbers.upsert(pending);
    const waiting = await reconcileProvisioning(deps(), { staleAfterMs: 10_000, sendAllowanceMs: 0 });
    expect(waiting.resent.filter((r) => r.userId === user.id)).toEqual([]);
    expect(waiting).toMatchObject({ inProgress: 1, checksResent: 0 });

    // The check's message was lost: its assignment is overdue.
    await world.storage.pendingNumbers.upsert({ ...pending, dueAt: at });
    const overdue = await reconcileProvisioning({ storage: world.storage, queue: { send: async () => undefined, oldestQueuedAt: async () => undefined } }, { staleAfterMs: 10_000, sendAllowanceMs: 0 });
    expect(overdue.resent.filter((r) => r.userId === user.id)).toEqual([]);
    expect(overdue.checksResent).toBe(1);
    await world.storage.pendingNumbers.delete(CUSTOMER, user.id);
    await world.storage.transactions.appendSteps(CUSTOMER, transactionId, [], 'succeeded', new Date());
    await reconcileProvisioning(deps(), { staleAfterMs: 10_000, sendAllowanceMs: 0 });
  });

  it('reads back a transaction begun while its user waited for Teams to finish a number (a repeat, a later sync)', async () => {
    const at = new Date().toISOString();
    const from = { state: { kind: 'provisioning' as const, siteId: 'sea', profileId: 'voice', since: at, waitingFor: 'Teams to finish assigning +14255550197' }, number: '+14255550197' };
    const id = newTransactionId(new Date(), 'begun-while-provisioning');
    await world.storage.transactions.create({ id, customerId: CUSTOMER, kind: 'provision', userId: members()[41].id, startedAt: at, outcome: 'running', steps: [], from });
    expect((await world.storage.transactions.get(CUSTOMER, id))!.value.from).toEqual(from);
    await world.storage.transactions.appendSteps(CUSTOMER, id, [], 'succeeded', new Date());
  });

  it('a hand-off whose message fails on its last delivery leaves the user needing attention, counted, and is not sent again; a replay continues it', async () => {
    const user = placeable().filter((u) => u.department !== 'Sales').at(-1)!;
    const at = new Date(Date.now() - 60_000).toISOString();
    const message: ProvisionUserMessage = { customerId: CUSTOMER, userId: user.id, reason: 'sync-add', observedAt: at, requestedAt: at };
    await world.storage.users.upsertMany(CUSTOMER, [toDomainUser(user)], new Date(at), new Map([[user.id, { reason: 'sync-add' as const, observedAt: at, requestedAt: at }]]));
    const broken = {
      storage: world.storage,
      queue: world.queue,
      microsoft: () => {
        throw new Error('the tenant answered something no release of Graph sends');
      },
    };
    const delivery = { messageId: provisionMessageId(message), maxDeliveryCount: 10 };
    // Failures before the last delivery leave it to Service Bus to deliver again.
    await expect(handleProvisioningMessage(broken, message, { ...delivery, deliveryCount: 9 })).rejects.toThrow('no release of Graph');
    expect((await world.storage.users.get(CUSTOMER, user.id))!.value.handoff).toBeDefined();
    await expect(handleProvisioningMessage(broken, message, { ...delivery, deliveryCount: 10 })).rejects.toThrow('no release of Graph');

    const stored = (await world.storage.users.get(CUSTOMER, user.id))!.value;
    expect(stored.state.kind).toBe('needs-attention');
    expect(stored.state.kind === 'needs-attention' && stored.state.reason).toMatch(/dead-lettered: Error: the tenant answered/);
    expect(stored.handoff).toBeUndefined();
    const transaction = (await world.storage.transactions.get(CUSTOMER, transactionIdFor(message)))!.value;
    expect(transaction.outcome).toBe('failed');
    expect(transaction.steps.at(-1)?.name).toBe(DEAD_LETTERED_STEP);
    const report = await reconcileProvisioning(deps(), { staleAfterMs: 10_000, sendAllowanceMs: 0 });
    expect(report.resent.filter((r) => r.userId === user.id)).toEqual([]);
    expect((await customerSummary(world.storage, CUSTOMER)).provisioning.deadLettered).toBe(1);

    // The operator replays the dead-lettered message once the cause is fixed: the same work goes on.
    await world.queue.send([message]);
    await world.idle();
    const replayed = (await world.storage.transactions.get(CUSTOMER, transactionIdFor(message)))!.value;
    expect(replayed.steps.at(-1)?.name).not.toBe(DEAD_LETTERED_STEP);
    expect((await world.storage.users.get(CUSTOMER, user.id))!.value.state.kind).not.toBe('needs-attention');
  });
});

async function waitUntil(condition: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('a later turn', () => {
  it("is for bulk causes only: an operator's own request keeps its place", () => {
    for (const reason of ['sync-add', 'sync-update', 'notification', 'staging-recheck', 'leaver'] as const) expect(waitsItsTurn({ reason }), reason).toBe(true);
    for (const reason of ['quick-user', 'overbuild', 'move', 'offboard', 'restore', 'replay', 'number-check'] as const) expect(waitsItsTurn({ reason }), reason).toBe(false);
    expect(waitsItsTurn({ reason: 'sync-add', turn: MAX_TURNS })).toBe(false);
  });

  it('sends a hand-off whose tenant is spoken for back to the queue untouched; its turn provisions it under the same transaction', async () => {
    const user = placeable().filter((u) => u.department !== 'Sales').at(-2)!;
    const at = new Date(Date.now() - 60_000).toISOString();
    const message: ProvisionUserMessage = { customerId: CUSTOMER, userId: user.id, reason: 'sync-add', observedAt: at, requestedAt: at };
    await world.storage.users.upsertMany(CUSTOMER, [toDomainUser(user)], new Date(at), new Map([[user.id, { reason: 'sync-add' as const, observedAt: at, requestedAt: at }]]));
    const connector = microsoftConnector(readSettings(world.stack.settings));
    const turn = new Date(Date.now() + 500);
    let asked = 0;
    const spokenFor = { ...deps(), microsoft: (customer: Parameters<typeof connector>[0]) => ({ ...connector(customer), turnAt: (turnsTaken: number) => (asked++, turnsTaken === 0 ? turn : undefined) }) };

    const result = await handleProvisioningMessage(spokenFor, message, { messageId: provisionMessageId(message), deliveryCount: 1 });
    expect(result).toEqual({ kind: 'later-turn', turn: 1, at: turn.toISOString() });
    // Nothing of the work began: no transaction, the user still carries its hand-off.
    expect(await world.storage.transactions.get(CUSTOMER, transactionIdFor(message))).toBeUndefined();
    expect((await world.storage.users.get(CUSTOMER, user.id))!.value.handoff).toBeDefined();
    // A repeat of the delivery sends the same later message: Service Bus drops it as a duplicate.
    await handleProvisioningMessage(spokenFor, message, { messageId: provisionMessageId(message), deliveryCount: 2 });

    await world.idle();
    const transaction = (await world.storage.transactions.get(CUSTOMER, transactionIdFor(message)))!.value;
    expect(transaction.outcome).not.toBe('running');
    expect(transaction.trigger).toBe(provisionMessageId({ ...message, turn: 1 }));
    expect(transaction.trigger).toMatch(/~t1$/);
    expect(new Date(transaction.startedAt).getTime()).toBeGreaterThanOrEqual(turn.getTime());
    expect((await world.storage.users.get(CUSTOMER, user.id))!.value.handoff).toBeUndefined();

    // Sent back as often as a turn allows, a cause goes ahead whatever the estimate says.
    const other = placeable().filter((u) => u.department !== 'Sales').at(-3)!;
    await world.storage.users.upsertMany(CUSTOMER, [toDomainUser(other)], new Date(at), new Map([[other.id, { reason: 'sync-add' as const, observedAt: at, requestedAt: at }]]));
    const last = { ...message, userId: other.id, turn: MAX_TURNS };
    asked = 0;
    expect((await handleProvisioningMessage(spokenFor, last, { messageId: provisionMessageId(last), deliveryCount: 1 })).kind).not.toBe('later-turn');
    expect(asked).toBe(0);
  });
});
