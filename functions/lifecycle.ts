import { app, type HttpRequest } from '@azure/functions';
import { z } from 'zod';
import { provisioningDeps } from '../shared/app/provisioning';
import { apiRoute, json, ok, parseQuery, pathIds, readBody } from '../shared/http';
import { NotFoundError, ConflictError } from '../shared/ports/storage';
import { moveBatchSchema, movePreview, moveRequestSchema, offboardBatchSchema, provisionMessageId, requestMove, requestOffboard, type WorkAccepted } from '../shared/provisioning';
import { dueLeaverMessages } from '../shared/sync/leavers';

const deps = () => provisioningDeps({ messageId: provisionMessageId });
const tags = ['provisioning'];
const transactionUrl = (request: HttpRequest, customerId: string, transactionId: string) =>
  `${new URL(request.url).origin}/api/customers/${encodeURIComponent(customerId)}/transactions/${encodeURIComponent(transactionId)}`;

const acceptedSchema = z.object({
  accepted: z.array(z.object({ userId: z.string(), transactionId: z.string(), fromSite: z.string() })),
  refused: z.array(z.object({ userId: z.string(), reason: z.string() })),
});

/** One user's work: 202 with its transaction, or the reason it was refused as a 404 / 409 problem. */
function oneUser(request: HttpRequest, customerId: string, result: WorkAccepted) {
  const refused = result.refused[0];
  if (refused) throw refused.reason.includes('not synced') ? new NotFoundError(refused.reason) : new ConflictError(refused.reason);
  const { transactionId } = result.accepted[0];
  const location = transactionUrl(request, customerId, transactionId);
  return json(202, { transactionId, location }, { location });
}

app.http(
  'offboardUser',
  apiRoute({
    name: 'offboardUser',
    method: 'POST',
    path: 'customers/{customerId}/users/{userId}/offboard',
    summary: 'Move one user back to customer level (offboard from its site)',
    description:
      "Its number is unassigned in Microsoft and cools in the inventory; the old site's Teams policies and dial plan are taken away where the user has them directly; licenses, usage location and groups stay. Followed through the transaction in Location. 409 when the user is at customer level already.",
    tags,
    authLevel: 'function',
    responses: { 202: { description: 'Accepted; follow the transaction', schema: z.object({ transactionId: z.string(), location: z.string() }), headers: ['Location'] } },
    handler: async (request) => {
      const { customerId, userId } = pathIds(request, 'customerId', 'userId');
      return oneUser(request, customerId, await requestOffboard(deps(), customerId, [userId]));
    },
  }),
);

app.http(
  'offboardUsers',
  apiRoute({
    name: 'offboardUsers',
    method: 'POST',
    path: 'customers/{customerId}/offboard',
    summary: 'Move a batch of users back to customer level',
    description: 'Each accepted user gets a transaction of its own; users that cannot be offboarded are listed with the reason and nothing is done to them.',
    tags,
    authLevel: 'function',
    body: offboardBatchSchema,
    responses: {
      202: {
        description: 'The users accepted, each with its transaction, and those refused with the reason',
        schema: acceptedSchema,
      },
    },
    handler: async (request) => {
      const { customerId } = pathIds(request, 'customerId');
      const body = await readBody(request, offboardBatchSchema);
      return json(202, await requestOffboard(deps(), customerId, body.userIds));
    },
  }),
);

app.http(
  'moveUser',
  apiRoute({
    name: 'moveUser',
    method: 'POST',
    path: 'customers/{customerId}/users/{userId}/move',
    summary: 'Move one placed user with its services to another site',
    description:
      "A number of the old site's inventory is unassigned and cools, and the user takes one at the new site as its profile asks; a number of the customer's own inventory goes with it. The old site's policies and dial plan the new site does not set are taken away; the new site's defaults and the profile's Quick Add Group apply. GET …/move-preview shows all of it first. 404 for an unknown user, site or profile; 409 when the user is at customer level or at that site already.",
    tags,
    authLevel: 'function',
    body: moveRequestSchema,
    responses: { 202: { description: 'Accepted; follow the transaction', schema: z.object({ transactionId: z.string(), location: z.string() }), headers: ['Location'] } },
    handler: async (request) => {
      const { customerId, userId } = pathIds(request, 'customerId', 'userId');
      const body = await readBody(request, moveRequestSchema);
      return oneUser(request, customerId, await requestMove(deps(), customerId, [userId], body));
    },
  }),
);

app.http(
  'moveUsers',
  apiRoute({
    name: 'moveUsers',
    method: 'POST',
    path: 'customers/{customerId}/moves',
    summary: 'Move a batch of placed users to another site',
    description: 'Each accepted user gets a transaction of its own; users that cannot be moved are listed with the reason and nothing is done to them.',
    tags,
    authLevel: 'function',
    body: moveBatchSchema,
    responses: { 202: { description: 'The users accepted, each with its transaction, and those refused with the reason', schema: acceptedSchema } },
    handler: async (request) => {
      const { customerId } = pathIds(request, 'customerId');
      const { userIds, ...target } = await readBody(request, moveBatchSchema);
      return json(202, await requestMove(deps(), customerId, userIds, target));
    },
  }),
);

app.http(
  'movePreview',
  apiRoute({
    name: 'movePreview',
    method: 'GET',
    path: 'customers/{customerId}/users/{userId}/move-preview',
    summary: 'What moving a placed user to another site would do, before it runs',
    description:
      "Reads only: the number (kept, or released to cooling and the one the new site would offer), the licenses, usage location, policies, dial plan and groups the new site and profile give, and the old site's policies and dial plan that would be taken away.",
    tags,
    authLevel: 'function',
    query: moveRequestSchema,
    responses: {
      200: {
        description: 'The move, planned against Microsoft and the inventory as they are now',
        schema: z.object({
          userId: z.string(),
          from: z.object({ siteId: z.string(), number: z.string().optional() }),
          to: z.object({ siteId: z.string(), profileId: z.string().optional() }),
          number: z.object({
            current: z.object({ number: z.string(), outcome: z.enum(['kept', 'released-to-cooling']) }).optional(),
            line: z.unknown(),
            offered: z.string().optional(),
          }),
          changes: z.array(z.unknown()),
          takenAway: z.object({ policyTypes: z.array(z.string()), dialPlan: z.string().optional() }),
          unmet: z.array(z.string()),
          note: z.string().optional(),
        }),
      },
    },
    handler: async (request) => {
      const { customerId, userId } = pathIds(request, 'customerId', 'userId');
      return ok(await movePreview(deps(), customerId, userId, parseQuery(request, moveRequestSchema)));
    },
  }),
);

// ── Leavers: those whose offboarding is due (offboard after N days) are offboarded ───────────────

app.timer('leavers', {
  schedule: '0 */15 * * * *',
  handler: async (_timer, context) => {
    const d = deps();
    const due = await dueLeaverMessages(d.storage, new Date());
    if (due.length > 0) {
      await d.queue.send(due);
      context.log(`${due.length} leaver(s) due: offboarding`);
    }
  },
});
