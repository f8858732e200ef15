/** Wires the operator's views to the same stores the sync and provisioning use. */
import type { OperationsDeps } from '../operations/ports';
import { provisioningDeps } from './provisioning';
import { syncDeps } from './sync';
import { provisionMessageId } from '../provisioning/messages';

export function operationsDeps(): OperationsDeps {
  const sync = syncDeps();
  return { storage: sync.storage, runs: sync.runs, pending: sync.pending, deadLetters: provisioningDeps({ messageId: provisionMessageId }).deadLetters };
}
