import { app, type InvocationContext } from '@azure/functions';
import { z } from 'zod';
import { provisioningDeps } from '../shared/app/provisioning';
import { QUEUES, SERVICE_BUS_CONNECTION, type QueueSpec } from '../shared/config/queues';
import { apiRoute, ok, parseQuery, pathIds, readBody, topSchema } from '../shared/http';
import { handleProvisioningMessage, listDeadLetters, placementPreview, provisionMessageId, replayDeadLetters } from '../shared/provisioning';

const deps = () => provisioningDeps({ messageId: provisionMessageId });
const QUEUE = QUEUES.userProvisioning.name;

/** One trigger per queue a user's provisioning travels through; the message says what to do. */
function provisioningTrigger(name: string, queue: QueueSpec): void {
  app.serviceBusQueue(name, {
    connection: SERVICE_BUS_CONNECTION,
    queueName: queue.name,
    handler: async (body: unknown, context: InvocationContext) => {
      const meta = context.triggerMetadata ?? {};
      const result = await handleProvisioningMessage(deps(), body, {
        messageId: typeof meta.messageId === 'string' ? meta.messageId : undefined,
        deliveryCount: typeof meta.deliveryCount === 'number' ? meta.deliveryCount : undefined,
        maxDeliveryCount: queue.maxDeliveryCount,
      });
      context.log(`${name} ${String(meta.messageId ?? '')}: ${result.kind}${'reason' in result ? ` (${result.reason})` : ''}`);
    },
  });
}

provisioningTrigger('provisionUser', QUEUES.userProvisioning);
provisioningTrigger('checkNumbers', QUEUES.numberChecks);

const tags = ['provisioning'];
/** Message ids as Service Bus bounds them, with room for the replay suffix. */
const messageIdSchema = z.string().min(1).max(256);

const DEAD_LETTERS_MAX = 250;
const deadLettersQuerySchema = z.object({
  top: topSchema.pipe(z.number().max(DEAD_LETTERS_MAX, `must be a whole number from 1 to ${DEAD_LETTERS_MAX}`)).optional(),
});
const deadLetterViewSchema = z.object({
  messageId: z.string(),
  sequenceNumber: z.string(),
  deadLetterReason: z.string().optional(),
  deadLetterErrorDescription: z.string().optional(),
  enqueuedAt: z.string().optional(),
  deliveryCount: z.number().optional(),
  body: z.unknown(),
  /** What the handler recorded on its last failed delivery. */
  handlerReason: z.string().optional(),
});

const replayBodySchema = z.object({
  messageIds: z.array(messageIdSchema).min(1, 'name at least one dead-lettered message').max(1000),
});

const PREVIEW_MAX = 100;
const previewQuerySchema = z.object({
  mode: z.enum(['flow-through', 'overbuild']).optional(),
  top: topSchema.pipe(z.number().max(PREVIEW_MAX, `must be a whole number from 1 to ${PREVIEW_MAX}`)).optional(),
  continuation: z.string().max(2048).regex(/^[A-Za-z0-9_-]+$/, 'is not a continuation token from this API').optional(),
});
const previewPageSchema = z.object({
  mode: z.enum(['flow-through', 'overbuild']),
  flowThroughEnabled: z.boolean(),
  items: z.array(
    z.object({
      userId: z.string(),
      userPrincipalName: z.string().optional(),
      placement: z.record(z.string(), z.unknown()),
      profileId: z.string().optional(),
      plan: z.object({ changes: z.array(z.unknown()), line: z.unknown(), inTeams: z.boolean(), unmet: z.array(z.string()) }).optional(),
      note: z.string().optional(),
    }),
  ),
  continuation: z.string().optional(),
});

app.http(
  'deadLetters',
  apiRoute({
    name: 'deadLetters',
    method: 'GET',
    path: `dead-letters/${QUEUE}`,
    summary: 'Dead-lettered provisioning messages, oldest first, with why the handler refused them',
    tags,
    authLevel: 'function',
    query: deadLettersQuerySchema,
    responses: { 200: { description: 'The dead-lettered messages (50 unless top says otherwise)', schema: z.object({ queue: z.string(), messages: z.array(deadLetterViewSchema) }) } },
    handler: async (request) => {
      const { top } = parseQuery(request, deadLettersQuerySchema);
      const d = deps();
      return ok({ queue: QUEUE, messages: await listDeadLetters({ deadLetters: d.deadLetters, store: d.storage.syncState }, QUEUE, top ?? 50) });
    },
  }),
);

app.http(
  'deadLettersReplay',
  apiRoute({
    name: 'deadLettersReplay',
    method: 'POST',
    path: `dead-letters/${QUEUE}/replay`,
    summary: 'Send dead-lettered provisioning messages back to their queue',
    tags,
    authLevel: 'function',
    body: replayBodySchema,
    responses: { 200: { description: 'Which ids were replayed and which were not found', schema: z.object({ replayed: z.array(z.string()), notFound: z.array(z.string()) }) } },
    handler: async (request) => {
      const { messageIds } = await readBody(request, replayBodySchema);
      const replayed = await replayDeadLetters({ deadLetters: deps().deadLetters }, QUEUE, messageIds);
      return ok({ replayed, notFound: messageIds.filter((i) => !replayed.includes(i)) });
    },
  }),
);

app.http(
  'placementPreview',
  apiRoute({
    name: 'placementPreview',
    method: 'GET',
    path: 'customers/{customerId}/placement-preview',
    summary: 'Where flow-through or overbuild would place each customer-level user, and what it would change',
    description:
      'Reads only. A user whose line takes the next available number is shown the number it would get from the inventory as it is now (site first, then customer), distinct within the page and in its order; none is taken. A user beyond what the inventory has is told so in unmet.',
    tags,
    authLevel: 'function',
    query: previewQuerySchema,
    responses: { 200: { description: 'A page of the preview', schema: previewPageSchema } },
    handler: async (request) => {
      const { customerId } = pathIds(request, 'customerId');
      const query = parseQuery(request, previewQuerySchema);
      const page = await placementPreview(deps(), customerId, {
        mode: query.mode ?? 'flow-through',
        ...(query.top !== undefined ? { top: query.top } : {}),
        ...(query.continuation ? { continuation: query.continuation } : {}),
      });
      return ok(page);
    },
  }),
);
