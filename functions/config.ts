import { app, type HttpRequest } from '@azure/functions';
import { z } from 'zod';
import { flowThroughCriteriaSchema, globalSettingsSchema, modelFilterCriteriaSchema, quickAddGroupSchema, siteDefaultsSchema, siteSchema, userProfileSchema } from '../shared/domain';
import { tableStorageFromSettings } from '../shared/adapters/tables';
import { readSettings } from '../shared/config/settings';
import type { Storage } from '../shared/ports/storage';
import { apiRoute, created, ifMatch, noContent, ok, pagingQuerySchema, parseQuery, pathIds, readBody, readJson, requireIfMatch, validate, withPathFields } from '../shared/http';
import {
  createItem,
  DEFAULT_FLOW_THROUGH_CRITERIA_ID,
  deleteFlowThroughCriteria,
  deleteItem,
  effectiveGlobalSettings,
  flowThroughCriteriaBodySchema,
  flowThroughCriteriaId,
  getFlowThroughCriteria,
  getGlobalSettings,
  getItem,
  globalSettingsBodySchema,
  listItems,
  modelFilterCriteriaBodySchema,
  putFlowThroughCriteria,
  putGlobalSettings,
  quickAddGroupBodySchema,
  replaceItem,
  siteBodySchema,
  siteDefaultsBodySchema,
  userProfileBodySchema,
  type ItemKind,
  type OnboardingDeps,
} from '../shared/onboarding';

let storage: Storage | undefined;
const deps = (): OnboardingDeps => ({ storage: (storage ??= tableStorageFromSettings(readSettings())) });
const itemLocation = (req: HttpRequest, id: string) => `${new URL(req.url).pathname.replace(/\/$/, '')}/${encodeURIComponent(id)}`;

/**
 * The five routes of a collection of customer-scoped items: list, create, read, replace, delete.
 * Replace and delete need If-Match; the body's customer id and id are the URL's.
 */
function collection(kind: Exclude<ItemKind, 'siteDefaults' | 'flowThroughCriteria'>, segment: string, label: string, schema: z.ZodType, body: z.ZodType) {
  const base = `customers/{customerId}/${segment}`;
  const item = `${base}/{id}`;
  const tags = [segment];
  const list = z.object({ items: z.array(schema), continuation: z.string().optional() });
  app.http(`${segment}-list`, apiRoute({
    name: `${segment}-list`, method: 'GET', path: base, summary: `List ${label}s`, tags, authLevel: 'function', query: pagingQuerySchema,
    responses: { 200: { description: `A page of ${label}s, by id`, schema: list } },
    handler: async (req) => {
      const { customerId } = pathIds(req, 'customerId');
      return ok(await listItems(deps(), kind, customerId, parseQuery(req, pagingQuerySchema)));
    },
  }));
  app.http(`${segment}-create`, apiRoute({
    name: `${segment}-create`, method: 'POST', path: base, summary: `Create a ${label}`, tags, authLevel: 'function', body, bodyFromPath: ['customerId'],
    responses: { 201: { description: 'Created', schema, headers: ['ETag', 'Location'] } },
    handler: async (req) => {
      const { customerId } = pathIds(req, 'customerId');
      const value = await readBody(req, body, { pathFields: { customerId } });
      const saved = await createItem(deps(), kind, value as never);
      return created(saved.value, { etag: saved.etag, location: itemLocation(req, (saved.value as { id: string }).id) });
    },
  }));
  app.http(`${segment}-get`, apiRoute({
    name: `${segment}-get`, method: 'GET', path: item, summary: `Read a ${label}`, tags, authLevel: 'function',
    responses: { 200: { description: `The ${label}`, schema, headers: ['ETag'] } },
    handler: async (req) => {
      const { customerId, id } = pathIds(req, 'customerId', 'id');
      const found = await getItem(deps(), kind, customerId, id);
      return ok(found.value, { etag: found.etag });
    },
  }));
  app.http(`${segment}-replace`, apiRoute({
    name: `${segment}-replace`, method: 'PUT', path: item, summary: `Replace a ${label}`, tags, authLevel: 'function', body, bodyFromPath: ['customerId'], ifMatch: 'required',
    responses: { 200: { description: 'Replaced', schema, headers: ['ETag'] } },
    handler: async (req) => {
      const { customerId, id } = pathIds(req, 'customerId', 'id');
      const etag = requireIfMatch(req);
      const value = await readBody(req, body, { pathFields: { customerId, id } });
      const { item: saved } = await replaceItem(deps(), kind, value as never, { etag });
      return ok(saved.value, { etag: saved.etag });
    },
  }));
  app.http(`${segment}-delete`, apiRoute({
    name: `${segment}-delete`, method: 'DELETE', path: item, summary: `Delete a ${label} nothing refers to`, tags, authLevel: 'function', ifMatch: 'required',
    responses: { 204: { description: 'Deleted' } },
    handler: async (req) => {
      const { customerId, id } = pathIds(req, 'customerId', 'id');
      await deleteItem(deps(), kind, customerId, id, requireIfMatch(req));
      return noContent();
    },
  }));
}

collection('site', 'sites', 'site', siteSchema, siteBodySchema);
collection('modelFilterCriteria', 'criteria', 'model filter criteria', modelFilterCriteriaSchema, modelFilterCriteriaBodySchema);
collection('quickAddGroup', 'quick-add-groups', 'Quick Add Group', quickAddGroupSchema, quickAddGroupBodySchema);
collection('userProfile', 'user-profiles', 'user profile', userProfileSchema, userProfileBodySchema);

// ---------------------------------------------------------------------------------------------
// Site defaults: one document per site

const defaultsPath = 'customers/{customerId}/sites/{siteId}/defaults';
app.http('site-defaults-get', apiRoute({
  name: 'site-defaults-get', method: 'GET', path: defaultsPath, summary: "Read a site's defaults", tags: ['sites'], authLevel: 'function',
  responses: { 200: { description: 'The site defaults', schema: siteDefaultsSchema, headers: ['ETag'] } },
  handler: async (req) => {
    const { customerId, siteId } = pathIds(req, 'customerId', 'siteId');
    await getItem(deps(), 'site', customerId, siteId);
    const found = await getItem(deps(), 'siteDefaults', customerId, siteId);
    return ok(found.value, { etag: found.etag });
  },
}));
app.http('site-defaults-put', apiRoute({
  name: 'site-defaults-put', method: 'PUT', path: defaultsPath, summary: "Create or replace a site's defaults",
  description: 'Creating needs no If-Match; replacing needs the ETag (or *).', tags: ['sites'], authLevel: 'function',
  body: siteDefaultsBodySchema, bodyFromPath: ['customerId', 'siteId'], ifMatch: 'optional',
  responses: { 200: { description: 'Replaced', schema: siteDefaultsSchema, headers: ['ETag'] }, 201: { description: 'Created', schema: siteDefaultsSchema, headers: ['ETag'] } },
  handler: async (req) => {
    const { customerId, siteId } = pathIds(req, 'customerId', 'siteId');
    await getItem(deps(), 'site', customerId, siteId);
    const etag = ifMatch(req);
    const value = await readBody(req, siteDefaultsBodySchema, { pathFields: { customerId, siteId } });
    const { item, created: isNew } = await replaceItem(deps(), 'siteDefaults', value, { etag, createIfMissing: true });
    return isNew ? created(item.value, { etag: item.etag }) : ok(item.value, { etag: item.etag });
  },
}));
app.http('site-defaults-delete', apiRoute({
  name: 'site-defaults-delete', method: 'DELETE', path: defaultsPath, summary: "Delete a site's defaults", tags: ['sites'], authLevel: 'function', ifMatch: 'required',
  responses: { 204: { description: 'Deleted' } },
  handler: async (req) => {
    const { customerId, siteId } = pathIds(req, 'customerId', 'siteId');
    await deleteItem(deps(), 'siteDefaults', customerId, siteId, requireIfMatch(req));
    return noContent();
  },
}));

// ---------------------------------------------------------------------------------------------
// Flow-through criteria: one per customer

const ftcPath = 'customers/{customerId}/flow-through-criteria';
app.http('flow-through-criteria-get', apiRoute({
  name: 'flow-through-criteria-get', method: 'GET', path: ftcPath, summary: "Read the customer's flow-through criteria", tags: ['flow-through-criteria'], authLevel: 'function',
  responses: { 200: { description: 'The flow-through criteria', schema: flowThroughCriteriaSchema, headers: ['ETag'] } },
  handler: async (req) => {
    const { customerId } = pathIds(req, 'customerId');
    const found = await getFlowThroughCriteria(deps(), customerId);
    return ok(found.value, { etag: found.etag });
  },
}));
app.http('flow-through-criteria-put', apiRoute({
  name: 'flow-through-criteria-put', method: 'PUT', path: ftcPath, summary: "Create or replace the customer's flow-through criteria",
  description: 'Entries are tried in order; the first whose criteria match gives the profile. The id may be left out (it defaults to the stored one, else "default").',
  tags: ['flow-through-criteria'], authLevel: 'function', body: flowThroughCriteriaBodySchema, bodyFromPath: ['customerId'], ifMatch: 'optional',
  responses: { 200: { description: 'Replaced', schema: flowThroughCriteriaSchema, headers: ['ETag'] }, 201: { description: 'Created', schema: flowThroughCriteriaSchema, headers: ['ETag'] } },
  handler: async (req) => {
    const { customerId } = pathIds(req, 'customerId');
    const etag = ifMatch(req);
    const body = withPathFields(await readJson(req), { customerId });
    if (!('id' in body)) body.id = await flowThroughCriteriaId(deps(), customerId, DEFAULT_FLOW_THROUGH_CRITERIA_ID);
    const value = validate(flowThroughCriteriaBodySchema, body);
    const { item, created: isNew } = await putFlowThroughCriteria(deps(), value, etag);
    return isNew ? created(item.value, { etag: item.etag }) : ok(item.value, { etag: item.etag });
  },
}));
app.http('flow-through-criteria-delete', apiRoute({
  name: 'flow-through-criteria-delete', method: 'DELETE', path: ftcPath, summary: "Delete the customer's flow-through criteria (not while global settings use them)", tags: ['flow-through-criteria'], authLevel: 'function', ifMatch: 'required',
  responses: { 204: { description: 'Deleted' } },
  handler: async (req) => {
    const { customerId } = pathIds(req, 'customerId');
    await deleteFlowThroughCriteria(deps(), customerId, requireIfMatch(req));
    return noContent();
  },
}));

// ---------------------------------------------------------------------------------------------
// Global settings

const settingsPath = 'customers/{customerId}/global-settings';
const effectiveSchema = z.object({
  moveAndFlowThrough: z.boolean(),
  addSync: z.boolean(),
  updateSync: z.boolean(),
  addSyncCriteriaId: z.string().optional(),
  updateSyncCriteriaId: z.string().optional(),
  preventDuplicateNumbers: z.boolean(),
  flowThroughDisabledAndGuests: z.boolean(),
  numberCoolingDays: z.number(),
  deleteThresholds: z.record(z.string(), z.object({ maxCount: z.number().nullable(), maxShare: z.number().nullable() })),
  leavers: z.object({ action: z.enum(['keep', 'offboard-after-days', 'offboard-at-once']), afterDays: z.number().optional() }),
});
app.http('global-settings-get', apiRoute({
  name: 'global-settings-get', method: 'GET', path: settingsPath, summary: "Read the customer's global settings (inherit / yes / no)",
  description: 'All-inherit, without an ETag, when none are stored.', tags: ['global-settings'], authLevel: 'function',
  responses: { 200: { description: 'The stored settings', schema: globalSettingsSchema, headers: ['ETag'] } },
  handler: async (req) => {
    const { customerId } = pathIds(req, 'customerId');
    const found = await getGlobalSettings(deps(), customerId);
    return ok(found.value, { etag: found.etag });
  },
}));
app.http('global-settings-effective', apiRoute({
  name: 'global-settings-effective', method: 'GET', path: `${settingsPath}/effective`, summary: 'The global settings in effect: provider defaults and the customer resolved',
  tags: ['global-settings'], authLevel: 'function',
  responses: { 200: { description: 'The resolved settings', schema: effectiveSchema } },
  handler: async (req) => {
    const { customerId } = pathIds(req, 'customerId');
    return ok(await effectiveGlobalSettings(deps(), customerId));
  },
}));
/** The settings stored; when this change switched prevent duplicate numbers on, the duplicates it found. */
const settingsAnswer = globalSettingsSchema.extend({
  duplicateNumbers: z
    .object({
      claimed: z.number().describe('Numbers now claimed customer-wide'),
      duplicates: z.array(z.object({ number: z.string(), inventories: z.array(z.string()), heldBy: z.array(z.string()).optional() })),
    })
    .optional()
    .describe('Present when this change switched prevent duplicate numbers on: the duplicates that existed, now flagged and no longer handed out'),
});
app.http('global-settings-put', apiRoute({
  name: 'global-settings-put', method: 'PUT', path: settingsPath, summary: "Create or replace the customer's global settings",
  description: 'Creating needs no If-Match; replacing needs the ETag (or *).', tags: ['global-settings'], authLevel: 'function', body: globalSettingsBodySchema, ifMatch: 'optional',
  responses: { 200: { description: 'Replaced', schema: settingsAnswer, headers: ['ETag'] }, 201: { description: 'Created', schema: settingsAnswer, headers: ['ETag'] } },
  handler: async (req) => {
    const { customerId } = pathIds(req, 'customerId');
    const etag = ifMatch(req);
    const value = await readBody(req, globalSettingsBodySchema);
    const { item, created: isNew, duplicateNumbers } = await putGlobalSettings(deps(), customerId, value, etag);
    const body = duplicateNumbers ? { ...item.value, duplicateNumbers } : item.value;
    return isNew ? created(body, { etag: item.etag }) : ok(body, { etag: item.etag });
  },
}));
