import { app, type HttpRequest } from '@azure/functions';
import { z } from 'zod';
import { provisioningDeps } from '../shared/app/provisioning';
import { apiRoute, json, pathIds, readBody } from '../shared/http';
import { NotFoundError, ConflictError } from '../shared/ports/storage';
import { offboardBatchSchema, provisionMessageId, requestOffboard } from '../shared/provisioning';
import { dueLeaverMessages } from '../shared/sync/leavers';

const deps = () => provisioningDeps({ messageId: provisionMessageId });
const tags = ['provisioning'];
const transactionUrl = (request: HttpRequest, customerId: string, transactionId: string) =>
  `${new URL(request.url).origin}/api/customers/${encodeURIComponent(customerId)}/transactions/${encodeURIComponent(transactionId)}`;

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
      const result = await requestOffboard(deps(), customerId, [userId]);
      const refused = result.refused[0];
      if (refused) throw refused.reason.includes('not synced') ? new NotFoundError(refused.reason) : new ConflictError(refused.reason);
      const { transactionId } = result.accepted[0];
      const location = transactionUrl(request, customerId, transactionId);
      return json(202, { transactionId, location }, { location });
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
        schema: z.object({
          accepted: z.array(z.object({ userId: z.string(), transactionId: z.string(), fromSite: z.string() })),
          refused: z.array(z.object({ userId: z.string(), reason: z.string() })),
        }),
      },
    },
    handler: async (request) => {
      const { customerId } = pathIds(request, 'customerId');
      const body = await readBody(request, offboardBatchSchema);
      return json(202, await requestOffboard(deps(), customerId, body.userIds));
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
