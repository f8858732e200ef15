/** Writing a user record that the sync may be merging attributes into at the same moment. */
import type { UserRecord } from '../domain';
import { ConcurrencyError, type Versioned } from '../ports/storage';
import type { ProvisioningDeps } from './ports';

/** Read-modify-write of a user record that survives the sync merging attributes meanwhile. */
export async function updateUser(
  deps: Pick<ProvisioningDeps, 'storage'>,
  customerId: string,
  userId: string,
  change: (record: UserRecord) => UserRecord,
): Promise<Versioned<UserRecord> | undefined> {
  for (let attempt = 0; attempt < 10; attempt++) {
    const current = await deps.storage.users.get(customerId, userId);
    if (!current) return undefined;
    try {
      return await deps.storage.users.update(change(current.value), current.etag);
    } catch (error) {
      if (!(error instanceof ConcurrencyError)) throw error;
    }
  }
  throw new ConcurrencyError(`user ${userId} kept changing while its state was written`);
}
