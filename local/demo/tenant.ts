/**
 * Deterministic demo tenants: the same seed and size always give the same tenant, byte for byte.
 * The data is Graph-shaped (users, subscribedSkus, groups, Teams user configurations and number
 * assignments) plus the Teams PowerShell objects (dial plans, policies) the Teams bridge serves.
 * No clock and no Math.random: every value comes from the seeded generator.
 */

// ---------------------------------------------------------------------------------------------
// Seeded randomness

/** sfc32 over a string or number seed; fast and good enough for test data. */
export function seededRandom(seed: string | number): () => number {
  let h = 1779033703 ^ String(seed).length;
  const s = String(seed);
  for (let i = 0; i < s.length; i++) {
    h = Math.imul(h ^ s.charCodeAt(i), 3432918353);
    h = (h << 13) | (h >>> 19);
  }
  const next = (): number => {
    h = Math.imul(h ^ (h >>> 16), 2246822507);
    h = Math.imul(h ^ (h >>> 13), 3266489909);
    return (h ^= h >>> 16) >>> 0;
  };
  let a = next(), b = next(), c = next(), d = next();
  return () => {
    a >>>= 0; b >>>= 0; c >>>= 0; d >>>= 0;
    let t = (a + b) | 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) | 0;
    c = (c << 21) | (c >>> 11);
    d = (d + 1) | 0;
    t = (t + d) | 0;
    c = (c + t) | 0;
    return (t >>> 0) / 4294967296;
  };
}

const HEX: string[] = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

/** A version-4-shaped GUID drawn from the seeded generator. */
export function seededGuid(rnd: () => number): string {
  const b: number[] = [];
  for (let i = 0; i < 4; i++) {
    const v = Math.floor(rnd() * 4294967296);
    b.push(v & 255, (v >>> 8) & 255, (v >>> 16) & 255, (v >>> 24) & 255);
  }
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = HEX;
  return h[b[0]] + h[b[1]] + h[b[2]] + h[b[3]] + '-' + h[b[4]] + h[b[5]] + '-' + h[b[6]] + h[b[7]] + '-' + h[b[8]] + h[b[9]] + '-' +
    h[b[10]] + h[b[11]] + h[b[12]] + h[b[13]] + h[b[14]] + h[b[15]];
}

// ---------------------------------------------------------------------------------------------
// Shapes

export interface DemoOffice {
  key: string;
  /** Graph `officeLocation` of users in this office. */
  officeLocation: string;
  city: string;
  state: string | null;
  country: string;
  /** ISO 3166 alpha-2, also the users' usageLocation. */
  countryCode: string;
  streetAddress: string;
  postalCode: string;
  /** E.164 prefix of the office's direct-dial range; four digits follow. */
  phonePrefix: string;
  /** Share of office-based users working here. */
  weight: number;
}

export const DEMO_OFFICES: readonly DemoOffice[] = [
  { key: 'SEA', officeLocation: 'Seattle HQ', city: 'Seattle', state: 'WA', country: 'United States', countryCode: 'US', streetAddress: '1200 5th Avenue', postalCode: '98101', phonePrefix: '+1206555', weight: 0.35 },
  { key: 'CHI', officeLocation: 'Chicago Loop', city: 'Chicago', state: 'IL', country: 'United States', countryCode: 'US', streetAddress: '233 S Wacker Drive', postalCode: '60606', phonePrefix: '+1312555', weight: 0.25 },
  { key: 'LON', officeLocation: 'London City', city: 'London', state: null, country: 'United Kingdom', countryCode: 'GB', streetAddress: '25 Old Broad Street', postalCode: 'EC2N 1HN', phonePrefix: '+44207946', weight: 0.25 },
  { key: 'SYD', officeLocation: 'Sydney Harbour', city: 'Sydney', state: 'NSW', country: 'Australia', countryCode: 'AU', streetAddress: '1 Martin Place', postalCode: '2000', phonePrefix: '+6125550', weight: 0.15 },
];

export interface AssignedLicense { skuId: string; disabledPlans: string[] }

/** A Graph user as the emulator stores it (the Graph property names). */
export interface DemoUser {
  id: string;
  userPrincipalName: string;
  displayName: string;
  givenName: string | null;
  surname: string | null;
  mail: string | null;
  mailNickname: string;
  jobTitle: string | null;
  department: string | null;
  officeLocation: string | null;
  city: string | null;
  state: string | null;
  country: string | null;
  streetAddress: string | null;
  postalCode: string | null;
  usageLocation: string | null;
  businessPhones: string[];
  mobilePhone: string | null;
  preferredLanguage: string | null;
  accountEnabled: boolean;
  userType: 'Member' | 'Guest';
  companyName: string | null;
  employeeId: string | null;
  employeeType: string | null;
  onPremisesSyncEnabled: boolean | null;
  onPremisesImmutableId: string | null;
  createdDateTime: string;
  assignedLicenses: AssignedLicense[];
}

export interface ServicePlanInfo { servicePlanId: string; servicePlanName: string; provisioningStatus: string; appliesTo: string }

export interface DemoSku {
  accountId: string;
  accountName: string;
  appliesTo: 'User' | 'Company';
  capabilityStatus: 'Enabled' | 'Suspended' | 'Warning';
  consumedUnits: number;
  id: string;
  prepaidUnits: { enabled: number; lockedOut: number; suspended: number; warning: number };
  servicePlans: ServicePlanInfo[];
  skuId: string;
  skuPartNumber: string;
  subscriptionIds: string[];
}

export interface DemoGroup {
  id: string;
  displayName: string;
  description: string | null;
  mailNickname: string;
  mailEnabled: boolean;
  securityEnabled: boolean;
  groupTypes: string[];
  createdDateTime: string;
  /** Member user ids. */
  members: string[];
}

export interface NormalizationRule {
  Name: string;
  Description: string;
  Pattern: string;
  Translation: string;
  Priority: number;
  IsInternalExtension: boolean;
}

/** Get-CsTenantDialPlan output. */
export interface DemoDialPlan {
  Identity: string;
  SimpleName: string;
  Description: string;
  ExternalAccessPrefix: string | null;
  OptimizeDeviceDialing: boolean;
  NormalizationRules: NormalizationRule[];
}

export const TEAMS_POLICY_TYPES = [
  'TeamsCallingPolicy',
  'OnlineVoiceRoutingPolicy',
  'TeamsEmergencyCallingPolicy',
  'TeamsEmergencyCallRoutingPolicy',
  'OnlineVoicemailPolicy',
  'CallingLineIdentity',
] as const;
export type TeamsPolicyType = (typeof TEAMS_POLICY_TYPES)[number];

/** Get-Cs<policyType> output: Identity ("Global" or "Tag:Name"), Description, and the cmdlet's own fields. */
export interface DemoPolicy { Identity: string; Description: string; [field: string]: unknown }

export interface TelephoneNumberRef { telephoneNumber: string; assignmentCategory: 'primary' | 'private' | 'alternate' }

export interface PolicyAssignmentRef {
  policyType: string;
  policyAssignment: { displayName: string; assignmentType: 'direct' | 'group'; policyId: string; groupId: string | null };
}

export interface DemoTeamsUserConfiguration {
  id: string;
  userPrincipalName: string;
  tenantId: string;
  accountType: 'user' | 'resourceAccount' | 'guest' | 'sfbOnPremUser' | 'unknown' | 'ineligibleUser';
  isEnterpriseVoiceEnabled: boolean;
  featureTypes: string[];
  telephoneNumbers: TelephoneNumberRef[];
  effectivePolicyAssignments: PolicyAssignmentRef[];
  createdDateTime: string;
  modifiedDateTime: string;
}

export interface DemoNumberAssignment {
  id: string;
  telephoneNumber: string;
  numberType: 'directRouting' | 'callingPlan' | 'operatorConnect';
  activationState: 'activated' | 'assignmentPending' | 'assignmentFailed' | 'updatePending' | 'updateFailed';
  assignmentStatus: 'unassigned' | 'userAssigned' | 'conferenceAssigned' | 'voiceApplicationAssigned';
  assignmentTargetId: string | null;
  assignmentCategory: 'primary' | 'private' | 'alternate' | null;
  capabilities: string[];
  locationId: string | null;
  civicAddressId: string | null;
  networkSiteId: string | null;
  operatorId: string | null;
  isoCountryCode: string;
  city: string;
  numberSource: 'online' | 'onPremises';
  portInStatus: string | null;
  supportedCustomerActions: string[];
  reverseNumberLookupOptions: string[];
}

/** An app registration in the tenant, with the application permissions (app roles) granted to it. */
export interface DemoApp { clientId: string; secret: string; displayName: string; roles: string[] }

export interface DemoTenant {
  tenantId: string;
  displayName: string;
  /** The initial domain, `<name>.onmicrosoft.com`; users' UPNs end with it. */
  domain: string;
  apps: DemoApp[];
  offices: readonly DemoOffice[];
  users: DemoUser[];
  skus: DemoSku[];
  groups: DemoGroup[];
  dialPlans: DemoDialPlan[];
  policies: Record<TeamsPolicyType, DemoPolicy[]>;
  teamsUserConfigurations: DemoTeamsUserConfiguration[];
  numberAssignments: DemoNumberAssignment[];
  /** Pairs of users deliberately holding the same number at two offices (duplicate-prevention cases). */
  duplicateNumbers: Array<{ telephoneNumber: string; userIds: [string, string] }>;
  /** Get-CsOnlineApplicationInstance output: the resource accounts (their users are in `users` too). */
  applicationInstances: DemoApplicationInstance[];
}

/** Get-CsOnlineApplicationInstance output (Teams PowerShell). */
export interface DemoApplicationInstance {
  ObjectId: string;
  UserPrincipalName: string;
  DisplayName: string;
  /** Auto attendant or call queue: RESOURCE_ACCOUNT_APPLICATION_IDS. */
  ApplicationId: string;
  /** `tel:+E164`, or null without a number. */
  PhoneNumber: string | null;
}

export interface DemoTenantSpec {
  seed: string | number;
  /** 10..200000 */
  users: number;
  tenantId?: string;
  displayName?: string;
  /** App registrations; by default one app granted every permission the product uses. */
  apps?: DemoApp[];
  /** An auto attendant and a call queue per office, each with a resource account holding a service number (default false; the demo job's tenant has them). */
  resourceAccounts?: boolean;
}

// ---------------------------------------------------------------------------------------------
// Licensing catalogue (Microsoft's published sku and service-plan identifiers)

export const SERVICE_PLANS = {
  TEAMS1: '57ff2da0-773e-42df-b2af-ffb7a2317929',
  MCOSTANDARD: '0feaeb32-d00e-4d66-bd5a-43b5b83db82c',
  EXCHANGE_S_ENTERPRISE: 'efb87545-963c-4e0d-99df-69c6916d9eb0',
  SHAREPOINTENTERPRISE: '5dbe027f-2339-4123-9542-606e4d348a72',
  INTUNE_A: 'c1ec4a95-1f05-45b3-a911-aa3fa01094f5',
  AAD_PREMIUM: '41781fb2-bc02-4b7c-bd55-b576c07bb09d',
  AAD_PREMIUM_P2: 'eec0eb4f-6444-4f95-aba0-50c24d67f998',
  MCOEV: '4828c8ec-dc2e-4779-b502-87ac9ce28ab7',
  MCOMEETADV: '3e26ee1f-8a5f-4d52-aee2-b81ce45c8f40',
  MCOPSTN1: '4ed3ff63-69d7-4fb7-b984-5aec7f605ca8',
  MCOPSTN2: '5a10155d-f5c1-411a-a8ec-e99aae125390',
  MCOEV_VIRTUALUSER: 'f47330e9-c134-43b3-9993-e7f004506889',
} as const;

type PlanName = keyof typeof SERVICE_PLANS;

interface SkuDefinition { skuId: string; skuPartNumber: string; plans: PlanName[] }

export const DEMO_SKUS = {
  SPE_E3: { skuId: '05e9a617-0261-4cee-bb44-138d3ef5d965', skuPartNumber: 'SPE_E3', plans: ['TEAMS1', 'MCOSTANDARD', 'EXCHANGE_S_ENTERPRISE', 'SHAREPOINTENTERPRISE', 'INTUNE_A', 'AAD_PREMIUM'] },
  SPE_E5: { skuId: '06ebc4ee-1bb5-47dd-8120-11324bc54e06', skuPartNumber: 'SPE_E5', plans: ['TEAMS1', 'MCOSTANDARD', 'EXCHANGE_S_ENTERPRISE', 'SHAREPOINTENTERPRISE', 'INTUNE_A', 'AAD_PREMIUM', 'AAD_PREMIUM_P2', 'MCOEV', 'MCOMEETADV'] },
  MCOEV: { skuId: 'e43b5b99-8dfb-405f-9987-dc307f34bcbd', skuPartNumber: 'MCOEV', plans: ['MCOEV'] },
  MCOPSTN1: { skuId: '0dab259f-bf13-4952-b7f8-7db8f131b28d', skuPartNumber: 'MCOPSTN1', plans: ['MCOPSTN1'] },
  MCOPSTN2: { skuId: 'd3b4fe1f-9992-4930-8acb-ca6ec609365e', skuPartNumber: 'MCOPSTN2', plans: ['MCOPSTN2'] },
  MCOMEETADV: { skuId: '0c266dff-15dd-4b49-8397-2bb16070ed52', skuPartNumber: 'MCOMEETADV', plans: ['MCOMEETADV'] },
  /** Teams Phone Resource Account (the free "virtual user" license resource accounts hold). */
  PHONESYSTEM_VIRTUALUSER: { skuId: '440eaaa8-b3e0-484b-a8be-62870b9ba70a', skuPartNumber: 'PHONESYSTEM_VIRTUALUSER', plans: ['MCOEV_VIRTUALUSER'] },
} as const satisfies Record<string, SkuDefinition>;

export type DemoSkuName = keyof typeof DEMO_SKUS;

/** Every application permission the product asks for; the default demo app holds all of them. */
export const DEMO_APP_ROLES: readonly string[] = [
  'User.ReadWrite.All',
  'Directory.Read.All',
  'Group.Read.All',
  'GroupMember.ReadWrite.All',
  'LicenseAssignment.ReadWrite.All',
  'Organization.Read.All',
  'TeamsUserConfiguration.Read.All',
  'TeamsTelephoneNumber.ReadWrite.All',
  'TeamsPolicyUserAssign.ReadWrite.All',
];

const SERVICE_PLAN_BY_ID = new Map<string, PlanName>(Object.entries(SERVICE_PLANS).map(([k, v]) => [v, k as PlanName]));
const SKU_BY_ID = new Map<string, SkuDefinition>(Object.values(DEMO_SKUS).map((s) => [s.skuId, s]));

/** Teams feature types a user gets from the service plans of their licenses. */
export function featureTypesFor(licenses: readonly AssignedLicense[], skuPlans?: (skuId: string) => readonly string[] | undefined): string[] {
  const plans = new Set<string>();
  for (const l of licenses) {
    const ids = skuPlans?.(l.skuId) ?? SKU_BY_ID.get(l.skuId)?.plans.map((p) => SERVICE_PLANS[p]) ?? [];
    for (const id of ids) if (!l.disabledPlans.includes(id)) plans.add(SERVICE_PLAN_BY_ID.get(id) ?? id);
  }
  const out: string[] = [];
  if (plans.has('TEAMS1')) out.push('Teams');
  if (plans.has('MCOSTANDARD')) out.push('VoiceApp');
  if (plans.has('MCOEV')) out.push('PhoneSystem');
  if (plans.has('MCOEV_VIRTUALUSER')) out.push('PhoneSystemVirtualUser');
  if (plans.has('MCOPSTN1') || plans.has('MCOPSTN2')) out.push('CallingPlan');
  if (plans.has('MCOMEETADV')) out.push('AudioConferencing');
  return out;
}

// ---------------------------------------------------------------------------------------------
// Name pools

const GIVEN = 'James Mary Robert Patricia John Jennifer Michael Linda David Elizabeth William Barbara Richard Susan Joseph Jessica Thomas Sarah Charles Karen Christopher Lisa Daniel Nancy Matthew Betty Anthony Sandra Mark Margaret Donald Ashley Steven Kimberly Andrew Emily Paul Donna Joshua Michelle Kenneth Carol Kevin Amanda Brian Melissa George Deborah Timothy Stephanie Ronald Rebecca Jason Sharon Edward Laura Jeffrey Cynthia Ryan Amy Jacob Kathleen Gary Angela Nicholas Shirley Eric Brenda Jonathan Emma Stephen Anna Larry Pamela Justin Nicole Scott Samantha Brandon Katherine Benjamin Christine Samuel Helen Gregory Debra Alexander Rachel Patrick Carolyn Frank Janet Raymond Maria Jack Olivia Dennis Heather Jerry Diane Tyler Julie Aaron Joyce Jose Victoria Adam Ruby Nathan Kelly Henry Christina Zachary Lauren Douglas Joan Peter Evelyn Kyle Judith Noah Andrea Ethan Hannah Jeremy Megan Walter Cheryl Christian Jacqueline Keith Martha Roger Madison Terry Teresa Austin Gloria Sean Sara Gerald Janice Carl Ann Harold Kathryn Dylan Abigail Arthur Sophia Lawrence Frances Jordan Jean Jesse Alice Bryan Judy Billy Isabella Bruce Julia Gabriel Grace Joe Amber Logan Denise Alan Danielle Juan Marilyn Albert Beverly Willie Charlotte Elijah Natalie Wayne Theresa Randy Diana Vincent Brittany Mason Doris Roy Kayla Ralph Alexis Bobby Lori Russell Marie Bradley Priya Wei Aisha Mateo Yuki Oluwaseun Siobhan Ngaio Rahul Mei Fatima Lars Ingrid Tomasz Chiara'.split(' ');
const SURNAMES = 'Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez Hernandez Lopez Gonzalez Wilson Anderson Thomas Taylor Moore Jackson Martin Lee Perez Thompson White Harris Sanchez Clark Ramirez Lewis Robinson Walker Young Allen King Wright Scott Torres Nguyen Hill Flores Green Adams Nelson Baker Hall Rivera Campbell Mitchell Carter Roberts Gomez Phillips Evans Turner Diaz Parker Cruz Edwards Collins Reyes Stewart Morris Morales Murphy Cook Rogers Gutierrez Ortiz Morgan Cooper Peterson Bailey Reed Kelly Howard Ramos Kim Cox Ward Richardson Watson Brooks Chavez Wood James Bennett Gray Mendoza Ruiz Hughes Price Alvarez Castillo Sanders Patel Myers Long Ross Foster Jimenez Powell Jenkins Perry Russell Sullivan Bell Coleman Butler Henderson Barnes Gonzales Fisher Vasquez Simmons Romero Jordan Patterson Alexander Hamilton Graham Reynolds Griffin Wallace Moreno West Cole Hayes Bryant Herrera Gibson Ellis Tran Medina Aguilar Stevens Murray Ford Castro Marshall Owens Harrison Fernandez McDonald Woods Washington Kennedy Wells Vargas Henry Chen Freeman Webb Tucker Guzman Burns Crawford Olson Simpson Porter Hunter Gordon Mendez Silva Shaw Snyder Mason Dixon Munoz Hunt Hicks Holmes Palmer Wagner Black Robertson Boyd Rose Stone Salazar Fox Warren Mills Meyer Rice Schmidt Garza Daniels Ferguson Nichols Stephens Soto Weaver Ryan Gardner Payne Grant Dunn Kelley Spencer Hawkins Arnold Pierce Hansen Peters Santos Hart Bradley Knight Elliott Cunningham Duncan Armstrong Hudson Carroll Lane Riley Andrews Ray Berry Perkins Hoffman Johnston Matthews Pena Richards Wilkins Okafor Tanaka Kowalski Rossi Lindqvist Ng Singh Obrien Murray Fraser'.split(' ');

const DEPARTMENTS: ReadonlyArray<{ name: string; weight: number; titles: string[] }> = [
  { name: 'Sales', weight: 0.2, titles: ['Account Executive', 'Sales Manager', 'Sales Development Representative', 'Regional Sales Director'] },
  { name: 'Customer Support', weight: 0.18, titles: ['Support Engineer', 'Support Team Lead', 'Customer Success Manager'] },
  { name: 'Engineering', weight: 0.2, titles: ['Software Engineer', 'Senior Software Engineer', 'Engineering Manager', 'QA Analyst'] },
  { name: 'Finance', weight: 0.08, titles: ['Accountant', 'Financial Analyst', 'Controller'] },
  { name: 'Human Resources', weight: 0.06, titles: ['HR Generalist', 'Recruiter', 'HR Business Partner'] },
  { name: 'Marketing', weight: 0.1, titles: ['Marketing Specialist', 'Content Strategist', 'Marketing Manager'] },
  { name: 'Operations', weight: 0.1, titles: ['Operations Analyst', 'Facilities Coordinator', 'Operations Manager'] },
  { name: 'IT', weight: 0.06, titles: ['Systems Administrator', 'Service Desk Analyst', 'Network Engineer'] },
  { name: 'Executive', weight: 0.02, titles: ['Vice President', 'Chief of Staff', 'Executive Assistant'] },
];

const REMOTE_CITIES: ReadonlyArray<[string, string, string]> = [
  ['Denver', 'CO', 'United States'], ['Austin', 'TX', 'United States'], ['Manchester', '', 'United Kingdom'], ['Melbourne', 'VIC', 'Australia'],
];

function pick<T>(rnd: () => number, items: readonly T[]): T {
  return items[Math.floor(rnd() * items.length)];
}

function pickWeighted<T extends { weight: number }>(rnd: () => number, items: readonly T[]): T {
  let r = rnd() * items.reduce((s, i) => s + i.weight, 0);
  for (const i of items) if ((r -= i.weight) < 0) return i;
  return items[items.length - 1];
}

const pad4 = (n: number): string => String(n).padStart(4, '0');
const BASE_TIME = Date.UTC(2019, 0, 1);
const isoAt = (rnd: () => number, spanDays: number): string =>
  new Date(BASE_TIME + Math.floor(rnd() * spanDays * 86400) * 1000).toISOString().replace('.000Z', 'Z');

// ---------------------------------------------------------------------------------------------
// Teams configuration objects

function dialPlanFor(office: DemoOffice): DemoDialPlan {
  const cc = office.countryCode;
  const name = `DP-${cc}`;
  const ext: NormalizationRule = {
    Name: `${cc}-Extension`, Description: 'Four-digit internal extension', Pattern: '^(\\d{4})$',
    Translation: `${office.phonePrefix}$1`, Priority: 0, IsInternalExtension: true,
  };
  const rules: Record<string, NormalizationRule[]> = {
    US: [
      ext,
      { Name: 'US-TollFree', Description: 'Toll-free numbers', Pattern: '^1?(8(00|33|44|55|66|77|88)\\d{7})$', Translation: '+1$1', Priority: 1, IsInternalExtension: false },
      { Name: 'US-Emergency', Description: 'Emergency', Pattern: '^(911|933)$', Translation: '$1', Priority: 2, IsInternalExtension: false },
      { Name: 'US-National', Description: 'Ten-digit national numbers', Pattern: '^1?([2-9]\\d{9})$', Translation: '+1$1', Priority: 3, IsInternalExtension: false },
      { Name: 'US-International', Description: 'International dialing', Pattern: '^011(\\d{7,15})$', Translation: '+$1', Priority: 4, IsInternalExtension: false },
    ],
    GB: [
      ext,
      { Name: 'GB-Emergency', Description: 'Emergency', Pattern: '^(999|112)$', Translation: '$1', Priority: 1, IsInternalExtension: false },
      { Name: 'GB-National', Description: 'National numbers', Pattern: '^0(\\d{9,10})$', Translation: '+44$1', Priority: 2, IsInternalExtension: false },
      { Name: 'GB-International', Description: 'International dialing', Pattern: '^00(\\d{7,15})$', Translation: '+$1', Priority: 3, IsInternalExtension: false },
    ],
    AU: [
      ext,
      { Name: 'AU-Emergency', Description: 'Emergency', Pattern: '^(000|112)$', Translation: '$1', Priority: 1, IsInternalExtension: false },
      { Name: 'AU-National', Description: 'National numbers', Pattern: '^0([23478]\\d{8})$', Translation: '+61$1', Priority: 2, IsInternalExtension: false },
      { Name: 'AU-International', Description: 'International dialing', Pattern: '^0011(\\d{7,15})$', Translation: '+$1', Priority: 3, IsInternalExtension: false },
    ],
  };
  return {
    Identity: `Tag:${name}`, SimpleName: name, Description: `Dial plan for ${office.country}`,
    ExternalAccessPrefix: null, OptimizeDeviceDialing: false, NormalizationRules: rules[cc] ?? [ext],
  };
}

function demoPolicies(countries: string[]): Record<TeamsPolicyType, DemoPolicy[]> {
  const calling = (identity: string, description: string, allow: boolean): DemoPolicy => ({
    Identity: identity, Description: description, AllowPrivateCalling: true, AllowVoicemail: 'UserOverride',
    AllowCallGroups: allow, AllowDelegation: allow, AllowCallForwardingToUser: allow, AllowCallForwardingToPhone: allow,
    PreventTollBypass: false, BusyOnBusyEnabledType: 'Disabled', AllowWebPSTNCalling: true,
  });
  return {
    TeamsCallingPolicy: [
      calling('Global', 'Organization default', true),
      calling('Tag:AllowCalling', 'Full calling features', true),
      calling('Tag:RestrictedCalling', 'No forwarding or delegation', false),
    ],
    OnlineVoiceRoutingPolicy: [
      { Identity: 'Global', Description: '', OnlinePstnUsages: [], RouteType: 'BYOT' },
      ...countries.map((cc) => ({ Identity: `Tag:VRP-${cc}`, Description: `Route ${cc} calls through the ${cc} SBC`, OnlinePstnUsages: [`${cc}-Local`, `${cc}-National`, 'International'], RouteType: 'BYOT' })),
    ],
    TeamsEmergencyCallingPolicy: [
      { Identity: 'Global', Description: '', NotificationGroup: null, NotificationMode: 'NotificationOnly', ExternalLocationLookupMode: 'Disabled', EnhancedEmergencyServiceDisclaimer: null },
      { Identity: 'Tag:ECP-NotifySecurity', Description: 'Notify the security desk', NotificationGroup: 'security@contoso.example', NotificationMode: 'ConferenceMuted', ExternalLocationLookupMode: 'Enabled', EnhancedEmergencyServiceDisclaimer: null },
    ],
    TeamsEmergencyCallRoutingPolicy: [
      { Identity: 'Global', Description: '', EmergencyNumbers: [], AllowEnhancedEmergencyServices: false },
      ...countries.map((cc) => ({
        Identity: `Tag:ECRP-${cc}`, Description: `Emergency routing for ${cc}`, AllowEnhancedEmergencyServices: true,
        EmergencyNumbers: [{ EmergencyDialString: cc === 'US' ? '911' : cc === 'GB' ? '999' : '000', EmergencyDialMask: '112', OnlinePSTNUsage: `${cc}-Emergency` }],
      })),
    ],
    OnlineVoicemailPolicy: [
      { Identity: 'Global', Description: '', EnableTranscription: true, EnableTranscriptionProfanityMasking: false, EnableEditingCallAnswerRulesSetting: true, MaximumRecordingLength: '00:05:00', PrimarySystemPromptLanguage: null, SecondarySystemPromptLanguage: null },
      { Identity: 'Tag:VM-NoTranscription', Description: 'Voicemail without transcription', EnableTranscription: false, EnableTranscriptionProfanityMasking: false, EnableEditingCallAnswerRulesSetting: true, MaximumRecordingLength: '00:03:00', PrimarySystemPromptLanguage: null, SecondarySystemPromptLanguage: null },
    ],
    CallingLineIdentity: [
      { Identity: 'Global', Description: '', CallingIDSubstitute: 'LineUri', ServiceNumber: null, EnableUserOverride: false, BlockIncomingPstnCallerID: false, ResourceAccount: null, CompanyName: null },
      { Identity: 'Tag:CLI-Anonymous', Description: 'Present as anonymous', CallingIDSubstitute: 'Anonymous', ServiceNumber: null, EnableUserOverride: false, BlockIncomingPstnCallerID: false, ResourceAccount: null, CompanyName: null },
      { Identity: 'Tag:CLI-MainLine', Description: 'Present the main office number', CallingIDSubstitute: 'Service', ServiceNumber: '12065550100', EnableUserOverride: true, BlockIncomingPstnCallerID: false, ResourceAccount: null, CompanyName: 'Contoso' },
    ],
  };
}

/** Opaque Teams policy id for a type and name, stable across runs. */
export function teamsPolicyId(policyType: string, identity: string): string {
  return Buffer.from(`${policyType}|${identity}`).toString('base64url');
}

/** Policy references are shared between users (copy on write) to keep 200,000 users small. */
function policyRef(policyType: string, identity: string): PolicyAssignmentRef {
  return Object.freeze({
    policyType,
    policyAssignment: Object.freeze({
      displayName: identity.replace(/^Tag:/, ''), assignmentType: 'direct' as const, policyId: teamsPolicyId(policyType, identity), groupId: null,
    }),
  }) as PolicyAssignmentRef;
}

// ---------------------------------------------------------------------------------------------
// The generator

export function generateDemoTenant(spec: DemoTenantSpec): DemoTenant {
  const size = Math.floor(spec.users);
  if (!(size >= 10 && size <= 200_000)) throw new RangeError(`users must be between 10 and 200000, got ${spec.users}`);
  const rnd = seededRandom(`demo-tenant|${spec.seed}|${size}`);
  const tenantId = spec.tenantId ?? seededGuid(rnd);
  const label = String(spec.seed).toLowerCase().replace(/[^a-z0-9]/g, '').slice(0, 12) || 'demo';
  const domain = `contoso${label}.onmicrosoft.com`;
  const apps: DemoApp[] = spec.apps ?? [{
    clientId: seededGuid(rnd), secret: `demo-secret-${seededGuid(rnd)}`, displayName: 'sitesync', roles: [...DEMO_APP_ROLES],
  }];
  const offices = DEMO_OFFICES;
  const countries = [...new Set(offices.map((o) => o.countryCode))];
  const policies = demoPolicies(countries);
  const dialPlans = countries.map((cc) => dialPlanFor(offices.find((o) => o.countryCode === cc)!));

  const users: DemoUser[] = new Array(size);
  const configs: DemoTeamsUserConfiguration[] = [];
  const configUserIndex: number[] = [];
  const featureSets = new Map<string, string[]>();
  const numbers: DemoNumberAssignment[] = [];
  const nextNumber = new Map<string, number>(offices.map((o) => [o.key, 100]));
  const upnCount = new Map<string, number>();
  const consumed = new Map<string, number>();
  const userOffice: Array<DemoOffice | null> = new Array(size);
  const licenseSets = new Map<string, AssignedLicense[]>();
  const licenses = (...names: DemoSkuName[]): AssignedLicense[] => {
    const key = names.join('+');
    let set = licenseSets.get(key);
    if (!set) licenseSets.set(key, (set = names.map((n) => ({ skuId: DEMO_SKUS[n].skuId, disabledPlans: [] }))));
    // Each user gets its own array and objects: the emulator mutates them on assignLicense.
    return set.map((l) => ({ skuId: l.skuId, disabledPlans: [] }));
  };
  const globalRefs = TEAMS_POLICY_TYPES.map((t) => policyRef(t, 'Global'));
  const voiceRefs = new Map<string, PolicyAssignmentRef[]>(countries.map((cc) => [cc, [
    policyRef('TeamsCallingPolicy', 'Tag:AllowCalling'),
    policyRef('OnlineVoiceRoutingPolicy', `Tag:VRP-${cc}`),
    policyRef('TeamsEmergencyCallingPolicy', 'Global'),
    policyRef('TeamsEmergencyCallRoutingPolicy', `Tag:ECRP-${cc}`),
    policyRef('OnlineVoicemailPolicy', 'Global'),
    policyRef('CallingLineIdentity', 'Global'),
    policyRef('TenantDialPlan', `Tag:DP-${cc}`),
  ]]));
  // A number range holds 9,900 numbers (suffixes 0100..9999); keep some free for assignment.
  const numberCapacity = 9_000;

  for (let i = 0; i < size; i++) {
    const given = pick(rnd, GIVEN);
    const sur = pick(rnd, SURNAMES);
    const guest = rnd() < 0.02;
    const enabled = rnd() >= 0.03;
    const dept = pickWeighted(rnd, DEPARTMENTS);
    const title = pick(rnd, dept.titles);
    const remote = !guest && rnd() < 0.08;
    const office = guest || remote ? null : pickWeighted(rnd, offices);
    const remoteCity = remote ? pick(rnd, REMOTE_CITIES) : null;
    const missingUsage = rnd() < 0.05;
    const base = `${given}.${sur}`.toLowerCase();
    const n = (upnCount.get(base) ?? 0) + 1;
    upnCount.set(base, n);
    const nick = n === 1 ? base : `${base}${n}`;
    const id = seededGuid(rnd);
    const synced = rnd() < 0.6;
    const country = office?.country ?? remoteCity?.[2] ?? null;
    const usageLocation = guest || missingUsage ? null
      : office?.countryCode ?? (remoteCity ? offices.find((o) => o.country === remoteCity[2])?.countryCode ?? null : null);
    const user: DemoUser = {
      id,
      userPrincipalName: guest ? `${nick}_fabrikam.example#EXT#@${domain}` : `${nick}@${domain}`,
      displayName: guest ? `${given} ${sur} (Fabrikam)` : `${given} ${sur}`,
      givenName: given, surname: sur,
      mail: guest ? `${nick}@fabrikam.example` : `${nick}@${domain}`,
      mailNickname: guest ? `${nick}_fabrikam.example#EXT#` : nick,
      jobTitle: guest ? null : title,
      department: guest ? null : dept.name,
      officeLocation: office?.officeLocation ?? null,
      city: office?.city ?? remoteCity?.[0] ?? null,
      state: office?.state ?? (remoteCity?.[1] || null),
      country,
      streetAddress: office?.streetAddress ?? null,
      postalCode: office?.postalCode ?? null,
      usageLocation,
      businessPhones: [],
      mobilePhone: !guest && rnd() < 0.3 ? `${office?.phonePrefix.slice(0, -3) ?? '+1720'}${Math.floor(rnd() * 9_000_000 + 1_000_000)}` : null,
      preferredLanguage: office?.countryCode === 'US' ? 'en-US' : office ? 'en-GB' : null,
      accountEnabled: enabled,
      userType: guest ? 'Guest' : 'Member',
      companyName: guest ? 'Fabrikam' : 'Contoso Ltd',
      employeeId: guest ? null : `E${100000 + i}`,
      employeeType: guest ? null : rnd() < 0.1 ? 'Contractor' : 'Employee',
      onPremisesSyncEnabled: guest ? null : synced ? true : null,
      onPremisesImmutableId: !guest && synced ? Buffer.from(id.replace(/-/g, '').slice(0, 24), 'hex').toString('base64') : null,
      createdDateTime: isoAt(rnd, 2000),
      assignedLicenses: [],
    };
    users[i] = user;
    userOffice[i] = office;

    if (guest || !usageLocation) continue;
    const lic = rnd();
    const e5 = lic < 0.15;
    const e3 = !e5 && lic < 0.88;
    if (!e5 && !e3) continue;
    const voice = e5 ? rnd() < 0.6 : rnd() < 0.35;
    const names: DemoSkuName[] = [e5 ? 'SPE_E5' : 'SPE_E3'];
    if (voice && e3) names.push('MCOEV');
    const callingPlan = voice && office !== null && rnd() < 0.4;
    if (callingPlan) names.push(office!.countryCode === 'US' && rnd() < 0.2 ? 'MCOPSTN2' : 'MCOPSTN1');
    if (voice && rnd() < 0.3) names.push('MCOMEETADV');
    const licenseKey = names.join('+');
    if (enabled) {
      user.assignedLicenses = licenses(...names);
      for (const name of names) consumed.set(name, (consumed.get(name) ?? 0) + 1);
    } else continue;

    // Licensed users are in Teams, except a few not provisioned there yet.
    if (rnd() < 0.05) continue;
    const cc = usageLocation;
    let phone: TelephoneNumberRef[] = [];
    const wantsNumber = voice && office !== null && rnd() < 0.75;
    if (wantsNumber) {
      const seq = nextNumber.get(office!.key)!;
      if (seq - 100 < numberCapacity) {
        nextNumber.set(office!.key, seq + 1);
        const telephoneNumber = `${office!.phonePrefix}${pad4(seq)}`;
        phone = [{ telephoneNumber, assignmentCategory: 'primary' }];
        user.businessPhones = [telephoneNumber];
        numbers.push(numberAssignment(rnd, telephoneNumber, office!, callingPlan ? 'callingPlan' : 'directRouting', id));
      }
    }
    const created = user.createdDateTime;
    let featureTypes = featureSets.get(licenseKey);
    if (!featureTypes) featureSets.set(licenseKey, (featureTypes = featureTypesFor(user.assignedLicenses)));
    configUserIndex.push(i);
    configs.push({
      id, userPrincipalName: user.userPrincipalName, tenantId,
      accountType: 'user',
      isEnterpriseVoiceEnabled: voice && (phone.length > 0 || rnd() < 0.5),
      // Shared between users with the same licenses; the emulator replaces, never mutates, it.
      featureTypes,
      telephoneNumbers: phone,
      effectivePolicyAssignments: voice ? voiceRefs.get(cc) ?? globalRefs : globalRefs,
      createdDateTime: created,
      modifiedDateTime: created,
    });
  }

  // Free numbers in every office's range, so assignment has something to draw on.
  for (const office of offices) {
    const start = nextNumber.get(office.key)!;
    const free = Math.min(9_999 - start, Math.max(10, Math.ceil(size / 200)));
    for (let k = 0; k < free; k++) {
      numbers.push(numberAssignment(rnd, `${office.phonePrefix}${pad4(start + k)}`, office, 'directRouting', null));
    }
    nextNumber.set(office.key, start + free);
  }

  // A handful of users at a second office holding a number already held at the first (same country).
  const duplicateNumbers: DemoTenant['duplicateNumbers'] = [];
  const holders = numbers.filter((a) => a.assignmentTargetId && a.isoCountryCode === 'US' && a.city === 'Seattle');
  const candidates: Array<{ cfg: DemoTeamsUserConfiguration; index: number }> = [];
  for (let k = 0; k < configs.length && candidates.length < 5; k++) {
    const c = configs[k];
    const index = configUserIndex[k];
    if (c.telephoneNumbers.length === 0 && c.featureTypes.includes('PhoneSystem') && userOffice[index]?.key === 'CHI') candidates.push({ cfg: c, index });
  }
  const dupCount = Math.min(5, holders.length, candidates.length);
  for (let k = 0; k < dupCount; k++) {
    const number = holders[k].telephoneNumber;
    const { cfg, index } = candidates[k];
    cfg.telephoneNumbers = [{ telephoneNumber: number, assignmentCategory: 'primary' }];
    cfg.isEnterpriseVoiceEnabled = true;
    users[index].businessPhones = [number];
    duplicateNumbers.push({ telephoneNumber: number, userIds: [holders[k].assignmentTargetId!, cfg.id] });
  }

  // Resource accounts last, so that a tenant's people are the same with or without them.
  const resourceAccounts = spec.resourceAccounts !== true ? [] : resourceAccountsFor(rnd, offices, tenantId, domain);
  if (resourceAccounts.length > 0) consumed.set('PHONESYSTEM_VIRTUALUSER', (consumed.get('PHONESYSTEM_VIRTUALUSER') ?? 0) + resourceAccounts.length);
  const skus = skusFor(tenantId, consumed, size);
  const groups = groupsFor(rnd, users, userOffice, offices, tenantId);
  const applicationInstances: DemoApplicationInstance[] = [];
  for (const ra of resourceAccounts) {
    users.push(ra.user);
    configs.push(ra.config);
    numbers.push(ra.number);
    applicationInstances.push(ra.instance);
  }

  return {
    tenantId, displayName: spec.displayName ?? `Contoso (${spec.seed})`, domain, apps, offices, users, skus, groups,
    dialPlans, policies, teamsUserConfigurations: configs, numberAssignments: numbers, duplicateNumbers, applicationInstances,
  };
}

/** Application ids Teams gives resource accounts, by what they serve (Microsoft Learn, "Manage resource accounts"). */
export const RESOURCE_ACCOUNT_APPLICATION_IDS = {
  autoAttendant: 'ce933385-9390-45d1-9512-c8d228074e07',
  callQueue: '11cd3e2e-fccb-42ad-ad00-878b93575e07',
} as const;

/**
 * What Entra holds for a resource account: "a disabled user object" (Microsoft Learn, "Manage resource
 * accounts in Microsoft Teams"), whose department Teams sets to "Microsoft Communication Application
 * Instance", licensed with Teams Phone Resource Account; Teams lists it with `accountType: resourceAccount`
 * and its service number assigned as `voiceApplicationAssigned`.
 */
export const RESOURCE_ACCOUNT_DEPARTMENT = 'Microsoft Communication Application Instance';

function resourceAccountsFor(rnd: () => number, offices: readonly DemoOffice[], tenantId: string, domain: string) {
  const created = '2020-01-06T09:00:00Z';
  return offices.flatMap((office) =>
    (['autoAttendant', 'callQueue'] as const).map((kind, j) => {
      const id = seededGuid(rnd);
      const label = kind === 'autoAttendant' ? 'Main Line' : 'Support Queue';
      const nick = `${kind === 'autoAttendant' ? 'aa' : 'cq'}-${office.key.toLowerCase()}`;
      const upn = `${nick}@${domain}`;
      // Service numbers at the foot of the office's range: users' numbers start at 0100.
      const telephoneNumber = `${office.phonePrefix}${pad4(j)}`;
      const user: DemoUser = {
        id, userPrincipalName: upn, displayName: `${office.city} ${label}`, givenName: null, surname: null, mail: null, mailNickname: nick,
        jobTitle: null, department: RESOURCE_ACCOUNT_DEPARTMENT, officeLocation: null, city: null, state: null, country: null, streetAddress: null,
        postalCode: null, usageLocation: office.countryCode, businessPhones: [], mobilePhone: null, preferredLanguage: null, accountEnabled: false,
        userType: 'Member', companyName: null, employeeId: null, employeeType: null, onPremisesSyncEnabled: null, onPremisesImmutableId: null,
        createdDateTime: created, assignedLicenses: [{ skuId: DEMO_SKUS.PHONESYSTEM_VIRTUALUSER.skuId, disabledPlans: [] }],
      };
      const config: DemoTeamsUserConfiguration = {
        id, userPrincipalName: upn, tenantId, accountType: 'resourceAccount', isEnterpriseVoiceEnabled: true,
        featureTypes: ['PhoneSystemVirtualUser'], telephoneNumbers: [{ telephoneNumber, assignmentCategory: 'primary' }],
        effectivePolicyAssignments: TEAMS_POLICY_TYPES.map((t) => policyRef(t, 'Global')), createdDateTime: created, modifiedDateTime: created,
      };
      const number: DemoNumberAssignment = {
        ...numberAssignment(rnd, telephoneNumber, office, 'directRouting', id),
        assignmentStatus: 'voiceApplicationAssigned', capabilities: ['voiceApplicationAssignment'],
      };
      const instance: DemoApplicationInstance = {
        ObjectId: id, UserPrincipalName: upn, DisplayName: user.displayName, ApplicationId: RESOURCE_ACCOUNT_APPLICATION_IDS[kind], PhoneNumber: `tel:${telephoneNumber}`,
      };
      return { user, config, number, instance };
    }),
  );
}

function numberAssignment(rnd: () => number, telephoneNumber: string, office: DemoOffice, numberType: DemoNumberAssignment['numberType'], target: string | null): DemoNumberAssignment {
  return {
    id: seededGuid(rnd), telephoneNumber, numberType,
    activationState: 'activated',
    assignmentStatus: target ? 'userAssigned' : 'unassigned',
    assignmentTargetId: target, assignmentCategory: target ? 'primary' : null,
    capabilities: ['userAssignment'],
    locationId: null, civicAddressId: null, networkSiteId: null, operatorId: null,
    isoCountryCode: office.countryCode, city: office.city, numberSource: 'online', portInStatus: null,
    supportedCustomerActions: [], reverseNumberLookupOptions: [],
  };
}

function skusFor(tenantId: string, consumed: Map<string, number>, size: number): DemoSku[] {
  // Seats are limited on purpose: enough spare for most new users, the domestic calling plan nearly
  // exhausted and the international one exhausted, so that running out of seats is part of every demo.
  const spare: Record<DemoSkuName, number> = {
    SPE_E3: Math.max(5, Math.ceil(size * 0.35)), SPE_E5: Math.max(3, Math.ceil(size * 0.4)),
    MCOEV: Math.max(3, Math.ceil(size * 0.45)), MCOPSTN1: 2, MCOPSTN2: 0, MCOMEETADV: Math.max(2, Math.ceil(size * 0.002)),
    PHONESYSTEM_VIRTUALUSER: 2,
  };
  let n = 0;
  return (Object.keys(DEMO_SKUS) as DemoSkuName[]).map((name) => {
    const def = DEMO_SKUS[name];
    const used = consumed.get(name) ?? 0;
    n++;
    return {
      accountId: tenantId, accountName: 'Contoso', appliesTo: 'User', capabilityStatus: 'Enabled',
      consumedUnits: used, id: `${tenantId}_${def.skuId}`,
      prepaidUnits: { enabled: used + spare[name], lockedOut: 0, suspended: 0, warning: 0 },
      servicePlans: def.plans.map((p) => ({ servicePlanId: SERVICE_PLANS[p], servicePlanName: p, provisioningStatus: 'Success', appliesTo: 'User' })),
      skuId: def.skuId, skuPartNumber: def.skuPartNumber,
      subscriptionIds: [`${tenantId.slice(0, 8)}-0000-4000-8000-${String(n).padStart(12, '0')}`],
    };
  });
}

function groupsFor(rnd: () => number, users: DemoUser[], userOffice: Array<DemoOffice | null>, offices: readonly DemoOffice[], tenantId: string): DemoGroup[] {
  const group = (displayName: string, description: string, unified: boolean): DemoGroup => ({
    id: seededGuid(rnd), displayName, description,
    mailNickname: displayName.replace(/[^A-Za-z0-9]/g, ''),
    mailEnabled: unified, securityEnabled: !unified, groupTypes: unified ? ['Unified'] : [],
    createdDateTime: isoAt(rnd, 365), members: [],
  });
  const byOffice = new Map(offices.map((o) => [o.key, group(`All ${o.city}`, `Everyone at the ${o.officeLocation} office`, true)]));
  const voice = group('Teams Phone Users', 'Users enabled for Teams Phone', false);
  const license = group('License - Microsoft 365 E3', 'Group-based licensing target', false);
  const qag = offices.map((o) => group(`QAG ${o.city} Voice`, `Quick Add Group for ${o.city} voice users`, false));
  for (let i = 0; i < users.length; i++) {
    const o = userOffice[i];
    const u = users[i];
    if (o) byOffice.get(o.key)!.members.push(u.id);
    if (u.businessPhones.length) voice.members.push(u.id);
    if (u.assignedLicenses.some((l) => l.skuId === DEMO_SKUS.SPE_E3.skuId) && i % 7 === 0) license.members.push(u.id);
  }
  void tenantId;
  return [...byOffice.values(), voice, license, ...qag];
}
