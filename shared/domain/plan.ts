/**
 * The provisioning plan: the smallest ordered list of changes that brings a user's Microsoft state to what
 * its site defaults, profile and Quick Add Group ask for. Pure and idempotent: planning again after
 * `applyPlan` gives no change, so a redelivered message does no harm.
 *
 * Order matters to Microsoft: usage location before licenses (license assignment fails without it),
 * licenses before policies, dial plan and number (Teams needs the licensed user), groups last.
 */
import type { License, NumberType, PolicyType, QuickAddGroup, SiteDefaults, TeamsPolicies, UserProfile } from './schemas';
import { POLICY_TYPES } from './schemas';

export interface AssignedNumber {
  number: string;
  type: NumberType;
}

/** What Microsoft holds for the user now (read before planning). */
export interface MicrosoftUserState {
  usageLocation?: string;
  licenses: License[];
  policies: TeamsPolicies;
  dialPlan?: string;
  number?: AssignedNumber;
  /** Entra group ids the user is a direct member of. */
  groups: string[];
}

export type ProvisioningChange =
  | { kind: 'usageLocation'; usageLocation: string }
  | { kind: 'licenses'; add: License[]; remove: string[] }
  | { kind: 'policy'; policyType: PolicyType; policyName: string }
  | { kind: 'dialPlan'; dialPlan: string }
  | { kind: 'number'; number: string; type: NumberType }
  | { kind: 'groups'; add: string[]; remove: string[] };

export type ProvisioningChangeKind = ProvisioningChange['kind'];

export interface ProvisioningPlan {
  changes: ProvisioningChange[];
  /** What was asked for but cannot be planned (e.g. a voice profile with no number allocated). */
  unmet: string[];
}

/** What the user's line needs, decided before planning so the caller can allocate a number. */
export type LineRequirement =
  | { kind: 'none' }
  | { kind: 'explicit'; number: string; type: NumberType }
  | { kind: 'nextAvailable'; type: NumberType };

export interface PlanInput {
  state: MicrosoftUserState;
  siteDefaults: SiteDefaults;
  profile: UserProfile;
  quickAddGroup: QuickAddGroup;
  /** The number allocated from the inventory when `lineRequirement` said nextAvailable. */
  allocatedNumber?: AssignedNumber;
}

/**
 * A number is needed only for a voice profile whose Quick Add Group assigns a line. Next available keeps
 * a number the user already has (a re-run must not take a second one); explicit replaces a different one.
 */
export function lineRequirement(state: MicrosoftUserState, profile: UserProfile, group: QuickAddGroup): LineRequirement {
  const line = group.line;
  if (!profile.services.voice || line.assignment === 'none' || !line.numberType) return { kind: 'none' };
  if (line.assignment === 'explicit') {
    if (!line.number || state.number?.number === line.number) return { kind: 'none' };
    return { kind: 'explicit', number: line.number, type: line.numberType };
  }
  return state.number ? { kind: 'none' } : { kind: 'nextAvailable', type: line.numberType };
}

export function planProvisioning(input: PlanInput): ProvisioningPlan {
  const { state, siteDefaults, profile, quickAddGroup: group } = input;
  const changes: ProvisioningChange[] = [];
  const unmet: string[] = [];

  const usageLocation = group.usageLocation ?? siteDefaults.usageLocation;
  if (usageLocation && state.usageLocation !== usageLocation) changes.push({ kind: 'usageLocation', usageLocation });

  const held = new Map(state.licenses.map((l) => [l.skuId, l]));
  const add = group.licenses.filter((l) => !sameLicense(held.get(l.skuId), l)).map((l) => ({ skuId: l.skuId, disabledPlans: sorted(l.disabledPlans) }));
  const remove = sorted(group.removeLicenses.filter((sku) => held.has(sku)));
  if (add.length > 0 || remove.length > 0) changes.push({ kind: 'licenses', add, remove });

  if (profile.services.teams) {
    const policies: TeamsPolicies = { ...siteDefaults.teamsPolicies, ...group.teamsPolicies };
    for (const policyType of POLICY_TYPES) {
      const policyName = policies[policyType];
      if (policyName !== undefined && state.policies[policyType] !== policyName) changes.push({ kind: 'policy', policyType, policyName });
    }
    const dialPlan = group.dialPlan ?? siteDefaults.dialPlan;
    if (dialPlan && state.dialPlan !== dialPlan) changes.push({ kind: 'dialPlan', dialPlan });
  }

  const line = lineRequirement(state, profile, group);
  if (line.kind === 'explicit') changes.push({ kind: 'number', number: line.number, type: line.type });
  else if (line.kind === 'nextAvailable') {
    if (input.allocatedNumber) changes.push({ kind: 'number', ...input.allocatedNumber });
    else unmet.push(`no ${line.type} number is available for the user`);
  }

  const member = new Set(state.groups);
  const groupsAdd = sorted(group.groups.add.filter((g) => !member.has(g)));
  const groupsRemove = sorted(group.groups.remove.filter((g) => member.has(g)));
  if (groupsAdd.length > 0 || groupsRemove.length > 0) changes.push({ kind: 'groups', add: groupsAdd, remove: groupsRemove });

  return { changes, unmet };
}

/** The state Microsoft would hold after every change of the plan succeeded. */
export function applyPlan(state: MicrosoftUserState, plan: Pick<ProvisioningPlan, 'changes'>): MicrosoftUserState {
  let next: MicrosoftUserState = { ...state, licenses: [...state.licenses], policies: { ...state.policies }, groups: [...state.groups] };
  for (const change of plan.changes) {
    switch (change.kind) {
      case 'usageLocation':
        next = { ...next, usageLocation: change.usageLocation };
        break;
      case 'licenses': {
        const replaced = new Set([...change.remove, ...change.add.map((l) => l.skuId)]);
        next = { ...next, licenses: [...next.licenses.filter((l) => !replaced.has(l.skuId)), ...change.add] };
        break;
      }
      case 'policy':
        next = { ...next, policies: { ...next.policies, [change.policyType]: change.policyName } };
        break;
      case 'dialPlan':
        next = { ...next, dialPlan: change.dialPlan };
        break;
      case 'number':
        next = { ...next, number: { number: change.number, type: change.type } };
        break;
      case 'groups': {
        const removed = new Set(change.remove);
        const kept = next.groups.filter((g) => !removed.has(g));
        next = { ...next, groups: [...kept, ...change.add.filter((g) => !kept.includes(g))] };
        break;
      }
    }
  }
  return next;
}

function sameLicense(held: License | undefined, wanted: License): boolean {
  if (!held) return false;
  const a = sorted(held.disabledPlans);
  const b = sorted(wanted.disabledPlans);
  return a.length === b.length && a.every((p, i) => p === b[i]);
}

function sorted(values: readonly string[]): string[] {
  return [...new Set(values)].sort();
}
