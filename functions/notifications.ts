import { app, type HttpRequest, type HttpResponseInit, type InvocationContext } from '@azure/functions';
import * as df from 'durable-functions';
import { z } from 'zod';
import { DurableOrchestrations } from '../shared/adapters/durable/orchestrations';
import { LoopGate } from '../shared/app/loopGate';
import { notificationDeps } from '../shared/app/notifications';
import { QUEUES, SERVICE_BUS_CONNECTION } from '../shared/config/queues';
import { apiRoute, HttpProblem, ok, pathIds, readJson } from '../shared/http';
import {
  acceptNotifications,
  customerSubscriptions,
  ensureSubscription,
  LIFECYCLE_PATH,
  NOTIFICATION_PATH,
  NotificationBodyError,
  processNotification,
  renewSubscriptions,
  validationAnswer,
  WebhookNotConfiguredError,
} from '../shared/notifications';

// ── Webhooks (anonymous: Graph sends no key; each notification's clientState authenticates it) ──────

/** Graph batches notifications; a POST this large is not Graph. */
const MAX_BODY_BYTES = 1024 * 1024;
/** Well inside Graph's 3 s: past this, answer 503 and let Graph deliver again (repeats are deduplicated). */
const QUEUE_DEADLINE_MS = 2_000;

async function webhook(request: HttpRequest): Promise<HttpResponseInit> {
  const handshake = validationAnswer(request.query.get('validationToken'));
  if (handshake) {
    if (!handshake.ok) throw new HttpProblem(400, handshake.reason);
    // Exactly the token, as plain text that no browser will sniff into HTML.
    return { status: 200, headers: { 'content-type': 'text/plain; charset=utf-8', 'x-content-type-options': 'nosniff', 'cache-control': 'no-store' }, body: handshake.token };
  }
  const body = await readJson(request, { maxBytes: MAX_BODY_BYTES });
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      acceptNotifications(notificationDeps(), body, new Date()),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new HttpProblem(503, 'The notifications could not be queued in time; deliver them again.', { title: 'Service Unavailable' })), QUEUE_DEADLINE_MS);
      }),
    ]);
  } catch (error) {
    if (error instanceof NotificationBodyError) throw new HttpProblem(400, error.message);
    if (error instanceof HttpProblem) throw error;
    // Not persisted: a 5xx makes Graph deliver again.
    throw new HttpProblem(503, 'The notifications could not be queued; deliver them again.', { title: 'Service Unavailable' });
  } finally {
    clearTimeout(timer);
  }
  return { status: 202 };
}

const webhookResponses = {
  200: { description: 'Validation handshake: the decoded validationToken as text/plain' },
  202: { description: 'Accepted; notifications that fail the checks are dropped and counted' },
  400: { description: 'Malformed body, or a validationToken that is empty or too long' },
  503: { description: 'Could not be queued; Graph delivers again' },
};

app.http(
  'graphNotifications',
  apiRoute({
    name: 'graphNotifications',
    method: 'POST',
    path: NOTIFICATION_PATH,
    summary: 'Microsoft Graph change notifications for users (and the validation handshake)',
    tags: ['notifications'],
    authLevel: 'anonymous',
    responses: webhookResponses,
    handler: webhook,
  }),
);

app.http(
  'graphLifecycle',
  apiRoute({
    name: 'graphLifecycle',
    method: 'POST',
    path: LIFECYCLE_PATH,
    summary: 'Microsoft Graph lifecycle notifications: reauthorizationRequired, subscriptionRemoved, missed',
    tags: ['notifications'],
    authLevel: 'anonymous',
    responses: webhookResponses,
    handler: webhook,
  }),
);

// ── Processing, off the request path ─────────────────────────────────────────────────────────────

/**
 * Notifications arrive in bursts through this same process's webhook: while their processing keeps the
 * event loop late, fewer run at once, so that Graph's next deliveries are still answered at once.
 */
const giveWay = new LoopGate({ maxConcurrent: 32, lateMs: 20, windowMs: 250 });

app.serviceBusQueue('graphNotificationProcessor', {
  connection: SERVICE_BUS_CONNECTION,
  queueName: QUEUES.graphNotifications.name,
  extraInputs: [df.input.durableClient()],
  handler: async (body: unknown, context: InvocationContext) => {
    const messageId = context.triggerMetadata?.messageId;
    const deps = notificationDeps(() => new DurableOrchestrations(df.getClient(context)));
    const outcome = await giveWay.run(() => processNotification(deps, body, { messageId: typeof messageId === 'string' ? messageId : undefined }));
    if (outcome.kind === 'invalid') context.error(`graph notification ${String(context.triggerMetadata?.messageId ?? '')} is not a notification message: ${outcome.reason}`);
    else if (outcome.kind === 'lifecycle') context.log(`lifecycle ${outcome.event}: ${outcome.action}`);
    else if (outcome.kind === 'applied' && (outcome.change === 'held' || outcome.change === 'deleted')) context.log(`user deletion ${outcome.change}`);
  },
});

// ── Renewal ──────────────────────────────────────────────────────────────────────────────────────

/** Hourly: renewal is due a week before expiry, so a missed run or two changes nothing. */
app.timer('graphSubscriptionRenewal', {
  schedule: '0 17 * * * *',
  handler: async (_timer, context: InvocationContext) => {
    const deps = notificationDeps();
    if (!deps.settings.notificationUrl) return context.warn(new WebhookNotConfiguredError().message);
    const report = await renewSubscriptions(deps);
    for (const o of report.outcomes) if (o.action !== 'unchanged') context.log(`subscription of ${o.customerId}: ${o.action} (expires ${o.expiresAt})`);
    for (const f of report.failed) context.error(`subscription of ${f.customerId} not renewed: ${f.error}`);
  },
});

// ── Operators ────────────────────────────────────────────────────────────────────────────────────

const countsShape = {
  accepted: z.number(),
  dropped: z.number(),
  processed: z.number(),
  coalesced: z.number(),
  lastNotificationAt: z.string().optional(),
  lastLifecycleEvent: z.object({ event: z.string(), at: z.string() }).optional(),
};
const subscriptionSchema = z.object({
  subscriptionId: z.string(),
  resource: z.string(),
  changeType: z.string(),
  expiresAt: z.string(),
  createdAt: z.string(),
  lastRenewedAt: z.string().optional(),
  ...countsShape,
});

app.http(
  'subscriptionsList',
  apiRoute({
    name: 'subscriptionsList',
    method: 'GET',
    path: 'customers/{customerId}/subscriptions',
    summary: "The customer's Graph subscription: expiry, renewals, notifications accepted, dropped and processed",
    tags: ['notifications'],
    authLevel: 'function',
    responses: { 200: { description: 'Subscriptions', schema: z.object({ value: z.array(subscriptionSchema) }) }, 404: { description: 'No such customer' } },
    handler: async (request) => {
      const { customerId } = pathIds(request, 'customerId');
      return ok({ value: await customerSubscriptions(notificationDeps(), customerId) });
    },
  }),
);

app.http(
  'subscriptionsRepair',
  apiRoute({
    name: 'subscriptionsRepair',
    method: 'POST',
    path: 'customers/{customerId}/subscriptions/repair',
    summary: "Make sure the customer holds one live Graph subscription: create, recreate or renew it as needed",
    tags: ['notifications'],
    authLevel: 'function',
    responses: {
      200: {
        description: 'What was done',
        schema: z.object({ customerId: z.string(), action: z.enum(['created', 'renewed', 'unchanged', 'recreated']), subscriptionId: z.string(), expiresAt: z.string(), removed: z.array(z.string()) }),
      },
      404: { description: 'No such customer' },
      409: { description: 'The webhook base URL is not configured' },
    },
    handler: async (request) => {
      const { customerId } = pathIds(request, 'customerId');
      try {
        return ok(await ensureSubscription(notificationDeps(), customerId));
      } catch (error) {
        if (error instanceof WebhookNotConfiguredError) throw new HttpProblem(409, error.message);
        throw error;
      }
    },
  }),
);
