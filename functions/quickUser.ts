import { app, type HttpRequest, type HttpResponseInit } from '@azure/functions';
import { provisioningDeps } from '../shared/app/provisioning';
import { problem, ProblemError, provisionMessageId, recentTransactions, requestQuickUser, type Problem } from '../shared/provisioning';

const deps = () => provisioningDeps({ messageId: provisionMessageId });

app.http('quickUser', {
  route: 'customers/{customerId}/quick-user',
  methods: ['POST'],
  authLevel: 'function',
  handler: async (request: HttpRequest) => {
    const body: unknown = await request.json().catch(() => undefined);
    try {
      const accepted = await requestQuickUser(deps(), request.params.customerId, body);
      const location = `${new URL(request.url).origin}/api/customers/${encodeURIComponent(request.params.customerId)}/transactions/${encodeURIComponent(accepted.transactionId)}`;
      return { status: 202, headers: { location }, jsonBody: { transactionId: accepted.transactionId, location } };
    } catch (error) {
      if (error instanceof ProblemError) return problemResponse(error.problem);
      throw error;
    }
  },
});

app.http('transaction', {
  route: 'customers/{customerId}/transactions/{transactionId}',
  methods: ['GET'],
  authLevel: 'function',
  handler: async (request: HttpRequest) => {
    const found = await deps().storage.transactions.get(request.params.customerId, request.params.transactionId);
    if (!found) return problemResponse(problem(404, 'Transaction not found', `transaction ${request.params.transactionId} does not exist`));
    return { status: 200, jsonBody: found.value };
  },
});

app.http('transactions', {
  route: 'customers/{customerId}/transactions',
  methods: ['GET'],
  authLevel: 'function',
  handler: async (request: HttpRequest) => {
    const top = Number(request.query.get('top') ?? 50);
    const userId = request.query.get('userId') ?? undefined;
    const items = await recentTransactions(deps().storage, request.params.customerId, { top: Number.isFinite(top) ? top : 50, ...(userId ? { userId } : {}) });
    return { status: 200, jsonBody: { items } };
  },
});

function problemResponse(p: Problem): HttpResponseInit {
  return { status: p.status, jsonBody: p, headers: { 'content-type': 'application/problem+json' } };
}
