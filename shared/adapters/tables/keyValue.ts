/** Small JSON values by scope and key: PartitionKey = scope, RowKey = key. */
import { odata } from '@azure/data-tables';
import { z } from 'zod';
import type { KeyValueStore, Versioned } from '../../ports/storage';
import type { TableProvider } from './client';
import { DocumentTable } from './documents';
import { decodeKey, encodeKey } from './keys';

export const SYNC_STATE_TABLE = 'SyncState';

export class TableKeyValueStore implements KeyValueStore {
  private readonly table: DocumentTable<unknown>;

  constructor(tables: TableProvider, tableName = SYNC_STATE_TABLE) {
    this.table = new DocumentTable(tables, tableName, z.unknown(), 'value');
  }

  async get<T>(scope: string, key: string): Promise<Versioned<T> | undefined> {
    return (await this.table.get(encodeKey(scope), encodeKey(key))) as Versioned<T> | undefined;
  }

  async put<T>(scope: string, key: string, value: T, etag?: string): Promise<Versioned<T>> {
    const r = etag ? await this.table.update(encodeKey(scope), encodeKey(key), value, etag) : await this.table.upsert(encodeKey(scope), encodeKey(key), value);
    return r as Versioned<T>;
  }

  async putAll<T>(scope: string, entries: ReadonlyArray<{ key: string; value: T }>): Promise<void> {
    await this.table.upsertAll(encodeKey(scope), entries.map((e) => ({ rowKey: encodeKey(e.key), value: e.value })));
  }

  async create<T>(scope: string, key: string, value: T): Promise<Versioned<T>> {
    return (await this.table.create(encodeKey(scope), encodeKey(key), value)) as Versioned<T>;
  }

  delete(scope: string, key: string, etag?: string): Promise<void> {
    return this.table.delete(encodeKey(scope), encodeKey(key), etag);
  }

  async list<T>(scope: string): Promise<Versioned<T>[]> {
    return (await this.table.list(encodeKey(scope))) as Versioned<T>[];
  }

  async keys(scope: string): Promise<string[]> {
    const client = await this.table.client();
    const keys: string[] = [];
    for await (const row of client.listEntities({ queryOptions: { filter: odata`PartitionKey eq ${encodeKey(scope)}`, select: ['RowKey'] } })) keys.push(decodeKey(String(row.rowKey)));
    return keys;
  }
}
