/**
 * Move users back to customer level (offboard), one or a batch, at the operator's word: each accepted user
 * gets a transaction of its own and an `offboard` message; the handler unassigns its number in Microsoft and
 * cools it, takes the old site's policies and dial plan away, and leaves it at customer level. Refused users
 * (unknown, at customer level already, resource accounts) are named with the reason; nothing is half-done.
 */
import { z } from 'zod';
import { NotFoundError, type Storage } from '../ports/storage';
import type { ProvisioningQueue } from './messages';
import { requestUserWork, type WorkAccepted } from './moves';

/** The most users one batch takes (as an overbuild chunk does). */
export const MAX_OFFBOARD_BATCH = 500;

export const offboardBatchSchema = z.object({
  userIds: z.array(z.string().min(1).max(200)).min(1).max(MAX_OFFBOARD_BATCH).refine((ids) => new Set(ids).size === ids.length, 'each user once'),
});

export type OffboardAccepted = WorkAccepted;

export async function requestOffboard(
  deps: { storage: Storage; queue: ProvisioningQueue; now?: () => Date },
  customerId: string,
  userIds: readonly string[],
): Promise<OffboardAccepted> {
  if (!(await deps.storage.customers.get(customerId))) throw new NotFoundError(`customer ${customerId} does not exist`);
  const result = await requestUserWork(deps, customerId, userIds, {
    kind: 'offboard',
    refuse: () => undefined,
    describe: (site) => `back to customer level from site ${site}`,
    message: {},
  });
  // The operator's word for a user already at customer level.
  return { ...result, refused: result.refused.map((r) => (r.reason === 'the user is at customer level' ? { ...r, reason: 'the user is at customer level already' } : r)) };
}
