/**
 * The queue consumer: one accepted notification at a time, off the request path. A change is read back
 * from Graph (users are not a rich-notification resource) and reconciled with the pull sync's own code, which
 * hands adds and placement-relevant changes to flow-through; a deletion goes through the delete guard.
 *
 * Repeats and reordering are harmless. Every application reads the user's current state, and one reader
 * at a time holds a per-user lease, so an older read can never be written over a newer one. A notification
 * that arrives while another reader holds the lease is handed to it (it reads again before letting go); one
 * accepted before a finished read began is already covered by that read and is skipped.
 */
import { randomUUID } from 'node:crypto';
import { guardDeletes } from '../domain';
import { ConcurrencyError, ConflictError, type Versioned } from '../ports/storage';
import { USER_COUNT_KEY } from '../sync/service';
import { applyUserDeletions, applyUsers, handOffRules, refreshTeams, toDomainUser, type UserSyncDeps } from '../sync/users';
import type { PendingDeletion } from '../sync/ports';
import { nowOf, type NotificationDeps } from './deps';
import { notificationMessageSchema, type ChangeMessage, type LifecycleMessage } from './model';
import { ensureSubscription, renewSubscription } from './subscriptions';

/** A read begun this long after a notification was accepted is taken to show it (clocks of two instances). */
export const COVER_MARGIN_MS = 200;
/** Deletions by change notifications count together for the delete guard within this window. */
export const DELETION_WINDOW_MS = 60 * 60_000;
/** The run id under which deletions from change notifications are held for an operator. */
export const NOTIFICATION_RUN_ID = 'notifications';
/** A reader that died keeps the lease this long at most (its message comes back once its lock expires). */
const LEASE_MS = 60_000;
/** Reads by one lease holder before it lets the queue deliver again (changes kept arriving). */
const MAX_ROUNDS = 50;
const DELETIONS_KEY = 'notificationDeletions';
const cursorKey = (userId: string) => `notificationCursor:${userId}`;

interface Cursor {
  /** The reader holding the lease (its message id) and until when. */
  holder?: string;
  leaseUntil?: string;
  /** Start of the holder's current read. */
  claimedAt?: string;
  /** Start of the last read that finished: notifications accepted before it are covered. */
  appliedFrom?: string;
  /** Set by notifications handed to the holder: read again before letting go. */
  rerun?: boolean;
  /** A permanent deletion handed to the holder. */
  hardDelete?: boolean;
}

interface DeletionWindow {
  since: string;
  applied: number;
}

export type ChangeResult = 'added' | 'changed' | 'unchanged' | 'soft-deleted' | 'deleted' | 'held' | 'unknown';

export type ProcessOutcome =
  | { kind: 'invalid'; reason: string }
  | { kind: 'skipped'; reason: string }
  | { kind: 'covered' }
  | { kind: 'handed-off' }
  | { kind: 'applied'; change: ChangeResult; handedOff: number; rounds: number }
  | { kind: 'lifecycle'; event: string; action: string };

export async function processNotification(deps: NotificationDeps, body: unknown, delivery: { messageId?: string } = {}): Promise<ProcessOutcome> {
  const parsed = notificationMessageSchema.safeParse(body);
  if (!parsed.success) return { kind: 'invalid', reason: parsed.error.issues.map((i) => `${i.path.join('.') || '(body)'}: ${i.message}`).join('; ') };
  const message = parsed.data;
  const outcome = message.kind === 'lifecycle' ? await processLifecycle(deps, message) : await processChange(deps, message, delivery.messageId ?? randomUUID());
  const coalesced = outcome.kind === 'covered' || outcome.kind === 'handed-off' ? 1 : 0;
  deps.counters.add(message.subscriptionId, { processed: 1, coalesced });
  return outcome;
}

// ── Changes ──────────────────────────────────────────────────────────────────────────────────────

async function processChange(deps: NotificationDeps, message: ChangeMessage, holder: string): Promise<ProcessOutcome> {
  // Most repeats of a busy user are covered by a read already finished: the cursor alone says so, at one read.
  const cursor = await deps.storage.syncState.get<Cursor>(message.customerId, cursorKey(message.userId));
  if (covers(cursor?.value, message)) return { kind: 'covered' };
  if (!(await deps.storage.customers.get(message.customerId))) return { kind: 'skipped', reason: `customer ${message.customerId} no longer exists` };
  const entry = await enter(deps, message, holder, cursor);
  if (entry === 'covered') return { kind: 'covered' };
  if (entry === 'handed-off') return { kind: 'handed-off' };
  let round = entry;
  let handedOff = 0;
  let change: ChangeResult = 'unchanged';
  try {
    for (let rounds = 1; ; rounds++) {
      const result = await applyChange(deps, message, round.claimedAt, round.hardDelete);
      handedOff += result.handedOff;
      // A deletion in any round is what this notification did; later reads only confirm it.
      if (rounds === 1 || result.change !== 'unknown') change = result.change;
      const next = await leave(deps, message, holder, round, rounds < MAX_ROUNDS);
      if (next === 'done') return { kind: 'applied', change, handedOff, rounds };
      round = next;
    }
  } catch (error) {
    // Let the next delivery (this one's, or another's) read again, with what was handed to this one.
    await release(deps, message, holder, round.hardDelete).catch(() => undefined);
    throw error;
  }
}

/** A read that began after the notification was accepted (with the clocks' margin) already shows it. */
function covers(cursor: Cursor | undefined, message: ChangeMessage): boolean {
  // A permanent deletion is never covered by a read: a read cannot tell soft from hard.
  if (message.changeType === 'deleted' || !cursor?.appliedFrom) return false;
  return Date.parse(cursor.appliedFrom) >= Date.parse(message.receivedAt) + COVER_MARGIN_MS;
}

/**
 * Conditional writes of the cursor, retried on a lost race. `known` is the cursor as last read or written
 * by this reader: the first attempt writes against it without reading again (a stale one just loses the race).
 */
async function updateCursor<T>(
  deps: NotificationDeps,
  message: ChangeMessage,
  decide: (found: Versioned<Cursor> | undefined) => { next: Cursor; result: T } | { result: T; next?: undefined },
  known?: { cursor: Versioned<Cursor> | undefined },
): Promise<{ result: T; written?: Versioned<Cursor> }> {
  const store = deps.storage.syncState;
  for (let attempt = 0; attempt < 50; attempt++) {
    const found = attempt === 0 && known ? known.cursor : await store.get<Cursor>(message.customerId, cursorKey(message.userId));
    const step = decide(found);
    if (!step.next) return { result: step.result };
    try {
      const written = found ? await store.put(message.customerId, cursorKey(message.userId), step.next, found.etag) : await store.create(message.customerId, cursorKey(message.userId), step.next);
      return { result: step.result, written };
    } catch (error) {
      if (!(error instanceof ConcurrencyError || error instanceof ConflictError)) throw error;
    }
  }
  throw new ConcurrencyError(`the notification cursor of user ${message.userId} stayed contended; delivered again later`);
}

/** Claims strictly increase, so each read's start is unique for the user. */
function nextClaim(deps: NotificationDeps, cursor: Cursor): string {
  let at = nowOf(deps).getTime();
  if (cursor.claimedAt && Date.parse(cursor.claimedAt) >= at) at = Date.parse(cursor.claimedAt) + 1;
  return new Date(at).toISOString();
}

/** A read this reader holds the lease for, and the cursor as it wrote it. */
type Round = { claimedAt: string; hardDelete: boolean; cursor?: Versioned<Cursor> };

async function enter(deps: NotificationDeps, message: ChangeMessage, holder: string, read: Versioned<Cursor> | undefined): Promise<Round | 'covered' | 'handed-off'> {
  const deletion = message.changeType === 'deleted';
  const { result, written } = await updateCursor<Omit<Round, 'cursor'> | 'covered' | 'handed-off'>(
    deps,
    message,
    (found) => {
      const c = found?.value ?? {};
      if (covers(c, message)) return { result: 'covered' as const };
      const now = nowOf(deps).getTime();
      if (c.holder && c.holder !== holder && c.leaseUntil && Date.parse(c.leaseUntil) > now) {
        return { next: { ...c, rerun: true, hardDelete: c.hardDelete || deletion }, result: 'handed-off' as const };
      }
      const claimedAt = nextClaim(deps, c);
      const round = { claimedAt, hardDelete: deletion || c.hardDelete === true };
      return { next: { ...c, holder, leaseUntil: new Date(now + LEASE_MS).toISOString(), claimedAt, rerun: false, hardDelete: false }, result: round };
    },
    { cursor: read },
  );
  return typeof result === 'string' ? result : { ...result, cursor: written };
}

/** After a read: read again when something was handed over meanwhile, else let go and mark what is covered. */
async function leave(deps: NotificationDeps, message: ChangeMessage, holder: string, round: Round, mayContinue: boolean): Promise<Round | 'done'> {
  const { claimedAt } = round;
  const { result, written } = await updateCursor<Omit<Round, 'cursor'> | 'done'>(
    deps,
    message,
    (found) => {
      const c = found?.value ?? {};
      // The lease lapsed and another reader took it: what comes after is its to read.
      if (c.holder !== holder) return { result: 'done' as const };
      if (c.rerun) {
        if (!mayContinue) throw new ConcurrencyError(`user ${message.userId} kept changing over ${MAX_ROUNDS} reads; delivered again later`);
        const next = nextClaim(deps, c);
        return {
          // The lease kept other writers out, so the read just written covers what was accepted before it.
          next: { ...c, claimedAt: next, appliedFrom: claimedAt, leaseUntil: new Date(nowOf(deps).getTime() + LEASE_MS).toISOString(), rerun: false, hardDelete: false },
          result: { claimedAt: next, hardDelete: c.hardDelete === true },
        };
      }
      return { next: { claimedAt: c.claimedAt, appliedFrom: claimedAt }, result: 'done' as const };
    },
    // Nothing handed over since this reader's own write: letting go needs no read (a handed-over notification changed the ETag).
    round.cursor ? { cursor: round.cursor } : undefined,
  );
  return result === 'done' ? result : { ...result, cursor: written };
}

async function release(deps: NotificationDeps, message: ChangeMessage, holder: string, hardDelete: boolean): Promise<void> {
  await updateCursor<void>(deps, message, (found) => {
    const c = found?.value ?? {};
    if (c.holder !== holder) return { result: undefined };
    return { next: { claimedAt: c.claimedAt, appliedFrom: c.appliedFrom, rerun: true, hardDelete: c.hardDelete || hardDelete }, result: undefined };
  });
}

async function applyChange(deps: NotificationDeps, message: ChangeMessage, readAt: string, permanent: boolean): Promise<{ change: ChangeResult; handedOff: number }> {
  const sync: UserSyncDeps = { storage: deps.storage, pending: deps.pending, queue: deps.provisioning, ...(deps.events ? { events: deps.events } : {}), handOffWindow: deps.handOffWindow };
  const { customerId, userId } = message;
  if (permanent) return { change: await hardDelete(deps, sync, customerId, userId), handedOff: 0 };
  const microsoft = await deps.microsoft.forCustomer(customerId);
  // Notifications come in bursts (a bulk change, provisioning's own writes): reads asked for while one is on
  // its way go out together, fifteen users a request.
  const user = await microsoft.tenant.getUser(userId);
  if (!user) return { change: await softDelete(deps, sync, customerId, userId), handedOff: 0 };
  const rules = await handOffRules(deps.storage, customerId);
  const { counts, handedOff, added } = await applyUsers(sync, { customerId, runStartedAt: readAt, firstSync: false, writeUnchanged: false }, [toDomainUser(user)], rules);
  // Microsoft shows the user present: a deletion held for it is not one any more.
  const holds = await deps.pending.list(customerId, { entityType: 'users', held: true });
  await deps.pending.remove(customerId, holds.filter((h) => h.id === userId));
  // As in a delta round: a new user's Teams side is read once.
  if (added.length > 0) await refreshTeams(deps.storage, microsoft, customerId, added);
  return { change: counts.added > 0 ? 'added' : counts.changed > 0 ? 'changed' : 'unchanged', handedOff };
}

async function heldUser(deps: NotificationDeps, customerId: string, userId: string): Promise<PendingDeletion | undefined> {
  return (await deps.pending.list(customerId, { entityType: 'users', held: true })).find((d) => d.id === userId);
}

/** `updated` on a user Graph no longer returns: soft-deleted, kept restorable with its number. */
async function softDelete(deps: NotificationDeps, sync: UserSyncDeps, customerId: string, userId: string): Promise<'soft-deleted' | 'unknown' | 'unchanged' | 'held'> {
  const stored = await deps.storage.users.get(customerId, userId);
  if (!stored) return 'unknown';
  if (stored.value.removed?.kind === 'soft') return 'unchanged';
  // A held user is left as it is until an operator allows or discards its hold.
  if (await heldUser(deps, customerId, userId)) return 'held';
  const rules = await handOffRules(deps.storage, customerId);
  await applyUserDeletions(sync, customerId, [{ entityType: 'users', id: userId, removal: 'soft', runId: NOTIFICATION_RUN_ID, held: false }], rules.settings.numberCoolingDays);
  return 'soft-deleted';
}

/**
 * `deleted`: a pending deletion that the delete guard weighs together with the other deletions notified
 * within the hour and those it holds: applied within the customer's threshold, held with the reason beyond it.
 */
async function hardDelete(deps: NotificationDeps, sync: UserSyncDeps, customerId: string, userId: string): Promise<'deleted' | 'held' | 'unknown'> {
  if (!(await deps.storage.users.get(customerId, userId))) return 'unknown';
  // Already held (by a run or an earlier notification): it stays held, for an operator's allow, now known gone for good.
  const hold = await heldUser(deps, customerId, userId);
  if (hold) {
    if (hold.removal !== 'hard') await deps.pending.add(customerId, [{ ...hold, removal: 'hard' }]);
    return 'held';
  }
  const rules = await handOffRules(deps.storage, customerId);
  const total = (await deps.storage.syncState.get<number>(customerId, USER_COUNT_KEY))?.value ?? 0;
  const deletion: PendingDeletion = { entityType: 'users', id: userId, removal: 'hard', runId: NOTIFICATION_RUN_ID, held: false };
  for (let attempt = 0; attempt < 20; attempt++) {
    const now = nowOf(deps);
    const stored = await deps.storage.syncState.get<DeletionWindow>(customerId, DELETIONS_KEY);
    const window = stored && now.getTime() - Date.parse(stored.value.since) < DELETION_WINDOW_MS ? stored.value : { since: now.toISOString(), applied: 0 };
    const held = (await deps.pending.list(customerId, { runId: NOTIFICATION_RUN_ID, entityType: 'users', held: true })).filter((d) => d.id !== userId).length;
    const decision = guardDeletes('users', window.applied + held + 1, total, rules.settings.deleteThresholds.users);
    if (!decision.allow) {
      await deps.pending.add(customerId, [{ ...deletion, held: true, heldReason: `${decision.reason} (deleted in Microsoft, as notified within the hour)`, heldAt: now.toISOString() }]);
      return 'held';
    }
    try {
      // The slot is taken before the deletion, so concurrent deletions cannot all slip under the threshold.
      const next: DeletionWindow = { since: window.since, applied: window.applied + 1 };
      if (stored) await deps.storage.syncState.put(customerId, DELETIONS_KEY, next, stored.etag);
      else await deps.storage.syncState.create(customerId, DELETIONS_KEY, next);
    } catch (error) {
      if (error instanceof ConcurrencyError || error instanceof ConflictError) continue;
      throw error;
    }
    await applyUserDeletions(sync, customerId, [deletion], rules.settings.numberCoolingDays);
    return 'deleted';
  }
  throw new ConcurrencyError(`the deletion window of customer ${customerId} is contended; delivered again later`);
}

// ── Lifecycle ────────────────────────────────────────────────────────────────────────────────────

async function processLifecycle(deps: NotificationDeps, message: LifecycleMessage): Promise<ProcessOutcome> {
  deps.counters.add(message.subscriptionId, {}, { lifecycleEvent: { event: message.event, at: message.receivedAt } });
  if (!(await deps.storage.customers.get(message.customerId))) return { kind: 'skipped', reason: `customer ${message.customerId} no longer exists` };
  const done = (action: string): ProcessOutcome => ({ kind: 'lifecycle', event: message.event, action });
  switch (message.event) {
    case 'reauthorizationRequired': {
      // Renewing also reauthorizes, and moves the expiry out as a bonus.
      const record = await deps.subscriptions.store.get(message.subscriptionId);
      if (!record) return done(`no longer held; ${(await ensureSubscription(deps, message.customerId)).action}`);
      const { tenant } = await deps.microsoft.forCustomer(message.customerId);
      return done((await renewSubscription(deps, record, tenant)).action);
    }
    case 'subscriptionRemoved': {
      // Recreate (ensure finds it gone from Graph), then catch up on what was missed meanwhile.
      const ensured = await ensureSubscription(deps, message.customerId);
      return done(`${ensured.action}; ${await deltaSync(deps, message.customerId)}`);
    }
    case 'missed':
      return done(await deltaSync(deps, message.customerId));
  }
}

async function deltaSync(deps: NotificationDeps, customerId: string): Promise<string> {
  if (!deps.startDeltaSync) throw new Error('no way to start a delta sync is wired');
  return (await deps.startDeltaSync(customerId)) ? 'delta sync started' : 'a sync is already running';
}
