/**
 * Table clients: from SITESYNC_TABLES_CONNECTION_STRING locally (Azurite over http), or from
 * SITESYNC_TABLES_ENDPOINT with the managed identity in Azure. Each table is created on first use, once
 * per process.
 */
import { TableClient, TableTransaction, type TransactionAction } from '@azure/data-tables';
import { DefaultAzureCredential, type TokenCredential } from '@azure/identity';
import type { Settings } from '../../config/settings';
import { ConfigurationError } from '../../config/settings';
import { statusOf, toStorageError, unavailablePolicy } from './errors';
import { BATCH_BYTE_BUDGET, TABLE_LIMITS, batchBytes, fittingBatchBytes, planBatches, type BatchAction, type TableEntityShape } from './limits';

export interface TableConnection {
  connectionString?: string;
  endpoint?: string;
  credential?: TokenCredential;
  /** Prepended to every table name (letters and digits), e.g. to keep two environments in one account. */
  tablePrefix?: string;
}

export function connectionFromSettings(settings: Settings): TableConnection {
  if (settings.SITESYNC_TABLES_CONNECTION_STRING) return { connectionString: settings.SITESYNC_TABLES_CONNECTION_STRING };
  if (settings.SITESYNC_TABLES_ENDPOINT) return { endpoint: settings.SITESYNC_TABLES_ENDPOINT };
  throw new ConfigurationError('Table Storage is not configured: set SITESYNC_TABLES_CONNECTION_STRING or SITESYNC_TABLES_ENDPOINT');
}

export class TableProvider {
  private readonly ready = new Map<string, Promise<TableClient>>();
  private credential: TokenCredential | undefined;

  constructor(private readonly connection: TableConnection) {
    if (!connection.connectionString && !connection.endpoint) throw new ConfigurationError('a Table Storage connection string or endpoint is required');
    if (connection.tablePrefix && !/^[A-Za-z][A-Za-z0-9]*$/.test(connection.tablePrefix)) throw new ConfigurationError('table prefix must be letters and digits');
  }

  /** The client of a table, created if missing (idempotent, also across processes). */
  table(name: string): Promise<TableClient> {
    const full = `${this.connection.tablePrefix ?? ''}${name}`;
    let client = this.ready.get(full);
    if (!client) {
      client = this.open(full);
      this.ready.set(full, client);
      client.catch(() => this.ready.delete(full));
    }
    return client;
  }

  private async open(name: string): Promise<TableClient> {
    const { connectionString, endpoint } = this.connection;
    const client = connectionString
      ? TableClient.fromConnectionString(connectionString, name, { allowInsecureConnection: connectionString.includes('http://') })
      : new TableClient(endpoint as string, name, this.connection.credential ?? (this.credential ??= new DefaultAzureCredential()));
    // Outside the SDK's retries (no phase): only what is still failing after them is "unavailable".
    client.pipeline.addPolicy(unavailablePolicy);
    try {
      await client.createTable();
    } catch (e) {
      if (statusOf(e) !== 409) throw e; // 409: created meanwhile by another process
    }
    return client;
  }
}

export async function submitBatch(client: TableClient, actions: readonly BatchAction[], what: string): Promise<void> {
  const tx = new TableTransaction();
  for (const a of actions) {
    if (a.kind === 'create') tx.createEntity(a.entity);
    else if (a.kind === 'delete') tx.deleteEntity(a.entity.partitionKey, a.entity.rowKey);
    else if (a.kind === 'update') tx.updateEntity(a.entity, a.mode ?? 'Replace');
    else tx.upsertEntity(a.entity, a.mode ?? 'Replace');
  }
  try {
    await client.submitTransaction(tx.actions as TransactionAction[]);
  } catch (e) {
    throw toStorageError(e, what);
  }
}

/** Sends any number of actions as valid batches, a few at a time. */
export async function submitAll(client: TableClient, actions: Iterable<BatchAction>, what: string, concurrency = 4): Promise<number> {
  const batches = planBatches(actions);
  let next = 0;
  const worker = async () => {
    while (next < batches.length) await submitBatch(client, batches[next++], what);
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, batches.length) }, worker));
  return batches.length;
}

/**
 * Streams actions into batches as they come: each partition fills its own batch, which is sent when it
 * reaches 100 operations or the size budget; at most `concurrency` batches are in flight. Memory holds at
 * most one open batch per partition.
 */
export class BatchWriter {
  private readonly open = new Map<string, { actions: BatchAction[]; bytes: number; keys: Set<string> }>();
  private readonly inFlight = new Set<Promise<void>>();
  private failure: unknown;
  batches = 0;
  written = 0;

  constructor(
    private readonly client: TableClient,
    private readonly what: string,
    private readonly concurrency = 4,
  ) {}

  async add(action: BatchAction): Promise<void> {
    if (this.failure) throw this.failure;
    const entity: TableEntityShape = action.entity;
    const bytes = action.kind === 'delete' ? batchBytes(entity) : fittingBatchBytes(entity, () => `${this.what} ${entity.rowKey}`);
    let batch = this.open.get(entity.partitionKey);
    if (batch && (batch.bytes + bytes > BATCH_BYTE_BUDGET || batch.keys.has(entity.rowKey))) {
      await this.send(entity.partitionKey);
      batch = undefined;
    }
    if (!batch) {
      batch = { actions: [], bytes: 0, keys: new Set() };
      this.open.set(entity.partitionKey, batch);
    }
    batch.actions.push(action);
    batch.bytes += bytes;
    batch.keys.add(entity.rowKey);
    if (batch.actions.length >= TABLE_LIMITS.maxBatchOperations) await this.send(entity.partitionKey);
  }

  /** Sends what is left and waits for everything. */
  async flush(): Promise<void> {
    for (const partitionKey of [...this.open.keys()]) await this.send(partitionKey);
    await Promise.all(this.inFlight);
    if (this.failure) throw this.failure;
  }

  private async send(partitionKey: string): Promise<void> {
    const batch = this.open.get(partitionKey);
    this.open.delete(partitionKey);
    if (!batch || batch.actions.length === 0) return;
    while (this.inFlight.size >= this.concurrency) await Promise.race(this.inFlight);
    if (this.failure) throw this.failure;
    const p: Promise<void> = submitBatch(this.client, batch.actions, this.what)
      .then(() => {
        this.batches++;
        this.written += batch.actions.length;
      })
      .catch((e: unknown) => {
        this.failure ??= e;
      })
      .finally(() => this.inFlight.delete(p));
    this.inFlight.add(p);
  }
}
