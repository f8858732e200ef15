/** Writing a user record that the sync may be merging attributes into at the same moment. */
import type { UserRecord } from '../domain';
import { ConcurrencyError, NotFoundError, type Versioned } from '../ports/storage';
import type { ProvisioningDeps } from './ports';

/**
 * Read-modify-write of a user record that survives the sync merging attributes meanwhile. `known`, the
 * version the caller read, saves the first read: the write is conditional on its ETag, so a record changed
 * since is refused and read again.
 */
export async function updateUser(
  deps: Pick<ProvisioningDeps, 'storage'>,
  customerId: string,
  userId: string,
  change: (record: UserRecord) => UserRecord,
  known?: Versioned<UserRecord>,
): Promise<Versioned<UserRecord> | undefined> {
  let guess = known?.etag ? known : undefined;
  for (let attempt = 0; attempt < 10; attempt++) {
    const current = guess ?? (await deps.storage.users.get(customerId, userId));
    if (!current) return undefined;
    try {
      return await deps.storage.users.update(change(current.value), current.etag);
    } catch (error) {
      const stale = guess !== undefined;
      guess = undefined;
      if (stale && (error instanceof ConcurrencyError || error instanceof NotFoundError)) continue;
      if (!(error instanceof ConcurrencyError)) throw error;
    }
  }
  throw new ConcurrencyError(`user ${userId} kept changing while its state was written`);
}
