/**
 * The local Table Storage answers a query that names its partition, or bounds a range of partitions, from
 * Azurite's PartitionKey index. The answer must be Azurite's own, row for row and page for page: the same
 * queries go to an Azurite as it ships (scanning the whole table) and to ours, over the SDK, and the pages
 * are compared.
 */
import { TableClient, TableTransaction, odata } from '@azure/data-tables';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTableServer, type TableServerHandle } from '../../local/azurite';
import { partitionSpan } from '../../local/persistence/partitionQueries';

// Keys Loki orders by its own rules (numeric strings as numbers, the empty string first), keys that differ
// only in case or by a separator, and keys outside ASCII.
const PARTITIONS = ['', '0', '1', '10', '9', '9a', '1a', '2', 'a', 'A', 'a|b', 'a|', 'cust-001', 'cust-001|site', 'Zürich', '1e3', '1000'];
// Keys as sitesync writes scopes (`<customer>~customer`, `<customer>~site~<site>`), none reading as a number:
// their ranges are narrowed. Customers whose ids are prefixes of one another, and the empty key.
const SCOPES = ['', 'c1~customer', 'c1~site~a', 'c1~site~b', 'c10~customer', 'c10~site~a', 'c1!20x~customer', 'c2~customer', 'c2~site~Z', 'c~customer', 'd~site~x', 'Zürich~customer'];

async function fill(client: TableClient, keys: readonly string[]): Promise<void> {
  await client.createTable();
  for (const [p, pk] of keys.entries()) {
    const batch = new TableTransaction();
    for (let r = 0; r < 12; r++) batch.createEntity({ partitionKey: pk, rowKey: `r${String((r * 7) % 12).padStart(2, '0')}`, n: r, Status: r % 3 === 0 ? 'Available' : 'Used', EverUsed: r % 2 === 0, Shard: p % 4 });
    await client.submitTransaction(batch.actions);
  }
}

let shipped: TableServerHandle;
let ours: TableServerHandle;
// The table of PARTITIONS ('Rows') and the table of SCOPES ('Scopes'), each in both servers.
const rows = { shipped: undefined as unknown as TableClient, ours: undefined as unknown as TableClient };
const scopes = { shipped: undefined as unknown as TableClient, ours: undefined as unknown as TableClient };

beforeAll(async () => {
  [shipped, ours] = await Promise.all([startTableServer({ port: 0, scanWholeTables: true }), startTableServer({ port: 0 })]);
  rows.shipped = TableClient.fromConnectionString(shipped.connectionString, 'Rows', { allowInsecureConnection: true });
  rows.ours = TableClient.fromConnectionString(ours.connectionString, 'Rows', { allowInsecureConnection: true });
  scopes.shipped = TableClient.fromConnectionString(shipped.connectionString, 'Scopes', { allowInsecureConnection: true });
  scopes.ours = TableClient.fromConnectionString(ours.connectionString, 'Scopes', { allowInsecureConnection: true });
  for (const client of [rows.shipped, rows.ours]) await fill(client, PARTITIONS);
  for (const client of [scopes.shipped, scopes.ours]) await fill(client, SCOPES);
  // Rows changed and removed after they were written, so that the index has moved since.
  for (const client of [rows.shipped, rows.ours]) {
    await client.updateEntity({ partitionKey: '10', rowKey: 'r03', Status: 'Cooling' }, 'Merge');
    await client.deleteEntity('9a', 'r05');
    await client.upsertEntity({ partitionKey: 'a', rowKey: 'new', n: 99, Status: 'Available', EverUsed: false, Shard: 0 }, 'Replace');
  }
  for (const client of [scopes.shipped, scopes.ours]) {
    await client.deleteEntity('c1~site~a', 'r05');
    await client.upsertEntity({ partitionKey: 'c10~site~b', rowKey: 'new', n: 99, Status: 'Available', EverUsed: false, Shard: 0 }, 'Replace');
  }
}, 60_000);

afterAll(async () => {
  await Promise.all([shipped?.stop(), ours?.stop()]);
});

/** Every page of a query, as the SDK reads them with continuation tokens. */
async function pages(client: TableClient, filter: string, pageSize: number): Promise<string[][]> {
  const out: string[][] = [];
  for await (const page of client.listEntities<Record<string, unknown>>({ queryOptions: { filter } }).byPage({ maxPageSize: pageSize })) {
    out.push(page.map((e) => `${String(e.partitionKey)}/${String(e.rowKey)}/${String(e.n)}/${String(e.Status)}`));
  }
  return out;
}

describe('queries that name their partition', () => {
  const filters = [
    ...PARTITIONS.map((pk) => odata`PartitionKey eq ${pk}`),
    odata`PartitionKey eq ${'a'} and Status eq 'Available' and EverUsed eq false`,
    odata`PartitionKey eq ${'10'} and (RowKey eq 'r03' or RowKey eq 'r07')`,
    odata`Status eq 'Used' and PartitionKey eq ${'1'}`,
    odata`PartitionKey eq ${'9a'} and RowKey ge 'r04'`,
    odata`PartitionKey eq ${'nowhere'}`,
    odata`PartitionKey eq ${'1'} and PartitionKey eq ${'2'}`,
    // Not narrowed: Azurite scans, in both.
    odata`PartitionKey eq ${'1'} or PartitionKey eq ${'2'}`,
    odata`not (PartitionKey eq ${'a'})`,
    odata`PartitionKey ge ${'1'} and PartitionKey lt ${'9'}`,
    `Shard eq 2`,
    // Azurite's parser reads an unclosed quote to the end of the filter; both read it so.
    `PartitionKey eq 'a`,
  ];

  it('answer what Azurite as it ships answers, page for page', async () => {
    const narrowed0 = ours.queriesFromPartitionIndex();
    for (const filter of filters) {
      for (const size of [1000, 5]) {
        const [expected, actual] = await Promise.all([pages(rows.shipped, filter, size), pages(rows.ours, filter, size)]);
        expect({ filter, size, pages: actual }).toEqual({ filter, size, pages: expected });
      }
    }
    // Ours answered the pinned filters (each page a query) from the index; the shipped one never does.
    const pinned = filters.filter((f) => partitionSpan(f) !== undefined).length;
    expect(ours.queriesFromPartitionIndex() - narrowed0).toBeGreaterThanOrEqual(pinned * 2);
    expect(shipped.queriesFromPartitionIndex()).toBe(0);
  });

  const ranges = [
    // A customer's scopes, as the inventory reads them: `c1` must not take `c10`'s or `c1!20x`'s.
    odata`PartitionKey ge ${'c1~'} and PartitionKey lt ${'c1~~'}`,
    odata`PartitionKey ge ${'c10~'} and PartitionKey lt ${'c10~~'}`,
    odata`PartitionKey ge ${'c1~'} and PartitionKey lt ${'c1~~'} and Status eq 'Available'`,
    odata`PartitionKey gt ${'c1~customer'} and PartitionKey le ${'c2~customer'}`,
    odata`${'c1~'} le PartitionKey and ${'c2~'} gt PartitionKey`,
    odata`PartitionKey ge ${'a'} and PartitionKey lt ${'d'} and PartitionKey ge ${'c10'} and PartitionKey lt ${'c2'}`,
    odata`PartitionKey ge ${'c'} and PartitionKey lt ${'~'}`,
    odata`PartitionKey ge ${'c2~'} and PartitionKey lt ${'c1~'}`,
    odata`PartitionKey ge ${'x'} and PartitionKey lt ${'y'}`,
    odata`PartitionKey ge ${'Z'} and PartitionKey lt ${'Zz'}`,
  ];

  it('answer ranges of partitions as Azurite does, from the index while no key reads as a number', async () => {
    const narrowed0 = ours.queriesFromPartitionIndex();
    for (const table of [scopes, rows]) {
      for (const filter of ranges) {
        for (const size of [1000, 5]) {
          const [expected, actual] = await Promise.all([pages(table.shipped, filter, size), pages(table.ours, filter, size)]);
          expect({ filter, size, pages: actual }).toEqual({ filter, size, pages: expected });
        }
      }
    }
    const fromIndex = ours.queriesFromPartitionIndex() - narrowed0;
    expect(fromIndex).toBeGreaterThanOrEqual(ranges.length * 2);

    // Once a key that reads as a number is in the table, a range is Azurite's to scan, with the same answers.
    for (const client of [scopes.shipped, scopes.ours]) await client.createEntity({ partitionKey: '42', rowKey: 'r', n: 0, Status: 'Available' });
    const before = ours.queriesFromPartitionIndex();
    for (const filter of ranges) {
      const [expected, actual] = await Promise.all([pages(scopes.shipped, filter, 5), pages(scopes.ours, filter, 5)]);
      expect({ filter, pages: actual }).toEqual({ filter, pages: expected });
    }
    expect(ours.queriesFromPartitionIndex()).toBe(before);
    for (const client of [scopes.shipped, scopes.ours]) await client.deleteEntity('42', 'r');
    await pages(scopes.ours, ranges[0], 1000);
    expect(ours.queriesFromPartitionIndex()).toBe(before + 1);
  });

  it('find the partitions only where the filter confines every row to them', () => {
    expect(partitionSpan(odata`PartitionKey eq ${"o'brien"} and Status eq 'x'`)).toEqual({ partition: "o'brien" });
    expect(partitionSpan(`'p' eq PartitionKey`)).toEqual({ partition: 'p' });
    expect(partitionSpan(`(Status eq 'x') and (RowKey eq 'r' and PartitionKey eq 'p')`)).toEqual({ partition: 'p' });
    expect(partitionSpan(`PartitionKey ge 'a' and PartitionKey lt 'b'`)).toEqual({ from: 'a', to: 'b' });
    expect(partitionSpan(`'b' gt PartitionKey and 'a' le PartitionKey`)).toEqual({ from: 'a', to: 'b' });
    expect(partitionSpan(`PartitionKey gt 'a' and PartitionKey gt 'c' and PartitionKey le 'x' and PartitionKey lt 'f'`)).toEqual({ from: 'c', to: 'f' });
    expect(partitionSpan(`PartitionKey eq 'p' or Status eq 'x'`)).toBeUndefined();
    expect(partitionSpan(`not (PartitionKey eq 'p')`)).toBeUndefined();
    expect(partitionSpan(`PartitionKey ge 'p'`)).toBeUndefined();
    expect(partitionSpan(`PartitionKey ge 'a' or PartitionKey lt 'b'`)).toBeUndefined();
    // Bounds that read as numbers are ordered apart by the index: left to the scan.
    expect(partitionSpan(`PartitionKey ge '1' and PartitionKey lt 'b'`)).toBeUndefined();
    expect(partitionSpan(`PartitionKey ge '' and PartitionKey lt 'b'`)).toBeUndefined();
    expect(partitionSpan(`PartitionKey ge 'a' and PartitionKey lt ' 9'`)).toBeUndefined();
    expect(partitionSpan(`PartitionKey eq guid'00000000-0000-0000-0000-000000000000'`)).toBeUndefined();
    expect(partitionSpan(undefined)).toBeUndefined();
  });

  it('an unknown table and a filter Azurite refuses get Azurite\'s own answers', async () => {
    for (const server of [shipped, ours]) {
      const missing = TableClient.fromConnectionString(server.connectionString, 'Missing', { allowInsecureConnection: true });
      await expect(pages(missing, odata`PartitionKey eq ${'a'}`, 10)).rejects.toMatchObject({ statusCode: 404 });
    }
    const bad = `PartitionKey eq 'a' and (`;
    const [a, b] = await Promise.all([pages(rows.shipped, bad, 10).catch((e: { statusCode?: number }) => e.statusCode), pages(rows.ours, bad, 10).catch((e: { statusCode?: number }) => e.statusCode)]);
    expect(b).toBe(a);
    expect(a).toBeGreaterThanOrEqual(400);
  });
});
