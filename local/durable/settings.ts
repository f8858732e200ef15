/**
 * The local Durable runtime's settings, with Azure's defaults (Durable extension v3 on the Azure Storage
 * provider with table partition management; figures from DurableTask.AzureStorage's settings).
 *
 * Those Azure reads from host.json (`extensions.durableTask` and its `storageProvider`) are read from the
 * project's host.json here too. The lease periods are fixed in Azure (the extension never sets them); the
 * local runtime takes them as options so that tests can show a takeover in seconds rather than a minute.
 * Every option keeps Azure's value unless it is given.
 */
import { parseTimeSpan } from '../servicebus/duration';
import type { HostJson } from '../host/hostJson';

export interface DurableSettings {
  /** Control queues and leases (`storageProvider.partitionCount`, 1 to 16, default 4). */
  partitionCount: number;
  /** How long a received activity message stays invisible, renewed while it runs (`workItemQueueVisibilityTimeout`, 5 min). */
  workItemQueueVisibilityTimeoutMs: number;
  /** The longest an idle queue's polling backs off to (`maxQueuePollingInterval`, 30 s). */
  maxQueuePollingIntervalMs: number;
  /** Messages per control-queue receive (`controlQueueBatchSize`, 32). */
  controlQueueBatchSize: number;
  /** Received messages held per partition before receiving pauses (`controlQueueBufferThreshold`, 256 in the Functions extension). */
  controlQueueBufferThreshold: number;
  maxConcurrentActivityFunctions: number;
  maxConcurrentOrchestratorFunctions: number;
  /** A renewed lease lasts this long (DurableTask.AzureStorage `LeaseInterval`, 30 s). */
  leaseIntervalMs: number;
  /** How often the partition manager reads the lease table, claims, renews and balances (`LeaseAcquireInterval`, 10 s). */
  leaseAcquireIntervalMs: number;
  /** A freshly claimed lease lasts this long (hard-coded 1 min in the table partition manager). */
  leaseClaimMs: number;
  /** How long a worker losing a partition waits for its running work before releasing it (60 s). */
  leaseDrainMs: number;
}

export type DurableSettingsOverrides = Partial<DurableSettings>;

export const AZURE_DURABLE_DEFAULTS: DurableSettings = {
  partitionCount: 4,
  workItemQueueVisibilityTimeoutMs: 5 * 60_000,
  maxQueuePollingIntervalMs: 30_000,
  controlQueueBatchSize: 32,
  controlQueueBufferThreshold: 256,
  maxConcurrentActivityFunctions: 10,
  maxConcurrentOrchestratorFunctions: 10,
  leaseIntervalMs: 30_000,
  leaseAcquireIntervalMs: 10_000,
  leaseClaimMs: 60_000,
  leaseDrainMs: 60_000,
};

interface StorageProviderJson {
  partitionCount?: unknown;
  workItemQueueVisibilityTimeout?: unknown;
  maxQueuePollingInterval?: unknown;
  controlQueueBatchSize?: unknown;
  controlQueueBufferThreshold?: unknown;
}

/** host.json's values over Azure's defaults, then the local options over both. */
export function durableSettings(hostJson: HostJson, overrides: DurableSettingsOverrides = {}): DurableSettings {
  const durable = hostJson.extensions?.durableTask;
  const provider = (durable?.storageProvider ?? {}) as StorageProviderJson;
  const span = (value: unknown, name: string): number | undefined => {
    if (value === undefined) return undefined;
    if (typeof value !== 'string') throw new Error(`host.json: extensions.durableTask.storageProvider.${name} must be a TimeSpan string such as "00:05:00"`);
    return parseTimeSpan(value);
  };
  const int = (value: unknown, name: string): number | undefined => {
    if (value === undefined) return undefined;
    if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) throw new Error(`host.json: ${name} must be a positive whole number`);
    return value;
  };
  const fromHostJson: DurableSettingsOverrides = {
    partitionCount: int(provider.partitionCount, 'extensions.durableTask.storageProvider.partitionCount'),
    workItemQueueVisibilityTimeoutMs: span(provider.workItemQueueVisibilityTimeout, 'workItemQueueVisibilityTimeout'),
    maxQueuePollingIntervalMs: span(provider.maxQueuePollingInterval, 'maxQueuePollingInterval'),
    controlQueueBatchSize: int(provider.controlQueueBatchSize, 'extensions.durableTask.storageProvider.controlQueueBatchSize'),
    controlQueueBufferThreshold: int(provider.controlQueueBufferThreshold, 'extensions.durableTask.storageProvider.controlQueueBufferThreshold'),
    maxConcurrentActivityFunctions: durable?.maxConcurrentActivityFunctions,
    maxConcurrentOrchestratorFunctions: durable?.maxConcurrentOrchestratorFunctions,
  };
  const settings: DurableSettings = { ...AZURE_DURABLE_DEFAULTS };
  for (const layer of [fromHostJson, overrides]) {
    for (const [key, value] of Object.entries(layer)) if (value !== undefined) (settings as unknown as Record<string, number>)[key] = value;
  }
  if (settings.partitionCount < 1 || settings.partitionCount > 16) throw new Error('PartitionCount must be an integer value between 1 and 16.');
  return settings;
}
