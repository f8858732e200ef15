/** What the operator's views read: the shared storage, sync runs, pending deletions and dead letters. */
import type { Storage } from '../ports/storage';
import type { DeadLetterQueue } from '../provisioning/ports';
import type { PendingDeletionStore, SyncRunStore } from '../sync/ports';

export interface OperationsDeps {
  storage: Storage;
  runs: Pick<SyncRunStore, 'list'>;
  pending: Pick<PendingDeletionStore, 'list'>;
  deadLetters: Pick<DeadLetterQueue, 'peek'>;
}
