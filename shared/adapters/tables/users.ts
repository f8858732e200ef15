/**
 * Users at customer level. A customer's users are spread over USER_SHARDS partitions
 * (`<customer>~<shard>`, the shard a hash of the user id) so the sync's bulk writes run in parallel
 * batches instead of queueing on one partition; a point read computes its shard, a full listing reads
 * the shards one after another.
 */
import { odata, type TableClient } from '@azure/data-tables';
import type { MicrosoftUser, UserRecord, UserState } from '../../domain';
import { ConflictError, NotFoundError, type UpsertManyResult, type UserRepository, type Versioned } from '../../ports/storage';
import { BatchWriter, submitBatch, type TableProvider } from './client';
import { statusOf, translate } from './errors';
import { encodeKey, joinKey, shardOf } from './keys';
import { assertEntityFits, packJson, planBatches, unpackJson, type BatchAction, type TableEntityShape } from './limits';

export const USERS_TABLE = 'Users';
export const USER_SHARDS = 16;

type Row = Record<string, unknown> & { etag?: string };

export function userPartition(customerId: string, userId: string): string {
  return joinKey(encodeKey(customerId), shardOf(userId, USER_SHARDS).toString(16).padStart(2, '0'));
}

function toEntity(record: UserRecord): TableEntityShape {
  const entity: TableEntityShape = {
    partitionKey: userPartition(record.customerId, record.userId),
    rowKey: encodeKey(record.userId),
    CustomerId: record.customerId,
    UserId: record.userId,
    ...packJson('Attributes', record.attributes),
    StateKind: record.state.kind,
    State: JSON.stringify(record.state),
    SiteId: 'siteId' in record.state ? record.state.siteId : undefined,
    Role: record.role,
    Number: record.number,
    AlsoMatchedSites: record.alsoMatchedSites ? JSON.stringify(record.alsoMatchedSites) : undefined,
    SyncedAt: record.syncedAt,
    LastTransactionId: record.lastTransactionId,
    Removed: record.removed ? JSON.stringify(record.removed) : undefined,
    Teams: record.teams ? JSON.stringify(record.teams) : undefined,
  };
  assertEntityFits(entity, `user ${record.userId}`);
  return entity;
}

function fromRow(row: Row): Versioned<UserRecord> {
  const str = (name: string) => (typeof row[name] === 'string' ? (row[name] as string) : undefined);
  const state: UserState = str('State') ? (JSON.parse(str('State') as string) as UserState) : { kind: 'at-customer' };
  const record: UserRecord = {
    customerId: String(row.CustomerId),
    userId: String(row.UserId),
    attributes: unpackJson<MicrosoftUser>('Attributes', row) ?? { id: String(row.UserId) },
    state,
  };
  const role = str('Role');
  if (role !== undefined) record.role = role;
  const number = str('Number');
  if (number !== undefined) record.number = number;
  const also = str('AlsoMatchedSites');
  if (also !== undefined) record.alsoMatchedSites = JSON.parse(also) as string[];
  const syncedAt = str('SyncedAt');
  if (syncedAt !== undefined) record.syncedAt = syncedAt;
  const tx = str('LastTransactionId');
  if (tx !== undefined) record.lastTransactionId = tx;
  const removed = str('Removed');
  if (removed) record.removed = JSON.parse(removed) as UserRecord['removed'];
  const teams = str('Teams');
  if (teams) record.teams = JSON.parse(teams) as UserRecord['teams'];
  return { value: record, etag: String(row.etag) };
}

export class TableUserRepository implements UserRepository {
  constructor(private readonly tables: TableProvider) {}

  private client(): Promise<TableClient> {
    return this.tables.table(USERS_TABLE);
  }

  async get(customerId: string, userId: string): Promise<Versioned<UserRecord> | undefined> {
    const client = await this.client();
    try {
      return fromRow(await client.getEntity<Row>(userPartition(customerId, userId), encodeKey(userId)));
    } catch (e) {
      if (statusOf(e) === 404) return undefined;
      throw e;
    }
  }

  async create(record: UserRecord): Promise<Versioned<UserRecord>> {
    const client = await this.client();
    const r = await translate(`user ${record.userId}`, () => client.createEntity(toEntity(record)));
    return { value: record, etag: r.etag ?? '' };
  }

  async update(record: UserRecord, etag: string): Promise<Versioned<UserRecord>> {
    const client = await this.client();
    const r = await translate(`user ${record.userId}`, () => client.updateEntity(toEntity(record), 'Replace', { etag }));
    return { value: record, etag: r.etag ?? '' };
  }

  async upsertMany(customerId: string, users: Iterable<MicrosoftUser> | AsyncIterable<MicrosoftUser>, syncedAt: Date): Promise<UpsertManyResult> {
    const writer = new BatchWriter(await this.client(), 'user');
    const at = syncedAt.toISOString();
    for await (const user of users) {
      await writer.add({
        kind: 'upsert',
        mode: 'Merge',
        entity: {
          partitionKey: userPartition(customerId, user.id),
          rowKey: encodeKey(user.id),
          CustomerId: customerId,
          UserId: user.id,
          ...packJson('Attributes', user),
          SyncedAt: at,
        },
      });
    }
    await writer.flush();
    return { written: writer.written, batches: writer.batches };
  }

  async markRemoved(customerId: string, userId: string, removed: UserRecord['removed']): Promise<void> {
    const client = await this.client();
    // Merge with an empty string clears the mark (Table Storage has no per-property delete in a merge).
    await translate(`user ${userId}`, () =>
      client.updateEntity({ partitionKey: userPartition(customerId, userId), rowKey: encodeKey(userId), Removed: removed ? JSON.stringify(removed) : '' }, 'Merge'),
    );
  }

  async setTeams(customerId: string, entries: ReadonlyArray<{ userId: string; teams: NonNullable<UserRecord['teams']> }>): Promise<void> {
    // Upsert-merge: the Teams pass may run ahead of the users pass; the user's attributes merge in later.
    const writer = new BatchWriter(await this.client(), 'user Teams state');
    for (const { userId, teams } of entries) {
      await writer.add({
        kind: 'upsert',
        mode: 'Merge',
        entity: { partitionKey: userPartition(customerId, userId), rowKey: encodeKey(userId), CustomerId: customerId, UserId: userId, Teams: JSON.stringify(teams) },
      });
    }
    await writer.flush();
  }

  async *list(customerId: string): AsyncIterable<Versioned<UserRecord>> {
    const client = await this.client();
    const customer = encodeKey(customerId);
    for (let shard = 0; shard < USER_SHARDS; shard++) {
      const partitionKey = joinKey(customer, shard.toString(16).padStart(2, '0'));
      for await (const row of client.listEntities<Row>({ queryOptions: { filter: odata`PartitionKey eq ${partitionKey}` } })) yield fromRow(row);
    }
  }

  async deleteMany(customerId: string, userIds: Iterable<string>): Promise<number> {
    const client = await this.client();
    const actions: BatchAction[] = [];
    for (const id of userIds) actions.push({ kind: 'delete', entity: { partitionKey: userPartition(customerId, id), rowKey: encodeKey(id) } });
    for (const batch of planBatches(actions)) {
      try {
        await submitBatch(client, batch, 'user');
      } catch (e) {
        // One missing user fails the whole batch; delete that batch one by one, ignoring the missing.
        if (!(e instanceof NotFoundError) && !(e instanceof ConflictError)) throw e;
        for (const { entity } of batch) {
          await client.deleteEntity(entity.partitionKey, entity.rowKey).catch((x: unknown) => {
            if (statusOf(x) !== 404) throw x;
          });
        }
      }
    }
    return actions.length;
  }
}
