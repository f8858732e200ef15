/**
 * Number assignments Microsoft finishes on its own. Provisioning sends the assignment and moves on; the
 * user waits in `provisioning` while its pending assignment is stored. A scheduled `number-check` message
 * (one per customer per moment, however many users fell due then) reads every due assignment's outcome in
 * a few $batch requests and finishes each user: the number given, or — held by someone else in Microsoft —
 * recorded as theirs and the user's provisioning run again for the next one, or refused and given back,
 * the user needing attention without its line. A write whose reply was lost is sent again only once the
 * number shows it never took effect.
 */
import { transactionOutcome, type TransactionStep, type UserRecord, type UserState } from '../domain';
import { GraphThrottledError, GraphTransientError, type MicrosoftTenant, type NumberAssignment, type NumberOperation, type NumberOperationOutcome } from '../ports/microsoft';
import { rememberAssignedNumbers } from './tenantNumbers';
import { ConcurrencyError, NotFoundError, type NumberScope, type PendingNumberAssignment, type Versioned } from '../ports/storage';
import { customerContext } from './customerContext';
import { carriesHandOff, isSyncHandOff, openWorkScope, provisionUserMessageSchema, type ProvisionUserMessage } from './messages';
import { toMicrosoftNumberType } from './microsoftState';
import type { ProvisioningDeps } from './ports';
import { updateUser } from './userRecords';
import { recordHeldByOther } from './numberInventory';
import { publishChanges } from '../events/userEvents';

/** First look after Teams has had its usual time; then less and less often. */
export const FIRST_CHECK_MS = 5_000;
const BACKOFF_MS = [2_000, 4_000, 8_000, 15_000, 30_000];
/** Checks before an assignment still running is left to an operator (about half an hour). */
const MAX_CHECKS = 60;
/** Sends of one assignment whose requests Microsoft never saw (lost replies). */
const MAX_SENDS = 3;
/** A claimed assignment is this checker's for this long; a checker that dies gives it back by expiry. */
const CLAIM_MS = 60_000;
/** Checks of one customer falling due within this are one message (one round of requests). */
const CHECK_BUCKET_MS = 5_000;
/** Reads of the due assignments per check when claiming them met rows written meanwhile. */
const CLAIM_ROUNDS = 3;

export interface NumberCheckResult {
  kind: 'checked';
  finished: number;
  pending: number;
  retried: number;
}

/** The message that checks a customer's assignments due at `dueAt` (shared by every one due in its moment). */
export function numberCheckMessage(customerId: string, userId: string, dueAt: Date): ProvisionUserMessage {
  const bucket = new Date(Math.ceil(dueAt.getTime() / CHECK_BUCKET_MS) * CHECK_BUCKET_MS).toISOString();
  return { customerId, userId, reason: 'number-check', observedAt: bucket, requestedAt: new Date().toISOString() };
}

/**
 * Schedules the check of the moment `dueAt` falls in, or of a moment at least a bucket ahead when that one is
 * close or past: a pass that waited for its tenant's quota stores an assignment due before it was sent, and
 * the check of a moment already past (by Service Bus's clock, which may be ahead of ours) may have run, so a
 * message with its id would be dropped as that check's duplicate, the assignment left unchecked until the
 * reconciler.
 */
export async function scheduleNumberCheck(deps: ProvisioningDeps, customerId: string, userId: string, dueAt: Date): Promise<void> {
  const now = (deps.now?.() ?? new Date()).getTime();
  const message = numberCheckMessage(customerId, userId, new Date(Math.max(dueAt.getTime(), now + CHECK_BUCKET_MS)));
  await deps.queue.schedule([message], new Date(message.observedAt!));
}

/**
 * A check of the customer's due assignments at once (the reconciler's, for one whose check was lost), under
 * an id of its own: under a moment's id it would be a duplicate of a check scheduled for that moment, and
 * would take that id from a check scheduled after it.
 */
export function numberCheckNow(customerId: string, userId: string, now: Date): ProvisionUserMessage {
  return { customerId, userId, reason: 'number-check', observedAt: `${now.toISOString()}!now`, requestedAt: now.toISOString() };
}

export function operationOf(pending: PendingNumberAssignment): NumberOperation {
  return { kind: 'assign', number: pending.number, userId: pending.userId, ...(pending.location ? { location: pending.location } : {}) };
}

/** Checks every due pending assignment of the customer, finishes the users whose assignment is over. */
export async function checkNumberAssignments(deps: ProvisioningDeps, customerId: string): Promise<NumberCheckResult> {
  const now = deps.now?.() ?? new Date();
  const result: NumberCheckResult = { kind: 'checked', finished: 0, pending: 0, retried: 0 };
  const claimed = await claimDue(deps, customerId, now);
  if (claimed.length > 0) {
    const ctx = await customerContext(deps.storage, customerId, now.getTime());
    const ms = deps.microsoft(ctx.customer);
    let outcomes: NumberOperationOutcome[];
    try {
      outcomes = await outcomesOf(ms.tenant, customerId, claimed.map((p) => p.value));
    } catch (error) {
      if (!(error instanceof GraphTransientError) && !(error instanceof GraphThrottledError)) throw error;
      // Microsoft could not be asked now: look again later, the claims given back.
      const later = new Date(now.getTime() + (error instanceof GraphThrottledError && error.retryAfterMs ? error.retryAfterMs : BACKOFF_MS[0]));
      for (const p of claimed) await deps.storage.pendingNumbers.update({ ...p.value, dueAt: later.toISOString() }, p.etag).catch(() => undefined);
      await scheduleNumberCheck(deps, customerId, claimed[0].value.userId, later);
      result.pending += claimed.length;
      return result;
    }
    for (const [i, p] of claimed.entries()) {
      const done = await settle(deps, p, outcomes[i], now, ctx.settings.numberCoolingDays);
      if (done === 'finished') result.finished++;
      else if (done === 'retried') result.retried++;
      else result.pending++;
    }
  }
  // The next look at whatever is still pending for the customer (each is due at its own time).
  const left = await deps.storage.pendingNumbers.list(customerId);
  if (left.length > 0) {
    const next = left.reduce((a, b) => (Date.parse(a.value.dueAt) <= Date.parse(b.value.dueAt) ? a : b));
    await scheduleNumberCheck(deps, customerId, next.value.userId, new Date(Math.max(Date.parse(next.value.dueAt), now.getTime() + CHECK_BUCKET_MS)));
  }
  return result;
}

/**
 * The customer's due assignments, claimed with their ETags in a batch per hundred. Checks of successive
 * moments overlap when messages are delivered late: a checker that meets a row written since (claimed by
 * another, or finished by its pass) reads again and claims what is still due, instead of failing on each
 * row another checker took.
 */
async function claimDue(deps: ProvisioningDeps, customerId: string, now: Date): Promise<Array<Versioned<PendingNumberAssignment>>> {
  const claimed: Array<Versioned<PendingNumberAssignment>> = [];
  const until = new Date(now.getTime() + CLAIM_MS).toISOString();
  for (let round = 0; round < CLAIM_ROUNDS; round++) {
    const mine = new Set(claimed.map((p) => p.value.userId));
    const due = (await deps.storage.pendingNumbers.list(customerId)).filter((p) => !mine.has(p.value.userId) && Date.parse(p.value.dueAt) <= now.getTime() + CHECK_BUCKET_MS);
    if (due.length === 0) break;
    const { written, stale } = await deps.storage.pendingNumbers.updateAll(due.map((p) => ({ value: { ...p.value, dueAt: until }, etag: p.etag })));
    claimed.push(...written);
    if (stale === 0) break;
  }
  return claimed;
}

/** Pages the customer's list of assigned numbers took the last time it was read (fewer requests decide). */
const listPages = new Map<string, number>();

/**
 * Where each assignment stands, for the fewest requests: Microsoft's list of assigned numbers answers for up
 * to 1,000 numbers a request, reading operations costs one each (20 to a $batch). When the list is cheaper,
 * it says which assignments are in place; those not in place after a second look are read one by one, for
 * their outcome and reason.
 */
async function outcomesOf(tenant: MicrosoftTenant, customerId: string, pending: PendingNumberAssignment[]): Promise<NumberOperationOutcome[]> {
  const pages = listPages.get(customerId) ?? 1;
  if (pending.length <= pages) return tenant.numberOperationOutcomes(pending.map(operationOf));
  const holders = new Map<string, NumberAssignment>();
  let read = 0;
  for await (const page of tenant.listNumberAssignments({ assignmentStatus: 'userAssigned' })) {
    read++;
    for (const n of page) holders.set(n.telephoneNumber, n);
  }
  listPages.set(customerId, Math.max(1, read));
  rememberAssignedNumbers(customerId, holders);
  const outcomes: NumberOperationOutcome[] = pending.map((p) => {
    const held = holders.get(p.number.startsWith('+') ? p.number : `+${p.number}`);
    return held?.assignmentTargetId === p.userId && held.activationState !== 'assignmentPending' ? { status: 'succeeded' } : { status: 'pending' };
  });
  const overdue = pending.map((p, i) => i).filter((i) => outcomes[i].status === 'pending' && pending[i].checks >= 1);
  if (overdue.length > 0) {
    const read = await tenant.numberOperationOutcomes(overdue.map((i) => operationOf(pending[i])));
    overdue.forEach((i, k) => (outcomes[i] = read[k]));
  }
  return outcomes;
}

async function settle(
  deps: ProvisioningDeps,
  claimed: Versioned<PendingNumberAssignment>,
  outcome: NumberOperationOutcome,
  now: Date,
  coolingDays: number,
): Promise<'finished' | 'pending' | 'retried'> {
  const p = claimed.value;
  if (!p.then) {
    // The pass that sent the assignment has not finished (it is still running, or a crash cut it short and
    // its cause is being delivered or sent again): that pass says what the user becomes. Until then the user
    // is not finished on a guess; after about half an hour of this, an operator looks.
    const checks = p.checks + 1;
    if (checks < MAX_CHECKS) {
      await deps.storage.pendingNumbers.update({ ...p, checks, dueAt: new Date(now.getTime() + BACKOFF_MS[Math.min(checks - 1, BACKOFF_MS.length - 1)]).toISOString() }, claimed.etag).catch(ignoreGone);
      return 'pending';
    }
    const reason = `provisioning stopped after sending ${p.number} to Teams`;
    const held = outcome.status === 'succeeded' ? p.number : undefined;
    await finishUser(deps, p, { kind: 'needs-attention', reason, siteId: p.siteId }, held, { name: 'number', result: 'failed', detail: reason, at: now.toISOString() });
    await deps.storage.pendingNumbers.delete(p.customerId, p.userId, claimed.etag).catch(ignoreGone);
    return 'finished';
  }
  if (outcome.status === 'succeeded') {
    await finishUser(deps, p, p.then, p.number, { name: 'number', result: 'ok', detail: `${p.number} assigned`, at: now.toISOString() });
    if (p.replaces && p.replaces !== p.number) await releaseEverywhere(deps, p, p.replaces, now, coolingDays);
    await deps.storage.pendingNumbers.delete(p.customerId, p.userId, claimed.etag).catch(ignoreGone);
    return 'finished';
  }
  if (outcome.status === 'pending' || (outcome.status === 'failed' && outcome.notApplied && p.sends < MAX_SENDS)) {
    const checks = p.checks + 1;
    if (checks >= MAX_CHECKS) {
      // Still running after half an hour: whether it will finish is Microsoft's to say. The number stays
      // the user's in the inventory; an operator looks.
      const reason = `Teams has not finished assigning ${p.number} after ${checks} checks`;
      await finishUser(deps, p, attention(p.then, reason), p.number, { name: 'number', result: 'failed', detail: reason, at: now.toISOString() });
      await deps.storage.pendingNumbers.delete(p.customerId, p.userId, claimed.etag).catch(ignoreGone);
      return 'finished';
    }
    let next: PendingNumberAssignment = { ...p, checks, dueAt: new Date(now.getTime() + BACKOFF_MS[Math.min(checks - 1, BACKOFF_MS.length - 1)]).toISOString() };
    if (outcome.status === 'failed') {
      // The number shows the assignment never happened (a request Microsoft did not get): send it again.
      const ctx = await customerContext(deps.storage, p.customerId, now.getTime());
      const op = await deps.microsoft(ctx.customer).tenant.startAssignNumber({ userId: p.userId, number: p.number, numberType: toMicrosoftNumberType(p.lineType)!, assignmentCategory: 'primary' });
      next = { ...next, sends: p.sends + 1, dueAt: new Date(now.getTime() + FIRST_CHECK_MS).toISOString(), ...(op.location ? { location: op.location } : {}) };
      if (!op.location) delete next.location;
    }
    await deps.storage.pendingNumbers.update(next, claimed.etag).catch(ignoreGone);
    return 'pending';
  }
  // Refused. Held by someone else in Microsoft: theirs in the inventory, and the user's provisioning runs
  // again (reading Microsoft) for the next number. Any other refusal: the number goes back at once.
  const reason = outcome.status === 'failed' ? outcome.reason : 'failed';
  const ctx = await customerContext(deps.storage, p.customerId, now.getTime());
  const assignment = await deps.microsoft(ctx.customer).tenant.getNumberAssignment(p.number);
  const holder = assignment?.assignmentTargetId;
  const scope: NumberScope = { customerId: p.customerId, ...(p.inventorySiteId !== undefined ? { siteId: p.inventorySiteId } : {}) };
  const cause = provisionUserMessageSchema.safeParse(p.cause);
  if (holder && holder !== p.userId && cause.success) {
    await recordHeldByOther(deps.storage, scope, p.number, p.userId, holder, now);
    await deps.storage.transactions.appendSteps(p.customerId, p.transactionId, [
      { name: 'number', result: 'skipped', detail: `${p.number} turned out held in Microsoft by ${holder}: recorded as theirs`, at: now.toISOString() },
    ]);
    await deps.storage.pendingNumbers.delete(p.customerId, p.userId, claimed.etag).catch(ignoreGone);
    const again = { ...cause.data, transactionId: p.transactionId, attempt: (cause.data.attempt ?? 0) + 1 };
    await deps.queue.schedule([again], now);
    return 'retried';
  }
  await deps.storage.numbers.release(scope, p.number, p.userId, now, 0);
  // A number the tenant does not have as this line type (a Calling Plan or Operator Connect number it never
  // acquired; Direct Routing numbers Teams records at their first assignment) is refused whatever the user's
  // licenses: staging would meet the same refusal at the re-check, and a repeat of the pass, which finds the
  // licenses granted, would not stage at all. The user needs attention with the reason either way.
  const expected = toMicrosoftNumberType(p.lineType);
  const aboutTheNumber = assignment ? assignment.numberType !== expected : expected !== 'directRouting';
  if (p.stageIfRefused && !aboutTheNumber && p.then.kind !== 'needs-attention') {
    // Licenses granted in the pass have not reached Teams yet: the re-check gives the line later.
    const staged: UserState = { kind: 'staged', siteId: p.siteId, profileId: p.stageIfRefused.profileId, since: now.toISOString(), line: p.stageIfRefused.line };
    await finishUser(deps, p, staged, undefined, { name: 'number', result: 'skipped', detail: `${p.number} refused (${reason}): the licenses just granted are not active in Teams yet, staged`, at: now.toISOString() });
  } else {
    await finishUser(deps, p, attention(p.then, `no line: ${p.number}: ${reason}`), undefined, { name: 'number', result: 'failed', detail: `${p.number}: ${reason}`, at: now.toISOString() });
  }
  await deps.storage.pendingNumbers.delete(p.customerId, p.userId, claimed.etag).catch(ignoreGone);
  return 'finished';
}

/** The state a pass left, with the reason the user needs attention now (a reason already there stays). */
function attention(then: UserState, reason: string): UserState {
  if (then.kind === 'needs-attention') return then;
  return { kind: 'needs-attention', reason, ...('siteId' in then ? { siteId: then.siteId } : {}) };
}

/**
 * The user takes its final state, with the number it holds, and the transaction its last step and outcome;
 * the work is no longer open: the hand-off mark (or open-work entry) of the cause that started it goes.
 */
async function finishUser(deps: ProvisioningDeps, p: PendingNumberAssignment, state: UserState, number: string | undefined, step: TransactionStep): Promise<void> {
  const cause = provisionUserMessageSchema.safeParse(p.cause);
  const written = await updateUser(deps, p.customerId, p.userId, (record): UserRecord => {
    const next: UserRecord = { ...record, state, lastTransactionId: p.transactionId };
    if (p.role) next.role = p.role;
    if ('siteId' in state) delete next.returnTo;
    if (number) next.number = number;
    else delete next.number;
    if (number && record.teams) next.teams = { ...record.teams, primaryNumber: number, numbers: [...new Set([number, ...record.teams.numbers])] };
    if (cause.success && carriesHandOff(record, cause.data)) delete next.handoff;
    return next;
  });
  const transaction = await deps.storage.transactions.get(p.customerId, p.transactionId);
  // The pass's event, told from the state its transaction began with, now that the user reached its state.
  const from = transaction?.value.from;
  if (written && from) {
    await publishChanges(deps.events, [{
      customerId: p.customerId, userId: p.userId, attributes: written.value.attributes, before: from.state, after: state, numberBefore: from.number, numberAfter: written.value.number,
      causeId: p.transactionId, cause: typeof p.cause.reason === 'string' ? p.cause.reason : 'provisioning', transactionId: p.transactionId, at: new Date(),
    }]);
  }
  const steps = [...(transaction?.value.steps ?? []), step];
  await deps.storage.transactions.appendSteps(p.customerId, p.transactionId, [step], transactionOutcome(steps), new Date(step.at));
  if (cause.success && !isSyncHandOff(cause.data)) await deps.storage.syncState.delete(openWorkScope(p.customerId), p.transactionId);
}

async function releaseEverywhere(deps: ProvisioningDeps, p: PendingNumberAssignment, number: string, now: Date, coolingDays: number): Promise<void> {
  for (const scope of [{ customerId: p.customerId, siteId: p.siteId }, { customerId: p.customerId }]) {
    await deps.storage.numbers.release(scope, number, p.userId, now, coolingDays);
  }
}

function ignoreGone(error: unknown): void {
  if (!(error instanceof NotFoundError) && !(error instanceof ConcurrencyError)) throw error;
}
