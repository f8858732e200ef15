/**
 * Instance state and histories in Table Storage, laid out like the Azure Storage provider: one
 * `<hub>Instances` row per instance, `<hub>History` rows per instance partition (one per event, for
 * the current execution), and `<hub>Inbox` rows for external events that are not yet in a history
 * (Azure keeps those as queue messages). Each episode's history rows go in as few transactions as the
 * 100-operation / 4 MiB limits allow.
 */
import { odata, TableClient, TableTransaction, type TableEntity, type TableEntityResult } from '@azure/data-tables';
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

export interface InboxMessage {
  messageId: string;
  name: string;
  /** JSON text of the event payload. */
  input: string;
  at: number;
}

/** Azure's limits for one entity group transaction. */
const MAX_BATCH_OPERATIONS = 100;
const MAX_BATCH_BYTES = 4 * 1024 * 1024 - 64 * 1024;
/** Strings are split below the 64 KiB property limit (UTF-16). */
const CHUNK_CHARS = 30_000;

type Row = TableEntity<Record<string, unknown>>;

export class DurableStore {
  readonly instances: TableClient;
  readonly history: TableClient;
  readonly inbox: TableClient;
  /** Entities written or deleted, for comparing with the storage floor. */
  writes = 0;

  constructor(connectionString: string, hubName: string) {
    const options = { allowInsecureConnection: /DefaultEndpointsProtocol=http;|UseDevelopmentStorage=true|http:\/\//i.test(connectionString) };
    this.instances = TableClient.fromConnectionString(connectionString, `${hubName}Instances`, options);
    this.history = TableClient.fromConnectionString(connectionString, `${hubName}History`, options);
    this.inbox = TableClient.fromConnectionString(connectionString, `${hubName}Inbox`, options);
  }

  async init(): Promise<void> {
    await Promise.all([this.instances.createTable(), this.history.createTable(), this.inbox.createTable()]);
  }

  // ---- instances ----

  async getInstance(instanceId: string): Promise<InstanceRecord | undefined> {
    try {
      return fromInstanceRow(await this.instances.getEntity<Record<string, unknown>>(instanceId, ''));
    } catch (err) {
      if (statusOf(err) === 404) return undefined;
      throw err;
    }
  }

  async putInstance(record: InstanceRecord): Promise<void> {
    this.writes++;
    await this.instances.upsertEntity(toInstanceRow(record), 'Replace');
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

  /** The events of the given execution, in order, and the next free row sequence number. */
  async loadHistory(instanceId: string, executionId: string): Promise<{ events: HistoryEvent[]; nextSeq: number }> {
    const rows: Array<{ seq: number; event: HistoryEvent }> = [];
    let nextSeq = 0;
    for await (const row of this.history.listEntities<Record<string, unknown>>({ queryOptions: { filter: odata`PartitionKey eq ${instanceId}` } })) {
      const seq = Number(row.rowKey);
      nextSeq = Math.max(nextSeq, seq + 1);
      if (row.ExecutionId === executionId) rows.push({ seq, event: JSON.parse(readChunked(row, 'Event') ?? 'null') as HistoryEvent });
    }
    rows.sort((a, b) => a.seq - b.seq);
    return { events: rows.map((r) => r.event), nextSeq };
  }

  /** Appends events as rows `startSeq`, `startSeq + 1`, ...; returns the next free sequence number. */
  async appendHistory(instanceId: string, executionId: string, startSeq: number, events: HistoryEvent[]): Promise<number> {
    let seq = startSeq;
    const rows = events.map((e) => {
      const row: Row = { partitionKey: instanceId, rowKey: seqKey(seq++), ExecutionId: executionId, EventType: e.EventType };
      writeChunked(row, 'Event', JSON.stringify(e));
      return row;
    });
    await this.submitInBatches(this.history, rows.map((row) => ({ kind: 'upsert', row })));
    return seq;
  }

  /** Removes the rows of earlier executions (after continue-as-new), or all rows. */
  async deleteHistory(instanceId: string, keepExecutionId?: string): Promise<number> {
    const doomed: Row[] = [];
    for await (const row of this.history.listEntities<Record<string, unknown>>({
      queryOptions: { filter: odata`PartitionKey eq ${instanceId}`, select: ['PartitionKey', 'RowKey', 'ExecutionId'] },
    })) {
      if (keepExecutionId === undefined || row.ExecutionId !== keepExecutionId) doomed.push({ partitionKey: instanceId, rowKey: row.rowKey ?? '' });
    }
    await this.submitInBatches(this.history, doomed.map((row) => ({ kind: 'delete', row })));
    return doomed.length;
  }

  // ---- inbox ----

  async addInbox(instanceId: string, message: InboxMessage): Promise<void> {
    this.writes++;
    const row: Row = { partitionKey: instanceId, rowKey: message.messageId, Name: message.name, At: new Date(message.at) };
    writeChunked(row, 'Input', message.input);
    await this.inbox.createEntity(row);
  }

  async listInbox(instanceId: string): Promise<InboxMessage[]> {
    const items: InboxMessage[] = [];
    for await (const row of this.inbox.listEntities<Record<string, unknown>>({ queryOptions: { filter: odata`PartitionKey eq ${instanceId}` } })) {
      items.push({ messageId: row.rowKey ?? '', name: String(row.Name), input: readChunked(row, 'Input') ?? 'null', at: new Date(row.At as Date).getTime() });
    }
    return items.sort((a, b) => (a.messageId < b.messageId ? -1 : 1));
  }

  async deleteInbox(instanceId: string, messageIds: string[]): Promise<void> {
    await this.submitInBatches(this.inbox, messageIds.map((id) => ({ kind: 'delete', row: { partitionKey: instanceId, rowKey: id } })));
  }

  async clearInbox(instanceId: string): Promise<void> {
    await this.deleteInbox(instanceId, (await this.listInbox(instanceId)).map((m) => m.messageId));
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
      await client.submitTransaction(actions);
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

function writeChunked(row: Row, name: string, text: string | undefined): void {
  if (text === undefined) return;
  const parts = Math.max(1, Math.ceil(text.length / CHUNK_CHARS));
  for (let i = 0; i < parts; i++) row[i === 0 ? name : `${name}_${i}`] = text.slice(i * CHUNK_CHARS, (i + 1) * CHUNK_CHARS);
  if (parts > 1) row[`${name}_Parts`] = parts;
}

function readChunked(row: Record<string, unknown>, name: string): string | undefined {
  const first = row[name];
  if (typeof first !== 'string') return undefined;
  const parts = typeof row[`${name}_Parts`] === 'number' ? (row[`${name}_Parts`] as number) : 1;
  let text = first;
  for (let i = 1; i < parts; i++) text += String(row[`${name}_${i}`] ?? '');
  return text;
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
