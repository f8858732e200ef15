import { app, type HttpRequest, type InvocationContext } from '@azure/functions';
import * as df from 'durable-functions';
import { DurableOrchestrations } from '../shared/adapters/durable/orchestrations';
import { firstSyncOnOnboarding } from '../shared/app/onboarding';
import { subscriptionOnOnboarding } from '../shared/app/notifications';
import { customerRecordsRemoval, durableInstancesRemoval, subscriptionsRemoval } from '../shared/app/customerRemoval';
import { z } from 'zod';
import { customerSchema } from '../shared/domain';
import { tableStorageFromSettings } from '../shared/adapters/tables';
import { readSettings } from '../shared/config/settings';
import type { Storage } from '../shared/ports/storage';
import {
  apiRoute,
  created,
  noContent,
  ok,
  pagingQuerySchema,
  parseQuery,
  pathId,
  readBody,
  readJson,
  requireIfMatch,
  validate,
  withPathFields,
} from '../shared/http';
import {
  applyConfiguration,
  configurationDocumentSchema,
  customerBodySchema,
  deleteCustomer,
  exportConfiguration,
  getCustomer,
  listCustomers,
  onboardCustomer,
  onboardCustomerSchema,
  updateCustomer,
  type OnboardingDeps,
  type TenantAppVerifier,
} from '../shared/onboarding';
import { createTenantAppVerifier } from '../shared/adapters/graph';

let storage: Storage | undefined;
let tenantApps: TenantAppVerifier | undefined;
/** The after-onboarding listeners (first sync, Graph subscription) are wired here when they exist. */
const deps = (context?: InvocationContext): OnboardingDeps => ({
  storage: (storage ??= tableStorageFromSettings(readSettings())),
  tenantApps: (tenantApps ??= createTenantAppVerifier(readSettings())),
  afterCustomerOnboarded: context ? [firstSyncOnOnboarding(() => new DurableOrchestrations(df.getClient(context))), subscriptionOnOnboarding()] : [],
  customerRemoval: context ? [durableInstancesRemoval(() => durableClient(context)), subscriptionsRemoval(), customerRecordsRemoval()] : [],
});

/** The Durable client of the invocation; none on a host without the Durable extension. */
function durableClient(context: InvocationContext): DurableOrchestrations | undefined {
  try {
    return new DurableOrchestrations(df.getClient(context));
  } catch {
    return undefined;
  }
}

const tags = ['customers'];
const customerList = z.object({ items: z.array(customerSchema), continuation: z.string().optional() });
const followUps = z.array(z.object({ name: z.string(), ok: z.boolean(), error: z.string().optional() }));
const location = (req: HttpRequest, id: string) => `${new URL(req.url).pathname.replace(/\/$/, '')}/${encodeURIComponent(id)}`;

app.http('customers-onboard', {
  ...apiRoute({
    name: 'customers-onboard',
    method: 'POST',
    path: 'customers',
    summary: 'Onboard a customer with its Microsoft tenant',
    description: 'The credential is a reference (kv:<secret-name> or env:<SETTING>); a value that looks like a secret is refused.',
    tags,
    authLevel: 'function',
    body: onboardCustomerSchema,
    responses: { 201: { description: 'Onboarded', schema: z.object({ customer: customerSchema, followUps }), headers: ['ETag', 'Location'] } },
    handler: async (req, context) => {
      const input = await readBody(req, onboardCustomerSchema);
      const result = await onboardCustomer(deps(context), input);
      return created({ customer: result.customer.value, followUps: result.followUps }, { etag: result.customer.etag, location: location(req, input.id) });
    },
  }),
  extraInputs: [df.input.durableClient()],
});

app.http(
  'customers-list',
  apiRoute({
    name: 'customers-list',
    method: 'GET',
    path: 'customers',
    summary: 'List customers',
    tags,
    authLevel: 'function',
    query: pagingQuerySchema,
    responses: { 200: { description: 'A page of customers', schema: customerList } },
    handler: async (req) => ok(await listCustomers(deps(), parseQuery(req, pagingQuerySchema))),
  }),
);

app.http(
  'customers-get',
  apiRoute({
    name: 'customers-get',
    method: 'GET',
    path: 'customers/{customerId}',
    summary: 'Read a customer',
    tags,
    authLevel: 'function',
    responses: { 200: { description: 'The customer', schema: customerSchema, headers: ['ETag'] } },
    handler: async (req) => {
      const found = await getCustomer(deps(), pathId(req, 'customerId'));
      return ok(found.value, { etag: found.etag });
    },
  }),
);

app.http(
  'customers-update',
  apiRoute({
    name: 'customers-update',
    method: 'PUT',
    path: 'customers/{customerId}',
    summary: "Replace a customer's name and tenant details",
    tags,
    authLevel: 'function',
    body: customerBodySchema,
    bodyFromPath: ['id'],
    ifMatch: 'required',
    responses: { 200: { description: 'Replaced', schema: customerSchema, headers: ['ETag'] } },
    handler: async (req) => {
      const id = pathId(req, 'customerId');
      const etag = requireIfMatch(req);
      const input = await readBody(req, customerBodySchema, { pathFields: { id } });
      const saved = await updateCustomer(deps(), input, etag);
      return ok(saved.value, { etag: saved.etag });
    },
  }),
);

app.http('customers-delete', {
  ...apiRoute({
    name: 'customers-delete',
    method: 'DELETE',
    path: 'customers/{customerId}',
    summary: 'Delete a customer that has no sites, users or numbers left and no sync running',
    description: 'Its configuration, sync runs, transactions, Durable instances and Graph subscription go with it.',
    tags,
    authLevel: 'function',
    ifMatch: 'required',
    responses: { 204: { description: 'Deleted' } },
    handler: async (req, context) => {
      const id = pathId(req, 'customerId');
      await deleteCustomer(deps(context), id, requireIfMatch(req));
      return noContent();
    },
  }),
  extraInputs: [df.input.durableClient()],
});

/** The configuration document can be large (many sites and ranges); other bodies keep the default limit. */
const CONFIGURATION_MAX_BYTES = 4 * 1024 * 1024;
const outcome = z.enum(['created', 'updated', 'unchanged']);
const applyReport = z.object({
  customerId: z.string(),
  items: z.array(z.object({ kind: z.string(), id: z.string(), outcome, detail: z.string().optional() })),
  summary: z.object({ created: z.number(), updated: z.number(), unchanged: z.number() }),
  followUps: followUps.optional(),
});

app.http('customers-configuration-apply', {
  ...apiRoute({
    name: 'customers-configuration-apply',
    method: 'PUT',
    path: 'customers/{customerId}/configuration',
    summary: "Apply a customer's whole configuration from one document",
    description:
      'Validated as a whole before anything is written, then applied idempotently: each item is created, updated or left unchanged, and the report says which. Items not in the document are left alone. No If-Match: the document is compared with what is stored.',
    tags,
    authLevel: 'function',
    body: configurationDocumentSchema(),
    bodyFromPath: ['customerId'],
    responses: { 200: { description: 'What was created, updated or unchanged', schema: applyReport } },
    handler: async (req, context) => {
      const customerId = pathId(req, 'customerId');
      const body = await readJson(req, { maxBytes: CONFIGURATION_MAX_BYTES });
      const doc = validate(configurationDocumentSchema(customerId), withPathFields(body, {}));
      return ok(await applyConfiguration(deps(context), customerId, doc));
    },
  }),
  extraInputs: [df.input.durableClient()],
});

app.http(
  'customers-configuration-export',
  apiRoute({
    name: 'customers-configuration-export',
    method: 'GET',
    path: 'customers/{customerId}/configuration',
    summary: "A customer's whole configuration as one document, ready to apply with PUT",
    tags,
    authLevel: 'function',
    responses: { 200: { description: 'The configuration document, in the form PUT takes', schema: configurationDocumentSchema(), asRequestBody: { without: ['customerId'] } } },
    handler: async (req) => ok(await exportConfiguration(deps(), pathId(req, 'customerId'))),
  }),
);
