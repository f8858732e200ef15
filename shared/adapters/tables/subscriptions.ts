/**
 * Graph subscriptions, table "GraphSubscriptions": PartitionKey = subscription id, so the webhook's lookup
 * is a point read; RowKey `subscription` holds the record (with the clientState's hash, never the value),
 * RowKey `activity` the counters, added to with ETag-checked merges. Per-customer listings filter on
 * CustomerId: one row per customer, read off the request path only.
 */
import { odata, type TableClient } from '@azure/data-tables';
import type { NotificationCounts, SubscriptionActivity, SubscriptionRecord } from '../../notifications/model';
import type { SubscriptionStore } from '../../notifications/ports';
import type { TableProvider } from './client';
import { statusOf } from './errors';
import { encodeKey } from './keys';

export const SUBSCRIPTIONS_TABLE = 'GraphSubscriptions';
const RECORD = 'subscription';
const ACTIVITY = 'activity';
const COUNTS: ReadonlyArray<keyof NotificationCounts> = ['accepted', 'dropped', 'processed', 'coalesced'];
const column = (k: keyof NotificationCounts) => `${k[0].toUpperCase()}${k.slice(1)}`;

type Row = Record<string, unknown>;

export class TableSubscriptionStore implements SubscriptionStore {
  constructor(private readonly tables: TableProvider) {}

  private client(): Promise<TableClient> {
    return this.tables.table(SUBSCRIPTIONS_TABLE);
  }

  private async row(pk: string, rk: string): Promise<Row | undefined> {
    try {
      return await (await this.client()).getEntity<Row>(pk, rk);
    } catch (e) {
      if (statusOf(e) === 404) return undefined;
      throw e;
    }
  }

  async get(subscriptionId: string): Promise<SubscriptionRecord | undefined> {
    const row = await this.row(encodeKey(subscriptionId), RECORD);
    return row ? (JSON.parse(String(row.Record)) as SubscriptionRecord) : undefined;
  }

  private async query(filter: string): Promise<SubscriptionRecord[]> {
    const out: SubscriptionRecord[] = [];
    for await (const row of (await this.client()).listEntities<Row>({ queryOptions: { filter } })) out.push(JSON.parse(String(row.Record)) as SubscriptionRecord);
    return out;
  }

  listForCustomer(customerId: string): Promise<SubscriptionRecord[]> {
    return this.query(odata`RowKey eq ${RECORD} and CustomerId eq ${customerId}`);
  }

  listAll(): Promise<SubscriptionRecord[]> {
    return this.query(odata`RowKey eq ${RECORD}`);
  }

  async put(record: SubscriptionRecord): Promise<void> {
    await (await this.client()).upsertEntity(
      { partitionKey: encodeKey(record.subscriptionId), rowKey: RECORD, CustomerId: record.customerId, Record: JSON.stringify(record) },
      'Replace',
    );
  }

  async remove(subscriptionId: string): Promise<void> {
    await (await this.client()).deleteEntity(encodeKey(subscriptionId), RECORD).catch((e: unknown) => {
      if (statusOf(e) !== 404) throw e;
    });
  }

  async activity(subscriptionId: string): Promise<SubscriptionActivity> {
    const row = await this.row(encodeKey(subscriptionId), ACTIVITY);
    const out: SubscriptionActivity = { accepted: 0, dropped: 0, processed: 0, coalesced: 0 };
    if (!row) return out;
    for (const k of COUNTS) out[k] = Number(row[column(k)] ?? 0);
    if (typeof row.LastNotificationAt === 'string') out.lastNotificationAt = row.LastNotificationAt;
    if (typeof row.LastLifecycleEvent === 'string') out.lastLifecycleEvent = JSON.parse(row.LastLifecycleEvent) as { event: string; at: string };
    return out;
  }

  async addActivity(
    subscriptionId: string,
    delta: Partial<NotificationCounts>,
    last: { notificationAt?: string; lifecycleEvent?: { event: string; at: string } } = {},
  ): Promise<void> {
    const client = await this.client();
    const pk = encodeKey(subscriptionId);
    for (let attempt = 0; attempt < 50; attempt++) {
      const row = await this.row(pk, ACTIVITY);
      const entity: Row & { partitionKey: string; rowKey: string } = { partitionKey: pk, rowKey: ACTIVITY };
      for (const k of COUNTS) entity[column(k)] = Number(row?.[column(k)] ?? 0) + (delta[k] ?? 0);
      const previous = typeof row?.LastNotificationAt === 'string' ? row.LastNotificationAt : undefined;
      const lastAt = last.notificationAt && (!previous || last.notificationAt > previous) ? last.notificationAt : previous;
      if (lastAt) entity.LastNotificationAt = lastAt;
      const lifecycle = last.lifecycleEvent ? JSON.stringify(last.lifecycleEvent) : row?.LastLifecycleEvent;
      if (lifecycle) entity.LastLifecycleEvent = lifecycle;
      try {
        if (row) await client.updateEntity(entity, 'Replace', { etag: String(row.etag) });
        else await client.createEntity(entity);
        return;
      } catch (e) {
        const status = statusOf(e);
        if (status !== 412 && status !== 409) throw e;
      }
    }
    throw new Error(`the activity counters of subscription ${subscriptionId} stayed contended`);
  }
}
