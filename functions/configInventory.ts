import { app } from '@azure/functions';
import { z } from 'zod';
import { numberRangeSchema, numberStatusSchema, numberTypeSchema } from '../shared/domain';
import { tableStorageFromSettings } from '../shared/adapters/tables';
import { readSettings } from '../shared/config/settings';
import type { Storage } from '../shared/ports/storage';
import { apiIdSchema, apiRoute, created, ok, pagingQuerySchema, parseQuery, pathIds, readBody, textFilterSchema } from '../shared/http';
import { addNumberRange, listNumberRanges, listNumbers, listUsers, numberRangeBodySchema, userStateFilterSchema, type OnboardingDeps } from '../shared/onboarding';

let storage: Storage | undefined;
const deps = (): OnboardingDeps => ({ storage: (storage ??= tableStorageFromSettings(readSettings())) });

const rangesPath = 'customers/{customerId}/number-ranges';
const rangeResult = z.object({ range: numberRangeSchema, created: z.number(), existing: z.number(), duplicates: z.array(z.string()) });

app.http('number-ranges-add', apiRoute({
  name: 'number-ranges-add', method: 'POST', path: rangesPath, summary: 'Add a number range to the customer or a site inventory',
  description: 'Expanded into the inventory; numbers already present are kept. With prevent-duplicate-numbers on, numbers held elsewhere are refused and listed.',
  tags: ['numbers'], authLevel: 'function', body: numberRangeBodySchema, bodyFromPath: ['customerId'],
  responses: { 201: { description: 'Added', schema: rangeResult } },
  handler: async (req) => {
    const { customerId } = pathIds(req, 'customerId');
    const range = await readBody(req, numberRangeBodySchema, { pathFields: { customerId } });
    return created(await addNumberRange(deps(), range));
  },
}));

app.http('number-ranges-list', apiRoute({
  name: 'number-ranges-list', method: 'GET', path: rangesPath, summary: "List the customer's number ranges", tags: ['numbers'], authLevel: 'function', query: pagingQuerySchema,
  responses: { 200: { description: 'A page of ranges, by id', schema: z.object({ items: z.array(numberRangeSchema), continuation: z.string().optional() }) } },
  handler: async (req) => {
    const { customerId } = pathIds(req, 'customerId');
    return ok(await listNumberRanges(deps(), customerId, parseQuery(req, pagingQuerySchema)));
  },
}));

const numbersQuery = pagingQuerySchema.extend({ siteId: apiIdSchema.optional(), status: numberStatusSchema.optional() });
const numberEntrySchema = z.object({
  number: z.string(),
  customerId: z.string(),
  siteId: z.string().optional(),
  rangeId: z.string().optional(),
  status: numberStatusSchema,
  vendor: z.string(),
  lineType: numberTypeSchema,
  userId: z.string().optional(),
  everUsed: z.boolean(),
  releasedAt: z.string().optional(),
  coolingUntil: z.string().optional(),
  usedSince: z.string().optional().describe('When it became Used, or Reserved for a user'),
  heldBy: z.array(z.string()).optional().describe('Every user Microsoft shows holding it, when more than one does'),
  alsoIn: z.array(z.string()).optional().describe('Other inventories holding the same number: site ids, or customer'),
  duplicate: z.boolean().optional().describe('Held by several users or in several inventories: for an operator to resolve'),
  reason: z.string().optional().describe('Why an operator set it Reserved or Used-Utility, or what reserves it for a user'),
  reasonAt: z.string().optional(),
});

app.http('numbers-list', apiRoute({
  name: 'numbers-list', method: 'GET', path: 'customers/{customerId}/numbers', summary: 'List the number inventory',
  description: 'The customer inventory and every site inventory, or one site with siteId; status is the effective status (cooling over = Available).',
  tags: ['numbers'], authLevel: 'function', query: numbersQuery,
  responses: { 200: { description: 'A page of numbers, by number', schema: z.object({ items: z.array(numberEntrySchema), continuation: z.string().optional() }) } },
  handler: async (req) => {
    const { customerId } = pathIds(req, 'customerId');
    return ok(await listNumbers(deps(), customerId, parseQuery(req, numbersQuery)));
  },
}));

const usersQuery = pagingQuerySchema.extend({ state: userStateFilterSchema.optional(), siteId: apiIdSchema.optional(), search: textFilterSchema.optional() });
const siteUsersQuery = pagingQuerySchema.extend({ state: userStateFilterSchema.optional(), search: textFilterSchema.optional() });
const userSchema = z.object({
  customerId: z.string(),
  userId: z.string(),
  attributes: z.record(z.string(), z.unknown()),
  state: z.object({ kind: userStateFilterSchema, siteId: z.string().optional(), profileId: z.string().optional(), reason: z.string().optional(), since: z.string().optional(), line: z.object({ kind: z.enum(['explicit', 'nextAvailable']), number: z.string().optional(), type: numberTypeSchema }).optional() }),
  role: z.string().optional(),
  number: z.string().optional(),
  alsoMatchedSites: z.array(z.string()).optional(),
  syncedAt: z.string().optional(),
  removed: z.object({ kind: z.literal('soft'), at: z.string() }).optional().describe('Set while the user is soft-deleted in Microsoft (restorable)'),
  teams: z
    .object({
      present: z.boolean(),
      enterpriseVoice: z.boolean(),
      numbers: z.array(z.string()),
      accountType: z.string().nullable(),
      featureTypes: z.array(z.string()),
      policies: z.record(z.string(), z.string()),
    })
    .optional()
    .describe("The user's Teams side as the sync last saw it"),
  lastTransactionId: z.string().optional(),
});
const userPage = z.object({ items: z.array(userSchema), continuation: z.string().optional() });

app.http('users-list', apiRoute({
  name: 'users-list', method: 'GET', path: 'customers/{customerId}/users', summary: "List the customer's users",
  description: 'Filters: state, siteId, search (case-insensitive prefix of the UPN or display name). Paged by user id.',
  tags: ['users'], authLevel: 'function', query: usersQuery,
  responses: { 200: { description: 'A page of users', schema: userPage } },
  handler: async (req) => {
    const { customerId } = pathIds(req, 'customerId');
    return ok(await listUsers(deps(), customerId, parseQuery(req, usersQuery)));
  },
}));

app.http('site-users-list', apiRoute({
  name: 'site-users-list', method: 'GET', path: 'customers/{customerId}/sites/{siteId}/users', summary: 'List the users at a site',
  tags: ['users'], authLevel: 'function', query: siteUsersQuery,
  responses: { 200: { description: 'A page of users', schema: userPage } },
  handler: async (req) => {
    const { customerId, siteId } = pathIds(req, 'customerId', 'siteId');
    return ok(await listUsers(deps(), customerId, { ...parseQuery(req, siteUsersQuery), siteId }));
  },
}));
