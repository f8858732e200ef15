import { app, type HttpRequest, type InvocationContext } from '@azure/functions';
import * as df from 'durable-functions';
import { z } from 'zod';
import { DurableOrchestrations } from '../shared/adapters/durable/orchestrations';
import { syncDeps } from '../shared/app/sync';
import { catalogActivity, type CatalogStepInput } from '../shared/sync/catalogStep';
import { apiRoute, conflict, HttpProblem, json, notFound, ok, parseQuery, pathIds, readBody } from '../shared/http';
import { SYNC_KINDS, syncDefinitionUpdateSchema, type SyncKind } from '../shared/sync/model';
import {
  allowHeldDeletions,
  discardHeldDeletions,
  finishRun,
  heldDeletions,
  type HeldSelection,
  listRuns,
  numbersActivity,
  recheckStaged,
  runDueSyncs,
  runStatus,
  startSync,
  SyncRefused,
  teamsPagesActivity,
  updateSyncDefinition,
  userDeletionsActivity,
  usersDeltaPageActivity,
  usersPagesActivity,
  type FinishInput,
  type StartSyncInput,
} from '../shared/sync/service';

// ── Activities ────────────────────────────────────────────────────────────────────────────────────

df.app.activity('syncCatalog', { handler: (input: CatalogStepInput) => catalogActivity(syncDeps(), input) });
df.app.activity('syncUsersPages', { handler: (input: Parameters<typeof usersPagesActivity>[1]) => usersPagesActivity(syncDeps(), input) });
df.app.activity('syncUsersDeltaPage', { handler: (input: Parameters<typeof usersDeltaPageActivity>[1]) => usersDeltaPageActivity(syncDeps(), input) });
df.app.activity('syncNumbers', { handler: (input: Parameters<typeof numbersActivity>[1]) => numbersActivity(syncDeps(), input) });
df.app.activity('syncTeamsPages', { handler: (input: Parameters<typeof teamsPagesActivity>[1]) => teamsPagesActivity(syncDeps(), input) });
df.app.activity('syncUserDeletions', { handler: (input: Parameters<typeof userDeletionsActivity>[1]) => userDeletionsActivity(syncDeps(), input) });
df.app.activity('syncFinish', { handler: (input: FinishInput) => finishRun(syncDeps(), input) });
df.app.activity('syncRecheckStaged', { handler: (input: StartSyncInput) => recheckStaged(syncDeps(), input) });

// ── Timer: every due schedule, every minute ──────────────────────────────────────────────────────

app.timer('syncScheduler', {
  schedule: '0 * * * * *',
  extraInputs: [df.input.durableClient()],
  handler: async (_timer, context: InvocationContext) => {
    const report = await runDueSyncs({ ...syncDeps(), orchestrations: new DurableOrchestrations(df.getClient(context)) });
    for (const s of report.started) context.log(`started ${s.kind} sync of ${s.customerId} (run ${s.runId})`);
    for (const s of report.skipped) context.log(`skipped ${s.kind} sync of ${s.customerId}: ${s.reason}`);
    for (const f of report.failed) context.error(`could not start ${f.kind} sync of ${f.customerId}: ${f.error}`);
  },
});

// ── HTTP ──────────────────────────────────────────────────────────────────────────────────────────

const kindSchema = z.enum(SYNC_KINDS);
const runsQuerySchema = z.object({ top: z.string().regex(/^\d{1,3}$/, 'a whole number from 1 to 100').optional() }).strict();
const countsSchema = z.object({ added: z.number(), changed: z.number(), unchanged: z.number(), deleted: z.number(), held: z.number() });
const runSchema = z.object({
  customerId: z.string(),
  runId: z.string(),
  kind: kindSchema,
  mode: z.enum(['full', 'delta']),
  trigger: z.string(),
  status: z.enum(['running', 'succeeded', 'held', 'partial', 'failed']),
  startedAt: z.string(),
  finishedAt: z.string().optional(),
  counts: z.record(z.string(), countsSchema),
  entities: z.record(z.string(), z.object({ status: z.enum(['running', 'succeeded', 'held', 'skipped', 'failed']), reason: z.string().optional() })),
  resync: z.string().optional(),
  heldReason: z.string().optional(),
  handedOff: z.number(),
  numbers: z
    .object({
      held: z.number().describe('Numbers users hold in Teams'),
      marked: z.number().describe('Inventory entries made Used by their holder'),
      released: z.number().describe('Entries released to cooling: their user no longer holds them'),
      recordedOutsideRanges: z.number().describe('Held numbers no inventory had, now recorded outside any range'),
      duplicates: z.number().describe('Numbers flagged duplicate: held by several users, or in several inventories'),
      duplicateNumbers: z.array(z.string()).describe('The first of them'),
    })
    .optional()
    .describe("The number inventory brought in line with the read's view of Teams (full runs)"),
  holdsReleased: z
    .object({ count: z.number(), userIds: z.array(z.string()).describe('The first 50') })
    .optional()
    .describe('Held deletions of users this run saw again in Microsoft: released, nothing deleted'),
  errors: z.array(z.string()),
});
const definitionSchema = z.object({
  customerId: z.string(),
  kind: kindSchema,
  schedule: z.string(),
  enabled: z.boolean(),
  lastStartedAt: z.string().optional(),
  lastRunId: z.string().optional(),
  lastSkipped: z.object({ at: z.string(), reason: z.string() }).optional(),
});

function refusal(err: unknown): never {
  if (err instanceof SyncRefused) throw err.status === 404 ? notFound(err.message) : conflict(err.message);
  throw err;
}

function syncKind(request: HttpRequest): SyncKind {
  const parsed = kindSchema.safeParse(request.params.kind);
  if (!parsed.success) throw new HttpProblem(404, `There is no "${request.params.kind}" sync; the kinds are ${SYNC_KINDS.join(', ')}.`);
  return parsed.data;
}

app.http('syncStart', {
  ...apiRoute({
    name: 'syncStart',
    method: 'POST',
    path: 'customers/{customerId}/syncs/{kind}/run',
    summary: 'Start a sync now; 202 with the URL of its run',
    tags: ['sync'],
    authLevel: 'function',
    responses: { 202: { description: 'Started', schema: z.object({ runId: z.string(), statusUrl: z.string() }), headers: ['Location'] }, 404: { description: 'No such customer' }, 409: { description: 'A run of this kind is going' } },
    handler: async (request, context) => {
      const { customerId } = pathIds(request, 'customerId');
      const kind = syncKind(request);
      const started = await startSync({ ...syncDeps(), orchestrations: new DurableOrchestrations(df.getClient(context)) }, { customerId, kind, trigger: 'operator' }).catch(refusal);
      const statusUrl = new URL(`/api/customers/${encodeURIComponent(customerId)}/sync-runs/${started.runId}`, request.url).toString();
      return json(202, { runId: started.runId, statusUrl }, { location: statusUrl });
    },
  }),
  extraInputs: [df.input.durableClient()],
});

app.http(
  'syncDefinitions',
  apiRoute({
    name: 'syncDefinitions',
    method: 'GET',
    path: 'customers/{customerId}/syncs',
    summary: "A customer's syncs and their schedules (created by its first sync)",
    tags: ['sync'],
    authLevel: 'function',
    responses: { 200: { description: 'The syncs', schema: z.object({ value: z.array(definitionSchema) }) } },
    handler: async (request) => {
      const { customerId } = pathIds(request, 'customerId');
      const deps = syncDeps();
      if (!(await deps.storage.customers.get(customerId))) throw notFound(`Customer "${customerId}" does not exist.`);
      return ok({ value: await deps.definitions.list(customerId) });
    },
  }),
);

app.http(
  'syncDefinitionUpdate',
  apiRoute({
    name: 'syncDefinitionUpdate',
    method: 'PATCH',
    path: 'customers/{customerId}/syncs/{kind}',
    summary: "Change a sync's schedule or switch it on or off",
    tags: ['sync'],
    authLevel: 'function',
    body: syncDefinitionUpdateSchema,
    responses: { 200: { description: 'The sync', schema: definitionSchema }, 404: { description: 'No such sync yet' } },
    handler: async (request) => {
      const { customerId } = pathIds(request, 'customerId');
      const kind = syncKind(request);
      const update = await readBody(request, syncDefinitionUpdateSchema);
      return ok(await updateSyncDefinition(syncDeps(), customerId, kind, update).catch(refusal));
    },
  }),
);

app.http('syncRuns', {
  ...apiRoute({
    name: 'syncRuns',
    method: 'GET',
    path: 'customers/{customerId}/sync-runs',
    summary: "A customer's sync runs, newest first",
    tags: ['sync'],
    authLevel: 'function',
    query: runsQuerySchema,
    responses: { 200: { description: 'Runs', schema: z.object({ value: z.array(runSchema) }) } },
    handler: async (request, context) => {
      const { customerId } = pathIds(request, 'customerId');
      const query = parseQuery(request, runsQuerySchema);
      const top = Math.min(100, Math.max(1, Number(query.top ?? 20)));
      return ok({ value: await listRuns({ ...syncDeps(), orchestrations: new DurableOrchestrations(df.getClient(context)) }, customerId, top) });
    },
  }),
  extraInputs: [df.input.durableClient()],
});

app.http('syncRun', {
  ...apiRoute({
    name: 'syncRun',
    method: 'GET',
    path: 'customers/{customerId}/sync-runs/{runId}',
    summary: 'One sync run: status, timing, counts per entity type (live while it runs), errors. It reads finished only once its orchestration has ended',
    tags: ['sync'],
    authLevel: 'function',
    responses: { 200: { description: 'The run', schema: runSchema }, 404: { description: 'No such run' } },
    handler: async (request, context) => {
      const { customerId, runId } = pathIds(request, 'customerId', 'runId');
      return ok(await runStatus({ ...syncDeps(), orchestrations: new DurableOrchestrations(df.getClient(context)) }, customerId, runId));
    },
  }),
  extraInputs: [df.input.durableClient()],
});

const deletionSchema = z.object({
  entityType: z.string(),
  id: z.string(),
  removal: z.string().describe('soft (restorable), hard, or missing (not seen by a full read)'),
  runId: z.string().describe('The run that held it ("notifications" for change notifications)'),
  held: z.boolean(),
  heldReason: z.string().optional(),
  heldAt: z.string().optional().describe('When the guard first held it'),
  ageSeconds: z.number().optional().describe('How long it has been held'),
});
const selectionSchema = z
  .object({
    userIds: z.array(z.string().min(1).max(256)).min(1).max(1000).optional().describe('The users whose held deletions to act on'),
    all: z.literal(true).optional().describe('Every held deletion of the customer, of every entity type'),
  })
  .strict()
  .refine((s) => (s.userIds === undefined) !== (s.all === undefined), { message: 'name some users ("userIds") or everything ("all": true), one of the two' });
const selectionOf = (s: z.infer<typeof selectionSchema>): HeldSelection => (s.all ? { all: true } : { userIds: s.userIds ?? [] });

app.http(
  'heldDeletions',
  apiRoute({
    name: 'heldDeletions',
    method: 'GET',
    path: 'customers/{customerId}/held-deletions',
    summary: 'Deletions the delete guard is holding, for an operator to review: oldest first, with their age and the run that held them',
    tags: ['sync'],
    authLevel: 'function',
    responses: { 200: { description: 'Held deletions', schema: z.object({ value: z.array(deletionSchema) }) } },
    handler: async (request) => {
      const { customerId } = pathIds(request, 'customerId');
      return ok({ value: await heldDeletions(syncDeps(), customerId) });
    },
  }),
);

app.http(
  'allowHeldDeletions',
  apiRoute({
    name: 'allowHeldDeletions',
    method: 'POST',
    path: 'customers/{customerId}/held-deletions/allow',
    summary: 'Apply held deletions, of some users or all (the operator has checked them)',
    description:
      'Body {"userIds": [...]} or {"all": true}. Each user is checked against Microsoft right before: one Microsoft still shows (not deleted, not soft-deleted) is never deleted, and its hold is released instead.',
    tags: ['sync'],
    authLevel: 'function',
    body: selectionSchema,
    responses: {
      200: {
        description: 'Deletions applied per entity type; users kept because Microsoft still shows them; ids no hold names',
        schema: z.object({ applied: z.record(z.string(), z.number()), present: z.array(z.string()), notHeld: z.array(z.string()) }),
      },
    },
    handler: async (request) => {
      const { customerId } = pathIds(request, 'customerId');
      const selection = await readBody(request, selectionSchema);
      return ok(await allowHeldDeletions(syncDeps(), customerId, selectionOf(selection)));
    },
  }),
);

app.http(
  'discardHeldDeletions',
  apiRoute({
    name: 'discardHeldDeletions',
    method: 'POST',
    path: 'customers/{customerId}/held-deletions/discard',
    summary: 'Drop held deletions, of some users or all: nothing is deleted',
    description: 'Body {"userIds": [...]} or {"all": true}. What is still gone from Microsoft is found again by the next full read, and weighed by the guard anew.',
    tags: ['sync'],
    authLevel: 'function',
    body: selectionSchema,
    responses: { 200: { description: 'Holds dropped per entity type; ids no hold names', schema: z.object({ discarded: z.record(z.string(), z.number()), notHeld: z.array(z.string()) }) } },
    handler: async (request) => {
      const { customerId } = pathIds(request, 'customerId');
      const selection = await readBody(request, selectionSchema);
      return ok(await discardHeldDeletions(syncDeps(), customerId, selectionOf(selection)));
    },
  }),
);

