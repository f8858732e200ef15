/**
 * Moving placed users with their services to another site at the operator's word, one or a batch, and the
 * preview of what a move would do. Each accepted user gets a transaction of its own and a `move` message; the
 * handler gives up the old site's number (one of the customer's own inventory goes with the user), takes the
 * old site's policies and dial plan away where the new site does not set them, and provisions the user at
 * the new site with its profile. Refused users are named with the reason; nothing is half-done.
 */
import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import {
  isResourceAccount,
  leftBehind,
  lineRequirement,
  newTransactionId,
  planProvisioning,
  siteOf,
  type LineRequirement,
  type ProvisioningChange,
  type TransactionRecord,
  type UserRecord,
} from '../domain';
import { NotFoundError, type Storage } from '../ports/storage';
import { customerContext, type CustomerContext } from './customerContext';
import { openWorkScope, type OpenWork, type ProvisioningQueue, type ProvisionUserMessage } from './messages';
import { DIAL_PLAN_POLICY_TYPE, microsoftUserState, normalizedPolicies, policyName } from './microsoftState';
import { moveProfile, startOf } from './provisionUser';
import type { MicrosoftConnector } from './ports';

/** The most users one batch takes (as an overbuild chunk does). */
export const MAX_MOVE_BATCH = 500;

const id = z.string().min(1).max(200);
export const moveRequestSchema = z.object({
  siteId: id.describe('The site the user moves to'),
  profileId: id.optional().describe('The profile it gets there; absent: the one it has, else the flow-through choice'),
});
export const moveBatchSchema = moveRequestSchema.extend({
  userIds: z.array(id).min(1).max(MAX_MOVE_BATCH).refine((ids) => new Set(ids).size === ids.length, 'each user once'),
});
export type MoveRequest = z.infer<typeof moveRequestSchema>;

export interface WorkAccepted {
  accepted: Array<{ userId: string; transactionId: string; fromSite: string }>;
  refused: Array<{ userId: string; reason: string }>;
}

/**
 * Operator work on placed users (a move, an offboarding): each accepted user is indexed as open work (a lost
 * message is sent again by the reconciler), given its transaction and its message; the rest are refused.
 */
export async function requestUserWork(
  deps: { storage: Storage; queue: ProvisioningQueue; now?: () => Date },
  customerId: string,
  userIds: readonly string[],
  work: { kind: 'move' | 'offboard'; refuse: (user: UserRecord, site: string) => string | undefined; describe: (site: string) => string; message: Partial<ProvisionUserMessage> },
): Promise<WorkAccepted> {
  const { storage } = deps;
  const now = deps.now?.() ?? new Date();
  const users = await storage.users.getMany(customerId, userIds);
  const out: WorkAccepted = { accepted: [], refused: [] };
  const messages: ProvisionUserMessage[] = [];
  for (const userId of userIds) {
    const user = users.get(userId)?.value;
    const site = user ? siteOf(user.state) : undefined;
    const refusal = !user
      ? `user ${userId} is not synced to customer ${customerId}`
      : isResourceAccount(user.attributes, user.teams?.accountType) ? 'a resource account is never at a site'
      : !site ? 'the user is at customer level'
      : work.refuse(user, site);
    if (refusal || !user || !site) {
      out.refused.push({ userId, reason: refusal ?? 'refused' });
      continue;
    }
    const transactionId = newTransactionId(now, randomUUID());
    const transaction: TransactionRecord = {
      id: transactionId, customerId, kind: work.kind, userId, trigger: work.kind, startedAt: now.toISOString(), outcome: 'running', from: startOf(user),
      steps: [{ name: 'accepted', result: 'ok', detail: work.describe(site), at: now.toISOString() }],
    };
    const message: ProvisionUserMessage = { ...work.message, customerId, userId, reason: work.kind, transactionId, requestedAt: now.toISOString() };
    // Indexed before anything else: if the message is lost (or never sent), the reconciler sends it.
    const open: OpenWork = { transactionId, message, since: now.toISOString() };
    await storage.syncState.put(openWorkScope(customerId), transactionId, open);
    await storage.transactions.create(transaction);
    messages.push(message);
    out.accepted.push({ userId, transactionId, fromSite: site });
  }
  if (messages.length > 0) await deps.queue.send(messages);
  return out;
}

async function checkedTarget(storage: Storage, customerId: string, target: MoveRequest): Promise<CustomerContext> {
  if (!(await storage.customers.get(customerId))) throw new NotFoundError(`customer ${customerId} does not exist`);
  const ctx = await customerContext(storage, customerId);
  if (!ctx.sites.has(target.siteId)) throw new NotFoundError(`site ${target.siteId} does not exist`);
  if (!ctx.siteDefaults.has(target.siteId)) throw new NotFoundError(`site ${target.siteId} has no site defaults`);
  if (target.profileId && !ctx.profiles.has(target.profileId)) throw new NotFoundError(`profile ${target.profileId} does not exist`);
  return ctx;
}

export async function requestMove(
  deps: { storage: Storage; queue: ProvisioningQueue; now?: () => Date },
  customerId: string,
  userIds: readonly string[],
  target: MoveRequest,
): Promise<WorkAccepted> {
  const ctx = await checkedTarget(deps.storage, customerId, target);
  const siteName = ctx.sites.get(target.siteId)?.name ?? target.siteId;
  return requestUserWork(deps, customerId, userIds, {
    kind: 'move',
    refuse: (user, site) => (site === target.siteId ? `the user is at site ${siteName} already` : user.leaver ? 'a leaver: offboard it, or wait until it is back' : undefined),
    describe: (site) => `from site ${ctx.sites.get(site)?.name ?? site} to site ${siteName}${target.profileId ? `, profile ${target.profileId}` : ''}`,
    message: { siteId: target.siteId, ...(target.profileId ? { profileId: target.profileId } : {}) },
  });
}

/** What a move would do to one user, read from Microsoft and the inventory as they are now; nothing changes. */
export interface MovePreview {
  userId: string;
  from: { siteId: string; number?: string };
  to: { siteId: string; profileId?: string };
  number: {
    /** `kept`: from the customer's own inventory, which every site shares; `released`: cools, the old site's. */
    current?: { number: string; outcome: 'kept' | 'released-to-cooling' };
    /** The line the profile asks for at the new site, and the number it would be offered. */
    line: LineRequirement;
    offered?: string;
  };
  /** Licenses, usage location, policies, dial plan, groups and number the new site and profile give. */
  changes: ProvisioningChange[];
  /** The old site's policies (types) and dial plan the user holds directly and the new site does not set. */
  takenAway: { policyTypes: string[]; dialPlan?: string };
  /** What the move cannot do (no number left at the new site, say). */
  unmet: string[];
  note?: string;
}

export async function movePreview(
  deps: { storage: Storage; microsoft: MicrosoftConnector },
  customerId: string,
  userId: string,
  target: MoveRequest,
): Promise<MovePreview> {
  const ctx = await checkedTarget(deps.storage, customerId, target);
  const user = (await deps.storage.users.get(customerId, userId))?.value;
  if (!user) throw new NotFoundError(`user ${userId} is not synced to customer ${customerId}`);
  const from = siteOf(user.state);
  if (!from) throw new NotFoundError(`user ${userId} is at customer level: Quick User or overbuild places it`);
  const provision = moveProfile(ctx, user, target.profileId);
  const ms = deps.microsoft(ctx.customer);
  const [msUser, teams] = await Promise.all([ms.tenant.getUser(userId), ms.tenant.getTeamsUserConfiguration(userId)]);
  if (!msUser) throw new NotFoundError(`user ${userId} no longer exists in Microsoft`);
  const groupIds = provision && provision.group.groups.add.length + provision.group.groups.remove.length > 0 ? await ms.userGroupIds(userId) : [];
  let state = microsoftUserState(msUser, teams, groupIds, provision?.group.line.numberType ?? 'DirectRouting');
  // The old site's number: one of the site's inventory is released (the user takes a new one there), one of
  // the customer's inventory goes with the user.
  let current: MovePreview['number']['current'];
  if (user.number) {
    const siteEntry = (await deps.storage.numbers.get({ customerId, siteId: from }, user.number))?.value;
    const released = siteEntry !== undefined && siteEntry.userId === userId;
    current = { number: user.number, outcome: released ? 'released-to-cooling' : 'kept' };
    if (released && state.number?.number === user.number) state = { ...state, number: undefined };
  }
  const defaults = normalizedPolicies(ctx.siteDefaults.get(target.siteId)!);
  const group = provision ? normalizedPolicies(provision.group) : undefined;
  const direct = new Map((teams?.effectivePolicyAssignments ?? []).filter((p) => p.assignmentType === 'direct').map((p) => [p.policyType.toLowerCase(), policyName(p.displayName ?? '')]));
  const oldDefaults = ctx.siteDefaults.get(from);
  const takenAway = oldDefaults ? leftBehind(normalizedPolicies(oldDefaults), direct, [defaults, ...(group ? [group] : [])], DIAL_PLAN_POLICY_TYPE) : { policyTypes: [] };
  const base: MovePreview = { userId, from: { siteId: from, ...(user.number ? { number: user.number } : {}) }, to: { siteId: target.siteId }, number: { line: { kind: 'none' }, ...(current ? { current } : {}) }, changes: [], takenAway, unmet: [] };
  if (!provision || !group) return { ...base, note: 'no profile for the user at the new site: moved only, its services as they are' };
  const line = lineRequirement(state, provision.profile, group);
  const offered = line.kind === 'nextAvailable'
    ? (await deps.storage.numbers.peekNext({ customerId, siteId: target.siteId, lineType: line.type, now: new Date(), refuseDuplicates: ctx.settings.preventDuplicateNumbers, count: 1, skip: [] }))[0]
    : undefined;
  const plan = planProvisioning({ state, siteDefaults: defaults, profile: provision.profile, quickAddGroup: group, ...(offered ? { allocatedNumber: { number: offered.number, type: offered.lineType } } : {}) });
  const unmet = line.kind === 'nextAvailable' && !offered ? [`no ${line.type} number is available for site ${target.siteId} or its customer`] : plan.unmet;
  return {
    ...base,
    to: { siteId: target.siteId, profileId: provision.profile.id },
    number: { ...base.number, line, ...(offered ? { offered: offered.number } : line.kind === 'explicit' ? { offered: line.number } : {}) },
    changes: plan.changes,
    unmet,
  };
}
