/**
 * Schemas of every configuration object the operator edits, and the types inferred from them.
 * The onboarding API validates request bodies with these and derives its OpenAPI from them; the
 * storage adapters validate what they read back. Rules that need more than a shape (regex safety,
 * macro names) are refinements here so one parse gives one clear error.
 */
import { getAlpha2Codes } from 'i18n-iso-countries';
import { z } from 'zod';
import { checkRegex } from './regex';
import { findMacros, KNOWN_MACRO } from './macros';

/** An id chosen by the operator or by Microsoft (GUID). Storage encodes it; here it must only be printable. */
export const idSchema = z
  .string()
  .min(1)
  .max(256)
  // eslint-disable-next-line no-control-regex -- control characters are exactly what is refused
  .refine((s) => !/[\u0000-\u001f\u007f-\u009f]/.test(s), 'must not contain control characters');

/** E.164: a plus sign, then 2 to 15 digits not starting with 0. */
export const e164Schema = z.string().regex(/^\+[1-9]\d{1,14}$/, 'must be an E.164 number such as +14255550100');

// Control characters (C0, C1), line and paragraph separators, and the bidirectional controls that can make
// a name read differently from what it is.
// eslint-disable-next-line no-control-regex -- control characters are exactly what is refused
const UNSAFE_TEXT = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069\ufeff]/;

/**
 * Free text an operator types (names, descriptions, cities, policy and dial plan names): printable, no
 * control or bidirectional-override characters, no leading or trailing whitespace.
 */
export function textSchema(max: number, min = 1) {
  return z
    .string()
    .min(min)
    .max(max)
    .refine((s) => !UNSAFE_TEXT.test(s), 'must not contain control characters, line separators or bidirectional controls')
    .refine((s) => s.trim() === s, 'must not start or end with whitespace');
}

/** Officially assigned ISO 3166-1 alpha-2 codes (the user-assigned XK is not one). */
const ISO_COUNTRIES = new Set(Object.keys(getAlpha2Codes()).filter((code) => /^[A-Z]{2}$/.test(code) && code !== 'XK'));

export function isIsoCountryCode(code: string): boolean {
  return ISO_COUNTRIES.has(code);
}

/** ISO 3166-1 alpha-2, as Microsoft's usageLocation expects: an assigned code, in capitals. */
export const usageLocationSchema = z
  .string()
  .refine(isIsoCountryCode, 'must be an assigned two-letter ISO 3166-1 country code in capitals, such as US or GB');

/** A number vendor: letters and digits with the few marks company names use (AT&T, Gamma Telecom Ltd.). */
export const vendorSchema = textSchema(64).regex(/^[\p{L}\p{N}][\p{L}\p{N} .,&'()/+-]*$/u, "must be a company name: letters, digits, spaces and . , & ' ( ) / + -");

export const TRI_STATES = ['inherit', 'yes', 'no'] as const;
export const triStateSchema = z.enum(TRI_STATES);
export type TriState = z.infer<typeof triStateSchema>;

// ---------------------------------------------------------------------------------------------
// Model filter criteria

export const CONDITIONS = ['Equals', 'Equals Exactly', 'Contains', 'Contains Exactly', 'Regex Search'] as const;
export const conditionSchema = z.enum(CONDITIONS);
export type Condition = z.infer<typeof conditionSchema>;

export const JOINS = ['AND', 'OR'] as const;
export const joinSchema = z.enum(JOINS);
export type Join = z.infer<typeof joinSchema>;

export const CRITERIA_USAGES = ['Move User', 'Flow Through Provisioning'] as const;
export const criteriaUsageSchema = z.enum(CRITERIA_USAGES);
export type CriteriaUsage = z.infer<typeof criteriaUsageSchema>;

export const criterionSchema = z
  .object({
    /** NOT negates this one criterion (before it is joined to the next). */
    not: z.boolean().default(false),
    /** User attribute name, matched case-insensitively (`City` finds `city`). */
    attribute: z.string().regex(/^[A-Za-z][A-Za-z0-9_.]{0,127}$/, 'must be a user attribute name such as city or extensionAttribute1'),
    condition: conditionSchema,
    /** Literal, or with macros such as `{{site.city}}` resolved in the site's context. */
    value: textSchema(1024, 0),
    /** How this criterion joins the NEXT one; ignored on the last. */
    join: joinSchema.default('AND'),
  })
  .superRefine((c, ctx) => {
    for (const name of findMacros(c.value)) {
      if (!KNOWN_MACRO.test(name)) {
        ctx.addIssue({ code: 'custom', path: ['value'], message: `unknown macro {{${name}}}: use site.name, site.city, site.country, site.id or macro.<NAME>` });
      }
    }
    if (c.condition === 'Regex Search') {
      // Macro values are inserted escaped, so any literal stands in for them when checking the shape.
      const check = checkRegex(c.value.replace(/\{\{[^}]*\}\}/g, 'x'));
      if (!check.ok) ctx.addIssue({ code: 'custom', path: ['value'], message: check.reason });
    }
  });
export type Criterion = z.infer<typeof criterionSchema>;
export type CriterionInput = z.input<typeof criterionSchema>;

export const modelFilterCriteriaSchema = z.object({
  id: idSchema,
  customerId: idSchema,
  name: textSchema(256),
  description: textSchema(1024, 0).optional(),
  usage: criteriaUsageSchema,
  criteria: z.array(criterionSchema).min(1).max(50),
});
export type ModelFilterCriteria = z.infer<typeof modelFilterCriteriaSchema>;

// ---------------------------------------------------------------------------------------------
// Teams policies, numbers

/** Teams policy types, named as Microsoft's policy assignment API names them. */
export const POLICY_TYPES = [
  'TeamsCallingPolicy',
  'TeamsMeetingPolicy',
  'TeamsMessagingPolicy',
  'TeamsMeetingBroadcastPolicy',
  'TeamsCallParkPolicy',
  'TeamsAppPermissionPolicy',
  'TeamsAppSetupPolicy',
  'TeamsChannelsPolicy',
  'TeamsUpdateManagementPolicy',
  'TeamsEmergencyCallingPolicy',
  'TeamsEnhancedEncryptionPolicy',
  'TeamsVoiceApplicationsPolicy',
  'OnlineVoiceRoutingPolicy',
  'OnlineVoicemailPolicy',
  'OnlineAudioConferencingRoutingPolicy',
  'TeamsCallHoldPolicy',
  'TeamsSurvivableBranchAppliancePolicy',
  'TeamsMobilityPolicy',
  'CallingLineIdentity',
  'ExternalAccessPolicy',
] as const;
export const policyTypeSchema = z.enum(POLICY_TYPES);
export type PolicyType = z.infer<typeof policyTypeSchema>;

/** Policy name per type; a type left out is not managed. */
export const teamsPoliciesSchema = z.partialRecord(policyTypeSchema, textSchema(256));
export type TeamsPolicies = z.infer<typeof teamsPoliciesSchema>;

export const NUMBER_TYPES = ['DirectRouting', 'CallingPlan', 'OperatorConnect', 'TeamsPhoneMobile'] as const;
export const numberTypeSchema = z.enum(NUMBER_TYPES);
export type NumberType = z.infer<typeof numberTypeSchema>;

export const LINE_ASSIGNMENTS = ['none', 'nextAvailable', 'explicit'] as const;
export const lineAssignmentSchema = z.enum(LINE_ASSIGNMENTS);
export type LineAssignment = z.infer<typeof lineAssignmentSchema>;

// ---------------------------------------------------------------------------------------------
// Customer, site, site defaults

/**
 * `env:` credential references may name only settings with this prefix: settings put there to hold a
 * customer app's secret, never the host's own connection strings and keys.
 */
export const SECRET_SETTING_PREFIX = 'SITESYNC_SECRET_';

/** The Microsoft Graph application permissions sitesync needs in a customer's tenant (docs/deploy.md). */
export const REQUIRED_GRAPH_PERMISSIONS = [
  'User.ReadWrite.All',
  'Organization.Read.All',
  'GroupMember.ReadWrite.All',
  'TeamsUserConfiguration.Read.All',
  'TeamsTelephoneNumber.ReadWrite.All',
  'TeamsPolicyUserAssign.ReadWrite.All',
] as const;

export const customerSchema = z.object({
  id: idSchema,
  name: textSchema(256),
  /** Entra tenant id of the customer's Microsoft tenant. */
  tenantId: z.string().min(1).max(64),
  /** Client id of the app registration consented in that tenant. */
  clientId: z.string().min(1).max(64).optional(),
  /** Where the app's credential is: `kv:<secret-name>` or `env:SITESYNC_SECRET_<NAME>`; never the secret itself. */
  credentialRef: z.string().min(1).max(300).optional(),
});
export type Customer = z.infer<typeof customerSchema>;

export const siteSchema = z.object({
  id: idSchema,
  customerId: idSchema,
  name: textSchema(256),
  city: textSchema(128).optional(),
  country: textSchema(128).optional(),
  /** Extra site macros, used in criteria values as `{{macro.NAME}}`. */
  macros: z.record(z.string().regex(/^[A-Za-z0-9_]{1,64}$/), textSchema(1024, 0)).default({}),
});
export type Site = z.infer<typeof siteSchema>;

export const siteDefaultsSchema = z.object({
  siteId: idSchema,
  customerId: idSchema,
  includeForOverbuild: z.boolean().default(false),
  microsoftUsers: z.boolean().default(false),
  /** Model filter criteria (usage Move User) that decide which users belong at this site. */
  moveUserCriteriaId: idSchema.optional(),
  createNumberInventoryAtCustomer: z.boolean().default(false),
  manageLicensesAndAllowStaging: z.boolean().default(false),
  teamsPolicies: teamsPoliciesSchema.default({}),
  dialPlan: textSchema(256).optional(),
  usageLocation: usageLocationSchema.optional(),
  /** When several sites match a user, the highest priority wins (then the site name). */
  placementPriority: z.number().int().min(-1000).max(1000).default(0),
});
export type SiteDefaults = z.infer<typeof siteDefaultsSchema>;

// ---------------------------------------------------------------------------------------------
// Quick Add Group, user profile, flow-through criteria

export const licenseSchema = z.object({
  skuId: z.string().min(1).max(64),
  /** Service plan ids turned off within the SKU. */
  disabledPlans: z.array(z.string().min(1).max(64)).max(100).default([]),
});
export type License = z.infer<typeof licenseSchema>;

export const quickAddGroupSchema = z
  .object({
    id: idSchema,
    customerId: idSchema,
    name: textSchema(256),
    licenses: z.array(licenseSchema).max(50).default([]),
    /** SKUs taken away when the group is applied (e.g. an IM-only SKU replaced by a voice SKU). */
    removeLicenses: z.array(z.string().min(1).max(64)).max(50).default([]),
    usageLocation: usageLocationSchema.optional(),
    /** Override the site defaults per policy type. */
    teamsPolicies: teamsPoliciesSchema.default({}),
    dialPlan: textSchema(256).optional(),
    groups: z
      .object({ add: z.array(idSchema).max(100).default([]), remove: z.array(idSchema).max(100).default([]) })
      .default({ add: [], remove: [] }),
    line: z
      .object({
        assignment: lineAssignmentSchema.default('none'),
        /** Required when assignment is explicit. */
        number: e164Schema.optional(),
        numberType: numberTypeSchema.optional(),
      })
      .default({ assignment: 'none' }),
  })
  .superRefine((g, ctx) => {
    const added = new Set(g.licenses.map((l) => l.skuId));
    if (added.size !== g.licenses.length) ctx.addIssue({ code: 'custom', path: ['licenses'], message: 'a license (SKU) is listed twice' });
    for (const sku of g.removeLicenses) {
      if (added.has(sku)) ctx.addIssue({ code: 'custom', path: ['removeLicenses'], message: `license ${sku} is both added and removed` });
    }
    const adds = new Set(g.groups.add);
    for (const group of g.groups.remove) {
      if (adds.has(group)) ctx.addIssue({ code: 'custom', path: ['groups', 'remove'], message: `group ${group} is both added and removed` });
    }
    if (g.line.assignment === 'explicit' && !g.line.number) {
      ctx.addIssue({ code: 'custom', path: ['line', 'number'], message: 'an explicit line assignment needs a number' });
    }
    if (g.line.assignment !== 'none' && !g.line.numberType) {
      ctx.addIssue({ code: 'custom', path: ['line', 'numberType'], message: 'a line assignment needs a number type' });
    }
  });
export type QuickAddGroup = z.infer<typeof quickAddGroupSchema>;
export type QuickAddGroupInput = z.input<typeof quickAddGroupSchema>;

export const userProfileSchema = z.object({
  id: idSchema,
  customerId: idSchema,
  name: textSchema(256),
  quickAddGroupId: idSchema,
  services: z.object({ teams: z.boolean().default(true), voice: z.boolean().default(false) }).default({ teams: true, voice: false }),
});
export type UserProfile = z.infer<typeof userProfileSchema>;

export const flowThroughEntrySchema = z.object({
  /** Model filter criteria with usage Flow Through Provisioning. */
  criteriaId: idSchema,
  profileId: idSchema,
  role: textSchema(128).optional(),
});
export type FlowThroughEntry = z.infer<typeof flowThroughEntrySchema>;

/**
 * Ordered entries; the first whose criteria match gives the profile. A customer normally has one, chosen in
 * its global settings for add syncs and update syncs (the two may differ, hence an id).
 */
export const flowThroughCriteriaSchema = z.object({
  id: idSchema,
  customerId: idSchema,
  name: textSchema(256),
  entries: z.array(flowThroughEntrySchema).max(100),
});
export type FlowThroughCriteria = z.infer<typeof flowThroughCriteriaSchema>;

// ---------------------------------------------------------------------------------------------
// Global settings

/** Entity types a pull sync deletes, each with its own delete threshold. */
export const SYNC_ENTITY_TYPES = ['users', 'licenses', 'policies', 'dialPlans', 'resourceAccounts'] as const;
export const syncEntityTypeSchema = z.enum(SYNC_ENTITY_TYPES);
export type SyncEntityType = z.infer<typeof syncEntityTypeSchema>;

export const deleteThresholdSchema = z.object({
  /** Most deletions one sync may apply; null = no count limit. */
  maxCount: z.number().int().min(0).nullable(),
  /** Most deletions as a share (0..1) of the stored total; null = no share limit. */
  maxShare: z.number().min(0).max(1).nullable(),
});
export type DeleteThreshold = z.infer<typeof deleteThresholdSchema>;

/**
 * What becomes of a leaver — a user disabled in Microsoft, soft-deleted, or gone out of the sync filter:
 * kept where it is (flagged), offboarded back to customer level after `afterDays`, or offboarded at once.
 */
export const LEAVER_ACTIONS = ['keep', 'offboard-after-days', 'offboard-at-once'] as const;
export const leaverSettingsSchema = z
  .object({
    action: z.enum(LEAVER_ACTIONS),
    /** With offboard-after-days: whole days from when the user was seen leaving. */
    afterDays: z.number().int().min(1).max(3650).optional(),
  })
  .superRefine((l, ctx) => {
    if (l.action === 'offboard-after-days' && l.afterDays === undefined) ctx.addIssue({ code: 'custom', path: ['afterDays'], message: 'offboard-after-days needs afterDays' });
    if (l.action !== 'offboard-after-days' && l.afterDays !== undefined) ctx.addIssue({ code: 'custom', path: ['afterDays'], message: `afterDays applies to offboard-after-days only, not ${l.action}` });
  });
export type LeaverSettings = z.infer<typeof leaverSettingsSchema>;

/**
 * User attributes a sync filter may name: those Microsoft Graph filters `GET /users` on with `eq` and `in`
 * without advanced query headers (v1.0 user resource), and which the sync reads, so that what a delta round
 * or a change notification brings is checked against the same values.
 */
export const SYNC_FILTER_ATTRIBUTES = ['city', 'country', 'state', 'department', 'companyName', 'officeLocation', 'usageLocation', 'employeeType', 'jobTitle'] as const;

/**
 * Which users a customer's syncs take in at all, for large tenants (as a model instance filter does): members
 * only (no guests), and attributes equal to one of some values (every attribute named must match).
 */
export const syncFilterSchema = z.object({
  /** Guests (userType Guest) are not synced. */
  membersOnly: z.boolean().default(false),
  attributes: z
    .array(z.object({
      attribute: z.enum(SYNC_FILTER_ATTRIBUTES),
      // Graph takes at most 15 expressions in one `in` by default (Microsoft Graph known issues).
      values: z.array(textSchema(128)).min(1).max(15),
    }))
    .max(5)
    .default([])
    .superRefine((list, ctx) => {
      const seen = new Set<string>();
      list.forEach((a, i) => {
        if (seen.has(a.attribute)) ctx.addIssue({ code: 'custom', path: [i, 'attribute'], message: `${a.attribute} is named twice: list every value in one entry` });
        seen.add(a.attribute);
      });
    }),
});
export type SyncFilter = z.infer<typeof syncFilterSchema>;

/**
 * Settings of one level (the provider's defaults or one customer). `inherit` and absent values take the
 * level above; see `resolveGlobalSettings`.
 */
export const globalSettingsSchema = z.object({
  moveAndFlowThrough: triStateSchema.default('inherit'),
  addSync: triStateSchema.default('inherit'),
  updateSync: triStateSchema.default('inherit'),
  /** Flow-through criteria (id) used by add syncs / update syncs; absent = inherit. */
  addSyncCriteriaId: idSchema.optional(),
  updateSyncCriteriaId: idSchema.optional(),
  preventDuplicateNumbers: triStateSchema.default('inherit'),
  /** Whether disabled accounts and guests flow through like members; by default they stay at customer level. */
  flowThroughDisabledAndGuests: triStateSchema.optional(),
  /** Days a released number cools before it is Available again. */
  numberCoolingDays: z.number().int().min(0).max(3650).optional(),
  deleteThresholds: z.partialRecord(syncEntityTypeSchema, deleteThresholdSchema).default({}),
  /** What becomes of leavers (disabled, soft-deleted, out of the sync filter); absent = inherit (built in: keep). */
  leavers: leaverSettingsSchema.optional(),
  /** Which users the syncs take in at all (large tenants); absent = inherit (built in: everyone). */
  syncFilter: syncFilterSchema.optional(),
});
export type GlobalSettings = z.infer<typeof globalSettingsSchema>;
export type GlobalSettingsInput = z.input<typeof globalSettingsSchema>;

// ---------------------------------------------------------------------------------------------
// Number inventory

export const NUMBER_STATUSES = ['Available', 'Used', 'Used-Utility', 'Reserved', 'Cooling'] as const;
export const numberStatusSchema = z.enum(NUMBER_STATUSES);
export type NumberStatus = z.infer<typeof numberStatusSchema>;

export const numberRangeSchema = z
  .object({
    id: idSchema,
    customerId: idSchema,
    /** Absent: the range lives at the customer and is visible to every site. */
    siteId: idSchema.optional(),
    first: e164Schema,
    last: e164Schema,
    vendor: vendorSchema.default('Microsoft'),
    lineType: numberTypeSchema,
  })
  .superRefine((r, ctx) => {
    if (r.first.length !== r.last.length) ctx.addIssue({ code: 'custom', path: ['last'], message: 'first and last must have the same number of digits' });
    else if (r.first > r.last) ctx.addIssue({ code: 'custom', path: ['last'], message: 'last must not be below first' });
  });
export type NumberRange = z.infer<typeof numberRangeSchema>;
