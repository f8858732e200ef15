/**
 * Provisioning one user: place it at its site (unless the operator named one), choose its profile (unless
 * a Quick Add Group was given), read what Microsoft holds, plan the difference and apply it in Microsoft's
 * order, then record the user's state and a transaction with every step.
 *
 * Message handling rules:
 * - Idempotent per cause: the transaction id derives from the message's logical id, so a repeat of a
 *   finished message does nothing at all, and a repeat of an unfinished one re-plans from Microsoft's
 *   current state (every step is checked against it before writing).
 * - Transient failures (throttled, 5xx, an operation still running) schedule the same cause again with
 *   backoff as a new message and complete the current one; after `maxAttempts` the user needs attention.
 * - Permanent failures leave the user in needs-attention with the reason. A user whose profile needs a line
 *   and who holds none at the end is never `provisioned`: it needs attention, with the number step's reason.
 *   A number that turns out held by someone else in Microsoft is recorded as theirs and the next is taken.
 *   A number the user already holds that prevent duplicate numbers refuses fails only the number step.
 *
 * A pass is a `Run`: what every part of it shares is `RunBase`'s (runBase.ts), the user's line `RunLines`'
 * (runLines.ts); the placement, the plan, offboarding and the record are here.
 */
import { createHash } from 'node:crypto';
import {
  chooseProfile,
  flowThroughExclusion,
  applyPlan,
  lineRequirement,
  missingLine,
  newTransactionId,
  place,
  planProvisioning,
  requiresLine,
  siteOf,
  transactionOutcome,
  type License,
  type LineRequirement,
  type MicrosoftUserState,
  type NumberType,
  type Placement,
  type ProvisioningChange,
  type QuickAddGroup,
  type TransactionKind,
  type TransactionRecord,
  type UserProfile,
  type UserRecord,
  type UserState,
  isResourceAccount,
  describeLeaver,
  leftBehind,
  type PolicySet,
  type ReturnTo,
} from '../domain';
import {
  GraphInvalidRequestError,
  GraphNotFoundError,
  GraphThrottledError,
  POLICY_NOT_FOUND,
  MicrosoftError,
  type TeamsUserConfiguration,
} from '../ports/microsoft';
import { ConflictError, type PendingNumberAssignment, type Versioned } from '../ports/storage';
import { scheduleNumberCheck } from './numberChecks';
import { customerContext, CustomerNotFoundError, macrosOf, placementFor, type CustomerContext } from './customerContext';
import { carriesHandOff, handOffMark, handOffMarkOf, isSyncHandOff, openWorkScope, provisionCauseId, provisionMessageId, type OpenWork, type ProvisionUserMessage } from './messages';
import {
  microsoftUserState,
  normalizedPolicies,
  policyName,
  presenceOf,
  servicePlansBySku,
  storedMicrosoftState,
  teamsFeaturesOf,
  withApplied,
  DIAL_PLAN_POLICY_TYPE,
  type TeamsPresence,
} from './microsoftState';
import { DEFAULT_RETRY, type ProvisioningDeps, type ProvisioningMicrosoft } from './ports';
import { updateUser } from './userRecords';
import { publishChanges } from '../events/userEvents';
import { DEFAULT_LINE_TYPE, isTransient } from './runBase';
import { RunLines } from './runLines';

export type ProvisionResult =
  | { kind: 'skipped'; reason: string; transactionId?: string }
  | { kind: 'done'; state: UserState; transactionId: string; outcome: 'succeeded' | 'partially-failed' | 'failed' }
  /** Done but for what Teams is finishing (a number assignment): the user is finished when it is checked. */
  | { kind: 'pending'; state: UserState; transactionId: string }
  | { kind: 'retry-scheduled'; transactionId: string; attempt: number; at: string; reason: string };

/** The transaction a message (and its repeats and retries) is recorded under. */
export function transactionIdFor(message: ProvisionUserMessage): string {
  if (message.transactionId) return message.transactionId;
  const unique = createHash('sha256').update(provisionCauseId(message)).digest('base64url').slice(0, 22);
  // Dated by the cause (the run or change that observed the user), not by when it was sent: a page read
  // repeated after a crash sends its hand-offs again, later, and they are the same work.
  return newTransactionId(new Date(Date.parse(message.observedAt ?? '') || Date.parse(message.requestedAt) || 0), unique);
}

/** What the message asks for, once the customer's rules are applied. */
interface Intent {
  kind: TransactionKind;
  placement: Placement;
  /** The user stays at customer level for this reason, whatever placement says. */
  stay?: string;
  /** Provision with this profile and group; undefined = move only. */
  provision?: { profile: UserProfile; group: QuickAddGroup; role?: string; line?: LineRequirement };
  /** Offboard from the user's site back to customer level, for this reason. */
  offboard?: string;
}

export async function provisionUser(deps: ProvisioningDeps, message: ProvisionUserMessage): Promise<ProvisionResult> {
  const now = deps.now?.() ?? new Date();
  let ctx: CustomerContext;
  try {
    ctx = await customerContext(deps.storage, message.customerId, now.getTime());
  } catch (error) {
    if (error instanceof CustomerNotFoundError) return { kind: 'skipped', reason: error.message };
    throw error;
  }
  const transactionId = transactionIdFor(message);
  const stored = await deps.storage.users.get(message.customerId, message.userId);
  if (!stored) return settled(deps, message, transactionId, { kind: 'skipped', reason: `user ${message.userId} is not at customer ${message.customerId}` });
  const user = stored.value;

  const intent = decide(ctx, user, message);
  if (typeof intent === 'string') return settled(deps, message, transactionId, { kind: 'skipped', reason: intent });

  const transaction: TransactionRecord = {
    id: transactionId, customerId: message.customerId, kind: intent.kind, userId: message.userId,
    trigger: provisionMessageId(message), startedAt: now.toISOString(), outcome: 'running', steps: [], from: startOf(user),
  };
  let existing: Versioned<TransactionRecord> | undefined;
  if (isSyncHandOff(message) && !message.attempt) {
    // A sync's hand-off is nearly always delivered once: its transaction is created outright (the user row's
    // hand-off mark finds the work again if it stops), and read only when it was there already.
    if (!(await createTransaction(deps, transaction))) existing = await deps.storage.transactions.get(message.customerId, transactionId);
  } else {
    existing = await deps.storage.transactions.get(message.customerId, transactionId);
    if (!existing) {
      // Work that no user row marks is indexed before it starts, so that it is found again if it stops.
      if (!isSyncHandOff(message)) {
        const open: OpenWork = { transactionId, message: { ...message, attempt: undefined, resentAt: undefined, turn: undefined }, since: now.toISOString() };
        await deps.storage.syncState.put(openWorkScope(message.customerId), transactionId, open);
      }
      await createTransaction(deps, transaction); // created by a concurrent repeat meanwhile: go on, every step is checked
    }
  }
  // Work that went to the dead-letter queue is continued by a replay of its message (or a resend).
  if (existing && existing.value.outcome !== 'running' && !endedAtDeadLetter(existing.value)) return settled(deps, message, transactionId, { kind: 'skipped', reason: 'already done', transactionId });
  // The same cause handed off again (a page read again) while the first hand-off's message carries the work:
  // that message finishes it, and clears the user's mark. Its retries and resends go on.
  const startedBy = handOffMarkOf(existing?.value.trigger);
  if (existing?.value.outcome === 'running' && isSyncHandOff(message) && !message.attempt && !message.resentAt && startedBy && startedBy !== handOffMark(message)) {
    return { kind: 'skipped', reason: `under way, handed off earlier (${existing.value.trigger})`, transactionId };
  }

  const run = new Run(deps, ctx, user, message, transactionId, now, existing?.value.from ?? startOf(user), existing !== undefined, stored);
  try {
    const state = await run.execute(intent);
    return await run.finish(state);
  } catch (error) {
    if (isTransient(error)) return run.retry(error as Error, intent);
    throw error;
  }
}

/** Creates the transaction; false when it existed already. */
async function createTransaction(deps: ProvisioningDeps, transaction: TransactionRecord): Promise<boolean> {
  try {
    await deps.storage.transactions.create(transaction);
    return true;
  } catch (error) {
    if (error instanceof ConflictError) return false;
    throw error;
  }
}

function decide(ctx: CustomerContext, user: UserRecord, message: ProvisionUserMessage): Intent | string {
  if (isResourceAccount(user.attributes, user.teams?.accountType)) return 'a resource account (auto attendant or call queue) is never placed or provisioned as a person';
  const settings = ctx.settings;
  const currentSite = siteOf(user.state);
  const atSite = (siteId: string): Placement => ({ kind: 'site', siteId, siteName: ctx.sites.get(siteId)?.name ?? siteId, alsoMatched: [] });
  const flowThroughProfile = (siteId: string, criteriaId: string | undefined): Intent['provision'] => {
    const choice = chooseProfile(user.attributes, criteriaId ? ctx.flowThrough.get(criteriaId) : undefined, ctx.criteria, macrosOf(ctx, siteId));
    if (choice.kind !== 'profile') return undefined;
    const profile = ctx.profiles.get(choice.profileId);
    const group = profile ? ctx.quickAddGroups.get(profile.quickAddGroupId) : undefined;
    return profile && group ? { profile, group, ...(choice.role ? { role: choice.role } : {}) } : undefined;
  };

  switch (message.reason) {
    case 'number-check':
      return "a number check is about a customer's pending assignments, not one user's provisioning";
    case 'offboard':
    case 'leaver': {
      if (!currentSite) return 'the user is at customer level already';
      if (message.reason === 'leaver' && !user.leaver) return 'the user is no longer a leaver';
      const why = message.reason === 'leaver' && user.leaver ? `a leaver, ${describeLeaver(user.leaver)}` : "the operator's request";
      return { kind: 'offboard', placement: atSite(currentSite), offboard: why };
    }
    case 'restore': {
      const back = user.returnTo;
      if (!back) return 'the user has no site to return to';
      if (currentSite) return `the user is at site ${currentSite} already`;
      if (!ctx.sites.has(back.siteId)) return `site ${back.siteId} it returns to no longer exists`;
      if (user.leaver) return 'the user is still a leaver';
      const provision = flowThroughProfile(back.siteId, settings.addSyncCriteriaId);
      const line: LineRequirement | undefined = back.number && provision ? { kind: 'explicit', number: back.number, type: back.lineType ?? DEFAULT_LINE_TYPE } : undefined;
      return { kind: 'provision', placement: atSite(back.siteId), ...(provision ? { provision: { ...provision, ...(line ? { line } : {}) } } : {}) };
    }
    case 'move': {
      const siteId = message.siteId;
      if (!currentSite) return 'the user is at customer level: Quick User or overbuild places it';
      if (!siteId || !ctx.sites.has(siteId)) return `site ${siteId ?? '(none)'} does not exist`;
      if (siteId === currentSite) return `the user is at site ${siteId} already`;
      const provision = moveProfile(ctx, user, message.profileId) ?? flowThroughProfile(siteId, settings.addSyncCriteriaId);
      return { kind: 'move', placement: atSite(siteId), ...(provision ? { provision } : {}) };
    }
    case 'quick-user': {
      const siteId = message.siteId;
      const group = message.quickAddGroupId ? ctx.quickAddGroups.get(message.quickAddGroupId) : undefined;
      if (!siteId || !ctx.sites.has(siteId)) return `site ${siteId ?? '(none)'} does not exist`;
      if (!group) return `Quick Add Group ${message.quickAddGroupId ?? '(none)'} does not exist`;
      const requested = message.line ?? { kind: group.line.assignment === 'nextAvailable' ? 'next-available' : group.line.assignment === 'explicit' ? 'explicit' : 'none', ...(group.line.number ? { number: group.line.number } : {}) };
      const type = group.line.numberType ?? DEFAULT_LINE_TYPE;
      const line: LineRequirement =
        requested.kind === 'explicit' && 'number' in requested && requested.number ? { kind: 'explicit', number: requested.number, type }
        : requested.kind === 'next-available' ? { kind: 'nextAvailable', type }
        : { kind: 'none' };
      const profile: UserProfile = { id: `quick-add-group:${group.id}`, customerId: ctx.customer.id, name: group.name, quickAddGroupId: group.id, services: { teams: true, voice: line.kind !== 'none' } };
      return { kind: 'quick-user', placement: atSite(siteId), provision: { profile, group, line } };
    }
    case 'overbuild': {
      const placement = message.siteId ? atSite(message.siteId) : place(user.attributes, placementFor(ctx));
      const excluded = flowThroughExclusion(user.attributes, settings.flowThroughDisabledAndGuests);
      const provision = message.provision && !excluded && placement.kind === 'site' ? flowThroughProfile(placement.siteId, settings.addSyncCriteriaId) : undefined;
      return { kind: 'overbuild', placement, ...(provision ? { provision } : {}) };
    }
    case 'staging-recheck': {
      if (user.state.kind !== 'staged') return 'the user is no longer staged';
      const profile = ctx.profiles.get(user.state.profileId);
      const group = profile ? ctx.quickAddGroups.get(profile.quickAddGroupId) : quickAddGroupOf(ctx, user.state.profileId);
      if (!group) return `profile ${user.state.profileId} no longer exists`;
      const effective = profile ?? { id: user.state.profileId, customerId: ctx.customer.id, name: group.name, quickAddGroupId: group.id, services: { teams: true, voice: group.line.assignment !== 'none' || user.state.line !== undefined } };
      // The line chosen when the user was staged (an operator's explicit number) is the one it gets.
      return { kind: 'provision', placement: atSite(user.state.siteId), provision: { profile: effective, group, ...(user.state.line ? { line: user.state.line } : {}) } };
    }
    case 'sync-update': {
      if (currentSite && settings.updateSync) {
        const placement = place(user.attributes, ctx.placement);
        if (placement.kind !== 'site') return `no site matches the user's new attributes; it stays at site ${currentSite}`;
        const provision = flowThroughProfile(placement.siteId, settings.updateSyncCriteriaId ?? settings.addSyncCriteriaId);
        return { kind: placement.siteId === currentSite ? 'provision' : 'move', placement, ...(provision ? { provision } : {}) };
      }
      if (currentSite) return 'update sync is off for the customer';
      return flowThrough();
    }
    default:
      return flowThrough();
  }

  function flowThrough(): Intent | string {
    if (!settings.addSync) return 'flow-through provisioning is off for the customer';
    // A leaver at customer level (offboarded, or out of the sync filter) is not placed again by a sync.
    const excluded = currentSite ? undefined : user.leaver ? `a leaver: ${describeLeaver(user.leaver)}` : flowThroughExclusion(user.attributes, settings.flowThroughDisabledAndGuests);
    if (excluded) return { kind: 'provision', placement: { kind: 'customer', reason: 'no-site-matches' }, stay: excluded };
    const placement = currentSite ? atSite(currentSite) : place(user.attributes, ctx.placement);
    const provision = placement.kind === 'site' ? flowThroughProfile(placement.siteId, settings.addSyncCriteriaId) : undefined;
    return { kind: 'provision', placement, ...(provision ? { provision } : {}) };
  }
}

/** The profile a moved user gets: the operator's, else the one it has (when it still exists). */
export function moveProfile(ctx: CustomerContext, user: UserRecord, profileId: string | undefined): Intent['provision'] {
  const id = profileId ?? ('profileId' in user.state ? user.state.profileId : undefined);
  const profile = id ? ctx.profiles.get(id) : undefined;
  const group = profile ? ctx.quickAddGroups.get(profile.quickAddGroupId) : undefined;
  return profile && group ? { profile, group, ...(user.role ? { role: user.role } : {}) } : undefined;
}

/** Where a transaction starts from: the state its event is told against, whichever attempt finishes it. */
export function startOf(user: UserRecord): NonNullable<TransactionRecord['from']> {
  return { state: user.state, ...(user.number ? { number: user.number } : {}) };
}

function quickAddGroupOf(ctx: CustomerContext, profileId: string): QuickAddGroup | undefined {
  const prefix = 'quick-add-group:';
  return profileId.startsWith(prefix) ? ctx.quickAddGroups.get(profileId.slice(prefix.length)) : undefined;
}

class Run extends RunLines {
  /** Changes Microsoft took in this pass: the stored record learns them, so the next plan starts from them. */
  private readonly applied: ProvisioningChange[] = [];
  private role?: string;
  private returnTo?: ReturnTo;
  /** Teams said it does not know the user yet (licenses granted in this pass): staged. */
  private teamsNotYet = false;

  /** Runs the intent; returns the user's next state. */
  async execute(intent: Intent): Promise<UserState> {
    if (intent.offboard) return this.offboard(intent.offboard);
    if (intent.stay) {
      this.step('placement', 'skipped', intent.stay);
      return { kind: 'at-customer', reason: intent.stay };
    }
    const placement = intent.placement;
    if (placement.kind === 'customer') {
      this.step('placement', 'skipped', placement.reason === 'no-site-enabled' ? 'no site is enabled for Microsoft users' : "no site's move-user criteria match the user");
      return { kind: 'at-customer', reason: placement.reason };
    }
    const siteId = placement.siteId;
    this.siteId = siteId;
    const from = siteOf(this.user.state);
    if (from === siteId) this.step('placement', 'ok', `at site ${placement.siteName}`);
    else this.step('move', 'ok', `${from ? `from site ${from} ` : 'from the customer '}to site ${placement.siteName}${placement.alsoMatched.length ? `; also matched ${placement.alsoMatched.join(', ')}` : ''}`);
    const defaults = this.ctx.siteDefaults.get(siteId);
    if (!defaults) {
      this.needsAttention('site-defaults', `site ${siteId} has no site defaults`);
      return { kind: 'needs-attention', reason: this.attention!, siteId };
    }
    this.siteDefaults = defaults;

    const provision = intent.provision;
    const lineType = provision?.line && provision.line.kind !== 'none' ? provision.line.type : (provision?.group.line.numberType ?? DEFAULT_LINE_TYPE);
    const known = await this.currentState(provision?.group, lineType);
    if (typeof known === 'string') {
      this.needsAttention('read', known);
      return { kind: 'needs-attention', reason: this.attention!, siteId };
    }
    let { state, teams } = known;

    // A site-to-site move gives up the number of the old site's inventory (one of the customer's own
    // inventory, shared by every site, goes with the user), and what the old site gave that the new one does not.
    if (from && from !== siteId && this.user.number && state.number?.number === this.user.number) {
      if (await this.releaseOldNumber(from, this.user.number)) state = { ...state, number: undefined };
    }
    if (from && from !== siteId) {
      const config = await this.ms.tenant.getTeamsUserConfiguration(this.user.userId);
      if (config) await this.takeAwaySite(from, config, [normalizedPolicies(defaults), ...(provision ? [normalizedPolicies(provision.group)] : [])]);
    }

    if (!provision) {
      if (state.number) await this.recordHeldNumber(siteId, state.number.number, this.user.userId);
      else this.number = undefined;
      return { kind: 'at-site', siteId };
    }

    this.role = provision.role;
    this.profileId = provision.profile.id;
    const siteDefaults = normalizedPolicies(defaults);
    const group = normalizedPolicies(provision.group);
    const line = provision.line ?? lineRequirement(state, provision.profile, group);
    const plan = planProvisioning({ state, siteDefaults, profile: provision.profile, quickAddGroup: { ...group, line: { assignment: 'none' } } });
    const byKind = (kinds: ProvisioningChange['kind'][]) => plan.changes.filter((c) => kinds.includes(c.kind));
    // "Manage Licenses and Allow User Staging" off: the site's users keep the licenses they have, and are not staged.
    const managesLicenses = defaults.manageLicensesAndAllowStaging;
    const licenseChanges = managesLicenses ? byKind(['licenses']) : [];
    if (!managesLicenses && byKind(['licenses']).length > 0) this.step('licenses', 'skipped', `site ${placement.siteName} does not manage licenses (site defaults): the user keeps its own`);

    // Directory first: usage location before licenses, licenses before anything Teams.
    for (const change of [...byKind(['usageLocation']), ...licenseChanges]) {
      if (!(await this.apply(change))) return { kind: 'needs-attention', reason: this.attention!, siteId };
    }
    // Licenses just granted change the user's Teams side: what they bring is read from the licenses' service
    // plans (the sync's catalog), and the Teams writes that follow are the check — Teams answering that it
    // does not know the user yet stages it for the re-check.
    const licensedNow = licenseChanges.some((c) => c.kind === 'licenses' && c.add.length > 0);
    if (licensedNow && (!teams.present || !teams.featureTypes.includes('PhoneSystem'))) {
      teams = await this.afterLicensing(teams, applyPlan(state, { changes: licenseChanges }).licenses);
    }

    const notInTeams = !teams.present && provision.profile.services.teams;
    const licensed = state.licenses.length > 0 || licensedNow;
    let staged = false;
    if (notInTeams && !licensed) {
      this.needsAttention('teams', 'the user is not in Teams and holds no license that would bring it there');
    } else if (notInTeams && !managesLicenses) {
      this.needsAttention('teams', `the user is not in Teams yet, and site ${placement.siteName} does not allow staging (site defaults)`);
    } else if (notInTeams) {
      staged = true;
      this.step('teams', 'skipped', 'the user is not in Teams yet: staged until it appears');
      if (line.kind !== 'none') await this.holdForStaging(siteId, line);
    } else {
      await this.applyPolicies(byKind(['policy']));
      if (!this.teamsNotYet) for (const change of byKind(['dialPlan'])) await this.apply(change);
      if (!this.teamsNotYet) await this.numberStep(siteId, state, line, teams.featureTypes, licensedNow);
      if (this.teamsNotYet) {
        staged = true;
        this.step('teams', 'skipped', 'the licenses just granted have not brought the user into Teams yet: staged until it appears');
        if (line.kind !== 'none') await this.holdForStaging(siteId, line);
      }
    }
    for (const change of byKind(['groups'])) await this.apply(change);

    const missing = missingLine({
      required: requiresLine(provision.profile, provision.group, provision.line),
      holdsNumber: this.holdsNumber,
      awaiting: staged || this.awaitingLine !== undefined,
      failure: this.lineFailure,
    });
    if (missing) this.attention ??= missing;
    if (this.attention) return { kind: 'needs-attention', reason: this.attention, siteId };
    if (staged || this.awaitingLine) {
      const stagedLine = this.awaitingLine ?? (line.kind !== 'none' ? line : undefined);
      return {
        kind: 'staged',
        siteId,
        profileId: provision.profile.id,
        since: this.user.state.kind === 'staged' ? this.user.state.since : this.now.toISOString(),
        ...(stagedLine ? { line: stagedLine } : {}),
      };
    }
    return { kind: 'provisioned', siteId, profileId: provision.profile.id };
  }

  /**
   * What Microsoft holds for the user. A user the sync has just stored (flow-through, a change notification)
   * is planned from what the sync stored; anything else — an operator's request, a re-check waiting for
   * Teams, a retry or a repeat after part of the pass was applied (what the sync stored is older than that
   * part) — reads Microsoft, as does a record stored without what planning needs. A string says why the
   * user cannot be provisioned.
   */
  private async currentState(group: QuickAddGroup | undefined, lineType: NumberType): Promise<{ state: MicrosoftUserState; teams: TeamsPresence } | string> {
    const fromSync = (this.message.reason === 'sync-add' || this.message.reason === 'sync-update' || this.message.reason === 'notification') && !this.message.attempt && !this.repeat;
    // Groups: the ones provisioning joined the user to, as recorded; never recorded, every group to leave
    // counts as joined (leaving one not joined, like joining one twice, is a no-op at Microsoft).
    const stored = fromSync ? storedMicrosoftState(await this.withTeamsKnown(this.user), this.user.groups ?? group?.groups.remove ?? [], lineType) : undefined;
    if (stored) return stored;
    try {
      const msUser = await this.ms.tenant.getUser(this.user.userId);
      if (!msUser) return 'the user no longer exists in Microsoft';
      const teams = await this.ms.tenant.getTeamsUserConfiguration(this.user.userId);
      const groupIds = group && group.groups.add.length + group.groups.remove.length > 0 ? await this.ms.userGroupIds(this.user.userId) : [];
      return { state: microsoftUserState(msUser, teams, groupIds, lineType), teams: presenceOf(teams) };
    } catch (error) {
      if (isTransient(error) || !(error instanceof MicrosoftError)) throw error;
      return `${error.name}: ${error.message}`;
    }
  }

  /**
   * The record, its Teams side known: a user with no Teams row that the last complete Teams pass covered
   * (synced in its run or before) is not in Teams; otherwise the row may just not be written yet.
   */
  private async withTeamsKnown(record: UserRecord): Promise<UserRecord> {
    if (record.teams || !record.syncedAt) return record;
    // From the customer's context: a pass recorded since it was read is seen within seconds, and until then
    // the older pass only leaves the user's Teams side unknown (Microsoft is read), never wrongly absent.
    const pass = this.ctx.teamsPass;
    if (!pass || pass.runStartedAt < record.syncedAt) return record;
    return { ...record, teams: { present: false, enterpriseVoice: false, numbers: [], accountType: null, featureTypes: [], policies: {}, direct: {} } };
  }

  /**
   * Every Teams policy of the plan in one request; when Microsoft refuses the whole, each is tried alone so
   * the step that failed is the one recorded.
   */
  private async applyPolicies(changes: ProvisioningChange[]): Promise<void> {
    const policies = changes.filter((c): c is Extract<ProvisioningChange, { kind: 'policy' }> => c.kind === 'policy');
    if (policies.length === 0) return;
    try {
      await this.ms.tenant.assignTeamsPolicies(this.user.userId, policies);
      for (const p of policies) this.step(`policy:${p.policyType}`, 'ok', p.policyName);
      this.applied.push(...policies);
    } catch (error) {
      if (isTransient(error) || !(error instanceof MicrosoftError)) throw error;
      if (this.notInTeamsYet(error)) return;
      for (const change of policies) await this.apply(change);
    }
  }

  /**
   * The Teams side after licenses were granted in this pass: the features their service plans bring, the
   * user taken to be in Teams when they bring Teams. Without the licenses in the catalog, Teams is asked.
   */
  private async afterLicensing(teams: TeamsPresence, licenses: License[]): Promise<TeamsPresence> {
    const plans = this.deps.catalog ? servicePlansBySku(await this.deps.catalog.list(this.ctx.customer.id, 'licenses')) : new Map();
    // A license the catalog does not know (not synced yet): Teams is asked.
    if (licenses.some((l) => !plans.has(l.skuId.toLowerCase()))) return presenceOf(await this.ms.tenant.getTeamsUserConfiguration(this.user.userId));
    const implied = teamsFeaturesOf(licenses, plans);
    if (!teams.present && !implied.includes('Teams')) return teams;
    this.teamsAssumed = true;
    return { present: true, featureTypes: [...new Set([...teams.featureTypes, ...implied])] };
  }

  /** Teams answered that it does not know a user whose licenses were just granted: not an error, not yet. */
  private notInTeamsYet(error: unknown): boolean {
    if (!this.teamsAssumed || !(error instanceof GraphNotFoundError) || error.code === POLICY_NOT_FOUND) return false;
    this.teamsNotYet = true;
    return true;
  }

  /** One planned change; false when it failed in a way that stops provisioning. */
  private async apply(change: ProvisioningChange): Promise<boolean> {
    const { tenant } = this.ms;
    const userId = this.user.userId;
    try {
      switch (change.kind) {
        case 'usageLocation':
          await tenant.setUsageLocation(userId, change.usageLocation);
          this.step('usage-location', 'ok', change.usageLocation);
          this.applied.push(change);
          return true;
        case 'licenses': {
          // Seats are not read first: Microsoft refuses an assignment without a free seat (or of a SKU the
          // tenant does not have), and that refusal is the check — one request, never a stale count.
          await tenant.assignLicenses(userId, { add: change.add, remove: change.remove });
          this.step('licenses', 'ok', [...change.add.map((l) => `+${l.skuId}`), ...change.remove.map((s) => `-${s}`)].join(' '));
          this.applied.push(change);
          return true;
        }
        case 'policy':
          try {
            await tenant.assignTeamsPolicy(userId, change.policyType, change.policyName);
            this.step(`policy:${change.policyType}`, 'ok', change.policyName);
            this.applied.push(change);
          } catch (error) {
            if (this.notInTeamsYet(error)) return true;
            // Graph knows no id for the policy (a type it does not carry): only then the bridge grants it.
            if (!(error instanceof GraphNotFoundError && error.code === POLICY_NOT_FOUND) || !this.ms.bridge) throw error;
            await this.ms.bridge.grantPolicy(userId, change.policyType, change.policyName);
            this.step(`policy:${change.policyType}`, 'ok', `${change.policyName} (through the Teams admin bridge: Graph has no id for it)`);
            this.applied.push(change);
          }
          return true;
        case 'dialPlan': {
          const unsynced = this.dialPlansUnsynced();
          if (unsynced) {
            // Said as it is: the plan needs a dial plan the last sync could not read, so it is not granted blind.
            this.needsAttention('dial-plan', `dial plan ${change.dialPlan} is not granted: the tenant's dial plans could not be synced (${unsynced})`);
            return true;
          }
          if (!this.ms.bridge) {
            this.needsAttention('dial-plan', 'the Teams admin bridge is not configured: dial plans cannot be granted');
            return true;
          }
          try {
            await this.ms.bridge.grantPolicy(userId, DIAL_PLAN_POLICY_TYPE, change.dialPlan);
          } catch (error) {
            if (this.notInTeamsYet(error)) return true;
            throw error;
          }
          this.step('dial-plan', 'ok', change.dialPlan);
          this.applied.push(change);
          return true;
        }
        case 'groups':
          for (const g of change.add) await tenant.addGroupMember(g, userId);
          for (const g of change.remove) await tenant.removeGroupMember(g, userId);
          this.step('groups', 'ok', [...change.add.map((g) => `+${g}`), ...change.remove.map((g) => `-${g}`)].join(' '));
          this.applied.push(change);
          return true;
        case 'number':
          return true; // numbers take their own step
      }
    } catch (error) {
      if (isTransient(error)) throw error;
      const name = change.kind === 'policy' ? `policy:${change.policyType}` : change.kind === 'usageLocation' ? 'usage-location' : change.kind === 'dialPlan' ? 'dial-plan' : change.kind;
      if (error instanceof GraphInvalidRequestError && error.reason === 'noAvailableLicenses') return this.stop(name, `no seats left: ${error.message}`);
      if (error instanceof MicrosoftError) {
        const stops = change.kind === 'usageLocation' || change.kind === 'licenses';
        this.needsAttention(name, `${error.name}: ${error.message}`);
        return !stops;
      }
      throw error;
    }
  }

  /** Why the customer's last sync did not read its dial plans (failed or skipped), if it did not. */
  private dialPlansUnsynced(): string | undefined {
    const o = this.ctx.dialPlans;
    return o && (o.status === 'failed' || o.status === 'skipped') ? `${o.status}: ${o.reason ?? 'no reason recorded'}` : undefined;
  }

  private stop(step: string, reason: string): false {
    this.needsAttention(step, reason);
    return false;
  }

  /**
   * Back to customer level: the number is unassigned in Microsoft and cools in the inventory (a duplicate
   * Microsoft assigns to another user is left with them, and the user returns without it), the old site's
   * Teams policies and dial plan are taken away where the user still has them directly (the tenant's Global,
   * or a group's, applies again); licenses, usage location and groups stay, as a move leaves them.
   */
  private async offboard(why: string): Promise<UserState> {
    const siteId = siteOf(this.user.state)!;
    const userId = this.user.userId;
    this.step('move', 'ok', `from site ${this.ctx.sites.get(siteId)?.name ?? siteId} to the customer: ${why}`);
    let teams: Awaited<ReturnType<ProvisioningMicrosoft['tenant']['getTeamsUserConfiguration']>> = null;
    try {
      teams = await this.ms.tenant.getTeamsUserConfiguration(userId);
    } catch (error) {
      if (isTransient(error) || !(error instanceof MicrosoftError)) throw error;
      this.step('read', 'failed', `${error.name}: ${error.message}`);
    }
    const returnTo: ReturnTo = { siteId, offboardedAt: this.now.toISOString(), ...('profileId' in this.user.state ? { profileId: this.user.state.profileId } : {}) };
    const number = this.user.number;
    if (number) {
      const released = await this.releaseNumber(siteId, number, teams?.telephoneNumbers.some((t) => t.telephoneNumber === number) ?? false);
      if (!released) return { kind: 'needs-attention', reason: this.attention ?? `number ${number} could not be released`, siteId };
      // A number left with the user Microsoft gives it to is theirs: a return does not ask for it back.
      if (!released.keptBy) Object.assign(returnTo, { number, ...(released.lineType ? { lineType: released.lineType } : {}) });
    }
    if (teams) await this.takeAwaySite(siteId, teams, []);
    this.step('licenses', 'skipped', 'kept: offboarding leaves licenses, usage location and groups as they are');
    this.number = undefined;
    this.returnTo = returnTo;
    return { kind: 'at-customer', reason: `offboarded: ${why}` };
  }

  /**
   * Leaving a site: its Teams policies and dial plan the user still holds directly are taken away, unless
   * where the user goes (`next`: the new site's defaults and the profile's group) sets the same type again.
   */
  private async takeAwaySite(siteId: string, teams: TeamsUserConfiguration, next: readonly PolicySet[]): Promise<void> {
    const defaults = this.ctx.siteDefaults.get(siteId);
    if (!defaults) return;
    const userId = this.user.userId;
    const direct = new Map(teams.effectivePolicyAssignments.filter((p) => p.assignmentType === 'direct').map((p) => [p.policyType.toLowerCase(), policyName(p.displayName ?? '')]));
    const gone = leftBehind(normalizedPolicies(defaults), direct, next, DIAL_PLAN_POLICY_TYPE);
    if (gone.policyTypes.length > 0) {
      await this.ms.tenant.unassignTeamsPolicies(userId, gone.policyTypes);
      this.step('policies', 'ok', `${gone.policyTypes.join(', ')}: site ${siteId}'s taken away, the tenant's apply`);
    }
    if (gone.dialPlan) {
      if (this.ms.bridge) {
        await this.ms.bridge.grantPolicy(userId, DIAL_PLAN_POLICY_TYPE, null);
        this.step('dial-plan', 'ok', `${gone.dialPlan} taken away`);
      } else this.step('dial-plan', 'skipped', `${gone.dialPlan} stays: the Teams admin bridge is not configured`);
    }
  }

  async finish(state: UserState, outcomeOverride?: 'failed'): Promise<ProvisionResult> {
    if (this.pendingNumber) return this.waitForNumber(state);
    const written = await updateUser(this.deps, this.user.customerId, this.user.userId, (record) => {
      const next: UserRecord = { ...withApplied(record, this.applied), state, lastTransactionId: this.transactionId };
      if (this.role) next.role = this.role;
      if (this.number !== undefined && state.kind !== 'at-customer') next.number = this.number;
      else delete next.number;
      // The hand-off this message carried is done (a newer one, from a later sync, stays).
      if (carriesHandOff(next, this.message)) delete next.handoff;
      if (this.returnTo) next.returnTo = this.returnTo;
      // At a site again: where an offboarded leaver would return is history.
      if (siteOf(state)) delete next.returnTo;
      return next;
    }, this.takeRead());
    // Published before the transaction reads finished: a crash in between repeats the transaction, and the
    // repeat publishes the same event again (the same id), never none.
    if (written) {
      await publishChanges(this.deps.events, [{
        customerId: this.user.customerId, userId: this.user.userId, attributes: written.value.attributes,
        before: this.from.state, after: state, numberBefore: this.from.number, numberAfter: written.value.number,
        causeId: this.transactionId, cause: this.message.reason, transactionId: this.transactionId, at: new Date(),
      }]);
    }
    const outcome = outcomeOverride ?? (this.steps.length === 0 ? 'succeeded' : transactionOutcome(this.steps));
    await this.deps.storage.transactions.appendSteps(this.user.customerId, this.transactionId, this.steps, outcome, new Date());
    if (!isSyncHandOff(this.message)) await this.deps.storage.syncState.delete(openWorkScope(this.user.customerId), this.transactionId);
    return { kind: 'done', state, transactionId: this.transactionId, outcome };
  }

  /**
   * Everything but the number is done and Teams is finishing the assignment: the user waits in
   * `provisioning`, the pass's outcome (`state`) kept with the pending assignment, and a check is scheduled
   * for when it falls due. The transaction stays running until then.
   */
  private async waitForNumber(state: UserState): Promise<ProvisionResult> {
    const pending: PendingNumberAssignment = { ...this.pendingNumber!, then: state, ...(this.role ? { role: this.role } : {}) };
    const waiting: UserState = {
      kind: 'provisioning',
      siteId: pending.siteId,
      profileId: this.profileId ?? ('profileId' in state ? state.profileId : ''),
      since: this.user.state.kind === 'provisioning' ? this.user.state.since : this.now.toISOString(),
      waitingFor: `Teams to finish assigning ${pending.number}`,
    };
    // The user waits before its assignment says what it becomes: a check that finds the outcome (it may be
    // due already) finishes the user, and a pass writing `provisioning` after that would leave it waiting
    // for nothing.
    await updateUser(this.deps, this.user.customerId, this.user.userId, ({ returnTo: _back, ...record }) => ({
      ...withApplied(record, this.applied), state: waiting, number: pending.number, lastTransactionId: this.transactionId, ...(this.role ? { role: this.role } : {}),
    }), this.takeRead());
    await this.deps.storage.pendingNumbers.upsert(pending);
    await this.deps.storage.transactions.appendSteps(this.user.customerId, this.transactionId, this.steps);
    await scheduleNumberCheck(this.deps, this.user.customerId, this.user.userId, new Date(pending.dueAt));
    return { kind: 'pending', state: waiting, transactionId: this.transactionId };
  }

  /** Schedules the same cause again with backoff, or gives up and leaves the user needing attention. */
  async retry(error: Error, intent: Intent): Promise<ProvisionResult> {
    const policy = { ...DEFAULT_RETRY, ...this.deps.retry };
    const attempt = (this.message.attempt ?? 0) + 1;
    const reason = `${error.name}: ${error.message}`;
    if (attempt >= policy.maxAttempts) {
      this.step('retry', 'failed', `gave up after ${attempt} attempts: ${reason}`);
      const siteId = intent.placement.kind === 'site' ? intent.placement.siteId : undefined;
      return this.finish({ kind: 'needs-attention', reason: `gave up after ${attempt} attempts: ${reason}`, ...(siteId ? { siteId } : {}) }, 'failed');
    }
    const base = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (attempt - 1));
    const retryAfter = error instanceof GraphThrottledError && error.retryAfterMs ? error.retryAfterMs : 0;
    const delay = Math.max(retryAfter, Math.round(base * (1 + Math.random() * 0.2)));
    const at = new Date(this.now.getTime() + delay);
    this.step('retry', 'skipped', `attempt ${attempt} failed transiently (${reason}); retry at ${at.toISOString()}`);
    await this.deps.queue.schedule([{ ...this.message, transactionId: this.transactionId, attempt }], at);
    await this.deps.storage.transactions.appendSteps(this.user.customerId, this.transactionId, this.steps);
    return { kind: 'retry-scheduled', transactionId: this.transactionId, attempt, at: at.toISOString(), reason };
  }
}

export { updateUser };

/**
 * A message that ends without provisioning (nothing to do, already done, the user gone) settles its cause
 * all the same: its hand-off mark or open-work entry goes, so the reconciler does not send it again.
 */
async function settled(deps: ProvisioningDeps, message: ProvisionUserMessage, transactionId: string, result: ProvisionResult): Promise<ProvisionResult> {
  if (isSyncHandOff(message)) {
    const stored = await deps.storage.users.get(message.customerId, message.userId);
    if (stored && carriesHandOff(stored.value, message)) {
      await updateUser(deps, message.customerId, message.userId, (record) => {
        const next = { ...record };
        if (carriesHandOff(next, message)) delete next.handoff;
        return next;
      });
    }
  } else {
    await deps.storage.syncState.delete(openWorkScope(message.customerId), transactionId);
  }
  return result;
}

/** The step that closes work whose message went to the dead-letter queue. */
export const DEAD_LETTERED_STEP = 'dead-lettered';

/** The transaction kind of a cause that failed before it was decided. */
const GIVE_UP_KIND: Partial<Record<ProvisionUserMessage['reason'], TransactionKind>> = { overbuild: 'overbuild', 'quick-user': 'quick-user', notification: 'notification' };

function endedAtDeadLetter(transaction: TransactionRecord): boolean {
  return transaction.outcome === 'failed' && transaction.steps.at(-1)?.name === DEAD_LETTERED_STEP;
}

/**
 * A message failed on its last delivery and goes to the dead-letter queue: the user needs attention with the
 * reason (where it was placed stays), its hand-off mark or open-work entry goes, and its transaction ends
 * failed with a last step saying so. A replay of the dead-lettered message continues the same transaction.
 */
export async function giveUpAtDeadLetter(deps: ProvisioningDeps, message: ProvisionUserMessage, deliveries: number, error: string): Promise<void> {
  if (message.reason === 'number-check') return;
  const transactionId = transactionIdFor(message);
  const existing = await deps.storage.transactions.get(message.customerId, transactionId);
  // The work itself finished (what failed came after it): nothing to give up.
  if (existing && existing.value.outcome !== 'running') return;
  const reason = `provisioning failed on all ${deliveries} deliveries and its message was dead-lettered: ${error}`.slice(0, 1000);
  const at = (deps.now?.() ?? new Date()).toISOString();
  await updateUser(deps, message.customerId, message.userId, (record) => {
    const next: UserRecord = { ...record, state: { kind: 'needs-attention', reason, ...('siteId' in record.state ? { siteId: record.state.siteId } : {}) }, lastTransactionId: transactionId };
    if (carriesHandOff(next, message)) delete next.handoff;
    return next;
  });
  const step = { name: DEAD_LETTERED_STEP, result: 'failed' as const, detail: reason, at };
  if (!existing) {
    try {
      await deps.storage.transactions.create({ id: transactionId, customerId: message.customerId, kind: GIVE_UP_KIND[message.reason] ?? 'provision', userId: message.userId, trigger: provisionMessageId(message), startedAt: at, outcome: 'running', steps: [] });
    } catch (err) {
      if (!(err instanceof ConflictError)) throw err;
    }
  }
  await deps.storage.transactions.appendSteps(message.customerId, transactionId, [step], 'failed', new Date(at));
  if (!isSyncHandOff(message)) await deps.storage.syncState.delete(openWorkScope(message.customerId), transactionId);
}
