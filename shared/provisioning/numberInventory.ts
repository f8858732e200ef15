/** The inventory's side of a number found held in Microsoft by another user. */
import type { NumberScope, Storage } from '../ports/storage';

/**
 * Records a number the inventory gave `userId` as held by `holder`, as Microsoft shows it: Used by the
 * holder, so that it is never offered again. An entry already Used by a third user is left as it is, and so
 * is one marked Used-Utility meanwhile (a resource account's number, marked by the sync while this user was
 * being provisioned): it is not offered either way, and its reason says whose it is.
 */
export async function recordHeldByOther(storage: Storage, scope: NumberScope, number: string, userId: string, holder: string, now: Date): Promise<void> {
  await storage.numbers.update(scope, number, (e) =>
    e.status !== 'Used-Utility' && (e.userId === userId || e.status !== 'Used')
      ? { ...e, status: 'Used', userId: holder, everUsed: true, usedSince: now.toISOString(), coolingUntil: undefined }
      : undefined,
  );
}
