/**
 * Quick User: one user, one site, one Quick Add Group, a line. Everything is checked before anything
 * changes; the work itself goes through the provisioning queue like every other cause, and the operator
 * follows the transaction returned.
 */
import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { canAssignTo, isResourceAccount, newTransactionId, resolveGlobalSettings, type TransactionRecord } from '../domain';
import { ConflictError, NotFoundError, PROVIDER_SCOPE, type Storage } from '../ports/storage';
import { lineRequestSchema, openWorkScope, type OpenWork, type ProvisioningQueue, type ProvisionUserMessage } from './messages';
import { startOf } from './provisionUser';

export const quickUserRequestSchema = z.object({
  userId: z.string().min(1).max(200),
  siteId: z.string().min(1).max(200),
  quickAddGroupId: z.string().min(1).max(200),
  line: lineRequestSchema.default({ kind: 'none' }),
});
export type QuickUserRequest = z.input<typeof quickUserRequestSchema>;

export interface QuickUserAccepted {
  transactionId: string;
  message: ProvisionUserMessage;
}

/**
 * @throws ZodError for an invalid request, NotFoundError when the customer, user, site or group is unknown,
 * ConflictError when the explicit number is not available: the HTTP layer answers them 400, 404 and 409.
 */
export async function requestQuickUser(
  deps: { storage: Storage; queue: ProvisioningQueue; now?: () => Date },
  customerId: string,
  body: unknown,
): Promise<QuickUserAccepted> {
  const request = quickUserRequestSchema.parse(body);
  const { storage } = deps;
  const now = deps.now?.() ?? new Date();
  const [customer, user, site, group, defaults, provider, own] = await Promise.all([
    storage.customers.get(customerId),
    storage.users.get(customerId, request.userId),
    storage.sites.get(customerId, request.siteId),
    storage.quickAddGroups.get(customerId, request.quickAddGroupId),
    storage.siteDefaults.get(customerId, request.siteId),
    storage.globalSettings.get(PROVIDER_SCOPE),
    storage.globalSettings.get(customerId),
  ]);
  if (!customer) throw new NotFoundError(`customer ${customerId} does not exist`);
  if (!user) throw new NotFoundError(`user ${request.userId} is not synced to customer ${customerId}`);
  if (!site) throw new NotFoundError(`site ${request.siteId} does not exist`);
  if (!group) throw new NotFoundError(`Quick Add Group ${request.quickAddGroupId} does not exist`);
  if (isResourceAccount(user.value.attributes, user.value.teams?.accountType)) throw new ConflictError(`${request.userId} is a resource account (auto attendant or call queue): it is never placed as a person`);
  if (request.line.kind !== 'none') {
    // As in the source system: a line is offered to a user with Teams Phone, or at a site that manages licenses and staging.
    const phone = user.value.teams?.featureTypes.includes('PhoneSystem') === true;
    if (!phone && !defaults?.value.manageLicensesAndAllowStaging) {
      throw new ConflictError(`user ${request.userId} has no Teams Phone and site ${request.siteId} does not manage licenses and allow staging: no line can be given`);
    }
  }
  if (request.line.kind === 'explicit') {
    const number = request.line.number;
    const entry = (await storage.numbers.get({ customerId, siteId: request.siteId }, number)) ?? (await storage.numbers.get({ customerId }, number));
    if (!entry) throw new ConflictError(`${number} is not in the inventory of site ${request.siteId} or its customer`);
    const refuseDuplicates = resolveGlobalSettings([provider?.value, own?.value]).preventDuplicateNumbers;
    if (!canAssignTo(entry.value, request.userId, now, { refuseDuplicates })) {
      throw new ConflictError(`${number} is not available: it is ${entry.value.status}${entry.value.duplicate && refuseDuplicates ? ', flagged duplicate (prevent duplicate numbers is on)' : ''}`);
    }
  }

  const transactionId = newTransactionId(now, randomUUID());
  const transaction: TransactionRecord = {
    id: transactionId, customerId, kind: 'quick-user', userId: request.userId, trigger: 'quick-user',
    startedAt: now.toISOString(), outcome: 'running', from: startOf(user.value),
    steps: [{ name: 'accepted', result: 'ok', detail: `site ${site.value.name}, Quick Add Group ${group.value.name}, line ${request.line.kind}`, at: now.toISOString() }],
  };
  const message: ProvisionUserMessage = {
    customerId, userId: request.userId, reason: 'quick-user', transactionId,
    siteId: request.siteId, quickAddGroupId: request.quickAddGroupId, line: request.line, requestedAt: now.toISOString(),
  };
  // Indexed before anything else: if the message is lost (or never sent), the reconciler sends it.
  const open: OpenWork = { transactionId, message, since: now.toISOString() };
  await storage.syncState.put(openWorkScope(customerId), transactionId, open);
  await storage.transactions.create(transaction);
  await deps.queue.send([message]);
  return { transactionId, message };
}

/** Recent transactions, newest first, optionally of one user. */
export async function recentTransactions(storage: Storage, customerId: string, options: { userId?: string; top?: number } = {}): Promise<TransactionRecord[]> {
  const top = Math.min(Math.max(options.top ?? 50, 1), 500);
  const userId = options.userId;
  if (userId === undefined) return storage.transactions.listRecent(customerId, top);
  // Rows written before transactions carried their user's id as a column are found as they were: among the
  // customer's newest.
  const [own, recent] = await Promise.all([storage.transactions.listRecent(customerId, top, { userId }), storage.transactions.listRecent(customerId, Math.min(top * 20, 5_000))]);
  const byId = new Map([...own, ...recent.filter((t) => t.userId === userId)].map((t) => [t.id, t]));
  // Transaction ids sort newest first.
  return [...byId.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)).slice(0, top);
}
