import { app } from '@azure/functions';
import { z } from 'zod';
import { syncDeps } from '../shared/app/sync';
import { apiRoute, ok, parseQuery, pathIds } from '../shared/http';
import { SYNCED_POLICY_TYPES } from '../shared/sync/catalog';
import { customerDialPlans, customerLicenses, customerPolicies, customerResourceAccounts } from '../shared/sync/catalogViews';

const tags = ['catalog'];
const lastSync = z
  .object({
    status: z.enum(['running', 'succeeded', 'held', 'skipped', 'failed']),
    reason: z.string().optional(),
    runId: z.string(),
    at: z.string(),
  })
  .optional()
  .describe('The outcome of the sync that last read this type; absent before the first sync');
const listOf = (item: z.ZodType) => z.object({ value: z.array(item), lastSync });

const license = z.object({
  skuId: z.string(),
  skuPartNumber: z.string(),
  capabilityStatus: z.string().nullable(),
  appliesTo: z.string().nullable(),
  seats: z.object({ enabled: z.number(), consumed: z.number(), available: z.number(), suspended: z.number(), warning: z.number() }),
  servicePlans: z.array(z.object({ servicePlanId: z.string(), servicePlanName: z.string() })),
});
const dialPlan = z.object({
  identity: z.string(),
  name: z.string(),
  simpleName: z.string().nullable(),
  description: z.string().nullable(),
  normalizationRules: z.array(
    z.object({ name: z.string().nullable(), pattern: z.string(), translation: z.string(), isInternalExtension: z.boolean(), priority: z.number().nullable(), description: z.string().nullable() }),
  ),
});
const policy = z.object({ policyType: z.string(), identity: z.string(), name: z.string(), description: z.string().nullable() });
const policiesQuery = z.object({ type: z.enum(SYNCED_POLICY_TYPES).optional() }).strict();

app.http(
  'customerLicenses',
  apiRoute({
    name: 'customerLicenses',
    method: 'GET',
    path: 'customers/{customerId}/licenses',
    summary: "The tenant's license SKUs as last synced, with their seats (bought, in use, free)",
    tags,
    authLevel: 'function',
    responses: { 200: { description: 'The licenses', schema: listOf(license) } },
    handler: async (request) => ok(await customerLicenses(syncDeps(), pathIds(request, 'customerId').customerId)),
  }),
);

app.http(
  'customerDialPlans',
  apiRoute({
    name: 'customerDialPlans',
    method: 'GET',
    path: 'customers/{customerId}/dial-plans',
    summary: "The tenant's dial plans as last synced, with their normalization rules",
    tags,
    authLevel: 'function',
    responses: { 200: { description: 'The dial plans', schema: listOf(dialPlan) } },
    handler: async (request) => ok(await customerDialPlans(syncDeps(), pathIds(request, 'customerId').customerId)),
  }),
);

app.http(
  'customerPolicies',
  apiRoute({
    name: 'customerPolicies',
    method: 'GET',
    path: 'customers/{customerId}/policies',
    summary: "The tenant's Teams policies as last synced, optionally of one type",
    tags,
    authLevel: 'function',
    query: policiesQuery,
    responses: { 200: { description: 'The policies', schema: listOf(policy) } },
    handler: async (request) => {
      const { customerId } = pathIds(request, 'customerId');
      return ok(await customerPolicies(syncDeps(), customerId, parseQuery(request, policiesQuery).type));
    },
  }),
);

const resourceAccount = z.object({
  id: z.string(),
  userPrincipalName: z.string().nullable(),
  displayName: z.string().nullable(),
  kind: z.enum(['auto-attendant', 'call-queue', 'unknown']),
  applicationId: z.string().nullable(),
  numbers: z.array(z.string()),
  inventory: z.array(z.object({ number: z.string(), status: z.string().nullable(), inventory: z.string().nullable(), reason: z.string().nullable() })),
});

app.http(
  'customerResourceAccounts',
  apiRoute({
    name: 'customerResourceAccounts',
    method: 'GET',
    path: 'customers/{customerId}/resource-accounts',
    summary: "The tenant's resource accounts (auto attendants, call queues) as last synced, with their service numbers as the inventory holds them",
    description: 'Resource accounts are synced as their own entity type and never placed as people; their numbers are Used-Utility in the inventory.',
    tags,
    authLevel: 'function',
    responses: { 200: { description: 'The resource accounts', schema: listOf(resourceAccount).extend({ byKind: z.object({ 'auto-attendant': z.number(), 'call-queue': z.number(), unknown: z.number() }) }) } },
    handler: async (request) => ok(await customerResourceAccounts(syncDeps(), pathIds(request, 'customerId').customerId)),
  }),
);
