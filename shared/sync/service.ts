/**
 * The pull sync's use cases, one per Durable activity or HTTP/timer entry point. Every one of them tolerates
 * a repeat: Durable runs activities at least once, and the scheduler and operators may ask twice.
 */
import { randomBytes } from 'node:crypto';
import { DeltaTokenExpiredError } from '../ports/microsoft';
import { ACTIVE_STATUSES, type Orchestrations } from '../ports/orchestrations';
import { newTransactionId } from '../domain';
import { NotFoundError, type Storage } from '../ports/storage';
import { catalogOutcome, type CatalogSyncResult } from './catalog';
import {
  addCounts,
  DEFAULT_SYNCS,
  ENTITY_TYPES,
  runAsSeen,
  runningEntities,
  runStatusOf,
  SYNC_KINDS,
  withEntityOutcomes,
  syncInstanceId,
  zeroCounts,
  type EntityCounts,
  type EntityOutcome,
  type EntityType,
  type HoldsReleased,
  type RunInstance,
  type SyncDefinition,
  type SyncDefinitionUpdate,
  type SyncKind,
  type SyncRun,
  type SyncTrigger,
} from './model';
import type { AppRegistration, CatalogStore, CatalogType, MicrosoftAccess, PendingDeletion, PendingDeletionStore, SyncDefinitionStore, SyncRunStore } from './ports';
import { isDue, scheduleError } from './schedule';
import {
  applyUserDeletions,
  handOffRules,
  settleUserDeletions,
  syncTeamsPages,
  syncUsersDeltaPage,
  syncUsersPages,
  type UsersPageResult,
} from './users';
import type { ProvisioningQueue } from '../provisioning/messages';
import type { UserEventPublisher } from '../ports/events';
import { recheckStagedUsers } from '../provisioning/staging';
import { reconcileNumbers, type NumberReport } from '../inventory/reconcile';

export interface SyncDeps {
  storage: Storage;
  runs: SyncRunStore;
  definitions: SyncDefinitionStore;
  catalog: CatalogStore;
  pending: PendingDeletionStore;
  queue: ProvisioningQueue;
  microsoft: MicrosoftAccess;
  /** Where user state changes are published (docs/events.md). */
  events?: UserEventPublisher;
  now?: () => Date;
  /** Hand-offs of a customer in the provisioning queue at once (default HANDOFF_WINDOW). */
  handOffWindow?: number;
}

export const PULL_SYNC = 'pullSync';
export const CATALOG_TYPES: readonly CatalogType[] = ['dialPlans', 'policies', 'licenses', 'resourceAccounts'];

export class SyncRefused extends Error {
  override name = 'SyncRefused';
  constructor(
    message: string,
    readonly status: 404 | 409,
  ) {
    super(message);
  }
}

export interface StartSyncInput {
  customerId: string;
  kind: SyncKind;
  runId: string;
  trigger: SyncTrigger;
  /** What the run reads from, decided when it was started (none for a staging re-check). */
  begin?: BeginResult;
}

export interface BeginResult {
  customerId: string;
  runId: string;
  kind: SyncKind;
  trigger: SyncTrigger;
  mode: 'full' | 'delta';
  startedAt: string;
  deltaLink?: string;
  resync?: string;
  /** The guard's user count when the run began (a delta run adds its adds and deletions to it). */
  userCount: number;
  /**
   * A full run: whether no user was stored when it began. Decided once, before anything is written, so a
   * repeated page after a crash counts and hands off its users as the first attempt did.
   */
  firstSync?: boolean;
  /** The customer's app registration as the run began: its steps reach Microsoft with it without reading it again. */
  registration?: AppRegistration;
}

export interface UsersFamilyResult {
  counts: EntityCounts;
  handedOff: number;
  /** Set when the users family could not finish (after its retries): what it did so far stays counted. */
  failed?: string;
  deltaLink?: string;
  heldReason?: string;
  /** Set when the delta link was refused: the parent starts a full resync. */
  expired?: string;
  /** What the inventory's reconciliation with the Teams read found and did. */
  numbers?: NumberReport;
  /** Held deletions of users this read saw again: released. */
  holdsReleased?: HoldsReleased;
}

const now = (deps: SyncDeps) => (deps.now ? deps.now() : new Date());
export const USER_COUNT_KEY = 'userCount';
const DELTA_LINK_KEY = 'usersDeltaLink';

/** Run ids sort newest first as strings, by the same rule as transaction ids. */
export function newRunId(at: Date): string {
  return newTransactionId(at, randomBytes(4).toString('hex'));
}

// ── Starting ───────────────────────────────────────────────────────────────────────────────────────

/**
 * Starts one sync of a customer unless a run of that kind is still going (its instance id is per customer
 * and kind), or a delta while the full sync runs. A refused start is recorded on the definition.
 */
export async function startSync(
  deps: SyncDeps & { orchestrations: Orchestrations },
  request: { customerId: string; kind: SyncKind; trigger: SyncTrigger },
): Promise<{ runId: string; instanceId: string }> {
  const at = now(deps);
  const runId = newRunId(at);
  const instanceId = syncInstanceId(request.customerId, request.kind);
  // What the run reads from is decided here and travels in the orchestration's input: its first episode
  // sets the reads going, with no step of its own before them. Read beside the customer, the status of this
  // kind's instance (the start's own check), the check of a running full sync and the customer's syncs: reads
  // only, so nothing is written before the customer is known to exist.
  const [customer, own, fullSync, existing, begin] = await Promise.all([
    deps.storage.customers.get(request.customerId),
    deps.orchestrations.status(instanceId),
    request.kind === 'delta' ? runInstance(deps, request.customerId, 'full') : undefined,
    deps.definitions.list(request.customerId),
    request.kind === 'staging' ? undefined : beginRun(deps, { ...request, runId }, at.toISOString()),
  ]);
  if (!customer) throw new SyncRefused(`Customer "${request.customerId}" does not exist.`, 404);
  // The customer's syncs are created on its first run (a staging re-check creates none).
  const definitions = request.kind === 'staging' ? existing : await ensureDefaultSyncs(deps, request.customerId, existing);
  // "Running" means what the runs read (runAsSeen): an orchestration still active, even in the moment
  // between its run's last write and its own completion.
  if (fullSync?.active) {
    await recordSkip(deps, request.customerId, request.kind, 'the full sync is running');
    throw new SyncRefused('A full sync of this customer is running; the delta sync would repeat its work.', 409);
  }
  const registration = { tenantId: customer.value.tenantId, clientId: customer.value.clientId, credentialRef: customer.value.credentialRef };
  const input: StartSyncInput = { ...request, runId, ...(begin ? { begin: { ...begin, registration } } : {}) };
  const outcome = await deps.orchestrations.start(PULL_SYNC, instanceId, input, { state: own });
  if (outcome === 'already-running') {
    await recordSkip(deps, request.customerId, request.kind, 'the previous run is still going');
    throw new SyncRefused(`A ${request.kind} sync of this customer is already running.`, 409);
  }
  // Visible at once. A crash before this write leaves the run to be recorded by its finish.
  const def = definitions.find((d) => d.kind === request.kind);
  await Promise.all([
    deps.runs.create(newRun(input, at.toISOString())),
    def ? deps.definitions.put({ ...def, lastStartedAt: at.toISOString(), lastRunId: runId }) : undefined,
  ]);
  return { runId, instanceId };
}

/** The orchestration of a customer's sync kind, and the run it serves (its input names it). */
export async function runInstance(deps: { orchestrations: Orchestrations }, customerId: string, kind: SyncKind): Promise<RunInstance | undefined> {
  const state = await deps.orchestrations.status(syncInstanceId(customerId, kind));
  if (!state) return undefined;
  const input = state.input as Partial<StartSyncInput> | null | undefined;
  return { active: ACTIVE_STATUSES.has(state.runtimeStatus), runtimeStatus: state.runtimeStatus, runId: typeof input?.runId === 'string' ? input.runId : undefined };
}

async function recordSkip(deps: SyncDeps, customerId: string, kind: SyncKind, reason: string): Promise<void> {
  const def = await deps.definitions.get(customerId, kind);
  if (def) await deps.definitions.put({ ...def, lastSkipped: { at: now(deps).toISOString(), reason } });
}

export interface SchedulerReport {
  started: Array<{ customerId: string; kind: SyncKind; runId: string }>;
  skipped: Array<{ customerId: string; kind: SyncKind; reason: string }>;
  failed: Array<{ customerId: string; kind: SyncKind; error: string }>;
}

/** The every-minute scheduler: starts each enabled sync whose schedule has come round since it last started. */
export async function runDueSyncs(deps: SyncDeps & { orchestrations: Orchestrations }): Promise<SchedulerReport> {
  const report: SchedulerReport = { started: [], skipped: [], failed: [] };
  const at = now(deps);
  for (const { value: customer } of await deps.storage.customers.list()) {
    for (const def of await deps.definitions.list(customer.id)) {
      if (!def.enabled) continue;
      const since = new Date(def.lastStartedAt ?? def.lastSkipped?.at ?? at.toISOString());
      if (!isDue(def.schedule, since, at)) continue;
      try {
        const { runId } = await startSync(deps, { customerId: customer.id, kind: def.kind, trigger: 'schedule' });
        report.started.push({ customerId: customer.id, kind: def.kind, runId });
      } catch (err) {
        if (err instanceof SyncRefused) {
          // Counted as handled for this occurrence, so the skip is not retried every minute.
          const current = await deps.definitions.get(customer.id, def.kind);
          if (current) await deps.definitions.put({ ...current, lastStartedAt: at.toISOString() });
          report.skipped.push({ customerId: customer.id, kind: def.kind, reason: err.message });
        } else report.failed.push({ customerId: customer.id, kind: def.kind, error: err instanceof Error ? err.message : String(err) });
      }
    }
  }
  return report;
}

/**
 * The customer's syncs, the default ones it lacks created side by side (the first sync of a customer creates
 * them; later calls change nothing); `existing` when they were read already.
 */
export async function ensureDefaultSyncs(deps: SyncDeps, customerId: string, existing?: SyncDefinition[]): Promise<SyncDefinition[]> {
  const have = existing ?? (await deps.definitions.list(customerId));
  const at = now(deps).toISOString();
  const created: SyncDefinition[] = DEFAULT_SYNCS.filter((d) => !have.some((e) => e.kind === d.kind)).map((d) => ({ customerId, ...d, lastStartedAt: at }));
  await Promise.all(created.map((def) => deps.definitions.put(def)));
  return [...have, ...created];
}

export async function updateSyncDefinition(deps: SyncDeps, customerId: string, kind: SyncKind, update: SyncDefinitionUpdate): Promise<SyncDefinition> {
  const def = await deps.definitions.get(customerId, kind);
  if (!def) throw new NotFoundError(`customer "${customerId}" has no ${kind} sync yet (its first sync creates the default syncs)`);
  if (update.schedule) {
    const problem = scheduleError(update.schedule);
    if (problem) throw new SyncRefused(`The schedule is not a valid NCRONTAB expression: ${problem}`, 409);
  }
  const next: SyncDefinition = { ...def, ...update, lastStartedAt: def.lastStartedAt ?? now(deps).toISOString() };
  await deps.definitions.put(next);
  return next;
}

/**
 * What a run reads from: a delta round from the held delta link, or a full read (a first sync when no user
 * is stored, decided once, before anything is written, so a repeated page after a crash counts and hands
 * off its users as the first attempt did).
 */
export async function beginRun(deps: SyncDeps, input: Omit<StartSyncInput, 'begin'>, startedAt: string): Promise<BeginResult> {
  // Independent reads, side by side. Whether any user is stored matters to a full read only (a delta run
  // without a link asks below).
  const [link, count, usersStored] = await Promise.all([
    input.kind === 'delta' ? deps.storage.syncState.get<string>(input.customerId, DELTA_LINK_KEY) : undefined,
    deps.storage.syncState.get<number>(input.customerId, USER_COUNT_KEY),
    input.kind === 'delta' ? undefined : deps.storage.users.anyStored(input.customerId),
  ]);
  const mode: 'full' | 'delta' = input.kind === 'delta' && link ? 'delta' : 'full';
  const resync = input.kind === 'delta' && !link ? 'no delta link held yet: a full read instead' : undefined;
  const firstSync = mode === 'full' ? !(usersStored ?? (await deps.storage.users.anyStored(input.customerId))) : undefined;
  return {
    customerId: input.customerId,
    runId: input.runId,
    kind: input.kind,
    trigger: input.trigger,
    mode,
    startedAt,
    deltaLink: link?.value,
    resync,
    userCount: count?.value ?? 0,
    ...(firstSync !== undefined ? { firstSync } : {}),
  };
}

function newRun(input: StartSyncInput, startedAt: string): SyncRun {
  return {
    customerId: input.customerId,
    runId: input.runId,
    kind: input.kind,
    mode: input.begin?.mode ?? (input.kind === 'delta' ? 'delta' : 'full'),
    ...(input.begin?.resync ? { resync: input.begin.resync } : {}),
    trigger: input.trigger,
    status: 'running',
    startedAt,
    counts: Object.fromEntries(ENTITY_TYPES.map((t) => [t, zeroCounts()])) as Record<EntityType, EntityCounts>,
    entities: runningEntities(),
    handedOff: 0,
    errors: [],
  };
}

// ── The orchestration's activities ─────────────────────────────────────────────────────────────────

export interface UsersPagesResult extends UsersPageResult {
  /** Taken by the read's first activity before its first page, so changes made during the read come with the next delta. */
  nextDeltaLink?: string;
}

/**
 * Up to PAGES_PER_ACTIVITY pages (READ_MS_PER_ACTIVITY of reading) of a full read. The read's first
 * activity (no link) takes the delta link before it reads the first page; a repeat of it takes it again, as
 * it reads again from the first page.
 */
export async function usersPagesActivity(
  deps: SyncDeps,
  input: { customerId: string; runId: string; startedAt: string; firstSync: boolean; link?: string; soFar: EntityCounts; registration?: AppRegistration },
): Promise<UsersPagesResult> {
  // The customer's rules are read beside the delta link: the first page waits for both.
  const [{ microsoft, nextDeltaLink }, rules] = await Promise.all([
    deps.microsoft.forCustomer(input.customerId, input.registration).then(async (microsoft) => ({ microsoft, nextDeltaLink: input.link ? undefined : await microsoft.tenant.latestUsersDeltaLink() })),
    handOffRules(deps.storage, input.customerId),
  ]);
  const result = await syncUsersPages(
    deps,
    microsoft,
    { customerId: input.customerId, runStartedAt: input.startedAt, firstSync: input.firstSync, link: input.link, rules },
    // Live progress page by page, for the run's readers.
    (soFar) => deps.runs.saveProgress(input.customerId, input.runId, 'users', addCounts(input.soFar, soFar.counts)),
  );
  return { counts: result.counts, handedOff: result.handedOff, nextLink: result.nextLink, ...(nextDeltaLink ? { nextDeltaLink } : {}) };
}

export interface DeltaPageResult extends UsersPageResult {
  /** The round's last page settles its deletions in the same activity (the step that would follow it). */
  deletions?: UserDeletionsResult;
}

export async function usersDeltaPageActivity(
  deps: SyncDeps,
  input: { customerId: string; runId: string; startedAt: string; link: string; soFar: EntityCounts; userCount: number; registration?: AppRegistration },
): Promise<DeltaPageResult | { expired: string }> {
  const microsoft = await deps.microsoft.forCustomer(input.customerId, input.registration);
  let result: UsersPageResult;
  try {
    result = await syncUsersDeltaPage(deps, microsoft, { customerId: input.customerId, runId: input.runId, runStartedAt: input.startedAt, link: input.link });
  } catch (err) {
    if (err instanceof DeltaTokenExpiredError) return { expired: `the delta link was refused (${err.code ?? err.message}): a full resync` };
    throw err;
  }
  const soFar = addCounts(input.soFar, result.counts);
  if (!result.deltaLink) {
    await deps.runs.saveProgress(input.customerId, input.runId, 'users', soFar);
    return result;
  }
  // The round is read: nothing else of the run stands between it and its deletions (a repeat of this
  // activity repeats both, each idempotent). One activity and one orchestration step fewer per delta run.
  return { ...result, deletions: await userDeletionsActivity(deps, { customerId: input.customerId, runId: input.runId, startedAt: input.startedAt, mode: 'delta', soFar, userCount: input.userCount, registration: input.registration }) };
}

/** After a complete read of users and their Teams side: the inventory brought in line with it. */
export async function numbersActivity(deps: SyncDeps, input: { customerId: string; startedAt: string }): Promise<NumberReport> {
  return reconcileNumbers(deps.storage, { customerId: input.customerId, complete: true, readStartedAt: input.startedAt, now: now(deps) });
}

export interface TeamsPagesResult {
  joined: number;
  nextLink?: string;
  /** The pass's last activity brings the number inventory in line with it (the step that would follow it). */
  numbers?: NumberReport;
}

/**
 * Up to PAGES_PER_ACTIVITY pages (READ_MS_PER_ACTIVITY of reading) of the Teams pass, read beside the users
 * pass. The pass's last activity then reconciles the number inventory: nothing else of the run stands between
 * them. Should that fail, the activity still answers its pages, and the orchestration runs the numbers step on
 * its own, under its retries.
 */
export async function teamsPagesActivity(deps: SyncDeps, input: { customerId: string; link?: string; startedAt: string; registration?: AppRegistration }): Promise<TeamsPagesResult> {
  const microsoft = await deps.microsoft.forCustomer(input.customerId, input.registration);
  const { joined, nextLink } = await syncTeamsPages(deps.storage, microsoft, input);
  if (nextLink) return { joined, nextLink };
  const numbers = await numbersActivity(deps, input).catch(() => undefined);
  return { joined, ...(numbers ? { numbers } : {}) };
}

export interface UserDeletionsResult {
  counts: EntityCounts;
  heldReason?: string;
  holdsReleased?: HoldsReleased;
}

export async function userDeletionsActivity(
  deps: SyncDeps,
  input: { customerId: string; runId: string; startedAt: string; mode: 'full' | 'delta'; soFar: EntityCounts; userCount: number; registration?: AppRegistration },
): Promise<UserDeletionsResult> {
  // A delta round's total is the guard's count when the run began (its start read it) plus what it added.
  const total = input.mode === 'full' ? input.soFar.added + input.soFar.changed + input.soFar.unchanged : input.userCount + input.soFar.added;
  // A full read's total is what it saw plus what it is about to delete.
  const { released, ...result } = await settleUserDeletions(deps, { customerId: input.customerId, runId: input.runId, runStartedAt: input.startedAt, mode: input.mode, total }, () => deps.microsoft.forCustomer(input.customerId, input.registration));
  await deps.runs.saveProgress(input.customerId, input.runId, 'users', addCounts(input.soFar, result.counts));
  if (released.length === 0) return result;
  await settleHoldingRuns(deps, input.customerId, [], released, `held deletions of ${released.length} user(s) released: run ${input.runId} saw them again in Microsoft`);
  return { ...result, holdsReleased: { count: released.length, userIds: released.map((d) => d.id).sort().slice(0, REPORTED_RELEASES) } };
}

const REPORTED_RELEASES = 50;

export interface FinishInput {
  begin: BeginResult;
  catalog: Array<CatalogSyncResult | undefined>;
  users?: UsersFamilyResult;
  resync?: string;
  error?: string;
}

/**
 * Records the run's outcome: first the delta link of a complete users read and the user count for the
 * guard, then the run itself, last, so a run that reads finished has nothing left to write. A repeat
 * (activities run at least once) of a finished run changes nothing.
 */
export async function finishRun(deps: SyncDeps, input: FinishInput): Promise<SyncRun> {
  const { customerId, runId } = input.begin;
  // No record: the start was cut off between starting the run and recording it (its record is written here).
  const [recorded, progress] = await Promise.all([deps.runs.get(customerId, runId), deps.runs.progress(customerId, runId)]);
  const stored = recorded ?? newRun({ ...input.begin, begin: input.begin }, input.begin.startedAt);
  if (stored.status !== 'running') return stored;
  const run = withEntityOutcomes(stored);
  for (const t of ENTITY_TYPES) run.counts[t] = progress[t] ?? run.counts[t];
  // A failed users family keeps the progress its pages recorded, which counts more than it could return.
  if (input.users && !input.users.failed) run.counts.users = input.users.counts;
  CATALOG_TYPES.forEach((type, i) => {
    const r = input.catalog[i];
    if (r) run.counts[type] = r.counts;
    run.entities[type] = catalogOutcome(r, input.error);
  });
  run.entities.users = usersOutcome(input.users, input.error);
  for (const t of ENTITY_TYPES) {
    const e = run.entities[t];
    if (e.status === 'skipped') run.errors.push(`${t} not synced: ${e.reason}`);
    if (e.status === 'failed') run.errors.push(`${t} failed: ${e.reason}`);
  }
  if (input.resync) {
    run.mode = 'full';
    run.resync = input.resync;
  }
  run.handedOff = input.users?.handedOff ?? 0;
  if (input.users?.numbers) run.numbers = input.users.numbers;
  if (input.users?.holdsReleased) run.holdsReleased = input.users.holdsReleased;
  const held = ENTITY_TYPES.map((t) => run.entities[t]).filter((e) => e.status === 'held').map((e) => e.reason ?? '');
  if (input.error && !run.errors.some((e) => e.endsWith(input.error!))) run.errors.push(input.error);
  // The users family's state is kept only from a complete read: a failed one leaves the next run to redo it.
  const usersComplete = run.entities.users.status === 'succeeded' || run.entities.users.status === 'held';
  const kept: Array<Promise<unknown>> = [];
  if (usersComplete && input.users?.deltaLink) kept.push(deps.storage.syncState.put(customerId, DELTA_LINK_KEY, input.users.deltaLink));
  if (usersComplete && input.users) {
    const c = input.users.counts;
    // The count before this run is the one its beginning read, so a repeat computes the same value.
    const count = run.mode === 'full' ? c.added + c.changed + c.unchanged : Math.max(0, input.begin.userCount + c.added - c.deleted);
    kept.push(deps.storage.syncState.put(customerId, USER_COUNT_KEY, count));
  }
  await Promise.all(kept);
  run.status = runStatusOf(run.entities);
  if (held.length > 0) run.heldReason = held.join('; ');
  run.finishedAt = now(deps).toISOString();
  await deps.runs.save(run);
  return run;
}

function usersOutcome(users: UsersFamilyResult | undefined, error: string | undefined): EntityOutcome {
  if (!users) return { status: 'failed', reason: error ?? 'the run ended before users were read' };
  if (users.failed) return { status: 'failed', reason: users.failed };
  if (users.heldReason) return { status: 'held', reason: users.heldReason };
  return { status: 'succeeded' };
}

/** The staging re-check: every staged user goes through provisioning again (its run id dates the cause). */
export async function recheckStaged(deps: SyncDeps, input: StartSyncInput): Promise<{ rechecked: number }> {
  const { sent } = await recheckStagedUsers({ storage: deps.storage, queue: deps.queue, now: deps.now }, input.customerId);
  const run = (await deps.runs.get(input.customerId, input.runId)) ?? newRun(input, now(deps).toISOString());
  // A re-check reads nothing from the tenant: only its users' provisioning is redone.
  const entities = Object.fromEntries(
    ENTITY_TYPES.map((t) => [t, t === 'users' ? { status: 'succeeded' } : { status: 'skipped', reason: 'a staging re-check reads nothing from the tenant' }]),
  ) as Record<EntityType, EntityOutcome>;
  await deps.runs.save({ ...run, entities, status: 'succeeded', handedOff: sent, finishedAt: now(deps).toISOString() });
  return { rechecked: sent };
}

// ── Operators ──────────────────────────────────────────────────────────────────────────────────────

/** A held deletion as operators review it: how long it has been held, and by which run. */
export interface HeldDeletionView extends PendingDeletion {
  /** Seconds since it was first held (absent for holds recorded before holds carried their time). */
  ageSeconds?: number;
}

/** Deletions held by the guard, for an operator to review, oldest first. */
export async function heldDeletions(deps: SyncDeps, customerId: string): Promise<HeldDeletionView[]> {
  const at = now(deps).getTime();
  const held = await deps.pending.list(customerId, { held: true });
  return held
    .map((d) => (d.heldAt ? { ...d, ageSeconds: Math.max(0, Math.round((at - Date.parse(d.heldAt)) / 1000)) } : d))
    .sort((a, b) => (a.heldAt ?? '').localeCompare(b.heldAt ?? '') || a.id.localeCompare(b.id));
}

/** Which held deletions an operator means: some users, or everything held. */
export type HeldSelection = { userIds: readonly string[] } | { all: true };

export interface AllowResult {
  /** Deletions applied, per entity type. */
  applied: Record<EntityType, number>;
  /** Users Microsoft still shows (not deleted, not soft-deleted): nothing was deleted, their holds are released. */
  present: string[];
  /** User ids asked for that no hold names. */
  notHeld: string[];
}

function chosen(held: readonly PendingDeletion[], selection: HeldSelection): { picked: PendingDeletion[]; notHeld: string[] } {
  if ('all' in selection) return { picked: [...held], notHeld: [] };
  const users = new Map(held.filter((d) => d.entityType === 'users').map((d) => [d.id, d]));
  const ids = [...new Set(selection.userIds)];
  return { picked: ids.flatMap((id) => (users.has(id) ? [users.get(id)!] : [])), notHeld: ids.filter((id) => !users.has(id)) };
}

/**
 * An operator's word: apply the held deletions of the users named (or everything held), as Entra
 * provisioning lets an admin allow deletes past its threshold. Each user is checked against Microsoft
 * immediately before: a user Microsoft still shows is never deleted — its hold is released instead. The
 * runs that held them are brought up to date.
 */
export async function allowHeldDeletions(deps: SyncDeps, customerId: string, selection: HeldSelection): Promise<AllowResult> {
  const held = await deps.pending.list(customerId, { held: true });
  const { picked, notHeld } = chosen(held, selection);
  const applied = Object.fromEntries(ENTITY_TYPES.map((t) => [t, 0])) as Record<EntityType, number>;
  const users = picked.filter((d) => d.entityType === 'users');
  let present: PendingDeletion[] = [];
  if (users.length > 0) {
    const rules = await handOffRules(deps.storage, customerId);
    const { tenant } = await deps.microsoft.forCustomer(customerId);
    // Read in chunks right before each chunk is deleted, so the check is as fresh as it can be.
    for (let i = 0; i < users.length; i += ALLOW_CHUNK) {
      const chunk = users.slice(i, i + ALLOW_CHUNK);
      const live = await tenant.getUsers(chunk.map((d) => d.id));
      const stillThere = chunk.filter((d) => live.has(d.id));
      present = present.concat(stillThere);
      await deps.pending.remove(customerId, stillThere);
      applied.users += await applyUserDeletions(deps, customerId, chunk.filter((d) => !live.has(d.id)), rules.settings.numberCoolingDays, { operatorAllowed: true });
    }
  }
  for (const type of CATALOG_TYPES) {
    const items = picked.filter((d) => d.entityType === type);
    if (items.length === 0) continue;
    await deps.catalog.remove(customerId, type, items.map((d) => d.id));
    await deps.pending.remove(customerId, items);
    applied[type] = items.length;
  }
  const presentIds = new Set(present.map((d) => `${d.entityType}~${d.id}`));
  const deleted = picked.filter((d) => !presentIds.has(`${d.entityType}~${d.id}`));
  await settleHoldingRuns(deps, customerId, deleted, present, `held deletions allowed by an operator at ${now(deps).toISOString()}${present.length ? ` (${present.length} user(s) still in Microsoft kept)` : ''}`);
  return { applied, present: present.map((d) => d.id).sort(), notHeld };
}

/** An operator's word: drop the holds named (or all); nothing is deleted, and what is still gone is found again by the next full read. */
export async function discardHeldDeletions(deps: SyncDeps, customerId: string, selection: HeldSelection): Promise<{ discarded: Record<EntityType, number>; notHeld: string[] }> {
  const held = await deps.pending.list(customerId, { held: true });
  const { picked, notHeld } = chosen(held, selection);
  await deps.pending.remove(customerId, picked);
  const discarded = Object.fromEntries(ENTITY_TYPES.map((t) => [t, picked.filter((d) => d.entityType === t).length])) as Record<EntityType, number>;
  await settleHoldingRuns(deps, customerId, [], picked, `held deletions discarded by an operator at ${now(deps).toISOString()}`);
  return { discarded, notHeld };
}

const ALLOW_CHUNK = 20;

/**
 * The runs that held deletions learn what became of them: applied ones count as deleted, the others leave
 * the held count; an entity type with nothing held any more is no longer `held`.
 */
async function settleHoldingRuns(deps: SyncDeps, customerId: string, deleted: readonly PendingDeletion[], dropped: readonly PendingDeletion[], note: string): Promise<void> {
  const remaining = await deps.pending.list(customerId, { held: true });
  for (const runId of new Set([...deleted, ...dropped].map((d) => d.runId))) {
    const stored = await deps.runs.get(customerId, runId);
    if (!stored || stored.status === 'running') continue;
    const run = withEntityOutcomes(stored);
    for (const t of ENTITY_TYPES) {
      const gone = deleted.filter((d) => d.runId === runId && d.entityType === t).length;
      const kept = dropped.filter((d) => d.runId === runId && d.entityType === t).length;
      if (gone + kept === 0) continue;
      run.counts[t] = { ...run.counts[t], held: Math.max(0, run.counts[t].held - gone - kept), deleted: run.counts[t].deleted + gone };
      const stillHeld = remaining.some((d) => d.runId === runId && d.entityType === t);
      if (!stillHeld && run.entities[t].status === 'held') run.entities[t] = { status: 'succeeded' };
    }
    run.status = runStatusOf(run.entities);
    if (run.status !== 'held') delete run.heldReason;
    run.errors.push(note);
    await deps.runs.save(run);
  }
}

/** A run as it is (runAsSeen), with its live progress while it runs. */
export async function runStatus(deps: SyncDeps & { orchestrations: Orchestrations }, customerId: string, runId: string): Promise<SyncRun> {
  const first = await deps.runs.get(customerId, runId);
  if (!first) throw new NotFoundError(`sync run "${runId}" of customer "${customerId}" does not exist`);
  // The orchestration is read before the record: a record read after an ended orchestration is final.
  const instance = await runInstance(deps, customerId, first.kind);
  const run = runAsSeen(withEntityOutcomes((await deps.runs.get(customerId, runId)) ?? first), instance);
  if (run.status === 'running') {
    const progress = await deps.runs.progress(customerId, runId);
    for (const t of ENTITY_TYPES) run.counts[t] = progress[t] ?? run.counts[t];
  }
  return run;
}

/** A customer's runs, newest first, each as it is (one orchestration read per sync kind). */
export async function listRuns(deps: SyncDeps & { orchestrations: Orchestrations }, customerId: string, top: number): Promise<SyncRun[]> {
  const instances = new Map(await Promise.all(SYNC_KINDS.map(async (kind) => [kind, await runInstance(deps, customerId, kind)] as const)));
  const runs = await deps.runs.list(customerId, top);
  return runs.map((run) => runAsSeen(withEntityOutcomes(run), instances.get(run.kind)));
}
