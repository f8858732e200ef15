/**
 * Shapes of the onboarding API's inputs: the domain's schemas, with ids the API can route to, customer
 * ids taken from the URL, and the tenant's app registration checked so that no secret is ever stored.
 */
import { z } from 'zod';
import {
  customerSchema,
  flowThroughCriteriaSchema,
  globalSettingsSchema,
  modelFilterCriteriaSchema,
  numberRangeSchema,
  quickAddGroupSchema,
  siteDefaultsSchema,
  siteSchema,
  userProfileSchema,
  NUMBER_STATUSES,
  SECRET_SETTING_PREFIX,
} from '../domain';
import { API_ID_RULE, apiIdSchema, isApiId } from '../http/ids';

export const GUID_PATTERN = /^[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$/;
export const guidSchema = z.string().regex(GUID_PATTERN, 'must be a GUID such as 00000000-0000-0000-0000-000000000000');

const REFERENCE_RULE = `must say where the secret is kept (kv:<key-vault-secret-name> or env:${SECRET_SETTING_PREFIX}<NAME>), never the secret itself`;

/**
 * `kv:<secret-name>` (Key Vault names: letters, digits, dashes) or `env:SITESYNC_SECRET_<NAME>`. A name that
 * reads like a pasted secret (long, no separators, letters and digits mixed, or a PEM) is refused; the value
 * is never echoed in the error.
 */
export const credentialReferenceSchema = z.string().superRefine((value, ctx) => {
  const m = /^(kv:([A-Za-z0-9-]{1,127})|env:([A-Za-z_][A-Za-z0-9_]{0,127}))$/.exec(value);
  if (!m) return void ctx.addIssue({ code: 'custom', message: REFERENCE_RULE });
  const name = m[2] ?? m[3];
  if (looksLikeSecret(name)) return void ctx.addIssue({ code: 'custom', message: `looks like a secret value, not where one is kept: ${REFERENCE_RULE}` });
  if (m[3] !== undefined && (!name.startsWith(SECRET_SETTING_PREFIX) || name.length === SECRET_SETTING_PREFIX.length)) {
    ctx.addIssue({ code: 'custom', message: `env: may only name a setting whose name starts with ${SECRET_SETTING_PREFIX} (e.g. env:${SECRET_SETTING_PREFIX}CONTOSO), set aside for customer secrets` });
  }
});

export function looksLikeSecret(name: string): boolean {
  if (name.length < 24) return false;
  const separators = (name.match(/[-_]/g) ?? []).length;
  const mixed = /[a-z]/.test(name) && /\d/.test(name) && (/[A-Z]/.test(name) || name.length >= 32);
  return mixed && separators * 16 < name.length;
}

/** Adds an issue for every listed id field that is present and not an API id. */
function apiIds<S extends z.ZodType>(schema: S, fields: (v: z.output<S>) => Array<[PropertyKey[], unknown]>): S {
  return schema.superRefine((value, ctx) => {
    for (const [path, id] of fields(value as z.output<S>)) {
      if (id !== undefined && !isApiId(id)) ctx.addIssue({ code: 'custom', path, message: API_ID_RULE });
    }
  }) as unknown as S;
}

export const onboardCustomerSchema = z.object({
  id: apiIdSchema,
  name: z.string().min(1).max(256),
  tenantId: guidSchema,
  clientId: guidSchema,
  credentialRef: credentialReferenceSchema,
});
export type OnboardCustomerInput = z.output<typeof onboardCustomerSchema>;

/** PUT of a customer: the same fields; the id comes from the URL. */
export const customerBodySchema = onboardCustomerSchema;
export { customerSchema };

export const siteBodySchema = apiIds(siteSchema, (s) => [[['id'], s.id]]);
export const siteDefaultsBodySchema = apiIds(siteDefaultsSchema, (d) => [
  [['siteId'], d.siteId],
  [['moveUserCriteriaId'], d.moveUserCriteriaId],
]);
export const modelFilterCriteriaBodySchema = apiIds(modelFilterCriteriaSchema, (c) => [[['id'], c.id]]);
export const quickAddGroupBodySchema = apiIds(quickAddGroupSchema, (g) => [[['id'], g.id]]);
export const userProfileBodySchema = apiIds(userProfileSchema, (p) => [
  [['id'], p.id],
  [['quickAddGroupId'], p.quickAddGroupId],
]);
export const flowThroughCriteriaBodySchema = apiIds(flowThroughCriteriaSchema, (f) => [
  [['id'], f.id],
  ...f.entries.flatMap((e, i): Array<[PropertyKey[], unknown]> => [
    [['entries', i, 'criteriaId'], e.criteriaId],
    [['entries', i, 'profileId'], e.profileId],
  ]),
]);
export const globalSettingsBodySchema = apiIds(globalSettingsSchema.strict(), (g) => [
  [['addSyncCriteriaId'], g.addSyncCriteriaId],
  [['updateSyncCriteriaId'], g.updateSyncCriteriaId],
]);
export const numberRangeBodySchema = apiIds(numberRangeSchema, (r) => [
  [['id'], r.id],
  [['siteId'], r.siteId],
]);

/** The flow-through criteria's id when the body leaves it out (a customer has one). */
export const DEFAULT_FLOW_THROUGH_CRITERIA_ID = 'default';

// ---------------------------------------------------------------------------------------------
// Whole configuration document

/** Items of the document carry no customer id (it is the URL's); one that names another is refused. */
function inCustomer<S extends z.ZodType>(schema: S, customerId: string | undefined) {
  // Without a customer (the OpenAPI form) the item schema is shown as is, its customerId left out there.
  if (customerId === undefined) return schema;
  return z.preprocess((v) => (typeof v === 'object' && v !== null && !Array.isArray(v) && !('customerId' in v) ? { ...v, customerId } : v), schema).superRefine((v, ctx) => {
    if ((v as { customerId?: unknown }).customerId !== customerId) ctx.addIssue({ code: 'custom', path: ['customerId'], message: 'must be absent or equal to the customerId in the URL' });
  });
}

export const MAX_DOCUMENT_ITEMS = 1000;

/** The document for one customer; without a customer id, the form the OpenAPI document shows. */
export function configurationDocumentSchema(customerId?: string) {
  return z.object({
    /** Needed when the customer is not onboarded yet; otherwise updates it when given. */
    customer: onboardCustomerSchema.omit({ id: true }).optional(),
    sites: z.array(inCustomer(siteBodySchema, customerId)).max(MAX_DOCUMENT_ITEMS).default([]),
    modelFilterCriteria: z.array(inCustomer(modelFilterCriteriaBodySchema, customerId)).max(MAX_DOCUMENT_ITEMS).default([]),
    siteDefaults: z.array(inCustomer(siteDefaultsBodySchema, customerId)).max(MAX_DOCUMENT_ITEMS).default([]),
    quickAddGroups: z.array(inCustomer(quickAddGroupBodySchema, customerId)).max(MAX_DOCUMENT_ITEMS).default([]),
    userProfiles: z.array(inCustomer(userProfileBodySchema, customerId)).max(MAX_DOCUMENT_ITEMS).default([]),
    flowThroughCriteria: inCustomer(flowThroughCriteriaBodySchema, customerId).optional(),
    globalSettings: globalSettingsBodySchema.optional(),
    numberRanges: z.array(inCustomer(numberRangeBodySchema, customerId)).max(MAX_DOCUMENT_ITEMS).default([]),
  });
}
export type ConfigurationDocument = z.output<ReturnType<typeof configurationDocumentSchema>>;
type Item<S extends z.ZodType> = Omit<z.input<S>, 'customerId'> & { customerId?: string };
/** What a caller writes: the items without their customer id. */
export interface ConfigurationDocumentInput {
  customer?: Omit<z.input<typeof onboardCustomerSchema>, 'id'>;
  sites?: Array<Item<typeof siteSchema>>;
  modelFilterCriteria?: Array<Item<typeof modelFilterCriteriaSchema>>;
  siteDefaults?: Array<Item<typeof siteDefaultsSchema>>;
  quickAddGroups?: Array<Item<typeof quickAddGroupSchema>>;
  userProfiles?: Array<Item<typeof userProfileSchema>>;
  flowThroughCriteria?: Item<typeof flowThroughCriteriaSchema>;
  globalSettings?: z.input<typeof globalSettingsSchema>;
  numberRanges?: Array<Item<typeof numberRangeSchema>>;
}

// ---------------------------------------------------------------------------------------------
// Query filters

export const numberStatusFilterSchema = z.enum(NUMBER_STATUSES);
export const USER_STATE_KINDS = ['at-customer', 'at-site', 'provisioning', 'provisioned', 'staged', 'needs-attention'] as const;
export const userStateFilterSchema = z.enum(USER_STATE_KINDS);
export { apiIdSchema };
