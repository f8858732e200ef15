import { app, type HttpRequest, type HttpResponseInit, type InvocationContext } from '@azure/functions';
import { provisioningDeps } from '../shared/app/provisioning';
import { QUEUES, SERVICE_BUS_CONNECTION } from '../shared/config/queues';
import {
  handleProvisioningMessage,
  listDeadLetters,
  placementPreview,
  problem,
  provisionMessageId,
  replayDeadLetters,
  type Problem,
} from '../shared/provisioning';

const deps = () => provisioningDeps({ messageId: provisionMessageId });
const QUEUE = QUEUES.userProvisioning.name;

app.serviceBusQueue('provisionUser', {
  connection: SERVICE_BUS_CONNECTION,
  queueName: QUEUE,
  handler: async (body: unknown, context: InvocationContext) => {
    const meta = context.triggerMetadata ?? {};
    const result = await handleProvisioningMessage(deps(), body, {
      messageId: typeof meta.messageId === 'string' ? meta.messageId : undefined,
      deliveryCount: typeof meta.deliveryCount === 'number' ? meta.deliveryCount : undefined,
    });
    context.log(`provisionUser ${String(meta.messageId ?? '')}: ${result.kind}${'reason' in result ? ` (${result.reason})` : ''}`);
  },
});

app.http('deadLetters', {
  route: `dead-letters/${QUEUE}`,
  methods: ['GET'],
  authLevel: 'function',
  handler: async (request: HttpRequest) => {
    const top = Number(request.query.get('top') ?? 50);
    const d = deps();
    return { status: 200, jsonBody: { queue: QUEUE, messages: await listDeadLetters({ deadLetters: d.deadLetters, store: d.storage.syncState }, QUEUE, Number.isFinite(top) ? top : 50) } };
  },
});

app.http('deadLettersReplay', {
  route: `dead-letters/${QUEUE}/replay`,
  methods: ['POST'],
  authLevel: 'function',
  handler: async (request: HttpRequest) => {
    const body = (await request.json().catch(() => undefined)) as { messageIds?: unknown } | undefined;
    const ids = Array.isArray(body?.messageIds) ? body.messageIds.filter((i): i is string => typeof i === 'string') : [];
    if (ids.length === 0) return problemResponse(problem(400, 'Nothing to replay', 'Send {"messageIds": [...]} with the ids of dead-lettered messages.'));
    const replayed = await replayDeadLetters({ deadLetters: deps().deadLetters }, QUEUE, ids);
    return { status: 200, jsonBody: { replayed, notFound: ids.filter((i) => !replayed.includes(i)) } };
  },
});

app.http('placementPreview', {
  route: 'customers/{customerId}/placement-preview',
  methods: ['GET'],
  authLevel: 'function',
  handler: async (request: HttpRequest) => {
    const mode = request.query.get('mode') ?? 'flow-through';
    if (mode !== 'flow-through' && mode !== 'overbuild') return problemResponse(problem(400, 'Invalid mode', 'mode is flow-through or overbuild'));
    const top = request.query.get('top');
    try {
      const page = await placementPreview(deps(), request.params.customerId, {
        mode,
        ...(top ? { top: Number(top) } : {}),
        ...(request.query.get('continuation') ? { continuation: request.query.get('continuation')! } : {}),
      });
      return { status: 200, jsonBody: page };
    } catch (error) {
      if (error instanceof Error && error.name === 'CustomerNotFoundError') return problemResponse(problem(404, 'Customer not found', error.message));
      throw error;
    }
  },
});

function problemResponse(p: Problem): HttpResponseInit {
  return { status: p.status, jsonBody: p, headers: { 'content-type': 'application/problem+json' } };
}
