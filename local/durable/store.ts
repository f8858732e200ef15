/**
 * Instance state and histories in Table Storage, laid out like the Azure Storage provider: one
 * `<hub>Instances` row per instance, and per instance a `<hub>History` partition with one row per event
 * and a `sentinel` row. The sentinel names the current execution and how many of its rows are committed;
 * an episode's rows and the sentinel go in together, the sentinel written with the ETag read with the
 * history, so that of two workers that both think they own an instance only one can commit (the other
 * gets 412 and gives its messages back). Rows past the committed count are leftovers of an episode that
 * did not finish committing; they are never read and are removed before the next commit. Messages that are
 * not yet in a history travel through the task hub's queues (`taskHubQueue.ts`).
 */
import { odata, TableClient, TableTransaction, type TableEntity, type TableEntityResult } from '@azure/data-tables';
import { readChunked, writeChunked } from './chunks';
import type { HistoryEvent } from './history';

export type RuntimeStatus = 'Pending' | 'Running' | 'Completed' | 'Failed' | 'Terminated' | 'ContinuedAsNew' | 'Canceled' | 'Suspended';

export const TERMINAL_STATUSES: ReadonlySet<RuntimeStatus> = new Set(['Completed', 'Failed', 'Terminated', 'Canceled']);

export interface InstanceRecord {
  instanceId: string;
  name: string;
  runtimeStatus: RuntimeStatus;
  /** JSON text; absent when there was none. */
  input?: string;
  output?: string;
  customStatus?: string;
  createdTime: number;
  lastUpdatedTime: number;
  executionId: string;
  parentInstanceId?: string;
  parentExecutionId?: string;
  parentTaskId?: number;
}

export interface InstanceQuery {
  runtimeStatus?: RuntimeStatus[];
  createdTimeFrom?: number;
  createdTimeTo?: number;
  instanceIdPrefix?: string;
}

/** Azure's limits for one entity group transaction. */
const MAX_BATCH_OPERATIONS = 100;
const MAX_BATCH_BYTES = 4 * 1024 * 1024 - 64 * 1024;
const SENTINEL = 'sentinel';

type Row = TableEntity<Record<string, unknown>>;

/** A record and the ETag it was read with. */
export interface StoredInstance {
  record: InstanceRecord;
  etag: string;
}

/** An instance's history as read: the current execution's committed events, and what a commit needs. */
export interface LoadedHistory {
  /** The execution the sentinel names (undefined: no history yet). */
  executionId?: string;
  events: HistoryEvent[];
  /** Rows `0 .. committedSeq - 1` of the execution are its history. */
  committedSeq: number;
  /** First sequence number no row uses. */
  nextSeq: number;
  /** The sentinel's ETag; undefined when there is none yet. */
  etag?: string;
  /** Rows past the committed count (an unfinished commit) and rows of earlier executions. */
  leftovers: string[];
  stale: string[];
  /** Row keys of the committed events, in order. */
  rowKeys: string[];
}

/** Another writer committed this instance's history since it was read. */
export class HistoryConflictError extends Error {}

/** The instance row exists already (a start that lost a race). */
export class InstanceExistsError extends Error {}

export class DurableStore {
  readonly instances: TableClient;
  readonly history: TableClient;
  /** Entities written or deleted, for comparing with the storage floor. */
  writes = 0;

  constructor(connectionString: string, hubName: string) {
    const options = { allowInsecureConnection: /DefaultEndpointsProtocol=http;|UseDevelopmentStorage=true|http:\/\//i.test(connectionString) };
    this.instances = TableClient.fromConnectionString(connectionString, `${hubName}Instances`, options);
    this.history = TableClient.fromConnectionString(connectionString, `${hubName}History`, options);
  }

  async init(): Promise<void> {
    await Promise.all([this.instances.createTable(), this.history.createTable()]);
  }

  // ---- instances ----

  async getInstance(instanceId: string): Promise<InstanceRecord | undefined> {
    return (await this.readInstance(instanceId))?.record;
  }

  async readInstance(instanceId: string): Promise<StoredInstance | undefined> {
    try {
      const row = await this.instances.getEntity<Record<string, unknown>>(instanceId, '');
      return { record: fromInstanceRow(row), etag: row.etag };
    } catch (err) {
      if (statusOf(err) === 404) return undefined;
      throw err;
    }
  }

  /** Writes the row whatever is there (the instance's owner, after its history is committed). */
  async putInstance(record: InstanceRecord): Promise<void> {
    this.writes++;
    await this.instances.upsertEntity(toInstanceRow(record), 'Replace');
  }

  /** Creates the row, or replaces the one read with `etag`; InstanceExistsError when someone else wrote it first. */
  async createInstance(record: InstanceRecord, replacing?: string): Promise<void> {
    this.writes++;
    try {
      if (replacing) await this.instances.updateEntity(toInstanceRow(record), 'Replace', { etag: replacing });
      else await this.instances.createEntity(toInstanceRow(record));
    } catch (err) {
      if (statusOf(err) === 409 || statusOf(err) === 412) throw new InstanceExistsError(record.instanceId);
      throw err;
    }
  }

  async deleteInstance(instanceId: string): Promise<void> {
    this.writes++;
    try {
      await this.instances.deleteEntity(instanceId, '');
    } catch (err) {
      if (statusOf(err) !== 404) throw err;
    }
  }

  /** One page of instances ordered by id; `after` is the last id of the previous page. */
  async queryInstances(query: InstanceQuery, pageSize: number, after?: string): Promise<{ items: InstanceRecord[]; next?: string }> {
    const clauses: string[] = [];
    if (after !== undefined) clauses.push(odata`PartitionKey gt ${after}`);
    if (query.instanceIdPrefix) {
      clauses.push(odata`PartitionKey ge ${query.instanceIdPrefix}`);
      clauses.push(odata`PartitionKey lt ${query.instanceIdPrefix + '\uffff'}`);
    }
    if (query.createdTimeFrom !== undefined) clauses.push(odata`CreatedTime ge ${new Date(query.createdTimeFrom)}`);
    if (query.createdTimeTo !== undefined) clauses.push(odata`CreatedTime le ${new Date(query.createdTimeTo)}`);
    if (query.runtimeStatus?.length) clauses.push(`(${query.runtimeStatus.map((s) => odata`RuntimeStatus eq ${s}`).join(' or ')})`);
    const filter = clauses.join(' and ') || undefined;
    const items: InstanceRecord[] = [];
    for await (const row of this.instances.listEntities<Record<string, unknown>>({ queryOptions: { filter } })) {
      items.push(fromInstanceRow(row));
      if (items.length > pageSize) break;
    }
    items.sort((a, b) => (a.instanceId < b.instanceId ? -1 : a.instanceId > b.instanceId ? 1 : 0));
    if (items.length > pageSize) {
      items.length = pageSize;
      return { items, next: items[items.length - 1].instanceId };
    }
    return { items };
  }

  async activeInstances(): Promise<InstanceRecord[]> {
    const items: InstanceRecord[] = [];
    const filter = `${odata`RuntimeStatus eq ${'Pending'}`} or ${odata`RuntimeStatus eq ${'Running'}`} or ${odata`RuntimeStatus eq ${'ContinuedAsNew'}`}`;
    for await (const row of this.instances.listEntities<Record<string, unknown>>({ queryOptions: { filter } })) items.push(fromInstanceRow(row));
    return items;
  }

  // ---- history ----

  /**
   * The instance's history: the current execution's committed events in order (or, given `executionId`,
   * that execution's, which is empty unless it is the current one).
   */
  async loadHistory(instanceId: string, executionId?: string): Promise<LoadedHistory> {
    const rows: Array<{ seq: number; key: string; executionId: string; event?: string }> = [];
    let sentinel: TableEntityResult<Record<string, unknown>> | undefined;
    let nextSeq = 0;
    for await (const row of this.history.listEntities<Record<string, unknown>>({ queryOptions: { filter: odata`PartitionKey eq ${instanceId}` } })) {
      if (row.rowKey === SENTINEL) {
        sentinel = row;
        continue;
      }
      const seq = Number(row.rowKey);
      nextSeq = Math.max(nextSeq, seq + 1);
      rows.push({ seq, key: row.rowKey ?? '', executionId: String(row.ExecutionId), event: readChunked(row, 'Event') });
    }
    const current = typeof sentinel?.ExecutionId === 'string' ? sentinel.ExecutionId : undefined;
    const committedSeq = typeof sentinel?.CommittedSeq === 'number' ? sentinel.CommittedSeq : 0;
    const committed: Array<{ seq: number; key: string; event: HistoryEvent }> = [];
    const leftovers: string[] = [];
    const stale: string[] = [];
    for (const row of rows) {
      if (row.executionId !== current) stale.push(row.key);
      else if (row.seq >= committedSeq) leftovers.push(row.key);
      else committed.push({ seq: row.seq, key: row.key, event: JSON.parse(row.event ?? 'null') as HistoryEvent });
    }
    committed.sort((a, b) => a.seq - b.seq);
    const wanted = executionId === undefined || executionId === current;
    return {
      executionId: current,
      events: wanted ? committed.map((e) => e.event) : [],
      committedSeq,
      nextSeq: Math.max(nextSeq, committedSeq),
      etag: sentinel?.etag,
      leftovers,
      stale,
      rowKeys: committed.map((e) => e.key),
    };
  }

  /**
   * Commits an episode's events to the execution's history, guarded by the sentinel's ETag from the load
   * (HistoryConflictError when another writer committed since). A new execution (another id than the
   * sentinel's) starts its rows after every existing one; the earlier execution's rows are left for
   * `deleteRows`. Returns the history as it now stands, for the next commit.
   */
  async commitHistory(instanceId: string, executionId: string, loaded: LoadedHistory, events: HistoryEvent[]): Promise<LoadedHistory> {
    if (loaded.leftovers.length) {
      await this.deleteRows(instanceId, loaded.leftovers);
    }
    const sameExecution = loaded.executionId === executionId;
    const start = sameExecution ? loaded.committedSeq : loaded.nextSeq;
    let seq = start;
    const rows = events.map((e) => {
      const row: Row = { partitionKey: instanceId, rowKey: seqKey(seq++), ExecutionId: executionId, EventType: e.EventType };
      writeChunked(row, 'Event', JSON.stringify(e));
      return row;
    });
    const end = seq;
    const newKeys = rows.map((row) => row.rowKey);
    const sentinelRow = (committed: number): Row => ({ partitionKey: instanceId, rowKey: SENTINEL, ExecutionId: executionId, CommittedSeq: committed, CheckpointedAt: new Date() });
    const sizes = rows.map((row) => 1024 + Buffer.byteLength(JSON.stringify(row)));
    const fitsOne = rows.length < MAX_BATCH_OPERATIONS && sizes.reduce((a, b) => a + b, 0) < MAX_BATCH_BYTES;
    let etag: string;
    try {
      if (fitsOne) {
        etag = await this.commitBatch(loaded.etag, sentinelRow(end), rows);
      } else {
        // The sentinel is claimed first (nothing becomes visible: its count stays), then the rows go in,
        // then the count moves past them with the ETag of the claim.
        const claimed = await this.commitBatch(loaded.etag, sentinelRow(sameExecution ? loaded.committedSeq : start), []);
        let batch: Row[] = [];
        let bytes = 0;
        for (let i = 0; i < rows.length; i++) {
          if (batch.length === MAX_BATCH_OPERATIONS || (batch.length > 0 && bytes + sizes[i] > MAX_BATCH_BYTES)) {
            await this.insertRows(batch);
            batch = [];
            bytes = 0;
          }
          batch.push(rows[i]);
          bytes += sizes[i];
        }
        await this.insertRows(batch);
        etag = await this.commitBatch(claimed, sentinelRow(end), []);
      }
    } catch (err) {
      if (statusOf(err) === 409 || statusOf(err) === 412) throw new HistoryConflictError(`The history of ${instanceId} was committed by another worker`);
      throw err;
    }
    const previous = sameExecution ? loaded.events : [];
    return {
      executionId,
      events: [...previous, ...events],
      committedSeq: end,
      nextSeq: Math.max(end, loaded.nextSeq),
      etag,
      leftovers: [],
      stale: sameExecution ? loaded.stale : [...loaded.stale, ...loaded.rowKeys],
      rowKeys: sameExecution ? [...loaded.rowKeys, ...newKeys] : newKeys,
    };
  }

  /** Deletes the given history rows (an earlier execution's, or leftovers). */
  async deleteRows(instanceId: string, rowKeys: string[]): Promise<void> {
    await this.submitInBatches(this.history, rowKeys.map((rowKey) => ({ kind: 'delete', row: { partitionKey: instanceId, rowKey } })));
  }

  /** Removes an instance's whole history, sentinel included (purge). */
  async deleteHistory(instanceId: string): Promise<number> {
    const doomed: Row[] = [];
    for await (const row of this.history.listEntities<Record<string, unknown>>({ queryOptions: { filter: odata`PartitionKey eq ${instanceId}`, select: ['PartitionKey', 'RowKey'] } })) {
      doomed.push({ partitionKey: instanceId, rowKey: row.rowKey ?? '' });
    }
    await this.submitInBatches(this.history, doomed.map((row) => ({ kind: 'delete', row })));
    return doomed.length;
  }

  private async commitBatch(etag: string | undefined, sentinel: Row, rows: Row[]): Promise<string> {
    const tx = new TableTransaction();
    if (etag) tx.updateEntity(sentinel, 'Replace', { etag });
    else tx.createEntity(sentinel);
    for (const row of rows) tx.createEntity(row);
    this.writes += 1 + rows.length;
    const response = await this.history.submitTransaction(tx.actions);
    return response.subResponses[0]?.etag ?? '';
  }

  private async insertRows(rows: Row[]): Promise<void> {
    if (rows.length === 0) return;
    const tx = new TableTransaction();
    for (const row of rows) tx.createEntity(row);
    this.writes += rows.length;
    await this.history.submitTransaction(tx.actions);
  }

  private async submitInBatches(client: TableClient, ops: Array<{ kind: 'upsert' | 'delete'; row: Row }>): Promise<void> {
    let batch = new TableTransaction();
    let count = 0;
    let bytes = 0;
    const flush = async (): Promise<void> => {
      if (count === 0) return;
      const actions = batch.actions;
      batch = new TableTransaction();
      this.writes += count;
      count = 0;
      bytes = 0;
      try {
        await client.submitTransaction(actions);
      } catch (err) {
        if (statusOf(err) !== 404) throw err;
        // A row already gone fails the transaction; delete the rest one by one.
        for (const action of actions) {
          const [kind, entity] = action as [string, Row];
          if (kind !== 'delete') throw err;
          try {
            await client.deleteEntity(entity.partitionKey, entity.rowKey);
          } catch (inner) {
            if (statusOf(inner) !== 404) throw inner;
          }
        }
      }
    };
    for (const op of ops) {
      const size = op.kind === 'delete' ? 512 : 1024 + Buffer.byteLength(JSON.stringify(op.row));
      if (count === MAX_BATCH_OPERATIONS || (count > 0 && bytes + size > MAX_BATCH_BYTES)) await flush();
      if (op.kind === 'upsert') batch.upsertEntity(op.row, 'Replace');
      else batch.deleteEntity(op.row.partitionKey, op.row.rowKey);
      count++;
      bytes += size;
    }
    await flush();
  }
}

function seqKey(seq: number): string {
  return seq.toString().padStart(10, '0');
}

function toInstanceRow(r: InstanceRecord): Row {
  const row: Row = {
    partitionKey: r.instanceId,
    rowKey: '',
    Name: r.name,
    RuntimeStatus: r.runtimeStatus,
    CreatedTime: new Date(r.createdTime),
    LastUpdatedTime: new Date(r.lastUpdatedTime),
    ExecutionId: r.executionId,
  };
  writeChunked(row, 'Input', r.input);
  writeChunked(row, 'Output', r.output);
  writeChunked(row, 'CustomStatus', r.customStatus);
  if (r.parentInstanceId !== undefined) {
    row.ParentInstanceId = r.parentInstanceId;
    row.ParentExecutionId = r.parentExecutionId ?? '';
    row.ParentTaskId = r.parentTaskId ?? -1;
  }
  return row;
}

function fromInstanceRow(row: TableEntityResult<Record<string, unknown>>): InstanceRecord {
  return {
    instanceId: row.partitionKey ?? '',
    name: String(row.Name),
    runtimeStatus: row.RuntimeStatus as RuntimeStatus,
    input: readChunked(row, 'Input'),
    output: readChunked(row, 'Output'),
    customStatus: readChunked(row, 'CustomStatus'),
    createdTime: new Date(row.CreatedTime as Date).getTime(),
    lastUpdatedTime: new Date(row.LastUpdatedTime as Date).getTime(),
    executionId: String(row.ExecutionId),
    parentInstanceId: typeof row.ParentInstanceId === 'string' ? row.ParentInstanceId : undefined,
    parentExecutionId: typeof row.ParentExecutionId === 'string' ? row.ParentExecutionId : undefined,
    parentTaskId: typeof row.ParentTaskId === 'number' ? row.ParentTaskId : undefined,
  };
}

function statusOf(err: unknown): number | undefined {
  return typeof err === 'object' && err !== null && 'statusCode' in err ? (err as { statusCode: number }).statusCode : undefined;
}
