/** Graph JSON → the port's types. Tolerant: a missing property becomes null or an empty list. */
import type {
  GraphSubscription,
  MicrosoftGroup,
  MicrosoftLicenseSku,
  MicrosoftUser,
  MicrosoftUserChange,
  NumberAssignment,
  TeamsUserConfiguration,
} from '../../ports/microsoft';

/** Every user property placement and provisioning read; also the properties delta tracks. */
export const USER_SELECT = [
  'id', 'userPrincipalName', 'displayName', 'givenName', 'surname', 'mail', 'mailNickname',
  'city', 'country', 'state', 'streetAddress', 'postalCode', 'officeLocation',
  'department', 'jobTitle', 'companyName', 'employeeId', 'employeeType', 'preferredLanguage',
  'usageLocation', 'accountEnabled', 'userType', 'assignedLicenses', 'businessPhones', 'mobilePhone',
  'onPremisesSyncEnabled', 'onPremisesImmutableId', 'createdDateTime',
] as const;

export const GROUP_SELECT = ['id', 'displayName', 'description', 'mail', 'mailEnabled', 'securityEnabled', 'groupTypes'] as const;

export const SKU_SELECT = ['skuId', 'skuPartNumber', 'appliesTo', 'capabilityStatus', 'consumedUnits', 'prepaidUnits', 'servicePlans'] as const;

type Json = Record<string, unknown>;

const str = (v: unknown): string | null => (typeof v === 'string' ? v : null);
const bool = (v: unknown): boolean | null => (typeof v === 'boolean' ? v : null);
const num = (v: unknown): number => (typeof v === 'number' && Number.isFinite(v) ? v : 0);
const strings = (v: unknown): string[] => (Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : []);
const objects = (v: unknown): Json[] => (Array.isArray(v) ? v.filter((x): x is Json => typeof x === 'object' && x !== null) : []);

export function toUser(raw: Json): MicrosoftUser {
  return {
    id: String(raw.id),
    userPrincipalName: str(raw.userPrincipalName) ?? '',
    displayName: str(raw.displayName),
    givenName: str(raw.givenName),
    surname: str(raw.surname),
    mail: str(raw.mail),
    mailNickname: str(raw.mailNickname),
    city: str(raw.city),
    country: str(raw.country),
    state: str(raw.state),
    streetAddress: str(raw.streetAddress),
    postalCode: str(raw.postalCode),
    officeLocation: str(raw.officeLocation),
    department: str(raw.department),
    jobTitle: str(raw.jobTitle),
    companyName: str(raw.companyName),
    employeeId: str(raw.employeeId),
    employeeType: str(raw.employeeType),
    preferredLanguage: str(raw.preferredLanguage),
    usageLocation: str(raw.usageLocation),
    accountEnabled: bool(raw.accountEnabled),
    userType: str(raw.userType),
    assignedLicenses: objects(raw.assignedLicenses).map((l) => ({ skuId: String(l.skuId), disabledPlans: strings(l.disabledPlans) })),
    businessPhones: strings(raw.businessPhones),
    mobilePhone: str(raw.mobilePhone),
    onPremisesSyncEnabled: bool(raw.onPremisesSyncEnabled),
    onPremisesImmutableId: str(raw.onPremisesImmutableId),
    createdDateTime: str(raw.createdDateTime),
  };
}

/**
 * One delta page's items, a user appearing more than once merged into one change: properties of a later
 * occurrence win, a removal replaces what came before it, a later non-removed occurrence is a restore.
 */
export function mergeDeltaItems(items: Json[]): MicrosoftUserChange[] {
  const merged = new Map<string, Json>();
  for (const item of items) {
    const id = String(item.id);
    const previous = merged.get(id);
    if (item['@removed'] !== undefined || previous === undefined || previous['@removed'] !== undefined) merged.set(id, { ...item });
    else merged.set(id, { ...previous, ...item });
  }
  return [...merged.values()].map((item) => {
    const removed = item['@removed'] as { reason?: unknown } | undefined;
    if (removed !== undefined) return { id: String(item.id), removed: removed.reason === 'deleted' ? 'hard' : 'soft' };
    return toUser(item);
  });
}

export function toSku(raw: Json): MicrosoftLicenseSku {
  const prepaid = (raw.prepaidUnits ?? {}) as Json;
  return {
    skuId: String(raw.skuId),
    skuPartNumber: str(raw.skuPartNumber) ?? '',
    appliesTo: str(raw.appliesTo),
    capabilityStatus: str(raw.capabilityStatus),
    consumedUnits: num(raw.consumedUnits),
    prepaidUnits: { enabled: num(prepaid.enabled), suspended: num(prepaid.suspended), warning: num(prepaid.warning), lockedOut: num(prepaid.lockedOut) },
    servicePlans: objects(raw.servicePlans).map((p) => ({
      servicePlanId: String(p.servicePlanId),
      servicePlanName: str(p.servicePlanName) ?? '',
      provisioningStatus: str(p.provisioningStatus),
      appliesTo: str(p.appliesTo),
    })),
  };
}

export function toGroup(raw: Json): MicrosoftGroup {
  return {
    id: String(raw.id),
    displayName: str(raw.displayName),
    description: str(raw.description),
    mail: str(raw.mail),
    mailEnabled: bool(raw.mailEnabled),
    securityEnabled: bool(raw.securityEnabled),
    groupTypes: strings(raw.groupTypes),
  };
}

export function toTeamsUserConfiguration(raw: Json): TeamsUserConfiguration {
  return {
    id: String(raw.id),
    userPrincipalName: str(raw.userPrincipalName),
    accountType: str(raw.accountType),
    isEnterpriseVoiceEnabled: raw.isEnterpriseVoiceEnabled === true,
    featureTypes: strings(raw.featureTypes),
    telephoneNumbers: objects(raw.telephoneNumbers).map((t) => ({
      telephoneNumber: str(t.telephoneNumber) ?? '',
      assignmentCategory: str(t.assignmentCategory) ?? 'primary',
    })),
    effectivePolicyAssignments: objects(raw.effectivePolicyAssignments).map((p) => {
      const assignment = (p.policyAssignment ?? {}) as Json;
      return {
        policyType: str(p.policyType) ?? '',
        displayName: str(assignment.displayName),
        assignmentType: str(assignment.assignmentType),
        policyId: str(assignment.policyId),
        groupId: str(assignment.groupId),
      };
    }),
    modifiedDateTime: str(raw.modifiedDateTime),
  };
}

export function toNumberAssignment(raw: Json): NumberAssignment {
  return {
    id: String(raw.id),
    telephoneNumber: withPlus(str(raw.telephoneNumber) ?? ''),
    numberType: str(raw.numberType) ?? '',
    activationState: str(raw.activationState),
    assignmentStatus: str(raw.assignmentStatus),
    assignmentTargetId: str(raw.assignmentTargetId),
    assignmentCategory: str(raw.assignmentCategory),
    locationId: str(raw.locationId),
    civicAddressId: str(raw.civicAddressId),
    networkSiteId: str(raw.networkSiteId),
    isoCountryCode: str(raw.isoCountryCode),
    city: str(raw.city),
    capabilities: strings(raw.capabilities),
    numberSource: str(raw.numberSource),
  };
}

export function toSubscription(raw: Json): GraphSubscription {
  return {
    id: String(raw.id),
    resource: str(raw.resource) ?? '',
    changeType: str(raw.changeType) ?? '',
    notificationUrl: str(raw.notificationUrl) ?? '',
    lifecycleNotificationUrl: str(raw.lifecycleNotificationUrl),
    expirationDateTime: str(raw.expirationDateTime) ?? '',
    clientState: str(raw.clientState),
  };
}

export function withPlus(number: string): string {
  const trimmed = number.trim();
  return trimmed.startsWith('+') ? trimmed : `+${trimmed}`;
}

/** Single GETs in some Microsoft examples wrap the entity in `value`; accept both. */
export function unwrapEntity(body: unknown): Json {
  const json = (body ?? {}) as Json;
  const value = json.value;
  if (json.id === undefined && value && typeof value === 'object' && !Array.isArray(value)) return value as Json;
  return json;
}
