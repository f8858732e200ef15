import { type HttpRequest, type HttpResponseInit, type InvocationContext, type Timer } from '@azure/functions';
import * as df from 'durable-functions';
import type { OrchestrationContext } from 'durable-functions';
import { provisioningDeps } from '../shared/app/provisioning';
import {
  claimDueOverbuilds,
  customerContext,
  overbuildInstanceId,
  overbuildRequestSchema,
  overbuildUsers,
  placementFor,
  problem,
  provisionMessageId,
  saveOverbuildSchedule,
  selectOverbuildUsers,
  summarise,
  type OverbuildChunkResult,
  type OverbuildInput,
  type OverbuildSelection,
  type Problem,
} from '../shared/provisioning';

const deps = () => provisioningDeps({ messageId: provisionMessageId });
/** Users per activity, and activities running at once per overbuild. */
const CHUNK = 20;
const WAVE = 4;

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

df.app.client.http('overbuildStart', {
  route: 'customers/{customerId}/overbuilds',
  methods: ['POST'],
  authLevel: 'function',
  handler: async (request: HttpRequest, client: df.DurableClient) => {
    const customerId = request.params.customerId;
    const parsed = overbuildRequestSchema.safeParse(await request.json().catch(() => ({})));
    if (!parsed.success) {
      return problemResponse(problem(400, 'Invalid overbuild request', undefined, parsed.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message }))));
    }
    const { storage } = deps();
    let ctx;
    try {
      ctx = await customerContext(storage, customerId);
    } catch {
      return problemResponse(problem(404, 'Customer not found', `customer ${customerId} does not exist`));
    }
    const body = parsed.data;
    if (body.siteId !== undefined) {
      if (!ctx.sites.has(body.siteId)) return problemResponse(problem(404, 'Site not found', `site ${body.siteId} does not exist`));
      if (placementFor(ctx, body.siteId).sites.length === 0) return problemResponse(problem(409, 'Site not enabled for overbuild', `site ${body.siteId} is not included for overbuild with Microsoft users and move-user criteria`));
    }
    const now = new Date();
    await saveOverbuildSchedule(storage, customerId, body, now);
    const id = await startOverbuild(client, customerId, body.siteId, body.provision, now);
    const location = `${new URL(request.url).origin}/api/customers/${encodeURIComponent(customerId)}/overbuilds/${encodeURIComponent(id)}`;
    return { status: 202, headers: { location }, jsonBody: { id, location } };
  },
});

df.app.client.http('overbuildStatus', {
  route: 'customers/{customerId}/overbuilds/{id}',
  methods: ['GET'],
  authLevel: 'function',
  handler: async (request: HttpRequest, client: df.DurableClient) => {
    const status = await client.getStatus(request.params.id).catch(() => undefined);
    const input = status?.input as OverbuildInput | undefined;
    if (!status || input?.customerId !== request.params.customerId) return problemResponse(problem(404, 'Overbuild not found', `overbuild ${request.params.id} does not exist`));
    return {
      status: 200,
      jsonBody: {
        id: status.instanceId,
        runtimeStatus: status.runtimeStatus,
        createdTime: status.createdTime,
        lastUpdatedTime: status.lastUpdatedTime,
        progress: status.customStatus ?? null,
        summary: status.output ?? null,
      },
    };
  },
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

function problemResponse(p: Problem): HttpResponseInit {
  return { status: p.status, jsonBody: p, headers: { 'content-type': 'application/problem+json' } };
}
