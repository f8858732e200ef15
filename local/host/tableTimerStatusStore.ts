import { TableClient } from '@azure/data-tables';
import type { TimerStatus, TimerStatusStore } from './host';

/** Timer schedule status in Table Storage, so a restarted host sees the runs it missed. */
export class TableTimerStatusStore implements TimerStatusStore {
  private ready?: Promise<void>;
  private readonly table: TableClient;

  constructor(connectionString: string, tableName = 'LocalHostTimers') {
    this.table = TableClient.fromConnectionString(connectionString, tableName, { allowInsecureConnection: true });
  }

  private ensure(): Promise<void> {
    this.ready ??= this.table.createTable();
    return this.ready;
  }

  async get(functionName: string): Promise<TimerStatus | undefined> {
    await this.ensure();
    try {
      const e = await this.table.getEntity<{ last?: number; next?: number; lastUpdated?: number }>('timers', functionName);
      return { last: e.last, next: e.next, lastUpdated: e.lastUpdated };
    } catch (err) {
      if ((err as { statusCode?: number }).statusCode === 404) return undefined;
      throw err;
    }
  }

  async set(functionName: string, status: TimerStatus): Promise<void> {
    await this.ensure();
    await this.table.upsertEntity({ partitionKey: 'timers', rowKey: functionName, ...status }, 'Replace');
  }
}
