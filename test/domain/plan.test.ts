import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  applyPlan,
  lineRequirement,
  planProvisioning,
  POLICY_TYPES,
  quickAddGroupSchema,
  siteDefaultsSchema,
  userProfileSchema,
  type License,
  type MicrosoftUserState,
  type NumberType,
  type PlanInput,
  type QuickAddGroup,
  type QuickAddGroupInput,
} from '../../shared/domain';

const skus = ['sku-e3', 'sku-e5', 'sku-phone', 'sku-callingplan'];
const plans = ['plan-a', 'plan-b', 'plan-c'];
const groups = ['g1', 'g2', 'g3', 'g4'];
const policyNames = ['Global', 'Restricted', 'Sales'];
const numberTypes: NumberType[] = ['DirectRouting', 'CallingPlan'];

const license = fc.record({ skuId: fc.constantFrom(...skus), disabledPlans: fc.subarray(plans) });
const policies = fc.dictionary(fc.constantFrom(...POLICY_TYPES.slice(0, 5)), fc.constantFrom(...policyNames), { maxKeys: 4 });
const maybe = <T>(arb: fc.Arbitrary<T>) => fc.option(arb, { nil: undefined });
const number = fc.record({ number: fc.constantFrom('+14255550100', '+14255550101', '+14255550102'), type: fc.constantFrom(...numberTypes) });

const state: fc.Arbitrary<MicrosoftUserState> = fc.record({
  usageLocation: maybe(fc.constantFrom('US', 'GB')),
  licenses: fc.uniqueArray(license, { selector: (l) => l.skuId, maxLength: 3 }),
  policies,
  dialPlan: maybe(fc.constantFrom('DP-Chicago', 'DP-London')),
  number: maybe(number),
  groups: fc.subarray(groups),
});

const quickAddGroup: fc.Arbitrary<QuickAddGroup> = fc
  .record({
    licenses: fc.uniqueArray(license, { selector: (l) => l.skuId, maxLength: 3 }),
    removeCandidates: fc.subarray(skus),
    usageLocation: maybe(fc.constantFrom('US', 'GB')),
    teamsPolicies: policies,
    dialPlan: maybe(fc.constantFrom('DP-Chicago', 'DP-London')),
    add: fc.subarray(groups),
    removeCandidates2: fc.subarray(groups),
    assignment: fc.constantFrom('none', 'nextAvailable', 'explicit'),
    explicitNumber: fc.constantFrom('+14255550100', '+14255550199'),
    numberType: fc.constantFrom(...numberTypes),
  })
  .map((g) => {
    const input: QuickAddGroupInput = {
      id: 'qag',
      customerId: 'c',
      name: 'QAG',
      licenses: g.licenses,
      removeLicenses: g.removeCandidates.filter((s) => !g.licenses.some((l) => l.skuId === s)),
      usageLocation: g.usageLocation,
      teamsPolicies: g.teamsPolicies,
      dialPlan: g.dialPlan,
      groups: { add: g.add, remove: g.removeCandidates2.filter((x) => !g.add.includes(x)) },
      line: { assignment: g.assignment as 'none', number: g.explicitNumber, numberType: g.numberType },
    };
    return quickAddGroupSchema.parse(input);
  });

const planInput: fc.Arbitrary<PlanInput> = fc
  .record({
    state,
    quickAddGroup,
    sitePolicies: policies,
    siteDialPlan: maybe(fc.constantFrom('DP-Chicago', 'DP-Site')),
    siteUsageLocation: maybe(fc.constantFrom('US', 'DE')),
    teams: fc.boolean(),
    voice: fc.boolean(),
    allocated: maybe(number),
  })
  .map((x) => ({
    state: x.state,
    quickAddGroup: x.quickAddGroup,
    siteDefaults: siteDefaultsSchema.parse({ siteId: 's', customerId: 'c', teamsPolicies: x.sitePolicies, dialPlan: x.siteDialPlan, usageLocation: x.siteUsageLocation }),
    profile: userProfileSchema.parse({ id: 'p', customerId: 'c', name: 'P', quickAddGroupId: 'qag', services: { teams: x.teams, voice: x.voice } }),
    allocatedNumber: x.allocated,
  }));

describe('provisioning plan', () => {
  it('property: plan, apply, plan again gives no change', () => {
    fc.assert(
      fc.property(planInput, (input) => {
        const plan = planProvisioning(input);
        const after = applyPlan(input.state, plan);
        const again = planProvisioning({ ...input, state: after });
        expect(again.changes).toEqual([]);
      }),
      { numRuns: 500 },
    );
  });

  it('property: every planned change changes the state (the plan is minimal)', () => {
    fc.assert(
      fc.property(planInput, (input) => {
        const plan = planProvisioning(input);
        for (const change of plan.changes) {
          const one = applyPlan(input.state, { changes: [change] });
          expect(one).not.toEqual(input.state);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('property: changes come in Microsoft order, usage location before licenses before Teams settings before groups', () => {
    const rank = { usageLocation: 0, licenses: 1, policy: 2, dialPlan: 3, number: 4, groups: 5 } as const;
    fc.assert(
      fc.property(planInput, (input) => {
        const ranks = planProvisioning(input).changes.map((c) => rank[c.kind]);
        expect(ranks).toEqual([...ranks].sort((a, b) => a - b));
      }),
    );
  });

  const base = (): PlanInput => ({
    state: { licenses: [], policies: {}, groups: ['g-old'] },
    siteDefaults: siteDefaultsSchema.parse({
      siteId: 's',
      customerId: 'c',
      usageLocation: 'US',
      dialPlan: 'DP-Site',
      teamsPolicies: { TeamsCallingPolicy: 'SiteCalling', TeamsMeetingPolicy: 'SiteMeeting' },
    }),
    profile: userProfileSchema.parse({ id: 'p', customerId: 'c', name: 'Voice', quickAddGroupId: 'q', services: { teams: true, voice: true } }),
    quickAddGroup: quickAddGroupSchema.parse({
      id: 'q',
      customerId: 'c',
      name: 'Voice users',
      licenses: [{ skuId: 'sku-e5', disabledPlans: [] }],
      teamsPolicies: { TeamsCallingPolicy: 'QagCalling' },
      groups: { add: ['g-voice'], remove: ['g-old'] },
      line: { assignment: 'nextAvailable', numberType: 'DirectRouting' },
    }),
    allocatedNumber: { number: '+14255550100', type: 'DirectRouting' },
  });

  it('a new voice user gets everything, Quick Add Group policies over site defaults', () => {
    const plan = planProvisioning(base());
    expect(plan.unmet).toEqual([]);
    expect(plan.changes).toEqual([
      { kind: 'usageLocation', usageLocation: 'US' },
      { kind: 'licenses', add: [{ skuId: 'sku-e5', disabledPlans: [] }], remove: [] },
      { kind: 'policy', policyType: 'TeamsCallingPolicy', policyName: 'QagCalling' },
      { kind: 'policy', policyType: 'TeamsMeetingPolicy', policyName: 'SiteMeeting' },
      { kind: 'dialPlan', dialPlan: 'DP-Site' },
      { kind: 'number', number: '+14255550100', type: 'DirectRouting' },
      { kind: 'groups', add: ['g-voice'], remove: ['g-old'] },
    ]);
  });

  it('a voice user without an allocated number gets everything else and the gap is reported', () => {
    const input = { ...base(), allocatedNumber: undefined };
    const plan = planProvisioning(input);
    expect(plan.changes.some((c) => c.kind === 'number')).toBe(false);
    expect(plan.unmet).toEqual(['no DirectRouting number is available for the user']);
  });

  it('next available keeps a number the user holds; no number for a profile without voice', () => {
    const input = base();
    const holding = { ...input.state, number: { number: '+14255550999', type: 'CallingPlan' as const } };
    expect(lineRequirement(holding, input.profile, input.quickAddGroup)).toEqual({ kind: 'none' });
    const noVoice = { ...input.profile, services: { teams: true, voice: false } };
    expect(lineRequirement(input.state, noVoice, input.quickAddGroup)).toEqual({ kind: 'none' });
    expect(lineRequirement(input.state, input.profile, input.quickAddGroup)).toEqual({ kind: 'nextAvailable', type: 'DirectRouting' });
  });

  it('a license held with other disabled plans is re-assigned; a listed removal happens only when held', () => {
    const input = base();
    const held: License[] = [{ skuId: 'sku-e5', disabledPlans: ['plan-a'] }];
    const group = quickAddGroupSchema.parse({ ...input.quickAddGroup, removeLicenses: ['sku-e3', 'sku-basic'] });
    const plan = planProvisioning({ ...input, quickAddGroup: group, state: { ...input.state, licenses: [...held, { skuId: 'sku-e3', disabledPlans: [] }] } });
    expect(plan.changes.find((c) => c.kind === 'licenses')).toEqual({ kind: 'licenses', add: [{ skuId: 'sku-e5', disabledPlans: [] }], remove: ['sku-e3'] });
  });
});
