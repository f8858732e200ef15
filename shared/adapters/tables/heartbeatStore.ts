import { TableClient } from '@azure/data-tables';
import type { Heartbeat, HeartbeatStore } from '../../health/heartbeat';
import { readSettings } from '../../config/settings';
import { connectionFromSettings, TableProvider } from './client';

const PARTITION = 'host';
const stores = new Map<string, TableHeartbeatStore>();
const ROW = 'heartbeat';

interface HeartbeatEntity {
  partitionKey: string;
  rowKey: string;
  at: string;
  wasPastDue: boolean;
  count: number;
}

/** One row; an ETag-guarded update keeps the count exact when two instances beat at once. */
export class TableHeartbeatStore implements HeartbeatStore {
  constructor(private readonly table: Promise<TableClient>) {}

  /** One store per connection and process: the table is created once, not on every beat. */
  static fromSettings(env: Record<string, string | undefined> = process.env): TableHeartbeatStore {
    const connection = connectionFromSettings(readSettings(env));
    const key = connection.connectionString ?? connection.endpoint ?? '';
    let store = stores.get(key);
    if (!store) {
      store = new TableHeartbeatStore(new TableProvider(connection).table('HostHeartbeat'));
      stores.set(key, store);
    }
    return store;
  }

  async read(): Promise<Heartbeat | undefined> {
    const table = await this.table;
    try {
      const e = await table.getEntity<HeartbeatEntity>(PARTITION, ROW);
      return { at: e.at, wasPastDue: e.wasPastDue, count: e.count };
    } catch (err) {
      if ((err as { statusCode?: number }).statusCode === 404) return undefined;
      throw err;
    }
  }

  async record(at: Date, wasPastDue: boolean): Promise<Heartbeat> {
    const table = await this.table;
    for (let attempt = 0; ; attempt++) {
      let current: (HeartbeatEntity & { etag?: string }) | undefined;
      try {
        current = await table.getEntity<HeartbeatEntity>(PARTITION, ROW);
      } catch (err) {
        if ((err as { statusCode?: number }).statusCode !== 404) throw err;
      }
      const next: HeartbeatEntity = { partitionKey: PARTITION, rowKey: ROW, at: at.toISOString(), wasPastDue, count: (current?.count ?? 0) + 1 };
      try {
        if (current?.etag) await table.updateEntity(next, 'Replace', { etag: current.etag });
        else await table.createEntity(next);
        return { at: next.at, wasPastDue, count: next.count };
      } catch (err) {
        const status = (err as { statusCode?: number }).statusCode;
        if ((status === 412 || status === 409) && attempt < 5) continue;
        throw err;
      }
    }
  }
}
