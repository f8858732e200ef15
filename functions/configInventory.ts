import { app } from '@azure/functions';
import { z } from 'zod';
import { numberRangeSchema, numberStatusSchema, numberTypeSchema } from '../shared/domain';
import { tableStorageFromSettings } from '../shared/adapters/tables';
import { readSettings } from '../shared/config/settings';
import type { Storage } from '../shared/ports/storage';
import { apiIdSchema, apiRoute, created, noContent, ok, pagingQuerySchema, parseQuery, pathIds, pathNumber, readBody, textFilterSchema } from '../shared/http';
import {
  addNumberRange,
  deleteNumberRange,
  endCoolingPeriods,
  listNumberRanges,
  listNumbers,
  listUsers,
  numberRangeBodySchema,
  setNumberStatus,
  userStateFilterSchema,
  type OnboardingDeps,
} from '../shared/onboarding';

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

const flag = z.enum(['true', 'false']).transform((v) => v === 'true');
const numbersQuery = pagingQuerySchema.extend({
  siteId: apiIdSchema.optional(),
  status: numberStatusSchema.optional(),
  duplicate: flag.optional().describe('true: only numbers flagged duplicate; false: only the others'),
  outsideRanges: flag.optional().describe('true: only numbers recorded outside any range (found held in Teams); false: only range numbers'),
});
const numberEntrySchema = z.object({
  number: z.string(),
  customerId: z.string(),
  siteId: z.string().optional().describe('The site whose inventory holds it; absent: the customer inventory, visible to every site'),
  rangeId: z.string().optional().describe('The range it came from; absent: recorded outside any range, because a user held it in Teams'),
  status: numberStatusSchema,
  vendor: z.string(),
  lineType: numberTypeSchema,
  userId: z.string().optional().describe('The user holding it (Used), reserved for (Reserved for a staged user) or last holding it (Cooling)'),
  everUsed: z.boolean(),
  releasedAt: z.string().optional(),
  coolingUntil: z.string().optional(),
  usedSince: z.string().optional(),
  heldBy: z.array(z.string()).optional().describe('Every user Microsoft shows holding it, when more than one'),
  alsoIn: z.array(z.string()).optional().describe('The other inventories holding the same number: site ids, or "customer"'),
  duplicate: z.boolean().optional().describe('Held by several users or kept in several inventories; with prevent duplicate numbers on it is not handed out'),
  reason: z.string().optional().describe('Why an operator reserved it or marked it used by a utility (or what reserves it for a user)'),
  reasonAt: z.string().optional(),
});

app.http('numbers-list', apiRoute({
  name: 'numbers-list', method: 'GET', path: 'customers/{customerId}/numbers', summary: 'List the number inventory',
  description: 'The customer inventory and every site inventory, or one site with siteId; status is the effective status (cooling over = Available). Filters: status, duplicate, outsideRanges.',
  tags: ['numbers'], authLevel: 'function', query: numbersQuery,
  responses: { 200: { description: 'A page of numbers, by number', schema: z.object({ items: z.array(numberEntrySchema), continuation: z.string().optional() }) } },
  handler: async (req) => {
    const { customerId } = pathIds(req, 'customerId');
    return ok(await listNumbers(deps(), customerId, parseQuery(req, numbersQuery)));
  },
}));

// ── The statuses an operator sets: Reserved and Used-Utility, and their release ────────────────────

const statusChangeSchema = z
  .object({
    siteId: apiIdSchema.optional().describe("The site whose inventory holds the number; absent: the customer's inventory"),
    reason: z.string().trim().min(1).max(500).optional(),
  })
  .strict();
const statusActions = [
  { action: 'reserve', summary: 'Reserve a number: it is not assigned to anyone until released', reason: 'required' },
  { action: 'utility', summary: 'Mark a number used by a utility (a fax, a lift phone): not a user', reason: 'required' },
  { action: 'release', summary: 'Release a reserved or utility number: a reservation is Available at once, a utility number cools', reason: 'optional' },
] as const;
for (const { action, summary, reason } of statusActions) {
  app.http(`number-${action}`, apiRoute({
    name: `number-${action}`, method: 'POST', path: `customers/{customerId}/numbers/{number}/${action}`, summary,
    description: `The number in E.164 (the + may be left out or sent as %2B). The reason is ${reason}. A number a user holds is never changed here (409): it is released when the user gives it up in Teams.`,
    tags: ['numbers'], authLevel: 'function', body: statusChangeSchema,
    responses: { 200: { description: 'The number as it is now', schema: numberEntrySchema }, 404: { description: 'No such number in that inventory' }, 409: { description: 'The number is held by a user, or reserved for one' } },
    handler: async (req) => {
      const { customerId } = pathIds(req, 'customerId');
      const number = pathNumber(req);
      const body = await readBody(req, statusChangeSchema);
      return ok(await setNumberStatus(deps(), customerId, number, { action, ...body }));
    },
  }));
}

app.http('number-ranges-delete', apiRoute({
  name: 'number-ranges-delete', method: 'DELETE', path: `${rangesPath}/{rangeId}`, summary: 'Delete a number range and the numbers it brought in',
  description: 'Refused (409, naming them) while any of its numbers is held by a user or used by a utility. Reserved and cooling numbers go with it.',
  tags: ['numbers'], authLevel: 'function',
  responses: { 204: { description: 'Deleted' }, 404: { description: 'No such range' }, 409: { description: 'Numbers of the range are in use; the problem names them' } },
  handler: async (req) => {
    const { customerId, rangeId } = pathIds(req, 'customerId', 'rangeId');
    await deleteNumberRange(deps(), customerId, rangeId);
    return noContent();
  },
}));

// ── Cooling: numbers whose period is over become Available again ──────────────────────────────────

app.timer('numberCooling', {
  schedule: '0 5 * * * *',
  handler: async (_timer, context) => {
    const { customers, available } = await endCoolingPeriods(deps().storage, new Date());
    if (available > 0) context.log(`cooling over for ${available} number(s) across ${customers} customer(s): Available again`);
  },
});

const usersQuery = pagingQuerySchema.extend({ state: userStateFilterSchema.optional(), siteId: apiIdSchema.optional(), search: textFilterSchema.optional() });
const siteUsersQuery = pagingQuerySchema.extend({ state: userStateFilterSchema.optional(), search: textFilterSchema.optional() });
const userSchema = z.object({
  customerId: z.string(),
  userId: z.string(),
  attributes: z.record(z.string(), z.unknown()),
  state: z.object({
    kind: userStateFilterSchema,
    siteId: z.string().optional(),
    profileId: z.string().optional(),
    reason: z.string().optional(),
    since: z.string().optional(),
    line: z.object({ kind: z.enum(['explicit', 'nextAvailable']), number: z.string().optional(), type: numberTypeSchema }).optional(),
    waitingFor: z.string().optional().describe('provisioning: what Microsoft is still finishing'),
  }),
  role: z.string().optional(),
  number: z.string().optional(),
  alsoMatchedSites: z.array(z.string()).optional(),
  syncedAt: z.string().optional(),
  removed: z.object({ kind: z.literal('soft'), at: z.string() }).optional().describe('Set while the user is soft-deleted in Microsoft (restorable)'),
  groups: z.array(z.string()).optional().describe('The Entra groups provisioning made the user a member of'),
  teams: z
    .object({
      present: z.boolean(),
      enterpriseVoice: z.boolean(),
      numbers: z.array(z.string()),
      accountType: z.string().nullable(),
      featureTypes: z.array(z.string()),
      policies: z.record(z.string(), z.string()),
      direct: z.record(z.string(), z.string()).optional().describe('Policies and dial plan assigned to the user directly, by type'),
      primaryNumber: z.string().optional(),
    })
    .optional()
    .describe("The user's Teams side as the sync last saw it"),
  lastTransactionId: z.string().optional(),
  handoff: z
    .object({ reason: z.enum(['sync-add', 'sync-update']), observedAt: z.string(), requestedAt: z.string() })
    .optional()
    .describe('A hand-off to provisioning not finished yet; the reconciler sends it again if it stands still'),
  leaver: z
    .object({ reason: z.enum(['disabled', 'soft-deleted', 'outside-filter']), since: z.string(), offboardAt: z.string().optional() })
    .optional()
    .describe("Set while the user is a leaver: why, since when, and when it is offboarded (per the customer's leaver setting)"),
  returnTo: z
    .object({ siteId: z.string(), profileId: z.string().optional(), number: z.string().optional(), lineType: numberTypeSchema.optional(), offboardedAt: z.string() })
    .optional()
    .describe('Where an offboarded leaver was: it returns there, with its number, when restored while the number is still free'),
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
