/**
 * What Table Storage keeps for a customer besides its configuration, users and numbers: its sync runs (and
 * their progress rows, which can hold Microsoft's error text), sync definitions, catalog, pending deletions,
 * provisioning transactions, pending number assignments, and the key-value scopes its work keeps state in.
 * Each lives in partitions named after the customer; a purge deletes those partitions whole.
 */
import { odata, type TableClient } from '@azure/data-tables';
import { submitAll, type TableProvider } from './client';
import { statusOf } from './errors';
import { encodeKey, joinKey } from './keys';
import { SYNC_STATE_TABLE } from './keyValue';
import { TABLES } from './index';

const CATALOG_TYPES = ['dialPlans', 'policies', 'licenses'] as const;

/** Deletes every row of the customer's partitions in those tables; returns how many rows went. */
export async function purgeCustomerRecords(tables: TableProvider, customerId: string, keyValueScopes: readonly string[]): Promise<number> {
  const customer = encodeKey(customerId);
  const partitions: Array<[table: string, partitionKeys: string[]]> = [
    ['SyncRuns', [customer]],
    ['SyncDefinitions', [customer]],
    ['Catalog', CATALOG_TYPES.map((type) => joinKey(customer, type))],
    ['PendingDeletions', [customer]],
    [TABLES.transactions, [customer]],
    [TABLES.pendingNumbers, [customer]],
    [SYNC_STATE_TABLE, keyValueScopes.map(encodeKey)],
  ];
  let deleted = 0;
  for (const [name, keys] of partitions) {
    const client = await tables.table(name);
    for (const partitionKey of keys) deleted += await purgePartition(client, partitionKey, `${name} of customer ${customerId}`);
  }
  return deleted;
}

async function purgePartition(client: TableClient, partitionKey: string, what: string): Promise<number> {
  const rows: Array<{ partitionKey: string; rowKey: string }> = [];
  try {
    for await (const row of client.listEntities({ queryOptions: { filter: odata`PartitionKey eq ${partitionKey}`, select: ['PartitionKey', 'RowKey'] } })) {
      rows.push({ partitionKey, rowKey: String(row.rowKey) });
    }
  } catch (error) {
    if (statusOf(error) === 404) return 0; // the table was never made
    throw error;
  }
  await submitAll(client, rows.map((entity) => ({ kind: 'delete' as const, entity })), what);
  return rows.length;
}
