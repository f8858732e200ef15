import { TableClient, type TransactionAction } from '@azure/data-tables';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BatchWriter, IN_FLIGHT } from '../../shared/adapters/tables/client';
import { startAzurite } from '../support/azurite';

let azurite: Awaited<ReturnType<typeof startAzurite>>;
let table: TableClient;

beforeAll(async () => {
  azurite = await startAzurite();
  table = TableClient.fromConnectionString(azurite.connectionString, 'Writer', { allowInsecureConnection: true });
  await table.createTable();
});
afterAll(async () => {
  await azurite.stop();
});

/** The real table, with the batches it is sent at once counted (batches and their operations). */
function observed() {
  let batches = 0;
  let operations = 0;
  const peak = { batches: 0, operations: 0 };
  const client = new Proxy(table, {
    get(target, name, receiver) {
      if (name !== 'submitTransaction') return Reflect.get(target, name, receiver) as unknown;
      return async (actions: TransactionAction[]) => {
        batches++;
        operations += actions.length;
        peak.batches = Math.max(peak.batches, batches);
        peak.operations = Math.max(peak.operations, operations);
        try {
          return await target.submitTransaction(actions);
        } finally {
          batches--;
          operations -= actions.length;
        }
      };
    },
  });
  return { client, peak };
}

async function write(prefix: string, partitions: number, perPartition: number) {
  const { client, peak } = observed();
  const writer = new BatchWriter(client, 'row');
  // Rows arrive shard after shard, as a page's users do once sorted by partition.
  for (let p = 0; p < partitions; p++) {
    for (let r = 0; r < perPartition; r++) await writer.add({ kind: 'upsert', mode: 'Merge', entity: { partitionKey: `${prefix}-${p}`, rowKey: `r${r}`, V: r } });
  }
  await writer.flush();
  let stored = 0;
  for await (const _ of table.listEntities({ queryOptions: { filter: `PartitionKey ge '${prefix}-' and PartitionKey lt '${prefix}.'` } })) stored++;
  return { peak, written: writer.written, stored };
}

describe('a batch writer in flight', () => {
  it("sends a delta round's small batches of every shard at once, and a sync page's full ones a few at a time", async () => {
    const small = await write('small', 16, 6);
    expect(small).toMatchObject({ written: 96, stored: 96 });
    expect(small.peak.batches).toBe(16);

    const page = await write('page', 16, 62);
    expect(page).toMatchObject({ written: 992, stored: 992 });
    expect(page.peak.batches).toBe(Math.floor(IN_FLIGHT.operations / 62));
    expect(page.peak.operations).toBeLessThanOrEqual(IN_FLIGHT.operations);

    const full = await write('full', 3, 450);
    expect(full).toMatchObject({ written: 1350, stored: 1350 });
    expect(full.peak.operations).toBeLessThanOrEqual(IN_FLIGHT.operations);
  });
});
