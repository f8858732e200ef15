import { ALL_QUEUES, type QueueSpec } from '../../shared/config/queues';

/** What the broker needs of a queue declaration; `shared/config/queues` QueueSpec satisfies it. */
export type BrokerQueueSpec = Pick<QueueSpec, 'name' | 'maxDeliveryCount' | 'lockDuration' | 'duplicateDetectionWindow'>;

/** The queues the local broker declares: exactly the ones the code and the Bicep declare. */
export function brokerQueues(): BrokerQueueSpec[] {
  return ALL_QUEUES.map(({ name, maxDeliveryCount, lockDuration, duplicateDetectionWindow }) => ({
    name,
    maxDeliveryCount,
    lockDuration,
    duplicateDetectionWindow,
  }));
}
