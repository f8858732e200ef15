import { app, type HttpRequest } from '@azure/functions';
import { z } from 'zod';
import { provisioningDeps } from '../shared/app/provisioning';
import { transactionRecordSchema } from '../shared/domain';
import { apiIdSchema, apiRoute, json, notFound, ok, parseQuery, pathIds, readBody, topSchema } from '../shared/http';
import { provisionMessageId, quickUserRequestSchema, recentTransactions, requestQuickUser } from '../shared/provisioning';

const deps = () => provisioningDeps({ messageId: provisionMessageId });
const tags = ['provisioning'];

/** The most transactions one list returns (the use case reads no further). */
const MAX_TRANSACTIONS = 500;
const transactionsQuerySchema = z.object({
  top: topSchema.pipe(z.number().max(MAX_TRANSACTIONS, `must be a whole number from 1 to ${MAX_TRANSACTIONS}`)).optional(),
  userId: apiIdSchema.optional(),
});

const transactionUrl = (request: HttpRequest, customerId: string, transactionId: string) =>
  `${new URL(request.url).origin}/api/customers/${encodeURIComponent(customerId)}/transactions/${encodeURIComponent(transactionId)}`;

app.http(
  'quickUser',
  apiRoute({
    name: 'quickUser',
    method: 'POST',
    path: 'customers/{customerId}/quick-user',
    summary: 'Move one user to a site with a Quick Add Group and a line',
    description: 'Everything is checked before anything changes; the work is queued and followed through the transaction in Location.',
    tags,
    authLevel: 'function',
    body: quickUserRequestSchema,
    responses: { 202: { description: 'Accepted; follow the transaction', schema: z.object({ transactionId: z.string(), location: z.string() }), headers: ['Location'] } },
    handler: async (request) => {
      const { customerId } = pathIds(request, 'customerId');
      const body = await readBody(request, quickUserRequestSchema);
      const accepted = await requestQuickUser(deps(), customerId, body);
      const location = transactionUrl(request, customerId, accepted.transactionId);
      return json(202, { transactionId: accepted.transactionId, location }, { location });
    },
  }),
);

app.http(
  'transaction',
  apiRoute({
    name: 'transaction',
    method: 'GET',
    path: 'customers/{customerId}/transactions/{transactionId}',
    summary: 'One provisioning transaction with its steps',
    tags,
    authLevel: 'function',
    responses: { 200: { description: 'The transaction', schema: transactionRecordSchema } },
    handler: async (request) => {
      const { customerId, transactionId } = pathIds(request, 'customerId', 'transactionId');
      const found = await deps().storage.transactions.get(customerId, transactionId);
      if (!found) throw notFound(`transaction ${transactionId} does not exist`);
      return ok(found.value);
    },
  }),
);

app.http(
  'transactions',
  apiRoute({
    name: 'transactions',
    method: 'GET',
    path: 'customers/{customerId}/transactions',
    summary: 'Recent transactions, newest first, optionally of one user',
    tags,
    authLevel: 'function',
    query: transactionsQuerySchema,
    responses: { 200: { description: 'The most recent transactions (50 unless top says otherwise)', schema: z.object({ items: z.array(transactionRecordSchema) }) } },
    handler: async (request) => {
      const { customerId } = pathIds(request, 'customerId');
      const query = parseQuery(request, transactionsQuerySchema);
      const items = await recentTransactions(deps().storage, customerId, { ...(query.top !== undefined ? { top: query.top } : {}), ...(query.userId ? { userId: query.userId } : {}) });
      return ok({ items });
    },
  }),
);
