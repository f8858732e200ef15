/**
 * Configuration aggregates stored as one JSON document per entity: PartitionKey = customer, RowKey = id.
 * A customer's configuration of one kind is one partition, so "everything of this customer" is a single
 * partition query, and a document is read and written whole with its ETag.
 */
import { odata, TableTransaction, type TableClient, type TableEntityResult } from '@azure/data-tables';
import type { z } from 'zod';
import type { CustomerScopedRepository, Versioned } from '../../ports/storage';
import { submitAll, type TableProvider } from './client';
import { statusOf, toStorageError, translate } from './errors';
import { encodeKey } from './keys';
import { assertEntityFits, packJson, planBatches, unpackJson, type TableEntityShape } from './limits';

type Entity = Record<string, unknown>;

/** Reads and writes JSON documents with ETags in one table; shared by every document repository. */
export class DocumentTable<T> {
  constructor(
    private readonly tables: TableProvider,
    readonly tableName: string,
    private readonly schema: z.ZodType<T>,
    private readonly kind: string,
    /** Columns written beside the document, for queries to filter on (the document stays the truth). */
    private readonly columns?: (value: T) => Record<string, string | undefined>,
  ) {}

  client(): Promise<TableClient> {
    return this.tables.table(this.tableName);
  }

  entity(partitionKey: string, rowKey: string, value: T): TableEntityShape {
    const entity: TableEntityShape = { partitionKey, rowKey, ...this.columns?.(value), ...packJson('Doc', value) };
    assertEntityFits(entity, `${this.kind} ${rowKey}`);
    return entity;
  }

  decode(entity: Entity): Versioned<T> {
    return { value: this.schema.parse(unpackJson('Doc', entity)), etag: String(entity.etag) };
  }

  async get(partitionKey: string, rowKey: string): Promise<Versioned<T> | undefined> {
    const client = await this.client();
    try {
      return this.decode(await client.getEntity<Entity>(partitionKey, rowKey));
    } catch (e) {
      if (statusOf(e) === 404) return undefined;
      throw e;
    }
  }

  async list(partitionKey: string): Promise<Versioned<T>[]> {
    const client = await this.client();
    const out: Versioned<T>[] = [];
    const rows = client.listEntities<Entity>({ queryOptions: { filter: odata`PartitionKey eq ${partitionKey}` } });
    for await (const row of rows) out.push(this.decode(row as TableEntityResult<Entity>));
    return out;
  }

  async create(partitionKey: string, rowKey: string, value: T): Promise<Versioned<T>> {
    const client = await this.client();
    const r = await translate(`${this.kind} ${rowKey}`, () => client.createEntity(this.entity(partitionKey, rowKey, value)));
    return { value, etag: r.etag ?? '' };
  }

  async update(partitionKey: string, rowKey: string, value: T, etag: string): Promise<Versioned<T>> {
    const client = await this.client();
    const r = await translate(`${this.kind} ${rowKey}`, () => client.updateEntity(this.entity(partitionKey, rowKey, value), 'Replace', { etag }));
    return { value, etag: r.etag ?? '' };
  }

  /**
   * Conditional replaces of one partition's documents, each on its ETag, a batch (entity group transaction)
   * per hundred: a batch that meets a document changed or gone since writes none of it, and its documents
   * come back as `stale`.
   */
  async updateAll(partitionKey: string, items: ReadonlyArray<{ rowKey: string; value: T; etag: string }>): Promise<{ written: Array<Versioned<T> & { rowKey: string }>; stale: number }> {
    const client = await this.client();
    const written: Array<Versioned<T> & { rowKey: string }> = [];
    let stale = 0;
    const actions = items.map((item) => ({ kind: 'update' as const, entity: this.entity(partitionKey, item.rowKey, item.value), item }));
    for (const batch of planBatches(actions)) {
      const tx = new TableTransaction();
      for (const { entity, item } of batch) tx.updateEntity(entity, 'Replace', { etag: item.etag });
      try {
        const response = await client.submitTransaction(tx.actions);
        // Sub-responses come in the batch's order; an update's carries its new ETag but not always its key.
        for (const [i, { item }] of batch.entries()) {
          const etag = response.subResponses[i]?.etag?.trim();
          // Without it (a store that does not say), the row is read: a claim must be written again on its own ETag.
          const row = etag ? { value: item.value, etag } : await this.get(partitionKey, item.rowKey);
          if (row) written.push({ rowKey: item.rowKey, ...row });
        }
      } catch (e) {
        const status = statusOf(e);
        if (status !== 412 && status !== 404) throw toStorageError(e, `${this.kind} batch`);
        stale += batch.length;
      }
    }
    return { written, stale };
  }

  async upsert(partitionKey: string, rowKey: string, value: T): Promise<Versioned<T>> {
    const client = await this.client();
    const r = await client.upsertEntity(this.entity(partitionKey, rowKey, value), 'Replace');
    return { value, etag: r.etag ?? '' };
  }

  /** Creates or replaces documents of one partition, in as few batches as fit. */
  async upsertAll(partitionKey: string, items: ReadonlyArray<{ rowKey: string; value: T }>): Promise<void> {
    if (items.length === 0) return;
    await submitAll(await this.client(), items.map((item) => ({ kind: 'upsert' as const, entity: this.entity(partitionKey, item.rowKey, item.value) })), this.kind);
  }

  async delete(partitionKey: string, rowKey: string, etag?: string): Promise<void> {
    const client = await this.client();
    try {
      await client.deleteEntity(partitionKey, rowKey, etag ? { etag } : undefined);
    } catch (e) {
      if (statusOf(e) === 404 && !etag) return;
      throw toStorageError(e, `${this.kind} ${rowKey}`);
    }
  }
}

/** A configuration repository keyed by (customerId, id). */
export function customerScopedRepository<T extends { customerId: string }>(
  table: DocumentTable<T>,
  idOf: (value: T) => string,
): CustomerScopedRepository<T> {
  const pk = (customerId: string) => encodeKey(customerId);
  const rk = (id: string) => encodeKey(id);
  return {
    get: (customerId, id) => table.get(pk(customerId), rk(id)),
    list: (customerId) => table.list(pk(customerId)),
    create: (value) => table.create(pk(value.customerId), rk(idOf(value)), value),
    update: (value, etag) => table.update(pk(value.customerId), rk(idOf(value)), value, etag),
    upsert: (value) => table.upsert(pk(value.customerId), rk(idOf(value)), value),
    delete: (customerId, id, etag) => table.delete(pk(customerId), rk(id), etag),
  };
}
