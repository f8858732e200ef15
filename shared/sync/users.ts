/**
 * The users family of the pull sync. A full run reads the tenant page by page (each page one Durable
 * activity, resumable from its link), writes each page to Table Storage in batches as it arrives and
 * diffs it against what is stored; a delta run does the same with the changes since the kept delta link.
 * Added users, and users whose placement-relevant attributes changed, are handed to flow-through
 * provisioning when the customer's settings say so.
 */
import {
  criteriaAttributes,
  changedFields,
  filters,
  guardDeletes,
  inSyncFilter,
  isResourceAccount,
  leaverReasonOf,
  mergeUser,
  readsPlacement,
  RESOURCE_ACCOUNT_TYPE,
  resolveGlobalSettings,
  siteOf,
  SYNCED_USER_FIELDS,
  syncFilterQuery,
  type EffectiveGlobalSettings,
  type MicrosoftUser as DomainUser,
  type PendingHandOff,
  type SyncedUserField,
  type TeamsState,
  type UserRecord,
} from '../domain';
import { isUserRemoval, type MicrosoftUser, type TeamsUserConfiguration } from '../ports/microsoft';
import { PROVIDER_SCOPE, type Storage, type Versioned } from '../ports/storage';
import type { ProvisioningQueue, ProvisionUserMessage } from '../provisioning/messages';
import { forgetCustomerContexts } from '../provisioning/customerContext';
import { handOffToProvisioning } from '../provisioning/handOffWindow';
import type { UserEventPublisher } from '../ports/events';
import { publishChanges, type ChangeOf } from '../events/userEvents';
import { addCounts, TEAMS_PASS_KEY, zeroCounts, type EntityCounts, type TeamsPassRecord } from './model';
import { reconcileNumbers } from '../inventory/reconcile';
import { settleLeavers, type LeaverSighting } from './leavers';
import type { CustomerMicrosoft, PendingDeletion, PendingDeletionStore, RemovalKind } from './ports';

/** The Microsoft user in the domain's shape: licenses as the list of SKU ids. */
export function toDomainUser(user: MicrosoftUser): DomainUser {
  const out: DomainUser = { id: user.id };
  for (const field of SYNCED_USER_FIELDS) {
    if (field === 'assignedLicenses') out.assignedLicenses = user.assignedLicenses.map((l) => l.skuId);
    else if (field === 'licenseDisabledPlans') out.licenseDisabledPlans = user.assignedLicenses.flatMap((l) => [...l.disabledPlans].sort().map((p) => `${l.skuId}/${p}`));
    else out[field] = (user as unknown as Record<string, DomainUser[typeof field]>)[field] ?? null;
  }
  return out;
}

export function toTeamsState(config: TeamsUserConfiguration | null): TeamsState {
  if (!config) return { present: false, enterpriseVoice: false, numbers: [], accountType: null, featureTypes: [], policies: {}, direct: {} };
  const policies: Record<string, string> = {};
  const direct: Record<string, string> = {};
  for (const p of config.effectivePolicyAssignments) {
    if (!p.displayName) continue;
    policies[p.policyType] = p.displayName;
    if (p.assignmentType === 'direct') direct[p.policyType] = p.displayName;
  }
  const primary = config.telephoneNumbers.find((n) => n.assignmentCategory === 'primary') ?? config.telephoneNumbers[0];
  return {
    present: true,
    enterpriseVoice: config.isEnterpriseVoiceEnabled,
    numbers: config.telephoneNumbers.map((n) => n.telephoneNumber),
    accountType: config.accountType,
    featureTypes: config.featureTypes,
    policies,
    direct,
    ...(primary ? { primaryNumber: primary.telephoneNumber } : {}),
  };
}

/**
 * What a customer's settings say about handing users to flow-through, resolved once per activity. Every
 * user an add sync brings in is handed over (placement decides its site, the flow-through criteria its
 * profile, and provisioning records why a user stays at customer level); an update sync hands over users
 * whose placement-relevant attributes changed.
 */
export interface HandOffRules {
  settings: EffectiveGlobalSettings;
  /**
   * Lower-cased attributes the customer's move-user criteria read; read from storage when first asked: only
   * a user whose attributes changed needs them (most notifications and every first read have none).
   */
  placementAttributes(): Promise<ReadonlySet<string>>;
}

const NO_ATTRIBUTES: ReadonlySet<string> = new Set();
/** The changes of a user not stored before: not asked for (it counts as added, whatever it holds). */
const NO_CHANGES: readonly SyncedUserField[] = [];

export async function handOffRules(storage: Storage, customerId: string): Promise<HandOffRules> {
  const [provider, customer] = await Promise.all([storage.globalSettings.get(PROVIDER_SCOPE), storage.globalSettings.get(customerId)]);
  let placement: Promise<ReadonlySet<string>> | undefined;
  return {
    settings: resolveGlobalSettings([provider?.value, customer?.value]),
    placementAttributes: () => (placement ??= placementAttributesOf(storage, customerId)),
  };
}

async function placementAttributesOf(storage: Storage, customerId: string): Promise<ReadonlySet<string>> {
  const [criteria, defaults] = await Promise.all([storage.modelFilterCriteria.list(customerId), storage.siteDefaults.list(customerId)]);
  const byId = new Map(criteria.map((c) => [c.value.id, c.value]));
  const attributes = new Set<string>();
  for (const d of defaults) {
    const c = d.value.moveUserCriteriaId ? byId.get(d.value.moveUserCriteriaId) : undefined;
    if (c) for (const a of criteriaAttributes(c.criteria)) attributes.add(a);
  }
  return attributes;
}

export interface UserSyncDeps {
  storage: Storage;
  pending: PendingDeletionStore;
  queue: ProvisioningQueue;
  /** Where user state changes are published (docs/events.md). */
  events?: UserEventPublisher;
  /** Hand-offs of a customer in the provisioning queue at once (default HANDOFF_WINDOW). */
  handOffWindow?: number;
}

export interface UsersPageResult {
  counts: EntityCounts;
  /** Users handed to flow-through from this page. */
  handedOff: number;
  nextLink?: string;
  deltaLink?: string;
}

/** The stored records of one page, in a few queries. */
async function readStored(storage: Storage, customerId: string, ids: readonly string[]): Promise<Map<string, Versioned<UserRecord>>> {
  return ids.length === 0 ? new Map() : storage.users.getMany(customerId, ids);
}

/**
 * Diffs fresh users against stored ones, writes the page (every user, so a full run can tell who it did
 * not see by `syncedAt`), and hands off adds and placement-relevant changes.
 */
export async function applyUsers(
  deps: UserSyncDeps,
  args: { customerId: string; runStartedAt: string; firstSync: boolean; writeUnchanged: boolean },
  fresh: readonly DomainUser[],
  rules: HandOffRules,
): Promise<{
  counts: EntityCounts;
  handedOff: number;
  /** New users whose Teams side is not stored yet. */
  added: string[];
  /** Users outside the customer's sync filter: not stored (those stored before are leavers now). */
  outside: string[];
}> {
  const counts = zeroCounts();
  // Resource accounts are synced as their own entity type, never as people: one stored as a user before it
  // was known for what it is goes.
  const accounts = fresh.filter((u) => isResourceAccount(u));
  fresh = fresh.filter((u) => !isResourceAccount(u));
  if (accounts.length > 0 && !args.firstSync) {
    const known = await readStored(deps.storage, args.customerId, accounts.map((u) => u.id));
    if (known.size > 0) await deps.storage.users.deleteMany(args.customerId, known.keys());
  }
  // The customer's sync filter (a delta round and a notification bring everyone; a full read is filtered by
  // Graph already): users outside are never stored, and a stored one gone out of it is a leaver.
  const filter = rules.settings.syncFilter;
  const outside = filters(filter) ? fresh.filter((u) => !inSyncFilter(u, filter)) : [];
  if (outside.length > 0) fresh = fresh.filter((u) => inSyncFilter(u, filter));
  const stored = args.firstSync ? new Map<string, Versioned<UserRecord>>() : await readStored(deps.storage, args.customerId, [...fresh, ...outside].map((u) => u.id));
  const writes: DomainUser[] = [];
  let messages: ProvisionUserMessage[] = [];
  const requestedAt = new Date().toISOString();
  // Each user's changes, once. The placement criteria are read only when update sync is on and a stored user
  // changed: whether a change is placement-relevant arises for no one else.
  const changes = fresh.map((u) => {
    const before = stored.get(u.id)?.value.attributes;
    return before ? changedFields(before, u) : NO_CHANGES;
  });
  const mayHandOffUpdates = rules.settings.updateSync && fresh.some((u, i) => {
    const before = stored.get(u.id)?.value;
    return before !== undefined && before.removed === undefined && changes[i].length > 0;
  });
  const placementAttributes = mayHandOffUpdates ? await rules.placementAttributes() : NO_ATTRIBUTES;
  for (const [i, user] of fresh.entries()) {
    const before = stored.get(user.id)?.value;
    const wasRemoved = before?.removed !== undefined;
    const changed = changes[i];
    if (!before || wasRemoved) counts.added++;
    else if (changed.length > 0) counts.changed++;
    else counts.unchanged++;
    // A user new to the store is written as read (its every field is set: nothing stored to keep).
    const merged = before ? mergeUser(before.attributes, user) : user;
    if (!before || wasRemoved || changed.length > 0 || args.writeUnchanged) writes.push(merged);
    const message = (reason: 'sync-add' | 'sync-update'): ProvisionUserMessage => ({
      customerId: args.customerId,
      userId: user.id,
      reason,
      observedAt: args.runStartedAt,
      requestedAt,
    });
    if ((!before || wasRemoved) && rules.settings.addSync) messages.push(message('sync-add'));
    else if (before && !wasRemoved && rules.settings.updateSync && readsPlacement(changed, placementAttributes)) messages.push(message('sync-update'));
  }
  // The hand-off is marked in the same row write as the user: a kill between this write and the send
  // leaves a mark the reconciler finds, never a user handed off to nobody.
  const handoffs = new Map<string, PendingHandOff>(messages.map((m) => [m.userId, { reason: m.reason as PendingHandOff['reason'], observedAt: args.runStartedAt, requestedAt }]));
  if (writes.length > 0) await deps.storage.users.upsertMany(args.customerId, writes, new Date(args.runStartedAt), handoffs);
  // Restored users come back: clear their removal mark.
  for (const user of fresh) {
    const before = stored.get(user.id);
    if (before?.value.removed) await deps.storage.users.markRemoved(args.customerId, user.id, undefined);
  }
  // Leavers: placed users disabled now, and leavers back (enabled again, restored).
  const sightings: LeaverSighting[] = [];
  for (const user of fresh) {
    const before = stored.get(user.id)?.value;
    if (!before) continue;
    const reason = leaverReasonOf({ accountEnabled: user.accountEnabled, softDeleted: false, outsideFilter: false });
    if ((reason && !before.leaver && siteOf(before.state)) || (!reason && before.leaver)) sightings.push({ before, reason });
  }
  for (const user of outside) {
    const before = stored.get(user.id)?.value;
    if (before && !before.leaver && !before.removed) sightings.push({ before, reason: 'outside-filter' });
  }
  if (sightings.length > 0) {
    const leavers = await settleLeavers(deps.storage, args.customerId, sightings, rules.settings, new Date());
    messages = [...messages.filter((m) => !leavers.returning.has(m.userId)), ...leavers.messages];
  }
  // Hand-offs wait their turn in the customer's window of the queue; leavers' messages go straight in.
  if (messages.length > 0) await handOffToProvisioning({ store: deps.storage.syncState, queue: deps.queue, size: deps.handOffWindow }, args.customerId, messages);
  counts.unchanged += outside.filter((u) => stored.has(u.id)).length;
  return { counts, handedOff: messages.length, added: fresh.filter((u) => !stored.has(u.id)).map((u) => u.id), outside: outside.map((u) => u.id) };
}

/**
 * How much of a full read one activity takes. Within one activity each page is written while the next is on
 * its way (as a careful bulk reader overlaps its network and its writes); across activities Durable keeps the
 * place, so a crash repeats at most this much reading (its writes are idempotent). Bounded by time, not by
 * pages alone: every activity boundary costs the orchestration a round of checkpoints, and a tenant of
 * 30,000 users (30 pages) then reads in one activity, not four rounds of eight pages.
 */
export const PAGES_PER_ACTIVITY = 64;
export const READ_MS_PER_ACTIVITY = 20_000;

/**
 * Pages of one pass: the next page is asked for before the current one is applied (at most two pages in
 * memory), until the pass ends, `maxPages` are read or `maxMs` have passed.
 */
async function readAhead<P extends { nextLink?: string }>(
  first: string | undefined,
  read: (link: string | undefined) => Promise<P>,
  apply: (page: P) => Promise<void>,
  maxPages: number,
  maxMs = READ_MS_PER_ACTIVITY,
): Promise<{ pages: number; nextLink?: string }> {
  const until = Date.now() + maxMs;
  let pending = read(first);
  let pages = 0;
  for (;;) {
    const page = await pending;
    pages++;
    const more = page.nextLink !== undefined && pages < maxPages && Date.now() < until;
    if (more) {
      pending = read(page.nextLink);
      // A failed write ends the activity before the read ahead is awaited: its failure is not left unhandled.
      pending.catch(() => undefined);
    }
    await apply(page);
    if (!more) return { pages, nextLink: page.nextLink };
  }
}

/** Up to `maxPages` pages of a full read, from `link` (the first page when absent). */
export async function syncUsersPages(
  deps: UserSyncDeps,
  microsoft: CustomerMicrosoft,
  args: { customerId: string; runStartedAt: string; firstSync: boolean; link?: string; maxPages?: number; maxMs?: number; rules?: HandOffRules },
  onPage?: (soFar: { counts: EntityCounts; handedOff: number }) => Promise<void>,
): Promise<UsersPageResult & { pages: number }> {
  // The first page's request carries the sync filter (Graph keeps it in the next links).
  const rules = args.rules ?? (await handOffRules(deps.storage, args.customerId));
  const filter = syncFilterQuery(rules.settings.syncFilter);
  let counts = zeroCounts();
  let handedOff = 0;
  // The progress is written behind the pages: the next page's writes do not wait for it.
  const progress = onPage ? latestBehind(onPage) : undefined;
  const { pages, nextLink } = await readAhead(
    args.link,
    (link) => microsoft.tenant.usersPage(link, link ? undefined : filter),
    async (page) => {
      const applied = await applyUsers(deps, { ...args, writeUnchanged: true }, page.users.map(toDomainUser), rules);
      counts = addCounts(counts, applied.counts);
      handedOff += applied.handedOff;
      progress?.offer({ counts, handedOff });
    },
    args.maxPages ?? PAGES_PER_ACTIVITY,
    args.maxMs,
  );
  await progress?.written();
  return { counts, handedOff, pages, nextLink };
}

/**
 * Writes offered values one at a time, each write taking the latest value offered (the ones offered while a
 * write was going are superseded by it). `written` waits for the last and gives its failure, if any.
 */
export function latestBehind<T>(write: (value: T) => Promise<void>): { offer(value: T): void; written(): Promise<void> } {
  let chain: Promise<void> = Promise.resolve();
  let waiting: { value: T } | undefined;
  return {
    offer(value) {
      if (waiting) {
        waiting.value = value;
        return;
      }
      const next = { value };
      waiting = next;
      chain = chain.then(() => {
        waiting = undefined;
        return write(next.value);
      });
      // Awaited by `written`; a failure meanwhile is not left unhandled.
      chain.catch(() => undefined);
    },
    written: () => chain,
  };
}

/** One page of a delta round: changed users are diffed and written, removals wait for the guard. */
export async function syncUsersDeltaPage(
  deps: UserSyncDeps,
  microsoft: CustomerMicrosoft,
  args: { customerId: string; runId: string; runStartedAt: string; link: string },
): Promise<UsersPageResult> {
  const [page, rules] = await Promise.all([microsoft.tenant.usersDeltaPage(args.link), handOffRules(deps.storage, args.customerId)]);
  const users: DomainUser[] = [];
  const removals: PendingDeletion[] = [];
  for (const change of page.changes) {
    if (isUserRemoval(change)) removals.push({ entityType: 'users', id: change.id, removal: change.removed, runId: args.runId, held: false });
    else users.push(toDomainUser(change));
  }
  const { counts, handedOff, added, outside } = await applyUsers(deps, { ...args, firstSync: false, writeUnchanged: false }, users, rules);
  // A user the round shows present is not gone, whatever a hold said: written as seen by this run, even
  // unchanged, so that settling the run's deletions releases its hold and records it.
  if (users.length > 0) {
    const holds = new Set((await deps.pending.list(args.customerId, { entityType: 'users', held: true })).map((d) => d.id));
    const left = new Set(outside);
    const seenAgain = users.filter((u) => holds.has(u.id) && !left.has(u.id));
    if (seenAgain.length > 0) await deps.storage.users.upsertMany(args.customerId, seenAgain, new Date(args.runStartedAt));
  }
  // A directory change leaves the Teams side as it was; a new user's Teams side is read once.
  await refreshTeams(deps.storage, microsoft, args.customerId, added);
  if (removals.length > 0) {
    const known = await readStored(deps.storage, args.customerId, removals.map((r) => r.id));
    await deps.pending.add(args.customerId, removals.filter((r) => known.has(r.id) && !(known.get(r.id)?.value.removed?.kind === 'soft' && r.removal === 'soft')));
  }
  return { counts, handedOff, nextLink: page.nextLink, deltaLink: page.deltaLink };
}

/** The users of these ids Microsoft still has, as the sync reads them (a few at a time). */
async function presentUsers(microsoft: CustomerMicrosoft, ids: readonly string[]): Promise<Map<string, DomainUser>> {
  const out = new Map<string, DomainUser>();
  let next = 0;
  const worker = async () => {
    while (next < ids.length) {
      const user = await microsoft.tenant.getUser(ids[next++]);
      if (user) out.set(user.id, toDomainUser(user));
    }
  };
  await Promise.all(Array.from({ length: Math.min(8, ids.length) }, worker));
  return out;
}

export async function refreshTeams(storage: Storage, microsoft: CustomerMicrosoft, customerId: string, userIds: readonly string[]): Promise<void> {
  const entries: Array<{ userId: string; teams: TeamsState }> = [];
  let next = 0;
  const worker = async () => {
    while (next < userIds.length) {
      const id = userIds[next++];
      entries.push({ userId: id, teams: toTeamsState(await microsoft.tenant.getTeamsUserConfiguration(id)) });
    }
  };
  await Promise.all(Array.from({ length: Math.min(16, userIds.length) }, worker));
  await storage.users.setTeams(customerId, entries);
  // The numbers these users hold are Used by them in the inventory from now on.
  const holdings = new Map(entries.filter((e) => e.teams.numbers.length > 0).map((e) => [e.userId, e.teams.numbers]));
  if (holdings.size > 0) await reconcileNumbers(storage, { customerId, complete: false, holdings });
}

/** Up to `maxPages` pages of Teams user configurations, joined onto the stored users. */
export async function syncTeamsPages(
  storage: Storage,
  microsoft: CustomerMicrosoft,
  args: { customerId: string; link?: string; startedAt?: string; maxPages?: number; maxMs?: number },
): Promise<{ joined: number; pages: number; nextLink?: string }> {
  let joined = 0;
  const { pages, nextLink } = await readAhead(
    args.link,
    (link) => microsoft.tenant.teamsConfigurationsPage(link),
    async (page) => {
      await storage.users.setTeams(
        args.customerId,
        // A resource account's Teams side belongs to the resource accounts family, not to a user.
        page.configurations.filter((c) => c.accountType !== RESOURCE_ACCOUNT_TYPE).map((c) => ({ userId: c.id, teams: toTeamsState(c) })),
      );
      joined += page.configurations.length;
    },
    args.maxPages ?? PAGES_PER_ACTIVITY,
    args.maxMs,
  );
  // The whole Teams side of the run is in: a user it synced with no Teams row is not in Teams.
  if (!nextLink && args.startedAt) {
    await storage.syncState.put<TeamsPassRecord>(args.customerId, TEAMS_PASS_KEY, { runStartedAt: args.startedAt, completedAt: new Date().toISOString() });
    forgetCustomerContexts(args.customerId); // provisioning in this process plans from it at once
  }
  return { joined, pages, nextLink };
}

/**
 * After a read: holds are re-validated first — a held user the read saw (present, not removed) is not gone,
 * and its hold is released. Then, after a full read, every stored user the run did not see and no hold
 * already names is pending deletion, and the guard decides for the run's pending user deletions as a
 * whole: apply them all, or hold them all with the reason.
 */
export async function settleUserDeletions(
  deps: UserSyncDeps,
  args: { customerId: string; runId: string; runStartedAt: string; mode: 'full' | 'delta'; total: number },
  /** The customer's Microsoft side: with a sync filter, a user a full read did not see is looked up. */
  microsoft?: () => Promise<CustomerMicrosoft>,
): Promise<{ counts: EntityCounts; heldReason?: string; released: PendingDeletion[] }> {
  const listed = await deps.pending.list(args.customerId, { entityType: 'users' });
  const held = new Map(listed.filter((d) => d.held).map((d) => [d.id, d]));
  const seenAgain: PendingDeletion[] = [];
  const seen = (u: UserRecord) => !u.removed && u.syncedAt !== undefined && u.syncedAt >= args.runStartedAt;
  // A first read never comes here (it cannot miss anyone: nothing was stored before it).
  if (args.mode === 'full') {
    let missing: PendingDeletion[] = [];
    const unseen = new Map<string, UserRecord>();
    for await (const { value } of deps.storage.users.list(args.customerId)) {
      const hold = held.get(value.userId);
      if (hold && seen(value)) seenAgain.push(hold);
      if (value.removed || hold) continue;
      if (!value.syncedAt || value.syncedAt < args.runStartedAt) {
        missing.push({ entityType: 'users', id: value.userId, removal: 'missing', runId: args.runId, held: false });
        unseen.set(value.userId, value);
      }
    }
    const rules = missing.length > 0 ? await handOffRules(deps.storage, args.customerId) : undefined;
    if (rules && filters(rules.settings.syncFilter) && microsoft) {
      // A filtered read does not show users outside the filter: those still in Microsoft left the filter
      // (leavers, never deletions held by the guard); only the ones Microsoft no longer has are missing.
      const present = await presentUsers(await microsoft(), missing.map((m) => m.id));
      const filter = rules.settings.syncFilter;
      const sightings: LeaverSighting[] = [];
      for (const [id, user] of present) {
        const before = unseen.get(id);
        if (before && !inSyncFilter(user, filter) && !before.leaver) sightings.push({ before, reason: 'outside-filter' });
      }
      missing = missing.filter((m) => !present.has(m.id));
      if (sightings.length > 0) {
        const { messages } = await settleLeavers(deps.storage, args.customerId, sightings, rules.settings, new Date());
        if (messages.length > 0) await deps.queue.send(messages);
      }
    }
    await deps.pending.add(args.customerId, missing);
  } else if (held.size > 0) {
    for (const { value } of (await deps.storage.users.getMany(args.customerId, [...held.keys()])).values()) if (seen(value)) seenAgain.push(held.get(value.userId)!);
  }
  await deps.pending.remove(args.customerId, seenAgain);
  const released = seenAgain;
  // A delta round's pending deletions were all added by its pages, before this listing; a full read's are added above.
  const ofRun = (d: PendingDeletion) => !d.held && d.runId === args.runId;
  const pending = args.mode === 'full' ? await deps.pending.list(args.customerId, { runId: args.runId, entityType: 'users', held: false }) : listed.filter(ofRun);
  const counts = zeroCounts();
  if (pending.length === 0) return { counts, released };
  const rules = await handOffRules(deps.storage, args.customerId);
  const decision = guardDeletes('users', pending.length, args.total, rules.settings.deleteThresholds.users);
  if (!decision.allow) {
    const heldAt = new Date().toISOString();
    await deps.pending.add(args.customerId, pending.map((p) => ({ ...p, held: true, heldReason: decision.reason, heldAt })));
    counts.held = pending.length;
    return { counts, heldReason: decision.reason, released };
  }
  counts.deleted = await applyUserDeletions(deps, args.customerId, pending, rules.settings.numberCoolingDays);
  return { counts, released };
}

/**
 * A soft delete keeps the record (marked, restorable, its number kept); a hard delete, or a user no longer
 * in the tenant at all, removes the record and sends its number to cooling.
 */
export async function applyUserDeletions(
  deps: UserSyncDeps,
  customerId: string,
  deletions: readonly PendingDeletion[],
  coolingDays: number,
  options: { operatorAllowed?: boolean } = {},
): Promise<number> {
  const now = new Date();
  const hard: string[] = [];
  // A held user is deleted by an operator's allow only: whatever else decided to delete it, a hold placed
  // meanwhile (a change notification beyond the threshold, say) wins.
  const heldNow = options.operatorAllowed ? new Set<string>() : new Set((await deps.pending.list(customerId, { entityType: 'users', held: true })).map((d) => d.id));
  const applied = deletions.filter((d) => !heldNow.has(d.id));
  const gone: ChangeOf[] = [];
  const softDeleted: LeaverSighting[] = [];
  for (const d of applied) {
    const stored = await deps.storage.users.get(customerId, d.id);
    if (!stored) continue;
    if (d.removal === 'soft') {
      await deps.storage.users.markRemoved(customerId, d.id, { kind: 'soft', at: now.toISOString() });
      if (!stored.value.leaver && siteOf(stored.value.state)) softDeleted.push({ before: stored.value, reason: 'soft-deleted' });
      continue;
    }
    const record = stored.value;
    if (record.number) {
      const siteId = 'siteId' in record.state ? record.state.siteId : undefined;
      await deps.storage.numbers.release({ customerId, siteId }, record.number, record.userId, now, coolingDays);
    }
    hard.push(d.id);
    gone.push({ customerId, userId: d.id, attributes: record.attributes, before: record.state, after: undefined, numberBefore: record.number, causeId: `${d.runId}:${d.removal}`, cause: 'sync', at: now });
  }
  // Told before the records go: a crash in between repeats the deletion, and with it the same events.
  await publishChanges(deps.events, gone);
  await deps.storage.users.deleteMany(customerId, hard);
  if (softDeleted.length > 0) {
    // Soft-deleted users are leavers: the customer's setting says whether they are offboarded, and when.
    const rules = await handOffRules(deps.storage, customerId);
    const { messages } = await settleLeavers(deps.storage, customerId, softDeleted, rules.settings, now);
    if (messages.length > 0) await deps.queue.send(messages);
  }
  await deps.pending.remove(customerId, applied);
  return applied.length;
}

export type { RemovalKind };
