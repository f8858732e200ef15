/**
 * The task hub's queues (`<hub>-control-NN`, `<hub>-workitems`) with Azure Queue Storage's semantics, kept
 * as rows of one table (`<Hub>Queues`, one partition per queue) so that they share Table Storage's
 * durability: a message is a row; a receive makes it invisible for a visibility timeout and counts the
 * dequeue; the row's ETag after the receive is the pop receipt, needed to renew, delete or abandon it; a
 * message not deleted in time becomes visible again (at-least-once). A message may also carry a due time
 * (a durable timer, a delayed delivery), like a message added with an initial visibility delay.
 *
 * A control queue has one reader at a time, the holder of its partition's lease, so it is read without
 * receiving (`read`): its messages stay visible until they are deleted or deferred, and a worker that
 * takes the partition over after a crash sees them at once. (Azure dequeues them, hiding them for
 * `controlQueueVisibilityTimeout`, 5 min, from a new owner after a crash; here the takeover is within the
 * lease period.) The work-item queue has competing readers and is received from.
 *
 * Two clocks: the due time is the host's clock (virtual in tests), a receive's invisibility is the system
 * clock, since it stands for a real process holding the message.
 */
import { odata, TableClient, TableTransaction, type TableEntity, type TableEntityResult } from '@azure/data-tables';
import { randomBytes } from 'node:crypto';
import { readChunked, writeChunked } from './chunks';

export interface ReceivedMessage<T> {
  queue: string;
  id: string;
  /** The pop receipt: the row's ETag after this receive. */
  receipt: string;
  dequeueCount: number;
  body: T;
}

export interface QueueReceive<T> {
  messages: ReceivedMessage<T>[];
  /** The earliest due time (host clock) of a message that is not due yet, if any was seen. */
  nextDueAt?: number;
}

type Row = TableEntity<Record<string, unknown>>;

/** Azure's limits for one entity group transaction. */
const MAX_BATCH_OPERATIONS = 100;
const MAX_BATCH_BYTES = 4 * 1024 * 1024 - 64 * 1024;

let sequence = 0;
const processTag = randomBytes(3).toString('hex');

/** Ids sort in the order messages were added (per process, and nearly so across processes): FIFO enough, as Azure queues are. */
function messageId(): string {
  sequence = (sequence + 1) % 1_000_000;
  return `${Date.now().toString().padStart(15, '0')}-${sequence.toString().padStart(6, '0')}-${processTag}`;
}

export class TaskHubQueues {
  readonly table: TableClient;
  /** Table operations sent (each transaction counts its operations), for the benchmarks. */
  operations = 0;

  constructor(connectionString: string, hubName: string) {
    const options = { allowInsecureConnection: /DefaultEndpointsProtocol=http;|UseDevelopmentStorage=true|http:\/\//i.test(connectionString) };
    this.table = TableClient.fromConnectionString(connectionString, `${hubName}Queues`, options);
  }

  async init(): Promise<void> {
    await this.table.createTable();
  }

  /** Adds messages to one queue, due at `dueAt` (host clock; 0 = now). Returns their ids. */
  async add<T>(queue: string, bodies: Array<{ body: T; dueAt?: number; id?: string }>): Promise<string[]> {
    const rows = bodies.map(({ body, dueAt, id }) => {
      const row: Row = { partitionKey: queue, rowKey: id ?? messageId(), DueAt: dueAt ?? 0, InvisibleUntil: 0, DequeueCount: 0 };
      writeChunked(row, 'Body', JSON.stringify(body));
      return row;
    });
    await this.submit(rows.map((row) => ({ kind: 'upsert', row })));
    return rows.map((r) => r.rowKey);
  }

  /**
   * Receives up to `max` messages that are due (host clock `now`) and not held by a receiver (system
   * clock), making them invisible for `visibilityMs`. Messages another receiver took first are skipped.
   */
  async receive<T>(queue: string, max: number, visibilityMs: number, now: number, skip?: ReadonlySet<string>, options: { nextDue?: boolean } = {}): Promise<QueueReceive<T>> {
    const systemNow = Date.now();
    const due: Array<TableEntityResult<Record<string, unknown>>> = [];
    const filter = `${odata`PartitionKey eq ${queue}`} and InvisibleUntil le ${systemNow} and DueAt le ${now}`;
    this.operations++;
    for await (const page of this.table.listEntities<Record<string, unknown>>({ queryOptions: { filter } }).byPage({ maxPageSize: max + (skip?.size ?? 0) })) {
      for (const row of page) {
        if (skip?.has(row.rowKey ?? '') || due.length >= max) continue;
        due.push(row);
      }
      break;
    }
    let nextDueAt: number | undefined;
    if (due.length === 0) return { messages: [], nextDueAt: options.nextDue ? await this.nextDue(queue, now, systemNow) : undefined };
    const until = systemNow + visibilityMs;
    const claim = (row: TableEntityResult<Record<string, unknown>>) => ({
      partitionKey: queue,
      rowKey: row.rowKey ?? '',
      InvisibleUntil: until,
      DequeueCount: Number(row.DequeueCount ?? 0) + 1,
    });
    const received = (row: TableEntityResult<Record<string, unknown>>, receipt: string): ReceivedMessage<T> => ({
      queue,
      id: row.rowKey ?? '',
      receipt,
      dequeueCount: Number(row.DequeueCount ?? 0) + 1,
      body: JSON.parse(readChunked(row, 'Body') ?? 'null') as T,
    });
    // One transaction claims them all; when another receiver took one of them, each is claimed alone.
    if (due.length > 1) {
      const tx = new TableTransaction();
      for (const row of due) tx.updateEntity(claim(row), 'Merge', { etag: row.etag });
      try {
        this.operations += due.length;
        const response = await this.table.submitTransaction(tx.actions);
        return { messages: due.map((row, i) => received(row, response.subResponses[i]?.etag ?? '')), nextDueAt };
      } catch (err) {
        if (statusOf(err) !== 412 && statusOf(err) !== 404) throw err;
      }
    }
    const messages: ReceivedMessage<T>[] = [];
    for (const row of due) {
      try {
        this.operations++;
        const response = await this.table.updateEntity(claim(row), 'Merge', { etag: row.etag });
        messages.push(received(row, response.etag ?? ''));
      } catch (err) {
        if (statusOf(err) !== 412 && statusOf(err) !== 404) throw err;
      }
    }
    return { messages, nextDueAt };
  }

  /**
   * Reads up to `max` due, visible messages of a queue this worker alone reads (a control queue whose lease
   * it holds), leaving them visible; `skip` names those it is working on already.
   */
  async read<T>(queue: string, max: number, now: number, skip: ReadonlySet<string>, options: { nextDue?: boolean } = {}): Promise<QueueReceive<T>> {
    const systemNow = Date.now();
    const filter = `${odata`PartitionKey eq ${queue}`} and InvisibleUntil le ${systemNow} and DueAt le ${now}`;
    const messages: ReceivedMessage<T>[] = [];
    this.operations++;
    for await (const page of this.table.listEntities<Record<string, unknown>>({ queryOptions: { filter } }).byPage({ maxPageSize: max + skip.size })) {
      for (const row of page) {
        if (skip.has(row.rowKey ?? '') || messages.length >= max) continue;
        messages.push({ queue, id: row.rowKey ?? '', receipt: row.etag, dequeueCount: Number(row.DequeueCount ?? 0) + 1, body: JSON.parse(readChunked(row, 'Body') ?? 'null') as T });
      }
      break;
    }
    const nextDueAt = messages.length === 0 && options.nextDue ? await this.nextDue(queue, now, systemNow) : undefined;
    return { messages, nextDueAt };
  }

  /** Hides messages read with `read` for a while (they cannot be handled yet), counting the attempt. */
  async defer<T>(messages: Array<ReceivedMessage<T>>, delayMs: (message: ReceivedMessage<T>) => number): Promise<void> {
    const now = Date.now();
    await this.submit(
      messages.map((m) => ({ kind: 'merge', row: { partitionKey: m.queue, rowKey: m.id, InvisibleUntil: now + delayMs(m), DequeueCount: m.dequeueCount }, etag: '*' })),
      { tolerateMissing: true },
    );
  }

  /** The earliest due time after `now` among the queue's messages nobody holds (the next durable timer). */
  private async nextDue(queue: string, now: number, systemNow: number): Promise<number | undefined> {
    let next: number | undefined;
    const filter = `${odata`PartitionKey eq ${queue}`} and InvisibleUntil le ${systemNow} and DueAt gt ${now}`;
    this.operations++;
    for await (const row of this.table.listEntities<Record<string, unknown>>({ queryOptions: { filter, select: ['DueAt'] } })) {
      const dueAt = Number(row.DueAt ?? 0);
      next = next === undefined ? dueAt : Math.min(next, dueAt);
    }
    return next;
  }

  /** Keeps a received message invisible for another `visibilityMs`; false when its receipt is no longer valid. */
  async renew<T>(message: ReceivedMessage<T>, visibilityMs: number): Promise<boolean> {
    try {
      this.operations++;
      const response = await this.table.updateEntity({ partitionKey: message.queue, rowKey: message.id, InvisibleUntil: Date.now() + visibilityMs }, 'Merge', { etag: message.receipt });
      message.receipt = response.etag ?? message.receipt;
      return true;
    } catch (err) {
      if (statusOf(err) === 412 || statusOf(err) === 404) return false;
      throw err;
    }
  }

  /**
   * Makes received messages visible again after `delayMs` (0: at once). With `owned`, the receipts are not
   * checked: the caller holds the queue's lease, so nobody else can have received them since.
   */
  async abandon<T>(messages: Array<ReceivedMessage<T>>, delayMs: (message: ReceivedMessage<T>) => number, owned = false): Promise<void> {
    const now = Date.now();
    await this.submit(
      messages.map((m) => ({ kind: 'merge', row: { partitionKey: m.queue, rowKey: m.id, InvisibleUntil: delayMs(m) > 0 ? now + delayMs(m) : 0 }, etag: owned ? '*' : m.receipt })),
      { tolerateMissing: true },
    );
  }

  /** Deletes messages once they are handled; `owned` as for abandon. A message received again by someone else is left to them. */
  async delete<T>(messages: Array<ReceivedMessage<T>>, owned = false): Promise<void> {
    await this.submit(messages.map((m) => ({ kind: 'delete', row: { partitionKey: m.queue, rowKey: m.id }, etag: owned ? '*' : m.receipt })), { tolerateMissing: true });
  }

  /** Deletes a message by id, whoever holds it (a timer that was cancelled). */
  async deleteById(queue: string, id: string): Promise<void> {
    await this.submit([{ kind: 'delete', row: { partitionKey: queue, rowKey: id }, etag: '*' }], { tolerateMissing: true });
  }

  /** Messages due by `now` (host clock) and visible, over the given queues: what is still to do. */
  async countDue(queues: string[], now: number): Promise<number> {
    let count = 0;
    const systemNow = Date.now();
    for (const queue of queues) {
      const filter = `${odata`PartitionKey eq ${queue}`} and InvisibleUntil le ${systemNow} and DueAt le ${now}`;
      for await (const row of this.table.listEntities({ queryOptions: { filter, select: ['RowKey'] } })) {
        void row;
        count++;
      }
    }
    return count;
  }

  /** Every message of a queue, held or not (tests and diagnostics). */
  async length(queue: string): Promise<number> {
    let count = 0;
    for await (const row of this.table.listEntities({ queryOptions: { filter: odata`PartitionKey eq ${queue}`, select: ['RowKey'] } })) {
      void row;
      count++;
    }
    return count;
  }

  private async submit(ops: Array<{ kind: 'upsert' | 'merge' | 'delete'; row: Row; etag?: string }>, options: { tolerateMissing?: boolean } = {}): Promise<void> {
    // Rows of different queues are different partitions: one transaction each.
    const byQueue = new Map<string, typeof ops>();
    for (const op of ops) byQueue.set(op.row.partitionKey, [...(byQueue.get(op.row.partitionKey) ?? []), op]);
    for (const group of byQueue.values()) {
      let batch: typeof ops = [];
      let bytes = 0;
      const flush = async (): Promise<void> => {
        if (batch.length === 0) return;
        const current = batch;
        batch = [];
        bytes = 0;
        await this.transact(current, options);
      };
      for (const op of group) {
        const size = op.kind === 'delete' ? 512 : 1024 + Buffer.byteLength(JSON.stringify(op.row));
        if (batch.length === MAX_BATCH_OPERATIONS || (batch.length > 0 && bytes + size > MAX_BATCH_BYTES)) await flush();
        batch.push(op);
        bytes += size;
      }
      await flush();
    }
  }

  private async transact(ops: Array<{ kind: 'upsert' | 'merge' | 'delete'; row: Row; etag?: string }>, options: { tolerateMissing?: boolean }): Promise<void> {
    // A transaction cannot make a delete conditional: a delete that must match a receipt goes alone.
    const conditional = ops.filter((op) => op.kind === 'delete' && op.etag !== undefined && op.etag !== '*');
    const rest = ops.filter((op) => !conditional.includes(op));
    for (const op of conditional) {
      this.operations++;
      try {
        await this.table.deleteEntity(op.row.partitionKey, op.row.rowKey, { etag: op.etag });
      } catch (err) {
        if (!options.tolerateMissing || (statusOf(err) !== 404 && statusOf(err) !== 412)) throw err;
      }
    }
    if (rest.length === 0) return;
    if (rest.length === 1) return this.single(rest[0], options);
    const tx = new TableTransaction();
    for (const op of rest) {
      if (op.kind === 'upsert') tx.upsertEntity(op.row, 'Replace');
      else if (op.kind === 'merge') tx.updateEntity(op.row, 'Merge', { etag: op.etag ?? '*' });
      else tx.deleteEntity(op.row.partitionKey, op.row.rowKey);
    }
    this.operations += rest.length;
    try {
      await this.table.submitTransaction(tx.actions);
    } catch (err) {
      const status = statusOf(err);
      // One row gone or taken by another receiver fails the whole transaction: do the rest one by one.
      if (!options.tolerateMissing || (status !== 404 && status !== 412)) throw err;
      for (const op of rest) await this.single(op, options);
    }
  }

  private async single(op: { kind: 'upsert' | 'merge' | 'delete'; row: Row; etag?: string }, options: { tolerateMissing?: boolean }): Promise<void> {
    this.operations++;
    try {
      if (op.kind === 'upsert') await this.table.upsertEntity(op.row, 'Replace');
      else if (op.kind === 'merge') await this.table.updateEntity(op.row, 'Merge', { etag: op.etag ?? '*' });
      else await this.table.deleteEntity(op.row.partitionKey, op.row.rowKey, { etag: op.etag ?? '*' });
    } catch (err) {
      if (!options.tolerateMissing || (statusOf(err) !== 404 && statusOf(err) !== 412)) throw err;
    }
  }
}

function statusOf(err: unknown): number | undefined {
  return typeof err === 'object' && err !== null && 'statusCode' in err ? (err as { statusCode: number }).statusCode : undefined;
}
