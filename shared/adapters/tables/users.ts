/**
 * Users at customer level. A customer's users are spread over USER_SHARDS partitions
 * (`<customer>~<shard>`, the shard a hash of the user id) so the sync's bulk writes run in parallel
 * batches instead of queueing on one partition; a point read computes its shard, a full listing reads
 * the shards one after another.
 */
import { odata, type TableClient } from '@azure/data-tables';
import { siteOf, type MicrosoftUser, type PendingHandOff, type UserRecord, type UserState } from '../../domain';
import { ConflictError, NotFoundError, type UpsertManyResult, type UserRepository, type Versioned } from '../../ports/storage';
import { BatchWriter, submitBatch, type TableProvider } from './client';
import { statusOf, translate } from './errors';
import { decodeKey, encodeKey, joinKey, shardOf } from './keys';
import { assertEntityFits, packJson, planBatches, unpackJson, type BatchAction, type TableEntityShape } from './limits';

export const USERS_TABLE = 'Users';
/**
 * The Teams side of each user, keyed as in Users. Kept apart because the sync's Teams pass runs beside its
 * users pass: writing small rows of their own costs far less than merging into every user row.
 */
export const USER_TEAMS_TABLE = 'UserTeams';
export const USER_SHARDS = 16;
/** Row keys per filtered query in getMany: Table Storage allows 15 comparisons in a filter, one is the partition's. */
const GET_MANY_CHUNK = 14;

type Row = Record<string, unknown> & { etag?: string };

const shardPartition = (customerId: string, shard: number) => joinKey(encodeKey(customerId), shard.toString(16).padStart(2, '0'));

export function userPartition(customerId: string, userId: string): string {
  return shardPartition(customerId, shardOf(userId, USER_SHARDS));
}

/** The partition key of each of a customer's user shards, in order. */
const customerPartitions = (customerId: string) => Array.from({ length: USER_SHARDS }, (_, shard) => shardPartition(customerId, shard));

/** Joins a user's numbers in the Teams row's Numbers column (E.164 numbers hold no comma). */
const NUMBERS_SEPARATOR = ',';

/** Above this many users, `sitesOf` scans the shards' placements instead of querying the users by key. */
const SITES_BY_QUERY = 500;
/** Shards read at once by a scan of the whole customer. */
const SCAN_CONCURRENCY = 4;

/**
 * Some columns of every row of a customer's shards, a few shards read at once (each shard's rows kept
 * together, shards in any order). At most SCAN_CONCURRENCY shards are buffered.
 */
async function* scanShards(client: TableClient, customerId: string, select: string[], where?: (partitionKey: string) => string): AsyncIterable<Row> {
  const readShard = async (partitionKey: string) => {
    const rows: Row[] = [];
    const filter = where ? where(partitionKey) : odata`PartitionKey eq ${partitionKey}`;
    for await (const row of client.listEntities<Row>({ queryOptions: { filter, select } })) rows.push(row);
    return rows;
  };
  const partitions = customerPartitions(customerId);
  const reading = partitions.slice(0, SCAN_CONCURRENCY).map(readShard);
  // The reads ahead are awaited in turn; a failure of one read while another is awaited is not left unhandled.
  for (const r of reading) r.catch(() => undefined);
  for (let i = 0; i < partitions.length; i++) {
    const rows = await reading[i];
    if (i + SCAN_CONCURRENCY < partitions.length) {
      const next = readShard(partitions[i + SCAN_CONCURRENCY]);
      next.catch(() => undefined);
      reading.push(next);
    }
    yield* rows;
  }
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
    Groups: record.groups ? JSON.stringify(record.groups) : undefined,
    ...handOffColumns(record.handoff),
    Leaver: record.leaver ? JSON.stringify(record.leaver) : undefined,
    // When the leaver is due to be offboarded: the leavers timer filters on it instead of reading every user.
    LeaverOffboardAt: record.leaver?.offboardAt,
    ReturnTo: record.returnTo ? JSON.stringify(record.returnTo) : undefined,
  };
  assertEntityFits(entity, `user ${record.userId}`);
  return entity;
}

/**
 * A pending hand-off is two columns: the hand-off itself, and when it was requested, which the reconciler
 * filters on. Merging empty strings clears them (Table Storage has no per-property delete in a merge).
 */
function handOffColumns(handoff: PendingHandOff | undefined): { Handoff: string; HandoffAt: string } | Record<string, never> {
  return handoff ? { Handoff: JSON.stringify(handoff), HandoffAt: handoff.requestedAt } : {};
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
  const groups = str('Groups');
  if (groups) record.groups = JSON.parse(groups) as string[];
  const handoff = str('Handoff');
  if (handoff) record.handoff = JSON.parse(handoff) as PendingHandOff;
  const leaver = str('Leaver');
  if (leaver) record.leaver = JSON.parse(leaver) as UserRecord['leaver'];
  const returnTo = str('ReturnTo');
  if (returnTo) record.returnTo = JSON.parse(returnTo) as UserRecord['returnTo'];
  return { value: record, etag: String(row.etag) };
}

/** The record with its Teams side joined from the UserTeams row, when there is one. */
function withTeams(user: Versioned<UserRecord>, teamsRow: Row | undefined): Versioned<UserRecord> {
  const teams = teamsRow && typeof teamsRow.Teams === 'string' ? (JSON.parse(teamsRow.Teams) as UserRecord['teams']) : undefined;
  if (teams) user.value.teams = teams;
  return user;
}

export class TableUserRepository implements UserRepository {
  constructor(private readonly tables: TableProvider) {}

  private client(): Promise<TableClient> {
    return this.tables.table(USERS_TABLE);
  }

  private teamsClient(): Promise<TableClient> {
    return this.tables.table(USER_TEAMS_TABLE);
  }

  async get(customerId: string, userId: string): Promise<Versioned<UserRecord> | undefined> {
    const [client, teams] = await Promise.all([this.client(), this.teamsClient()]);
    const pk = userPartition(customerId, userId);
    const rk = encodeKey(userId);
    const read = async (c: TableClient) => {
      try {
        return await c.getEntity<Row>(pk, rk);
      } catch (e) {
        if (statusOf(e) === 404) return undefined;
        throw e;
      }
    };
    const [row, teamsRow] = await Promise.all([read(client), read(teams)]);
    return row ? withTeams(fromRow(row), teamsRow) : undefined;
  }

  async getMany(customerId: string, userIds: readonly string[]): Promise<Map<string, Versioned<UserRecord>>> {
    const client = await this.client();
    const byPartition = new Map<string, string[]>();
    for (const id of new Set(userIds)) {
      const pk = userPartition(customerId, id);
      byPartition.set(pk, [...(byPartition.get(pk) ?? []), encodeKey(id)]);
    }
    const queries: Array<{ pk: string; keys: string[] }> = [];
    for (const [pk, keys] of byPartition) for (let i = 0; i < keys.length; i += GET_MANY_CHUNK) queries.push({ pk, keys: keys.slice(i, i + GET_MANY_CHUNK) });
    const out = new Map<string, Versioned<UserRecord>>();
    let next = 0;
    const worker = async () => {
      while (next < queries.length) {
        const { pk, keys } = queries[next++];
        // Keys are encoded (no quotes survive encoding) and still passed through odata for escaping.
        const filter = `${odata`PartitionKey eq ${pk}`} and (${keys.map((k) => odata`RowKey eq ${k}`).join(' or ')})`;
        for await (const row of client.listEntities<Row>({ queryOptions: { filter } })) {
          const user = fromRow(row);
          out.set(user.value.userId, user);
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(4, queries.length) }, worker));
    return out;
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

  async upsertMany(
    customerId: string,
    users: Iterable<MicrosoftUser> | AsyncIterable<MicrosoftUser>,
    syncedAt: Date,
    handoffs?: ReadonlyMap<string, PendingHandOff>,
  ): Promise<UpsertManyResult> {
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
          ...handOffColumns(handoffs?.get(user.id)),
        },
      });
    }
    await writer.flush();
    return { written: writer.written, batches: writer.batches };
  }

  pendingHandOffs(customerId: string, before: Date): AsyncIterable<Versioned<UserRecord>> {
    const cutoff = before.toISOString();
    // An empty HandoffAt (cleared) sorts below every instant: the lower bound leaves it out.
    return this.where(customerId, (pk) => odata`PartitionKey eq ${pk} and HandoffAt gt ${'0'} and HandoffAt lt ${cutoff}`);
  }

  dueLeavers(customerId: string, now: Date): AsyncIterable<Versioned<UserRecord>> {
    const due = now.toISOString();
    return this.where(customerId, (pk) => odata`PartitionKey eq ${pk} and LeaverOffboardAt gt ${'0'} and LeaverOffboardAt le ${due}`);
  }

  /** The customer's users matching a filter, shard by shard (users without their Teams side). */
  private async *where(customerId: string, filterFor: (partitionKey: string) => string): AsyncIterable<Versioned<UserRecord>> {
    const client = await this.client();
    for (const partitionKey of customerPartitions(customerId)) {
      for await (const row of client.listEntities<Row>({ queryOptions: { filter: filterFor(partitionKey) } })) yield fromRow(row);
    }
  }

  async markRemoved(customerId: string, userId: string, removed: UserRecord['removed']): Promise<void> {
    const client = await this.client();
    // Merge with an empty string clears the mark (Table Storage has no per-property delete in a merge).
    await translate(`user ${userId}`, () =>
      client.updateEntity({ partitionKey: userPartition(customerId, userId), rowKey: encodeKey(userId), Removed: removed ? JSON.stringify(removed) : '' }, 'Merge'),
    );
  }

  async setTeams(customerId: string, entries: ReadonlyArray<{ userId: string; teams: NonNullable<UserRecord['teams']> }>): Promise<void> {
    const writer = new BatchWriter(await this.teamsClient(), 'user Teams state');
    const readAt = new Date().toISOString();
    for (const { userId, teams } of entries) {
      // The numbers again in a column of their own, so the inventory's reconciliation asks Table Storage
      // for the holders alone instead of reading and parsing every user's Teams side.
      const entity = { partitionKey: userPartition(customerId, userId), rowKey: encodeKey(userId), Teams: JSON.stringify(teams), ReadAt: readAt, Numbers: teams.numbers.join(NUMBERS_SEPARATOR) };
      await writer.add({ kind: 'upsert', mode: 'Replace', entity });
    }
    await writer.flush();
  }

  async *teamsNumbers(customerId: string, options: { readSince?: string } = {}): AsyncIterable<{ userId: string; numbers: string[]; readAt?: string }> {
    const teams = await this.teamsClient();
    const since = options.readSince;
    if (since !== undefined) {
      // Rows stored since then carry the Numbers column (rows without it, or with none, match no comparison).
      const holders = (pk: string) => odata`PartitionKey eq ${pk} and ReadAt ge ${since} and Numbers gt ${''}`;
      // The filter has chosen by ReadAt already: the rows' keys and numbers are all that is read back.
      for await (const row of scanShards(teams, customerId, ['RowKey', 'Numbers'], holders)) {
        yield { userId: decodeKey(String(row.rowKey)), numbers: String(row.Numbers).split(NUMBERS_SEPARATOR) };
      }
      return;
    }
    for await (const row of scanShards(teams, customerId, ['RowKey', 'Teams', 'ReadAt'])) {
      const state = typeof row.Teams === 'string' ? (JSON.parse(row.Teams) as NonNullable<UserRecord['teams']>) : undefined;
      yield { userId: decodeKey(String(row.rowKey)), numbers: state?.numbers ?? [], ...(typeof row.ReadAt === 'string' ? { readAt: row.ReadAt } : {}) };
    }
  }

  async sitesOf(customerId: string, userIds: readonly string[]): Promise<Map<string, string>> {
    const wanted = new Set(userIds);
    const out = new Map<string, string>();
    if (wanted.size <= SITES_BY_QUERY) {
      for (const [id, user] of await this.getMany(customerId, [...wanted])) {
        const siteId = siteOf(user.value.state);
        if (siteId !== undefined) out.set(id, siteId);
      }
      return out;
    }
    // A large share of the tenant: the placed users of every shard in a few pages beat a query per 14 users
    // (a first sync's holders are all at customer level, and none is read).
    const placed = (pk: string) => odata`PartitionKey eq ${pk} and SiteId gt ${''}`;
    for await (const row of scanShards(await this.client(), customerId, ['RowKey', 'SiteId'], placed)) {
      const id = decodeKey(String(row.rowKey));
      if (wanted.has(id)) out.set(id, String(row.SiteId));
    }
    return out;
  }

  async *list(customerId: string): AsyncIterable<Versioned<UserRecord>> {
    const [client, teams] = await Promise.all([this.client(), this.teamsClient()]);
    for (const partitionKey of customerPartitions(customerId)) {
      // One shard's Teams rows (a sixteenth of the tenant, small rows) joined onto its users as they stream.
      const teamsRows = new Map<string, Row>();
      for await (const row of teams.listEntities<Row>({ queryOptions: { filter: odata`PartitionKey eq ${partitionKey}` } })) teamsRows.set(String(row.rowKey), row);
      for await (const row of client.listEntities<Row>({ queryOptions: { filter: odata`PartitionKey eq ${partitionKey}` } })) {
        yield withTeams(fromRow(row), teamsRows.get(String(row.rowKey)));
      }
    }
  }

  async anyStored(customerId: string): Promise<boolean> {
    const client = await this.client();
    const partitions = customerPartitions(customerId);
    // One query over the customer's shards (their keys sort together), asking for a key alone; the service
    // may answer an empty page with a continuation, which the iterator follows.
    const filter = odata`PartitionKey ge ${partitions[0]} and PartitionKey le ${partitions[partitions.length - 1]}`;
    for await (const page of client.listEntities<Row>({ queryOptions: { filter, select: ['RowKey'] } }).byPage({ maxPageSize: 1 })) {
      if (page.length > 0) return true;
    }
    return false;
  }

  async deleteMany(customerId: string, userIds: Iterable<string>): Promise<number> {
    const [client, teams] = await Promise.all([this.client(), this.teamsClient()]);
    const actions: BatchAction[] = [];
    for (const id of userIds) actions.push({ kind: 'delete', entity: { partitionKey: userPartition(customerId, id), rowKey: encodeKey(id) } });
    for (const table of [client, teams]) {
      for (const batch of planBatches(actions)) {
        try {
          await submitBatch(table, batch, 'user');
        } catch (e) {
          // One missing row fails the whole batch; delete that batch one by one, ignoring the missing.
          if (!(e instanceof NotFoundError) && !(e instanceof ConflictError)) throw e;
          for (const { entity } of batch) {
            await table.deleteEntity(entity.partitionKey, entity.rowKey).catch((x: unknown) => {
              if (statusOf(x) !== 404) throw x;
            });
          }
        }
      }
    }
    return actions.length;
  }
}
