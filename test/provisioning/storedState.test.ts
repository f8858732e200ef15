/**
 * Planning from what the sync stored gives the state that reading Microsoft would: the user's licenses
 * with their disabled plans, usage location, the policies and dial plan assigned directly, and the primary
 * number, from the attributes and the Teams side the sync keeps.
 */
import { describe, expect, it } from 'vitest';
import { microsoftUserState, storedMicrosoftState } from '../../shared/provisioning/microsoftState';
import { toDomainUser, toTeamsState } from '../../shared/sync/users';
import type { MicrosoftUser, TeamsUserConfiguration } from '../../shared/ports/microsoft';
import type { UserRecord } from '../../shared/domain';

const user: MicrosoftUser = {
  id: 'u1', userPrincipalName: 'u1@contoso.example', displayName: 'U1', givenName: null, surname: null, mail: null, mailNickname: null,
  city: 'Seattle', country: 'United States', state: null, streetAddress: null, postalCode: null, officeLocation: null, department: 'Sales',
  jobTitle: null, companyName: null, employeeId: null, employeeType: null, preferredLanguage: null, usageLocation: 'US', accountEnabled: true,
  userType: 'Member', businessPhones: [], mobilePhone: null, onPremisesSyncEnabled: null, onPremisesImmutableId: null, createdDateTime: null,
  assignedLicenses: [
    { skuId: 'e5', disabledPlans: ['plan-b', 'plan-a'] },
    { skuId: 'phone', disabledPlans: [] },
  ],
};

const teams: TeamsUserConfiguration = {
  id: 'u1', userPrincipalName: 'u1@contoso.example', accountType: 'user', isEnterpriseVoiceEnabled: true, featureTypes: ['Teams', 'PhoneSystem'],
  telephoneNumbers: [{ telephoneNumber: '+12065550100', assignmentCategory: 'private' }, { telephoneNumber: '+12065550101', assignmentCategory: 'primary' }],
  effectivePolicyAssignments: [
    { policyType: 'TeamsCallingPolicy', displayName: 'AllowCalling', assignmentType: 'direct', policyId: 'x', groupId: null },
    { policyType: 'OnlineVoiceRoutingPolicy', displayName: 'VRP-US', assignmentType: 'group', policyId: 'y', groupId: 'g' },
    { policyType: 'TenantDialPlan', displayName: 'DP-US', assignmentType: 'direct', policyId: 'z', groupId: null },
    { policyType: 'TeamsMeetingPolicy', displayName: 'Global', assignmentType: 'direct', policyId: null, groupId: null },
  ],
  modifiedDateTime: null,
};

/** Disabled plans compare as a set (the plan sorts them). */
const sortedPlans = <T extends { licenses: Array<{ disabledPlans: string[] }> }>(state: T): T => ({ ...state, licenses: state.licenses.map((l) => ({ ...l, disabledPlans: [...l.disabledPlans].sort() })) });

const record = (overrides: Partial<UserRecord> = {}): UserRecord => ({
  customerId: 'c', userId: 'u1', attributes: toDomainUser(user), state: { kind: 'at-customer' }, teams: toTeamsState(teams), ...overrides,
});

describe('the state provisioning plans against', () => {
  it('is the same from what the sync stored as from reading Microsoft', () => {
    const stored = storedMicrosoftState(record(), ['g1'], 'DirectRouting');
    expect(stored?.state).toEqual(sortedPlans(microsoftUserState(user, teams, ['g1'], 'DirectRouting')));
    expect(stored?.teams).toEqual({ present: true, featureTypes: ['Teams', 'PhoneSystem'] });
  });

  it('says a user not in Teams yet is not there, with nothing assigned', () => {
    const stored = storedMicrosoftState(record({ teams: toTeamsState(null) }), [], 'DirectRouting');
    expect(stored?.teams.present).toBe(false);
    expect(stored?.state).toEqual(sortedPlans(microsoftUserState(user, null, [], 'DirectRouting')));
  });

  it('is unknown when the record was stored without what planning needs: Microsoft is read then', () => {
    const { licenseDisabledPlans: _dropped, ...older } = toDomainUser(user);
    expect(storedMicrosoftState(record({ attributes: older }), [], 'DirectRouting')).toBeUndefined();
    expect(storedMicrosoftState(record({ teams: undefined }), [], 'DirectRouting')).toBeUndefined();
    const { direct: _direct, ...oldTeams } = toTeamsState(teams);
    expect(storedMicrosoftState(record({ teams: oldTeams }), [], 'DirectRouting')).toBeUndefined();
  });
});
