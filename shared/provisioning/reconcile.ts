/**
 * The provisioning reconciler, independent of any message: it finds work that should be moving and is not,
 * and sends it again. Every step is idempotent, so a resend of work that was merely slow costs a repeat
 * and harms nothing; a resend of work that was lost (a message gone with a broker, a host killed between
 * writing a user and sending its message) finishes it.
 *
 * - Users handed off by a sync (their row carries the hand-off) longer ago than the bound, unless the
 *   hand-off still waits its turn in its customer's window (handOffWindow.ts); for one the window sent, the
 *   bound counts from the send.
 * - Places in a customer's window held longer than the bound: taken back, and what then fits is sent.
 * - Work indexed as open (Quick User, overbuild, notifications, staging re-checks, replays) longer ago
 *   than the bound.
 *
 * For each: work waiting for Teams to finish a number assignment is the number check's (a check is sent
 * again when one is overdue). A finished transaction means only the mark was left behind (a kill between the two writes):
 * it is cleared. Work whose message was dead-lettered is finished that way too (its last delivery left the
 * user needing attention with the reason): it is counted, and never sent again from here. A transaction still running with a step within the bound is being worked on. Otherwise,
 * unless the queue may still hold its message, it is sent again under a new message id.
 */
import { ConcurrencyError, type Storage } from '../ports/storage';
import { isSyncHandOff, openWorkScope, type OpenWork, type ProvisionUserMessage } from './messages';
import type { ProvisioningScheduler } from './ports';
import { numberCheckNow } from './numberChecks';
import { readHandOffWindow, refillHandOffWindow, removeUnnamedChunks, usersWaiting } from './handOffWindow';
import { DEAD_LETTERED_STEP, transactionIdFor } from './provisionUser';

/**
 * Work older than this is looked at: longer than a message may legitimately wait locked (the host renews a
 * lock for up to 5 minutes) plus the longest retry delay (15 minutes).
 */
export const RECONCILE_AFTER_MS = 20 * 60_000;
/** Time between a hand-off being requested and its message reaching the queue, allowed for. */
const SEND_ALLOWANCE_MS = 60_000;

export interface ReconcileDeps {
  storage: Storage;
  queue: Pick<ProvisioningScheduler, 'send' | 'oldestQueuedAt'>;
  now?: () => Date;
  /** Hand-offs of a customer in the provisioning queue at once (default HANDOFF_WINDOW). */
  handOffWindow?: number;
}

export interface ReconcileOptions {
  /** Look at work requested longer ago than this (default RECONCILE_AFTER_MS). */
  staleAfterMs?: number;
  /** Allowance between a request and its message's enqueue time (default 60 s). */
  sendAllowanceMs?: number;
}

export interface ReconcileReport {
  /** Causes sent again. */
  resent: Array<{ customerId: string; userId: string; reason: string; transactionId: string }>;
  /** Marks and index entries of finished work, cleared. */
  settled: number;
  /**
   * Of those, work whose message went to the dead-letter queue: its user needs attention with the reason
   * (a replay of the message continues it); never sent again from here.
   */
  deadLettered: number;
  /** Running, with a step within the bound, or waiting for Teams to finish a number assignment. */
  inProgress: number;
  /** Number assignments whose check is overdue (its message lost): a check of the customer sent again. */
  checksResent: number;
  /** Possibly still waiting in the queue. */
  maybeQueued: number;
  /** Sync hand-offs waiting their turn in their customer's backlog (docs: the hand-off window). */
  waiting: number;
  /** Places in customers' hand-off windows held past the bound, taken back. */
  placesTakenBack: number;
  /** Backlog chunks older than the bound that no window names (a kill between two writes), removed. */
  chunksRemoved: number;
}

export async function reconcileProvisioning(deps: ReconcileDeps, options: ReconcileOptions = {}): Promise<ReconcileReport> {
  const now = deps.now?.() ?? new Date();
  const cutoff = now.getTime() - (options.staleAfterMs ?? RECONCILE_AFTER_MS);
  const allowance = options.sendAllowanceMs ?? SEND_ALLOWANCE_MS;
  const report: ReconcileReport = { resent: [], settled: 0, deadLettered: 0, inProgress: 0, checksResent: 0, maybeQueued: 0, waiting: 0, placesTakenBack: 0, chunksRemoved: 0 };
  const storage = deps.storage;

  // The queue is first in, first out by sequence number: once its oldest message was enqueued after a
  // request (and its allowance), that request's message is no longer in it. Read once, when first needed.
  let oldest: { at?: Date } | undefined;
  const mayBeQueued = async (requestedAt: string): Promise<boolean> => {
    oldest ??= { at: await deps.queue.oldestQueuedAt() };
    return oldest.at !== undefined && oldest.at.getTime() <= Date.parse(requestedAt) + allowance;
  };

  const consider = async (message: ProvisionUserMessage, transactionId: string, requestedAt: string): Promise<void> => {
    const transaction = await storage.transactions.get(message.customerId, transactionId);
    if (transaction && transaction.value.outcome !== 'running') {
      await settle(storage, message, transactionId);
      report.settled++;
      if (transaction.value.steps.at(-1)?.name === DEAD_LETTERED_STEP) report.deadLettered++;
      return;
    }
    // Waiting for Teams to finish the user's number assignment: the number check finishes the work (sent
    // again when overdue). An assignment without the pass's outcome belongs to a pass that stopped: below.
    const pending = transaction ? await storage.pendingNumbers.get(message.customerId, message.userId) : undefined;
    if (pending && pending.value.transactionId === transactionId && pending.value.then) {
      if (Date.parse(pending.value.dueAt) < cutoff) {
        await deps.queue.send([numberCheckNow(message.customerId, message.userId, now)]);
        report.checksResent++;
      } else report.inProgress++;
      return;
    }
    if (transaction) {
      const lastStep = Math.max(Date.parse(transaction.value.startedAt), ...transaction.value.steps.map((s) => Date.parse(s.at)));
      if (lastStep >= cutoff) {
        report.inProgress++;
        return;
      }
    }
    if (await mayBeQueued(requestedAt)) {
      report.maybeQueued++;
      return;
    }
    await deps.queue.send([{ ...message, attempt: undefined, resentAt: now.toISOString() }]);
    report.resent.push({ customerId: message.customerId, userId: message.userId, reason: message.reason, transactionId });
  };

  for (const { value: customer } of await storage.customers.list()) {
    const window = await readHandOffWindow(storage.syncState, customer.id);
    // Read once, when a user handed off long ago was not sent yet.
    let backlog: Set<string> | undefined;
    for await (const { value: user } of storage.users.pendingHandOffs(customer.id, new Date(cutoff))) {
      const h = user.handoff;
      if (!h) continue;
      const sentAt = window?.inFlight[user.userId];
      // Still in the customer's backlog: its message is sent when a place in the window frees. (One in no
      // chunk the window names was handed off by a sync killed before its window write: sent again below.)
      if (!sentAt && window && window.backlog.length > 0 && (backlog ??= await usersWaiting(storage.syncState, customer.id, window)).has(user.userId)) {
        report.waiting++;
        continue;
      }
      // Its message went out when the window sent it, not when the sync handed it off.
      const since = sentAt && sentAt > h.requestedAt ? sentAt : h.requestedAt;
      if (Date.parse(since) >= cutoff) {
        report.maybeQueued++;
        continue;
      }
      const message: ProvisionUserMessage = { customerId: customer.id, userId: user.userId, reason: h.reason, observedAt: h.observedAt, requestedAt: h.requestedAt };
      await consider(message, transactionIdFor(message), since);
    }
    for (const { value: open } of await storage.syncState.list<OpenWork>(openWorkScope(customer.id))) {
      if (Date.parse(open.since) >= cutoff) continue;
      await consider(open.message, open.transactionId, open.since);
    }
    // Places held past the bound were looked at above (sent again if lost): the window takes them back and
    // sends what then fits, so a window whose messages or releases were lost moves again.
    if (window) report.placesTakenBack += await refillHandOffWindow({ store: storage.syncState, queue: deps.queue, now: () => now, size: deps.handOffWindow }, customer.id, new Date(cutoff));
    report.chunksRemoved += await removeUnnamedChunks(storage.syncState, customer.id, new Date(cutoff), window);
  }
  return report;
}

/** Clears what marks finished work as open. */
async function settle(storage: Storage, message: ProvisionUserMessage, transactionId: string): Promise<void> {
  if (!isSyncHandOff(message)) return storage.syncState.delete(openWorkScope(message.customerId), transactionId);
  for (let attempt = 0; attempt < 10; attempt++) {
    const current = await storage.users.get(message.customerId, message.userId);
    const h = current?.value.handoff;
    if (!current || !h || h.reason !== message.reason || h.observedAt !== message.observedAt) return;
    const { handoff: _done, ...rest } = current.value;
    try {
      await storage.users.update(rest, current.etag);
      return;
    } catch (error) {
      // Changed meanwhile (a sync, provisioning): read again.
      if (!(error instanceof ConcurrencyError)) throw error;
    }
  }
}
