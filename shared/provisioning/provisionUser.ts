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
 * - Permanent failures leave the user in needs-attention with the reason. A number that cannot be taken
 *   (duplicate, none left, refused by Teams) fails only the number step: the user is still provisioned.
 */
import { createHash } from 'node:crypto';
import {
  chooseProfile,
  lineRequirement,
  newTransactionId,
  place,
  planProvisioning,
  siteOf,
  transactionOutcome,
  type LineRequirement,
  type MicrosoftUserState,
  type NumberType,
  type Placement,
  type ProvisioningChange,
  type QuickAddGroup,
  type TransactionKind,
  type TransactionStep,
  type UserProfile,
  type UserRecord,
  type UserState,
} from '../domain';
import {
  GraphInvalidRequestError,
  GraphThrottledError,
  GraphTransientError,
  MicrosoftError,
  OperationFailedError,
} from '../ports/microsoft';
import { ConcurrencyError, ConflictError, DuplicateNumberError, NotFoundError, type Versioned } from '../ports/storage';
import { customerContext, CustomerNotFoundError, macrosOf, placementFor, type CustomerContext } from './customerContext';
import { provisionMessageId, type ProvisionUserMessage } from './messages';
import { fromMicrosoftNumberType, microsoftUserState, normalizedPolicies, toMicrosoftNumberType, DIAL_PLAN_POLICY_TYPE } from './microsoftState';
import { DEFAULT_RETRY, type ProvisioningDeps, type ProvisioningMicrosoft } from './ports';
import { catalogOutcomeKey, type CatalogOutcomeRecord } from '../sync/model';

export type ProvisionResult =
  | { kind: 'skipped'; reason: string; transactionId?: string }
  | { kind: 'done'; state: UserState; transactionId: string; outcome: 'succeeded' | 'partially-failed' | 'failed' }
  | { kind: 'retry-scheduled'; transactionId: string; attempt: number; at: string; reason: string };

const DEFAULT_LINE_TYPE: NumberType = 'DirectRouting';

/** The transaction a message (and its repeats and retries) is recorded under. */
export function transactionIdFor(message: ProvisionUserMessage): string {
  if (message.transactionId) return message.transactionId;
  const unique = createHash('sha256').update(provisionMessageId({ ...message, attempt: 0 })).digest('base64url').slice(0, 22);
  return newTransactionId(new Date(Date.parse(message.requestedAt) || 0), unique);
}

/** What the message asks for, once the customer's rules are applied. */
interface Intent {
  kind: TransactionKind;
  placement: Placement;
  /** Provision with this profile and group; undefined = move only. */
  provision?: { profile: UserProfile; group: QuickAddGroup; role?: string; line?: LineRequirement };
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
  const stored = await deps.storage.users.get(message.customerId, message.userId);
  if (!stored) return { kind: 'skipped', reason: `user ${message.userId} is not at customer ${message.customerId}` };
  const user = stored.value;

  const intent = decide(ctx, user, message);
  if (typeof intent === 'string') return { kind: 'skipped', reason: intent };

  const transactionId = transactionIdFor(message);
  const existing = await deps.storage.transactions.get(message.customerId, transactionId);
  if (existing && existing.value.outcome !== 'running') return { kind: 'skipped', reason: 'already done', transactionId };
  if (!existing) {
    try {
      await deps.storage.transactions.create({
        id: transactionId, customerId: message.customerId, kind: intent.kind, userId: message.userId,
        trigger: provisionMessageId(message), startedAt: now.toISOString(), outcome: 'running', steps: [],
      });
    } catch (error) {
      if (!(error instanceof ConflictError)) throw error; // a concurrent repeat created it: go on, every step is checked
    }
  }

  const run = new Run(deps, ctx, user, message, transactionId, now);
  try {
    const state = await run.execute(intent);
    return await run.finish(state);
  } catch (error) {
    if (isTransient(error)) return run.retry(error as Error, intent);
    throw error;
  }
}

function decide(ctx: CustomerContext, user: UserRecord, message: ProvisionUserMessage): Intent | string {
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
      const provision = message.provision && placement.kind === 'site' ? flowThroughProfile(placement.siteId, settings.addSyncCriteriaId) : undefined;
      return { kind: 'overbuild', placement, ...(provision ? { provision } : {}) };
    }
    case 'staging-recheck': {
      if (user.state.kind !== 'staged') return 'the user is no longer staged';
      const profile = ctx.profiles.get(user.state.profileId);
      const group = profile ? ctx.quickAddGroups.get(profile.quickAddGroupId) : quickAddGroupOf(ctx, user.state.profileId);
      if (!group) return `profile ${user.state.profileId} no longer exists`;
      const effective = profile ?? { id: user.state.profileId, customerId: ctx.customer.id, name: group.name, quickAddGroupId: group.id, services: { teams: true, voice: group.line.assignment !== 'none' } };
      return { kind: 'provision', placement: atSite(user.state.siteId), provision: { profile: effective, group } };
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
    const placement = currentSite ? atSite(currentSite) : place(user.attributes, ctx.placement);
    const provision = placement.kind === 'site' ? flowThroughProfile(placement.siteId, settings.addSyncCriteriaId) : undefined;
    return { kind: 'provision', placement, ...(provision ? { provision } : {}) };
  }
}

function quickAddGroupOf(ctx: CustomerContext, profileId: string): QuickAddGroup | undefined {
  const prefix = 'quick-add-group:';
  return profileId.startsWith(prefix) ? ctx.quickAddGroups.get(profileId.slice(prefix.length)) : undefined;
}

function isTransient(error: unknown): boolean {
  return error instanceof GraphThrottledError || error instanceof GraphTransientError || error instanceof ConcurrencyError;
}

class Run {
  readonly steps: TransactionStep[] = [];
  private attention?: string;
  private number?: string;
  private role?: string;
  private microsoftPorts?: ProvisioningMicrosoft;

  constructor(
    private readonly deps: ProvisioningDeps,
    private readonly ctx: CustomerContext,
    private readonly user: UserRecord,
    private readonly message: ProvisionUserMessage,
    private readonly transactionId: string,
    private readonly now: Date,
  ) {
    this.number = user.number;
  }

  private get ms(): ProvisioningMicrosoft {
    this.microsoftPorts ??= this.deps.microsoft(this.ctx.customer);
    return this.microsoftPorts;
  }

  private step(name: string, result: TransactionStep['result'], detail?: string): void {
    this.steps.push({ name, result, ...(detail ? { detail } : {}), at: new Date().toISOString() });
  }

  private needsAttention(step: string, reason: string): void {
    this.step(step, 'failed', reason);
    this.attention ??= reason;
  }

  /** Runs the intent; returns the user's next state. */
  async execute(intent: Intent): Promise<UserState> {
    const placement = intent.placement;
    if (placement.kind === 'customer') {
      this.step('placement', 'skipped', placement.reason === 'no-site-enabled' ? 'no site is enabled for Microsoft users' : "no site's move-user criteria match the user");
      return { kind: 'at-customer', reason: placement.reason };
    }
    const siteId = placement.siteId;
    const from = siteOf(this.user.state);
    if (from === siteId) this.step('placement', 'ok', `at site ${placement.siteName}`);
    else this.step('move', 'ok', `${from ? `from site ${from} ` : 'from the customer '}to site ${placement.siteName}${placement.alsoMatched.length ? `; also matched ${placement.alsoMatched.join(', ')}` : ''}`);
    const defaults = this.ctx.siteDefaults.get(siteId);
    if (!defaults) {
      this.needsAttention('site-defaults', `site ${siteId} has no site defaults`);
      return { kind: 'needs-attention', reason: this.attention!, siteId };
    }

    const provision = intent.provision;
    const lineType = provision?.group.line.numberType ?? DEFAULT_LINE_TYPE;
    let msUser, teams, groupIds: string[];
    try {
      msUser = await this.ms.tenant.getUser(this.user.userId);
      teams = msUser ? await this.ms.tenant.getTeamsUserConfiguration(this.user.userId) : null;
      groupIds = msUser && provision && (provision.group.groups.add.length > 0 || provision.group.groups.remove.length > 0) ? await this.ms.userGroupIds(this.user.userId) : [];
    } catch (error) {
      if (isTransient(error) || !(error instanceof MicrosoftError)) throw error;
      this.needsAttention('read', `${error.name}: ${error.message}`);
      return { kind: 'needs-attention', reason: this.attention!, siteId };
    }
    if (!msUser) {
      this.needsAttention('read', 'the user no longer exists in Microsoft');
      return { kind: 'needs-attention', reason: this.attention!, siteId };
    }
    let state = microsoftUserState(msUser, teams, groupIds, lineType);

    // A site-to-site move gives up the number of the old site's inventory.
    if (from && from !== siteId && this.user.number && state.number?.number === this.user.number) {
      if (await this.releaseOldNumber(from, this.user.number)) state = { ...state, number: undefined };
    }

    if (!provision) {
      if (state.number) await this.recordHeldNumber(siteId, state.number.number, msUser.id);
      else this.number = undefined;
      return { kind: 'at-site', siteId };
    }

    this.role = provision.role;
    const siteDefaults = normalizedPolicies(defaults);
    const group = normalizedPolicies(provision.group);
    const line = provision.line ?? lineRequirement(state, provision.profile, group);
    const plan = planProvisioning({ state, siteDefaults, profile: provision.profile, quickAddGroup: { ...group, line: { assignment: 'none' } } });
    const byKind = (kinds: ProvisioningChange['kind'][]) => plan.changes.filter((c) => kinds.includes(c.kind));

    // Directory first: usage location before licenses, licenses before anything Teams.
    for (const change of byKind(['usageLocation', 'licenses'])) {
      if (!(await this.apply(change))) return { kind: 'needs-attention', reason: this.attention!, siteId };
    }
    // Licenses just granted change the user's Teams features: read them again rather than plan on stale ones.
    const licensedNow = byKind(['licenses']).some((c) => c.kind === 'licenses' && c.add.length > 0);
    const voiceReady = teams?.featureTypes.includes('PhoneSystem') ?? false;
    if ((licensedNow && !voiceReady) || (!teams && byKind(['licenses']).length > 0)) teams = await this.ms.tenant.getTeamsUserConfiguration(this.user.userId);

    const staged = !teams && provision.profile.services.teams;
    const licensed = msUser.assignedLicenses.length > 0 || byKind(['licenses']).some((c) => c.kind === 'licenses' && c.add.length > 0);
    if (staged && !licensed) {
      this.needsAttention('teams', 'the user is not in Teams and holds no license that would bring it there');
    } else if (staged) {
      this.step('teams', 'skipped', 'the user is not in Teams yet: staged until it appears');
    } else {
      await this.applyPolicies(byKind(['policy']));
      for (const change of byKind(['dialPlan'])) await this.apply(change);
      await this.numberStep(siteId, state, line, lineType, teams?.featureTypes ?? [], licensedNow);
    }
    for (const change of byKind(['groups'])) await this.apply(change);

    if (this.attention) return { kind: 'needs-attention', reason: this.attention, siteId };
    if (staged || this.awaitingTeamsPhone) return { kind: 'staged', siteId, profileId: provision.profile.id, since: this.user.state.kind === 'staged' ? this.user.state.since : this.now.toISOString() };
    return { kind: 'provisioned', siteId, profileId: provision.profile.id };
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
    } catch (error) {
      if (isTransient(error) || !(error instanceof MicrosoftError)) throw error;
      for (const change of policies) await this.apply(change);
    }
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
          return true;
        case 'licenses': {
          if (change.add.length > 0) {
            const skus = new Map((await tenant.listSubscribedSkus()).map((s) => [s.skuId.toLowerCase(), s]));
            for (const l of change.add) {
              const sku = skus.get(l.skuId.toLowerCase());
              if (!sku) return this.stop('licenses', `license ${l.skuId} is not subscribed in the tenant`);
              if (sku.prepaidUnits.enabled - sku.consumedUnits <= 0) return this.stop('licenses', `no seats left for ${sku.skuPartNumber}`);
            }
          }
          await tenant.assignLicenses(userId, { add: change.add, remove: change.remove });
          this.step('licenses', 'ok', [...change.add.map((l) => `+${l.skuId}`), ...change.remove.map((s) => `-${s}`)].join(' '));
          return true;
        }
        case 'policy':
          await tenant.assignTeamsPolicy(userId, change.policyType, change.policyName);
          this.step(`policy:${change.policyType}`, 'ok', change.policyName);
          return true;
        case 'dialPlan': {
          const unsynced = await this.dialPlansUnsynced();
          if (unsynced) {
            // Said as it is: the plan needs a dial plan the last sync could not read, so it is not granted blind.
            this.needsAttention('dial-plan', `dial plan ${change.dialPlan} is not granted: the tenant's dial plans could not be synced (${unsynced})`);
            return true;
          }
          if (!this.ms.bridge) {
            this.needsAttention('dial-plan', 'the Teams admin bridge is not configured: dial plans cannot be granted');
            return true;
          }
          await this.ms.bridge.grantPolicy(userId, DIAL_PLAN_POLICY_TYPE, change.dialPlan);
          this.step('dial-plan', 'ok', change.dialPlan);
          return true;
        }
        case 'groups':
          for (const g of change.add) await tenant.addGroupMember(g, userId);
          for (const g of change.remove) await tenant.removeGroupMember(g, userId);
          this.step('groups', 'ok', [...change.add.map((g) => `+${g}`), ...change.remove.map((g) => `-${g}`)].join(' '));
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
  private async dialPlansUnsynced(): Promise<string | undefined> {
    const outcome = await this.deps.storage.syncState.get<CatalogOutcomeRecord>(this.ctx.customer.id, catalogOutcomeKey('dialPlans'));
    const o = outcome?.value;
    return o && (o.status === 'failed' || o.status === 'skipped') ? `${o.status}: ${o.reason ?? 'no reason recorded'}` : undefined;
  }

  private stop(step: string, reason: string): false {
    this.needsAttention(step, reason);
    return false;
  }

  /** The number: keep and record the one held in Teams, or take one from the inventory and assign it. */
  /** Set when a license granted in this pass has not reached Teams yet: the number waits for the staging re-check. */
  private awaitingTeamsPhone = false;

  private async numberStep(siteId: string, state: MicrosoftUserState, line: LineRequirement, lineType: NumberType, features: string[], licensedNow = false): Promise<void> {
    if (line.kind === 'none') {
      if (state.number) await this.recordHeldNumber(siteId, state.number.number, this.user.userId);
      return;
    }
    if (line.kind === 'explicit' && state.number?.number === line.number) {
      await this.recordHeldNumber(siteId, line.number, this.user.userId);
      return;
    }
    if (line.kind === 'nextAvailable' && state.number) {
      await this.recordHeldNumber(siteId, state.number.number, this.user.userId);
      return;
    }
    const numbers = this.deps.storage.numbers;
    const userId = this.user.userId;
    const type = line.type ?? lineType;
    const microsoftType = toMicrosoftNumberType(type);
    if (!microsoftType) {
      this.step('number', 'failed', `${type} numbers cannot be assigned through Microsoft Graph`);
      return;
    }
    // Teams refuses a number to a user without Teams Phone: say so without taking one from the inventory.
    if (!features.includes('PhoneSystem') || (type === 'CallingPlan' && !features.includes('CallingPlan'))) {
      if (licensedNow) {
        // Microsoft takes a while to carry a new license into Teams; the staging re-check assigns the number.
        this.awaitingTeamsPhone = true;
        this.step('number', 'skipped', `the ${type === 'CallingPlan' ? 'Calling Plan' : 'Teams Phone'} license just granted is not active in Teams yet: staged`);
        return;
      }
      this.step('number', 'failed', `the user has no ${type === 'CallingPlan' ? 'Calling Plan' : 'Teams Phone'} license: no number assigned`);
      return;
    }
    let number: string;
    let scope: { customerId: string; siteId?: string };
    if (line.kind === 'explicit') {
      number = line.number;
      scope = { customerId: this.ctx.customer.id, siteId };
      try {
        try {
          await numbers.assign(scope, number, userId, this.now);
        } catch (error) {
          if (!(error instanceof NotFoundError)) throw error;
          scope = { customerId: this.ctx.customer.id };
          await numbers.assign(scope, number, userId, this.now);
        }
      } catch (error) {
        if (error instanceof ConflictError || error instanceof NotFoundError) {
          this.step('number', 'failed', error.message);
          return;
        }
        throw error;
      }
    } else {
      const allocation = await numbers.allocateNext({ customerId: this.ctx.customer.id, siteId, userId, lineType: type, now: this.now });
      if (!allocation.ok) {
        this.step('number', 'failed', allocation.message);
        return;
      }
      number = allocation.entry.value.number;
      scope = { customerId: this.ctx.customer.id, ...(allocation.entry.value.siteId !== undefined ? { siteId: allocation.entry.value.siteId } : {}) };
    }
    try {
      await this.ms.tenant.assignNumber({ userId, number, numberType: microsoftType, assignmentCategory: 'primary' });
    } catch (error) {
      if (isTransient(error)) throw error; // the inventory keeps it for this user: the retry gets it back
      if (error instanceof OperationFailedError || error instanceof MicrosoftError) {
        // Never held by the user: back to available at once, not through cooling.
        await numbers.release(scope, number, userId, this.now, 0);
        this.step('number', 'failed', `${number}: ${error instanceof OperationFailedError ? error.reason : error.message}`);
        return;
      }
      throw error;
    }
    this.number = number;
    this.step('number', 'ok', `${number} assigned`);
  }

  /**
   * A number the user already holds in Teams enters the site's inventory as used. With prevent duplicate
   * numbers on, a number another scope holds fails this step only; with it off a duplicate entry is made
   * and flagged in the step.
   */
  private async recordHeldNumber(siteId: string, number: string, userId: string): Promise<void> {
    const numbers = this.deps.storage.numbers;
    const customerId = this.ctx.customer.id;
    for (const scope of [{ customerId, siteId }, { customerId }]) {
      const held = await numbers.get(scope, number);
      if (held && held.value.status === 'Used' && held.value.userId === userId) {
        this.number = number;
        this.step('number', 'skipped', `${number} already recorded`);
        return;
      }
    }
    const assignment = await this.ms.tenant.getNumberAssignment(number);
    const lineType = fromMicrosoftNumberType(assignment?.numberType) ?? DEFAULT_LINE_TYPE;
    const prevent = this.ctx.settings.preventDuplicateNumbers;
    try {
      await numbers.recordInUse({ customerId, siteId }, { number, userId, vendor: 'Microsoft', lineType }, { preventDuplicateNumbers: prevent });
    } catch (error) {
      if (error instanceof DuplicateNumberError) {
        this.step('number', 'failed', `${number} is already in the inventory of ${error.heldBySiteId ? `site ${error.heldBySiteId}` : 'the customer'} (prevent duplicate numbers is on)`);
        return;
      }
      throw error;
    }
    this.number = number;
    const elsewhere = prevent ? [] : await this.otherHolders(siteId, number);
    this.step('number', 'ok', `${number} recorded in use${elsewhere.length ? `; duplicate: also in the inventory of ${elsewhere.join(', ')}` : ''}`);
  }

  private async otherHolders(siteId: string, number: string): Promise<string[]> {
    const customerId = this.ctx.customer.id;
    const scopes: Array<{ customerId: string; siteId?: string }> = [...[...this.ctx.sites.keys()].filter((s) => s !== siteId).map((s) => ({ customerId, siteId: s })), { customerId }];
    const found = await Promise.all(scopes.map(async (scope) => ((await this.deps.storage.numbers.get(scope, number)) ? (scope.siteId ? `site ${scope.siteId}` : 'the customer') : undefined)));
    return found.filter((f): f is string => f !== undefined);
  }

  /** Unassigns the old site's number in Teams and lets it cool in that site's inventory. */
  private async releaseOldNumber(oldSiteId: string, number: string): Promise<boolean> {
    const numbers = this.deps.storage.numbers;
    const scope = { customerId: this.ctx.customer.id, siteId: oldSiteId };
    const entry = await numbers.get(scope, number);
    if (!entry || entry.value.userId !== this.user.userId) return false; // a customer-wide number stays with the user
    const microsoftType = toMicrosoftNumberType(entry.value.lineType);
    if (!microsoftType) return false;
    try {
      await this.ms.tenant.unassignNumber({ number, numberType: microsoftType, userId: this.user.userId });
    } catch (error) {
      if (isTransient(error)) throw error;
      this.step('number-release', 'failed', `${number}: ${error instanceof Error ? error.message : String(error)}`);
      return false;
    }
    await numbers.release(scope, number, this.user.userId, this.now, this.ctx.settings.numberCoolingDays);
    this.number = undefined;
    this.step('number-release', 'ok', `${number} released to cooling at site ${oldSiteId}`);
    return true;
  }

  async finish(state: UserState, outcomeOverride?: 'failed'): Promise<ProvisionResult> {
    await updateUser(this.deps, this.user.customerId, this.user.userId, (record) => {
      const next: UserRecord = { ...record, state, lastTransactionId: this.transactionId };
      if (this.role) next.role = this.role;
      if (this.number !== undefined && state.kind !== 'at-customer') next.number = this.number;
      else delete next.number;
      return next;
    });
    const outcome = outcomeOverride ?? (this.steps.length === 0 ? 'succeeded' : transactionOutcome(this.steps));
    await this.deps.storage.transactions.appendSteps(this.user.customerId, this.transactionId, this.steps, outcome, new Date());
    return { kind: 'done', state, transactionId: this.transactionId, outcome };
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

/** Read-modify-write of a user record that survives the sync merging attributes meanwhile. */
export async function updateUser(
  deps: Pick<ProvisioningDeps, 'storage'>,
  customerId: string,
  userId: string,
  change: (record: UserRecord) => UserRecord,
): Promise<Versioned<UserRecord> | undefined> {
  for (let attempt = 0; attempt < 10; attempt++) {
    const current = await deps.storage.users.get(customerId, userId);
    if (!current) return undefined;
    try {
      return await deps.storage.users.update(change(current.value), current.etag);
    } catch (error) {
      if (!(error instanceof ConcurrencyError)) throw error;
    }
  }
  throw new ConcurrencyError(`user ${userId} kept changing while its state was written`);
}

