/**
 * Placement preview: where flow-through or overbuild would put each customer-level user, with which
 * profile, and the plan of what it would change in Microsoft. Reads only.
 */
import { chooseProfile, lineRequirement, place, planProvisioning, type LineRequirement, type Placement, type ProvisioningChange } from '../domain';
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
    if (!isAtCustomer(user.state)) continue;
    if (seen++ < offset) continue;
    if (users.length === top) {
      more = true;
      break;
    }
    users.push(user);
  }
  const ms = users.length > 0 ? deps.microsoft(ctx.customer) : undefined;
  const items = await Promise.all(
    users.map(async (user): Promise<PreviewItem> => {
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
      const plan = planProvisioning({ state, siteDefaults: normalizedPolicies(defaults), profile, quickAddGroup: normalizedGroup });
      return { ...item, profileId: profile.id, plan: { changes: plan.changes, line: lineRequirement(state, profile, normalizedGroup), inTeams: teams !== null, unmet: plan.unmet } };
    }),
  );
  return {
    mode,
    flowThroughEnabled: ctx.settings.addSync,
    items,
    ...(more ? { continuation: Buffer.from(JSON.stringify({ offset: offset + users.length })).toString('base64url') } : {}),
  };
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
