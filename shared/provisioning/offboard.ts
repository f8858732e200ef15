/**
 * Move users back to customer level (offboard), one or a batch, at the operator's word: each accepted user
 * gets a transaction of its own and an `offboard` message; the handler unassigns its number in Microsoft and
 * cools it, takes the old site's policies and dial plan away, and leaves it at customer level. Refused users
 * (unknown, at customer level already, resource accounts) are named with the reason; nothing is half-done.
 */
import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { isResourceAccount, newTransactionId, siteOf, type TransactionRecord } from '../domain';
import { NotFoundError, type Storage } from '../ports/storage';
import type { ProvisioningQueue, ProvisionUserMessage } from './messages';
import { startOf } from './provisionUser';

/** The most users one batch takes (as an overbuild chunk does). */
export const MAX_OFFBOARD_BATCH = 500;

export const offboardBatchSchema = z.object({
  userIds: z.array(z.string().min(1).max(200)).min(1).max(MAX_OFFBOARD_BATCH).refine((ids) => new Set(ids).size === ids.length, 'each user once'),
});

export interface OffboardAccepted {
  accepted: Array<{ userId: string; transactionId: string; fromSite: string }>;
  refused: Array<{ userId: string; reason: string }>;
}

export async function requestOffboard(
  deps: { storage: Storage; queue: ProvisioningQueue; now?: () => Date },
  customerId: string,
  userIds: readonly string[],
): Promise<OffboardAccepted> {
  const { storage } = deps;
  const now = deps.now?.() ?? new Date();
  if (!(await storage.customers.get(customerId))) throw new NotFoundError(`customer ${customerId} does not exist`);
  const users = await storage.users.getMany(customerId, userIds);
  const out: OffboardAccepted = { accepted: [], refused: [] };
  const messages: ProvisionUserMessage[] = [];
  for (const userId of userIds) {
    const user = users.get(userId)?.value;
    const site = user ? siteOf(user.state) : undefined;
    if (!user) out.refused.push({ userId, reason: `user ${userId} is not synced to customer ${customerId}` });
    else if (isResourceAccount(user.attributes, user.teams?.accountType)) out.refused.push({ userId, reason: 'a resource account is never at a site' });
    else if (!site) out.refused.push({ userId, reason: 'the user is at customer level already' });
    else {
      const transactionId = newTransactionId(now, randomUUID());
      const transaction: TransactionRecord = {
        id: transactionId, customerId, kind: 'offboard', userId, trigger: 'offboard', startedAt: now.toISOString(), outcome: 'running', from: startOf(user),
        steps: [{ name: 'accepted', result: 'ok', detail: `back to customer level from site ${site}`, at: now.toISOString() }],
      };
      await storage.transactions.create(transaction);
      messages.push({ customerId, userId, reason: 'offboard', transactionId, requestedAt: now.toISOString() });
      out.accepted.push({ userId, transactionId, fromSite: site });
    }
  }
  if (messages.length > 0) await deps.queue.send(messages);
  return out;
}
