import { app, type InvocationContext, type Timer } from '@azure/functions';
import * as df from 'durable-functions';
import type { OrchestrationContext } from 'durable-functions';
import { z } from 'zod';
import { provisioningDeps } from '../shared/app/provisioning';
import { apiRoute, conflict, json, notFound, ok, pathIds, readBody } from '../shared/http';
import {
  claimDueOverbuilds,
  customerContext,
  overbuildInstanceId,
  overbuildRequestSchema,
  overbuildUsers,
  placementFor,
  provisionMessageId,
  saveOverbuildSchedule,
  selectOverbuildUsers,
  summarise,
  type OverbuildChunkResult,
  type OverbuildInput,
  type OverbuildSelection,
} from '../shared/provisioning';

const deps = () => provisioningDeps({ messageId: provisionMessageId });
/** Users per activity, and activities running at once per overbuild. */
const CHUNK = 20;
const WAVE = 4;
const tags = ['provisioning'];

const userResultSchema = z.object({ userId: z.string(), reason: z.string() });
const overbuildStatusSchema = z.object({
  id: z.string(),
  runtimeStatus: z.string(),
  createdTime: z.string(),
  lastUpdatedTime: z.string(),
  /** Users matched and done so far, while it runs. */
  progress: z.object({ matched: z.number(), done: z.number() }).nullable(),
  /** The run's summary once completed: users moved, provisioned and staged, and each pending, failed or unmatched user with why. */
  summary: z
    .object({
      customerId: z.string(),
      overbuildId: z.string(),
      siteId: z.string().optional(),
      provision: z.boolean(),
      startedAt: z.string(),
      total: z.number(),
      moved: z.number(),
      provisioned: z.number(),
      staged: z.number(),
      pending: z.array(userResultSchema),
      failed: z.array(userResultSchema),
      unmatched: z.object({ count: z.number(), users: z.array(userResultSchema) }),
    })
    .nullable(),
});

df.app.orchestration('overbuild', function* (context: OrchestrationContext) {
  const input = context.df.getInput<OverbuildInput>();
  const selection: OverbuildSelection = yield context.df.callActivity('overbuildSelect', input);
  const chunks: Array<OverbuildSelection['matched']> = [];
  for (let i = 0; i < selection.matched.length; i += CHUNK) chunks.push(selection.matched.slice(i, i + CHUNK));
  const results: OverbuildChunkResult[] = [];
  for (let i = 0; i < chunks.length; i += WAVE) {
    const wave: OverbuildChunkResult[] = yield context.df.Task.all(chunks.slice(i, i + WAVE).map((users) => context.df.callActivity('overbuildChunk', { input, users })));
    results.push(...wave);
    context.df.setCustomStatus({ matched: selection.matched.length, done: Math.min(selection.matched.length, (i + WAVE) * CHUNK) });
  }
  return summarise(input, selection, results);
});

df.app.activity('overbuildSelect', {
  handler: async (input: OverbuildInput) => selectOverbuildUsers(deps().storage, input.customerId, input.siteId),
});

df.app.activity('overbuildChunk', {
  handler: async (work: { input: OverbuildInput; users: OverbuildSelection['matched'] }) => overbuildUsers(deps(), work.input, work.users),
});

app.http('overbuildStart', {
  ...apiRoute({
    name: 'overbuildStart',
    method: 'POST',
    path: 'customers/{customerId}/overbuilds',
    summary: 'Start an overbuild: move (and optionally provision) every matching customer-level user',
    description: 'With repeatEveryMinutes the overbuild is also stored as the customer\'s schedule (0 removes it).',
    tags,
    authLevel: 'function',
    body: overbuildRequestSchema,
    responses: { 202: { description: 'Started; follow the overbuild', schema: z.object({ id: z.string(), location: z.string() }), headers: ['Location'] } },
    handler: async (request, context) => {
      const { customerId } = pathIds(request, 'customerId');
      const body = await readBody(request, overbuildRequestSchema);
      const { storage } = deps();
      const ctx = await customerContext(storage, customerId);
      if (body.siteId !== undefined) {
        if (!ctx.sites.has(body.siteId)) throw notFound(`site ${body.siteId} does not exist`);
        if (placementFor(ctx, body.siteId).sites.length === 0) throw conflict(`site ${body.siteId} is not included for overbuild with Microsoft users and move-user criteria`);
      }
      const now = new Date();
      await saveOverbuildSchedule(storage, customerId, body, now);
      const id = await startOverbuild(df.getClient(context), customerId, body.siteId, body.provision, now);
      const location = `${new URL(request.url).origin}/api/customers/${encodeURIComponent(customerId)}/overbuilds/${encodeURIComponent(id)}`;
      return json(202, { id, location }, { location });
    },
  }),
  extraInputs: [df.input.durableClient()],
});

app.http('overbuildStatus', {
  ...apiRoute({
    name: 'overbuildStatus',
    method: 'GET',
    path: 'customers/{customerId}/overbuilds/{id}',
    summary: 'An overbuild\'s progress and, once done, its summary',
    tags,
    authLevel: 'function',
    responses: { 200: { description: 'The overbuild', schema: overbuildStatusSchema } },
    handler: async (request, context) => {
      const { customerId, id } = pathIds(request, 'customerId', 'id');
      const status = await df.getClient(context).getStatus(id).catch(() => undefined);
      const input = status?.input as OverbuildInput | undefined;
      if (!status || input?.customerId !== customerId) throw notFound(`overbuild ${id} does not exist`);
      return ok({
        id: status.instanceId,
        runtimeStatus: status.runtimeStatus,
        createdTime: status.createdTime,
        lastUpdatedTime: status.lastUpdatedTime,
        progress: status.customStatus ?? null,
        summary: status.output ?? null,
      });
    },
  }),
  extraInputs: [df.input.durableClient()],
});

df.app.client.timer('overbuildSchedules', {
  schedule: '0 * * * * *',
  handler: async (_timer: Timer, client: df.DurableClient, context: InvocationContext) => {
    const now = new Date();
    for (const { customerId, schedule } of await claimDueOverbuilds(deps().storage, now)) {
      const id = await startOverbuild(client, customerId, schedule.siteId, schedule.provision, now);
      context.log(`scheduled overbuild ${id} for customer ${customerId}`);
    }
  },
});

async function startOverbuild(client: df.DurableClient, customerId: string, siteId: string | undefined, provision: boolean, now: Date): Promise<string> {
  const instanceId = overbuildInstanceId(customerId, now);
  const input: OverbuildInput = { customerId, overbuildId: instanceId, provision, startedAt: now.toISOString(), ...(siteId ? { siteId } : {}) };
  return client.startNew('overbuild', { instanceId, input });
}
