/** Reading a user's Microsoft state into the domain's terms, and the name mappings between the two sides. */
import type { License, MicrosoftUserState, NumberType, ProvisioningChange, QuickAddGroup, SiteDefaults, TeamsPolicies, UserRecord } from '../domain';
import type { MicrosoftUser, NumberType as MicrosoftNumberType, TeamsUserConfiguration } from '../ports/microsoft';

export const DIAL_PLAN_POLICY_TYPE = 'TenantDialPlan';

/** Policy names are compared without Teams' `Tag:` prefix, whichever way the operator wrote them. */
export function policyName(name: string): string {
  return name.replace(/^Tag:/i, '');
}

export function toMicrosoftNumberType(type: NumberType): MicrosoftNumberType | undefined {
  switch (type) {
    case 'DirectRouting':
      return 'directRouting';
    case 'CallingPlan':
      return 'callingPlan';
    case 'OperatorConnect':
      return 'operatorConnect';
    default:
      return undefined; // Teams Phone Mobile numbers are not assigned through Graph
  }
}

export function fromMicrosoftNumberType(type: string | null | undefined): NumberType | undefined {
  switch (type) {
    case 'directRouting':
      return 'DirectRouting';
    case 'callingPlan':
      return 'CallingPlan';
    case 'operatorConnect':
      return 'OperatorConnect';
    default:
      return undefined;
  }
}

/**
 * The state the plan compares against. `teams` null: the user is not in Teams (yet), so it holds no
 * policies or number. Only direct policy assignments count as held: a group or Global one is not ours.
 */
export function microsoftUserState(user: MicrosoftUser, teams: TeamsUserConfiguration | null, groups: string[], numberType: NumberType): MicrosoftUserState {
  const policies: TeamsPolicies = {};
  let dialPlan: string | undefined;
  for (const p of teams?.effectivePolicyAssignments ?? []) {
    if (p.assignmentType !== 'direct' || !p.displayName || p.displayName === 'Global') continue;
    if (p.policyType === DIAL_PLAN_POLICY_TYPE) dialPlan = policyName(p.displayName);
    else (policies as Record<string, string>)[p.policyType] = policyName(p.displayName);
  }
  const primary = teams?.telephoneNumbers.find((t) => t.assignmentCategory === 'primary') ?? teams?.telephoneNumbers[0];
  const licenses: License[] = user.assignedLicenses.map((l) => ({ skuId: l.skuId, disabledPlans: [...l.disabledPlans] }));
  return {
    ...(user.usageLocation ? { usageLocation: user.usageLocation } : {}),
    licenses,
    policies,
    ...(dialPlan ? { dialPlan } : {}),
    ...(primary ? { number: { number: primary.telephoneNumber, type: numberType } } : {}),
    groups,
  };
}

/** Site defaults and Quick Add Group with policy names in the form the state is read in. */
export function normalizedPolicies<T extends SiteDefaults | QuickAddGroup>(doc: T): T {
  const teamsPolicies: TeamsPolicies = {};
  for (const [type, name] of Object.entries(doc.teamsPolicies)) if (name) (teamsPolicies as Record<string, string>)[type] = policyName(name);
  return { ...doc, teamsPolicies, ...(doc.dialPlan ? { dialPlan: policyName(doc.dialPlan) } : {}) };
}

/** The Teams side provisioning needs: whether Teams knows the user, and what its licenses give it there. */
export interface TeamsPresence {
  present: boolean;
  featureTypes: string[];
}

export function presenceOf(config: TeamsUserConfiguration | null): TeamsPresence {
  return { present: config !== null, featureTypes: config?.featureTypes ?? [] };
}

/**
 * The state to plan against, from what the sync stored (the user's attributes and its Teams side), so that
 * nothing is read from Microsoft that was just read. Undefined when the record lacks part of it (stored
 * before the sync kept it, or the Teams side not read yet): the caller reads Microsoft then.
 */
export function storedMicrosoftState(record: UserRecord, groups: string[], numberType: NumberType): { state: MicrosoftUserState; teams: TeamsPresence } | undefined {
  const attributes = record.attributes;
  const skus = attributes.assignedLicenses;
  const disabled = attributes.licenseDisabledPlans;
  const teams = record.teams;
  if (!Array.isArray(skus) || !Array.isArray(disabled) || !teams || !teams.direct) return undefined;
  const licenses: License[] = skus.map((skuId) => ({
    skuId,
    disabledPlans: disabled.filter((d) => d.startsWith(`${skuId}/`)).map((d) => d.slice(skuId.length + 1)),
  }));
  const policies: TeamsPolicies = {};
  let dialPlan: string | undefined;
  for (const [type, name] of Object.entries(teams.direct)) {
    if (!name || name === 'Global') continue;
    if (type === DIAL_PLAN_POLICY_TYPE) dialPlan = policyName(name);
    else (policies as Record<string, string>)[type] = policyName(name);
  }
  const usageLocation = typeof attributes.usageLocation === 'string' && attributes.usageLocation ? attributes.usageLocation : undefined;
  // A provisioned user's number counts as held even if the sync has not seen it yet (given since).
  const held = teams.primaryNumber ?? (record.state.kind === 'provisioned' ? record.number : undefined);
  return {
    state: {
      ...(usageLocation ? { usageLocation } : {}),
      licenses,
      policies,
      ...(dialPlan ? { dialPlan } : {}),
      ...(held ? { number: { number: held, type: numberType } } : {}),
      groups,
    },
    teams: { present: teams.present, featureTypes: teams.featureTypes },
  };
}

/**
 * The record with what Microsoft took in a pass (usage location, licenses, policies, dial plan, groups), so that a
 * plan made from the record before the next sync does not send them again.
 */
export function withApplied(record: UserRecord, changes: readonly ProvisioningChange[]): UserRecord {
  if (changes.length === 0) return record;
  const attributes = { ...record.attributes };
  const teams = record.teams ? { ...record.teams, policies: { ...record.teams.policies }, direct: { ...(record.teams.direct ?? {}) } } : undefined;
  let groups = record.groups;
  for (const change of changes) {
    switch (change.kind) {
      case 'usageLocation':
        attributes.usageLocation = change.usageLocation;
        break;
      case 'licenses': {
        const skus = Array.isArray(attributes.assignedLicenses) ? attributes.assignedLicenses : [];
        const disabled = Array.isArray(attributes.licenseDisabledPlans) ? attributes.licenseDisabledPlans : [];
        const replaced = new Set([...change.remove, ...change.add.map((l) => l.skuId)]);
        attributes.assignedLicenses = [...skus.filter((s) => !replaced.has(s)), ...change.add.map((l) => l.skuId)];
        attributes.licenseDisabledPlans = [
          ...disabled.filter((d) => !replaced.has(d.slice(0, d.indexOf('/')))),
          ...change.add.flatMap((l) => [...(l.disabledPlans ?? [])].sort().map((p) => `${l.skuId}/${p}`)),
        ];
        break;
      }
      case 'policy':
        if (teams) teams.policies[change.policyType] = teams.direct[change.policyType] = change.policyName;
        break;
      case 'dialPlan':
        if (teams) teams.policies[DIAL_PLAN_POLICY_TYPE] = teams.direct[DIAL_PLAN_POLICY_TYPE] = change.dialPlan;
        break;
      case 'groups': {
        const left = new Set(change.remove);
        groups = [...new Set([...(groups ?? []).filter((g) => !left.has(g)), ...change.add])].sort();
        break;
      }
      default:
        break;
    }
  }
  return { ...record, attributes, ...(teams ? { teams } : {}), ...(groups ? { groups } : {}) };
}

/**
 * Teams feature types a user gets from licenses, by the service plans of their SKUs (Microsoft's service
 * plan names: TEAMS1 Teams, MCOEV Teams Phone, MCOPSTN* Calling Plans). Plans a license disables do not count.
 */
export function teamsFeaturesOf(licenses: readonly License[], skuPlans: ReadonlyMap<string, ReadonlyArray<{ id: string; name: string }>>): string[] {
  const names = new Set<string>();
  for (const l of licenses) {
    for (const plan of skuPlans.get(l.skuId.toLowerCase()) ?? []) if (!l.disabledPlans.includes(plan.id)) names.add(plan.name.toUpperCase());
  }
  const out: string[] = [];
  if (names.has('TEAMS1')) out.push('Teams');
  if (names.has('MCOEV')) out.push('PhoneSystem');
  if ([...names].some((n) => n.startsWith('MCOPSTN'))) out.push('CallingPlan');
  return out;
}

/** The service plans of each synced SKU (by lower-case SKU id), from the license catalog's items. */
export function servicePlansBySku(items: ReadonlyArray<{ id: string; data: unknown }>): Map<string, Array<{ id: string; name: string }>> {
  const out = new Map<string, Array<{ id: string; name: string }>>();
  for (const item of items) {
    const plans = (item.data as { servicePlans?: Array<{ servicePlanId?: unknown; servicePlanName?: unknown }> } | null)?.servicePlans ?? [];
    out.set(item.id.toLowerCase(), plans.filter((p) => typeof p.servicePlanId === 'string' && typeof p.servicePlanName === 'string').map((p) => ({ id: p.servicePlanId as string, name: p.servicePlanName as string })));
  }
  return out;
}
