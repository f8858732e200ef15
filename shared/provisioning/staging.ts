/** The staging re-check: users licensed but not yet in Teams are tried again until Teams knows them. */
import type { ProvisioningQueue, ProvisionUserMessage } from './messages';
import type { Storage } from '../ports/storage';

/**
 * Sends a `staging-recheck` message for every staged user of the customer. The message id carries the
 * time of the re-check, so a repeat of the same re-check is dropped and the next one is not.
 */
export async function recheckStagedUsers(
  deps: { storage: Storage; queue: ProvisioningQueue; now?: () => Date },
  customerId: string,
): Promise<{ sent: number }> {
  const now = (deps.now?.() ?? new Date()).toISOString();
  const batch: ProvisionUserMessage[] = [];
  let sent = 0;
  for await (const { value: user } of deps.storage.users.list(customerId)) {
    if (user.state.kind !== 'staged') continue;
    batch.push({ customerId, userId: user.userId, reason: 'staging-recheck', observedAt: now, requestedAt: now });
    if (batch.length >= 100) {
      await deps.queue.send(batch.splice(0));
      sent += 100;
    }
  }
  if (batch.length > 0) await deps.queue.send(batch);
  return { sent: sent + batch.length };
}
