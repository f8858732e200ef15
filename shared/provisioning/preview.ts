/**
 * Placement preview: where flow-through or overbuild would put each customer-level user, with which
 * profile, and the plan of what it would change in Microsoft. Reads only.
 */
import {
  chooseProfile,
  isResourceAccount,
  lineRequirement,
  place,
  planProvisioning,
  type LineRequirement,
  type MicrosoftUserState,
  type NumberEntry,
  type NumberType,
  type Placement,
  type ProvisioningChange,
  type QuickAddGroup,
  type SiteDefaults,
  type UserProfile,
} from '../domain';
import type { Storage } from '../ports/storage';
import { customerContext, macrosOf } from './customerContext';
import { microsoftUserState, normalizedPolicies } from './microsoftState';
import { isAtCustomer } from './overbuild';
import type { MicrosoftConnector } from './ports';

export type PreviewMode = 'flow-through' | 'overbuild';

export interface PreviewItem {
  userId: string;
  userPrincipalName?: string;
  placement: Placement;
  profileId?: string;
  /** The plan with the user's Microsoft state of now; absent when nothing would be provisioned. */
  plan?: { changes: ProvisioningChange[]; line: LineRequirement; inTeams: boolean; unmet: string[] };
  /** Why nothing would be provisioned, when it would not. */
  note?: string;
}

export interface PreviewPage {
  mode: PreviewMode;
  /** Whether flow-through would run at all for new users (global settings). */
  flowThroughEnabled: boolean;
  items: PreviewItem[];
  continuation?: string;
}

export async function placementPreview(
  deps: { storage: Storage; microsoft: MicrosoftConnector },
  customerId: string,
  options: { top?: number; continuation?: string; mode?: PreviewMode },
): Promise<PreviewPage> {
  const mode = options.mode ?? 'flow-through';
  const top = Math.min(Math.max(options.top ?? 50, 1), 100);
  const offset = decodeContinuation(options.continuation);
  const ctx = await customerContext(deps.storage, customerId);
  const users = [];
  let seen = 0;
  let more = false;
  for await (const { value: user } of deps.storage.users.list(customerId)) {
    if (!isAtCustomer(user.state) || isResourceAccount(user.attributes, user.teams?.accountType)) continue;
    if (seen++ < offset) continue;
    if (users.length === top) {
      more = true;
      break;
    }
    users.push(user);
  }
  const ms = users.length > 0 ? deps.microsoft(ctx.customer) : undefined;
  const drafts = await Promise.all(
    users.map(async (user): Promise<PreviewItem | Draft> => {
      const placement = place(user.attributes, ctx.placement);
      const item: PreviewItem = { userId: user.userId, ...(typeof user.attributes.userPrincipalName === 'string' ? { userPrincipalName: user.attributes.userPrincipalName } : {}), placement };
      if (placement.kind !== 'site') return item;
      const criteriaId = ctx.settings.addSyncCriteriaId;
      const choice = chooseProfile(user.attributes, criteriaId ? ctx.flowThrough.get(criteriaId) : undefined, ctx.criteria, macrosOf(ctx, placement.siteId));
      if (choice.kind !== 'profile') return { ...item, note: choice.reason === 'no-criteria' ? 'no flow-through criteria: moved only' : 'no flow-through entry matches: moved only' };
      const profile = ctx.profiles.get(choice.profileId);
      const group = profile ? ctx.quickAddGroups.get(profile.quickAddGroupId) : undefined;
      const defaults = ctx.siteDefaults.get(placement.siteId);
      if (!profile || !group || !defaults || !ms) return { ...item, profileId: choice.profileId, note: 'the profile, its Quick Add Group or the site defaults are missing' };
      const msUser = await ms.tenant.getUser(user.userId);
      if (!msUser) return { ...item, profileId: profile.id, note: 'the user no longer exists in Microsoft' };
      const teams = await ms.tenant.getTeamsUserConfiguration(user.userId);
      const groups = group.groups.add.length + group.groups.remove.length > 0 ? await ms.userGroupIds(user.userId) : [];
      const state = microsoftUserState(msUser, teams, groups, group.line.numberType ?? 'DirectRouting');
      const normalizedGroup = normalizedPolicies(group);
      return { item: { ...item, profileId: profile.id }, siteId: placement.siteId, profile, group: normalizedGroup, defaults: normalizedPolicies(defaults), state, line: lineRequirement(state, profile, normalizedGroup), inTeams: teams !== null };
    }),
  );
  // Users who would take the next available number are shown the numbers they would get, in turn and
  // distinct, from the inventory as it is now: read, none taken (provisioning takes them, and may find
  // some held in Teams meanwhile).
  const offers = await offeredNumbers(deps.storage, customerId, ctx.settings.preventDuplicateNumbers, drafts);
  const items = drafts.map((d): PreviewItem => {
    if (!('state' in d)) return d;
    const { line } = d;
    const offered = line.kind === 'nextAvailable' ? offers.numbers.get(d) : undefined;
    const plan = planProvisioning({
      state: d.state,
      siteDefaults: d.defaults,
      profile: d.profile,
      quickAddGroup: d.group,
      ...(offered ? { allocatedNumber: { number: offered.number, type: offered.lineType } } : {}),
    });
    const unmet = line.kind === 'nextAvailable' && !offered ? [shortOf(line.type, d.siteId, offers.available.get(d) ?? 0)] : plan.unmet;
    return { ...d.item, plan: { changes: plan.changes, line, inTeams: d.inTeams, unmet } };
  });
  return {
    mode,
    flowThroughEnabled: ctx.settings.addSync,
    items,
    ...(more ? { continuation: Buffer.from(JSON.stringify({ offset: offset + users.length })).toString('base64url') } : {}),
  };
}

interface Draft {
  item: PreviewItem;
  siteId: string;
  profile: UserProfile;
  group: QuickAddGroup;
  defaults: SiteDefaults;
  state: MicrosoftUserState;
  /** The line the user's profile asks for, given its state in Microsoft. */
  line: LineRequirement;
  inTeams: boolean;
}

function shortOf(type: string, siteId: string, available: number): string {
  if (available === 0) return `no ${type} number is available for site ${siteId} or its customer`;
  return `the ${available} ${type} number(s) available for site ${siteId} or its customer go to users listed before this one`;
}

/**
 * For each draft that would take the next available number, the number it would be offered (one per draft
 * of the same site and line type, in turn), and how many the inventory has for its group.
 */
async function offeredNumbers(
  storage: Storage,
  customerId: string,
  refuseDuplicates: boolean,
  drafts: ReadonlyArray<PreviewItem | Draft>,
): Promise<{ numbers: Map<Draft, NumberEntry | undefined>; available: Map<Draft, number> }> {
  const wanting = new Map<string, { type: NumberType; drafts: Draft[] }>();
  for (const d of drafts) {
    if (!('state' in d)) continue;
    const { line } = d;
    if (line.kind !== 'nextAvailable') continue;
    const key = `${d.siteId}\u0000${line.type}`;
    const group = wanting.get(key) ?? { type: line.type, drafts: [] };
    group.drafts.push(d);
    wanting.set(key, group);
  }
  const numbers = new Map<Draft, NumberEntry | undefined>();
  const available = new Map<Draft, number>();
  const now = new Date();
  // One site after another: the customer's own numbers are shared by every site, so none is offered twice.
  const offered: string[] = [];
  for (const { type, drafts: group } of wanting.values()) {
    const next = await storage.numbers.peekNext({ customerId, siteId: group[0].siteId, lineType: type, now, refuseDuplicates, count: group.length, skip: offered });
    offered.push(...next.map((e) => e.number));
    group.forEach((d, i) => {
      numbers.set(d, next[i]);
      available.set(d, next.length);
    });
  }
  return { numbers, available };
}

function decodeContinuation(token: string | undefined): number {
  if (!token) return 0;
  try {
    const offset = (JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as { offset?: unknown }).offset;
    return typeof offset === 'number' && Number.isInteger(offset) && offset >= 0 ? offset : 0;
  } catch {
    return 0;
  }
}
