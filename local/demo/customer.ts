/**
 * The demo customer: the whole configuration document for the demo tenant (see tenant.ts), and a way to
 * apply it through the API. One site per office, placed by city through one `{{site.city}}` criteria;
 * site defaults with the office's usage location, dial plan and Teams policies as the tenant names them;
 * Quick Add Groups for Teams Phone (Direct Routing on E5 or E3 + MCOEV, Calling Plan) and for collaboration
 * only; profiles on top; flow-through criteria by department and job title with a catch-all last; a
 * Direct Routing range per office and one tiny Calling Plan pool that runs out on purpose.
 */
import { POLICY_TYPES, type PolicyType, type TeamsPolicies } from '../../shared/domain';
import type { ConfigurationDocumentInput } from '../../shared/onboarding';
import { DEMO_OFFICES, DEMO_SKUS, TEAMS_POLICY_TYPES, type DemoOffice } from './tenant';

export const DEMO_CUSTOMER_ID = 'demo';

export interface DemoTenantCredentials {
  tenantId: string;
  clientId: string;
  /** `kv:<secret-name>` or `env:<SETTING>`. */
  credentialReference: string;
}

export interface DemoCustomerOptions {
  /** Direct Routing numbers per office, split by office weight (default 6,000 in all: enough for a few thousand users). */
  directRoutingNumbers?: number;
  /** Size of the Calling Plan pool shared by every site (default 5, so that it runs out). */
  callingPlanPool?: number;
}

export const DEMO_SITE_IDS: Readonly<Record<string, string>> = Object.fromEntries(DEMO_OFFICES.map((o) => [o.key, `site-${o.key.toLowerCase()}`]));
export const DEMO_CALLING_PLAN_POOL_ID = 'calling-plan-pool';

const PRIORITY: Readonly<Record<string, number>> = { SEA: 40, CHI: 30, LON: 20, SYD: 10 };

/** The demo tenant's policies by type for an office, limited to the types both sides know. */
function officePolicies(office: DemoOffice): TeamsPolicies {
  const byType: Partial<Record<string, string>> = {
    TeamsCallingPolicy: 'AllowCalling',
    OnlineVoiceRoutingPolicy: `VRP-${office.countryCode}`,
    TeamsEmergencyCallingPolicy: 'ECP-NotifySecurity',
    OnlineVoicemailPolicy: office.countryCode === 'US' ? 'Global' : 'VM-NoTranscription',
    CallingLineIdentity: office.key === 'SEA' ? 'CLI-MainLine' : 'Global',
  };
  const out: TeamsPolicies = {};
  for (const type of TEAMS_POLICY_TYPES) {
    const name = byType[type];
    if (name !== undefined && name !== 'Global' && (POLICY_TYPES as readonly string[]).includes(type)) out[type as PolicyType] = name;
  }
  return out;
}

export function demoCustomerConfiguration(tenant: DemoTenantCredentials, options: DemoCustomerOptions = {}): ConfigurationDocumentInput {
  const totalNumbers = options.directRoutingNumbers ?? 6_000;
  const pool = options.callingPlanPool ?? 5;
  const sku = (name: keyof typeof DEMO_SKUS) => ({ skuId: DEMO_SKUS[name].skuId });
  const totalWeight = DEMO_OFFICES.reduce((s, o) => s + o.weight, 0);

  return {
    customer: { name: 'Contoso (demo)', tenantId: tenant.tenantId, clientId: tenant.clientId, credentialRef: tenant.credentialReference },
    sites: DEMO_OFFICES.map((o) => ({ id: DEMO_SITE_IDS[o.key], name: o.officeLocation, city: o.city, country: o.country, macros: { OFFICE_KEY: o.key } })),
    modelFilterCriteria: [
      {
        id: 'office-by-city',
        name: 'Office by city',
        description: "A user belongs at the site whose city is the user's city.",
        usage: 'Move User',
        criteria: [{ attribute: 'city', condition: 'Equals', value: '{{site.city}}' }],
      },
      { id: 'ftp-executives', name: 'Executives', usage: 'Flow Through Provisioning', criteria: [{ attribute: 'department', condition: 'Equals', value: 'Executive' }] },
      {
        id: 'ftp-customer-facing',
        name: 'Sales and support',
        usage: 'Flow Through Provisioning',
        criteria: [
          { attribute: 'department', condition: 'Equals', value: 'Sales', join: 'OR' },
          { attribute: 'department', condition: 'Equals', value: 'Customer Support' },
        ],
      },
      { id: 'ftp-engineers', name: 'Engineers', usage: 'Flow Through Provisioning', criteria: [{ attribute: 'jobTitle', condition: 'Contains', value: 'Engineer' }] },
      { id: 'ftp-everyone', name: 'Everyone else', usage: 'Flow Through Provisioning', criteria: [{ attribute: 'userPrincipalName', condition: 'Contains', value: '@' }] },
    ],
    siteDefaults: DEMO_OFFICES.map((o) => ({
      siteId: DEMO_SITE_IDS[o.key],
      includeForOverbuild: true,
      microsoftUsers: true,
      moveUserCriteriaId: 'office-by-city',
      manageLicensesAndAllowStaging: true,
      teamsPolicies: officePolicies(o),
      dialPlan: `DP-${o.countryCode}`,
      usageLocation: o.countryCode,
      placementPriority: PRIORITY[o.key] ?? 0,
    })),
    quickAddGroups: [
      {
        id: 'teams-phone-dr-e5',
        name: 'Teams Phone, Direct Routing (E5)',
        licenses: [sku('SPE_E5')],
        removeLicenses: [DEMO_SKUS.SPE_E3.skuId],
        line: { assignment: 'nextAvailable', numberType: 'DirectRouting' },
      },
      {
        id: 'teams-phone-dr-e3',
        name: 'Teams Phone, Direct Routing (E3 + Teams Phone)',
        licenses: [sku('SPE_E3'), sku('MCOEV')],
        line: { assignment: 'nextAvailable', numberType: 'DirectRouting' },
      },
      {
        id: 'teams-phone-calling-plan',
        name: 'Teams Phone with Calling Plan',
        licenses: [sku('SPE_E5'), sku('MCOPSTN1')],
        removeLicenses: [DEMO_SKUS.SPE_E3.skuId],
        line: { assignment: 'nextAvailable', numberType: 'CallingPlan' },
      },
      {
        id: 'collaboration',
        name: 'Teams collaboration, no phone',
        licenses: [sku('SPE_E3')],
        teamsPolicies: { TeamsCallingPolicy: 'RestrictedCalling' },
      },
    ],
    userProfiles: [
      { id: 'executive', name: 'Executive (Calling Plan)', quickAddGroupId: 'teams-phone-calling-plan', services: { teams: true, voice: true } },
      { id: 'customer-facing', name: 'Customer facing (Direct Routing, E5)', quickAddGroupId: 'teams-phone-dr-e5', services: { teams: true, voice: true } },
      { id: 'engineer', name: 'Engineer (Direct Routing, E3)', quickAddGroupId: 'teams-phone-dr-e3', services: { teams: true, voice: true } },
      { id: 'collaboration', name: 'Collaboration only', quickAddGroupId: 'collaboration', services: { teams: true, voice: false } },
    ],
    flowThroughCriteria: {
      id: 'default',
      name: 'Demo flow-through',
      entries: [
        { criteriaId: 'ftp-executives', profileId: 'executive', role: 'Executive' },
        { criteriaId: 'ftp-customer-facing', profileId: 'customer-facing' },
        { criteriaId: 'ftp-engineers', profileId: 'engineer' },
        { criteriaId: 'ftp-everyone', profileId: 'collaboration' },
      ],
    },
    globalSettings: {
      moveAndFlowThrough: 'yes',
      addSync: 'yes',
      updateSync: 'inherit',
      addSyncCriteriaId: 'default',
      updateSyncCriteriaId: 'default',
      preventDuplicateNumbers: 'no',
      // The demo shows a leaver offboarded as soon as HR disables it.
      leavers: { action: 'offboard-at-once' },
    },
    numberRanges: [
      ...DEMO_OFFICES.map((o) => {
        const count = Math.max(1, Math.min(10_000, Math.round((totalNumbers * o.weight) / totalWeight)));
        return {
          id: `${DEMO_SITE_IDS[o.key]}-dr`,
          siteId: DEMO_SITE_IDS[o.key],
          first: `${o.phonePrefix}${'0'.repeat(4)}`,
          last: `${o.phonePrefix}${String(count - 1).padStart(4, '0')}`,
          lineType: 'DirectRouting' as const,
        };
      }),
      // Customer level, visible to every site; far above the office ranges so the two never overlap.
      ...(pool > 0
        ? [{ id: DEMO_CALLING_PLAN_POOL_ID, first: `${DEMO_OFFICES[0].phonePrefix}${String(9999 - pool + 1).padStart(4, '0')}`, last: `${DEMO_OFFICES[0].phonePrefix}9999`, lineType: 'CallingPlan' as const }]
        : []),
    ],
  };
}

export interface ApiEndpoint {
  apiUrl: string;
  functionKey: string;
}

export interface ApplyReportSummary {
  customerId: string;
  items: Array<{ kind: string; id: string; outcome: 'created' | 'updated' | 'unchanged'; detail?: string }>;
  summary: { created: number; updated: number; unchanged: number };
}

/** PUTs the demo configuration through the API; throws with the problem's detail on anything but 200. */
export async function applyDemoCustomer(
  api: ApiEndpoint,
  tenant: DemoTenantCredentials,
  options: DemoCustomerOptions & { customerId?: string } = {},
): Promise<ApplyReportSummary> {
  const customerId = options.customerId ?? DEMO_CUSTOMER_ID;
  const res = await fetch(`${api.apiUrl}/customers/${encodeURIComponent(customerId)}/configuration`, {
    method: 'PUT',
    headers: { 'content-type': 'application/json', 'x-functions-key': api.functionKey },
    body: JSON.stringify(demoCustomerConfiguration(tenant, options)),
  });
  const text = await res.text();
  if (res.status !== 200) throw new Error(`applying the demo customer failed with ${res.status}: ${text.slice(0, 2000)}`);
  return JSON.parse(text) as ApplyReportSummary;
}
