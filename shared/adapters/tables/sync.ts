/**
 * The pull sync's tables.
 * - SyncRuns: PartitionKey = customer, RowKey = run id (newest first by construction); progress rows
 *   `<run id>~<entity type>` beside each run, written by that type's activities only.
 * - SyncDefinitions: PartitionKey = customer, RowKey = kind.
 * - Catalog: PartitionKey = `<customer>~<type>` (dial plans, policies, licenses), RowKey = item id.
 * - PendingDeletions: PartitionKey = customer, RowKey = `<entity type>~<id>`.
 */
import { odata, type TableClient } from '@azure/data-tables';
import type { EntityCounts, EntityType, SyncDefinition, SyncRun } from '../../sync/model';
import type { CatalogItem, CatalogStore, CatalogType, PendingDeletion, PendingDeletionStore, SyncDefinitionStore, SyncRunStore } from '../../sync/ports';
import { ConcurrencyError, ConflictError } from '../../ports/storage';
import { BatchWriter, submitAll, submitBatch, type TableProvider } from './client';
import { statusOf } from './errors';
import { encodeKey, joinKey } from './keys';
import { packJson, planBatches, unpackJson } from './limits';

type Row = Record<string, unknown>;

async function getRow(client: TableClient, pk: string, rk: string): Promise<Row | undefined> {
  try {
    return await client.getEntity<Row>(pk, rk);
  } catch (e) {
    if (statusOf(e) === 404) return undefined;
    throw e;
  }
}

export class TableSyncRunStore implements SyncRunStore {
  constructor(private readonly tables: TableProvider) {}

  private client(): Promise<TableClient> {
    return this.tables.table('SyncRuns');
  }

  async create(run: SyncRun): Promise<SyncRun> {
    const client = await this.client();
    try {
      await client.createEntity({ partitionKey: encodeKey(run.customerId), rowKey: encodeKey(run.runId), Kind: 'run', ...packJson('Run', run) });
      return run;
    } catch (e) {
      if (statusOf(e) === 409) return (await this.get(run.customerId, run.runId)) ?? run;
      throw e;
    }
  }

  async get(customerId: string, runId: string): Promise<SyncRun | undefined> {
    const row = await getRow(await this.client(), encodeKey(customerId), encodeKey(runId));
    return row ? unpackJson<SyncRun>('Run', row) : undefined;
  }

  async save(run: SyncRun): Promise<void> {
    const client = await this.client();
    await client.upsertEntity({ partitionKey: encodeKey(run.customerId), rowKey: encodeKey(run.runId), Kind: 'run', ...packJson('Run', run) }, 'Replace');
  }

  async saveProgress(customerId: string, runId: string, entityType: EntityType, counts: EntityCounts): Promise<void> {
    const client = await this.client();
    await client.upsertEntity(progressRow(customerId, runId, entityType, counts), 'Replace');
  }

  async saveProgressOf(customerId: string, runId: string, progress: Partial<Record<EntityType, EntityCounts>>): Promise<void> {
    const rows = Object.entries(progress).map(([type, counts]) => ({ kind: 'upsert' as const, entity: progressRow(customerId, runId, type as EntityType, counts) }));
    if (rows.length > 0) await submitAll(await this.client(), rows, `progress of sync run ${runId}`);
  }

  async progress(customerId: string, runId: string): Promise<Partial<Record<EntityType, EntityCounts>>> {
    const client = await this.client();
    const pk = encodeKey(customerId);
    const from = `${encodeKey(runId)}~`;
    const out: Partial<Record<EntityType, EntityCounts>> = {};
    const rows = client.listEntities<Row>({ queryOptions: { filter: odata`PartitionKey eq ${pk} and RowKey gt ${from} and RowKey lt ${`${from}~`}` } });
    for await (const row of rows) out[row.EntityType as EntityType] = JSON.parse(String(row.Counts)) as EntityCounts;
    return out;
  }

  async list(customerId: string, top: number): Promise<SyncRun[]> {
    const client = await this.client();
    const pk = encodeKey(customerId);
    const out: SyncRun[] = [];
    const rows = client.listEntities<Row>({ queryOptions: { filter: odata`PartitionKey eq ${pk} and Kind eq 'run'` } });
    for await (const row of rows) {
      const run = unpackJson<SyncRun>('Run', row);
      if (run) out.push(run);
      if (out.length >= top) break;
    }
    return out;
  }
}

export class TableSyncDefinitionStore implements SyncDefinitionStore {
  constructor(private readonly tables: TableProvider) {}

  private client(): Promise<TableClient> {
    return this.tables.table('SyncDefinitions');
  }

  async list(customerId: string): Promise<SyncDefinition[]> {
    const client = await this.client();
    const pk = encodeKey(customerId);
    const out: SyncDefinition[] = [];
    for await (const row of client.listEntities<Row>({ queryOptions: { filter: odata`PartitionKey eq ${pk}` } })) {
      out.push(JSON.parse(String(row.Definition)) as SyncDefinition);
    }
    return out;
  }

  async get(customerId: string, kind: SyncDefinition['kind']): Promise<SyncDefinition | undefined> {
    const row = await getRow(await this.client(), encodeKey(customerId), kind);
    return row ? (JSON.parse(String(row.Definition)) as SyncDefinition) : undefined;
  }

  async put(definition: SyncDefinition): Promise<void> {
    const client = await this.client();
    await client.upsertEntity({ partitionKey: encodeKey(definition.customerId), rowKey: definition.kind, Definition: JSON.stringify(definition) }, 'Replace');
  }
}

export class TableCatalogStore implements CatalogStore {
  constructor(private readonly tables: TableProvider) {}

  private client(): Promise<TableClient> {
    return this.tables.table('Catalog');
  }

  private partition(customerId: string, type: CatalogType): string {
    return joinKey(encodeKey(customerId), type);
  }

  async list(customerId: string, type: CatalogType): Promise<CatalogItem[]> {
    const client = await this.client();
    const pk = this.partition(customerId, type);
    const out: CatalogItem[] = [];
    for await (const row of client.listEntities<Row>({ queryOptions: { filter: odata`PartitionKey eq ${pk}` } })) {
      out.push({ id: String(row.ItemId), name: String(row.Name), hash: String(row.Hash), data: unpackJson('Data', row) });
    }
    return out;
  }

  async write(customerId: string, type: CatalogType, items: readonly CatalogItem[]): Promise<void> {
    if (items.length === 0) return;
    const client = await this.client();
    const pk = this.partition(customerId, type);
    await submitAll(
      client,
      items.map((i) => ({
        kind: 'upsert' as const,
        entity: { partitionKey: pk, rowKey: encodeKey(i.id), ItemId: i.id, Name: i.name, Hash: i.hash, ...packJson('Data', i.data) },
      })),
      type,
    );
  }

  async remove(customerId: string, type: CatalogType, ids: readonly string[]): Promise<void> {
    const client = await this.client();
    const pk = this.partition(customerId, type);
    for (const id of ids) {
      await client.deleteEntity(pk, encodeKey(id)).catch((e: unknown) => {
        if (statusOf(e) !== 404) throw e;
      });
    }
  }
}

function pendingRow(pk: string, d: PendingDeletion) {
  return {
    partitionKey: pk,
    rowKey: joinKey(d.entityType, encodeKey(d.id)),
    EntityType: d.entityType,
    ItemId: d.id,
    Removal: d.removal,
    RunId: d.runId,
    Held: d.held,
    HeldReason: d.heldReason,
    HeldAt: d.heldAt,
  };
}

export class TablePendingDeletionStore implements PendingDeletionStore {
  constructor(private readonly tables: TableProvider) {}

  private client(): Promise<TableClient> {
    return this.tables.table('PendingDeletions');
  }

  /** Holds are written as they come; a deletion not held never replaces a hold (see the port). */
  async add(customerId: string, deletions: readonly PendingDeletion[]): Promise<void> {
    if (deletions.length === 0) return;
    const client = await this.client();
    const pk = encodeKey(customerId);
    const holds = deletions.filter((d) => d.held);
    if (holds.length > 0) {
      const writer = new BatchWriter(client, 'pending deletion');
      for (const d of holds) await writer.add({ kind: 'upsert', entity: pendingRow(pk, d) });
      await writer.flush();
    }
    // Proposals are created in batches; a batch that meets an existing row is retried row by row, so a
    // hold written meanwhile (by change notifications, say) is never turned back into a proposal.
    for (const batch of planBatches(deletions.filter((d) => !d.held).map((d) => ({ kind: 'create' as const, entity: pendingRow(pk, d) })))) {
      try {
        await submitBatch(client, batch, 'pending deletion');
      } catch (e) {
        if (!(e instanceof ConflictError)) throw e;
        for (const action of batch) await this.propose(client, action.entity);
      }
    }
  }

  private async propose(client: TableClient, entity: ReturnType<typeof pendingRow>): Promise<void> {
    for (let attempt = 0; attempt < 10; attempt++) {
      try {
        await client.createEntity(entity);
        return;
      } catch (e) {
        if (statusOf(e) !== 409) throw e;
      }
      const existing = await getRow(client, entity.partitionKey, entity.rowKey);
      if (!existing) continue;
      if (existing.Held === true) return;
      try {
        await client.updateEntity(entity, 'Replace', { etag: String(existing.etag) });
        return;
      } catch (e) {
        if (statusOf(e) !== 412 && statusOf(e) !== 404) throw e;
      }
    }
    throw new ConcurrencyError(`pending deletion ${entity.rowKey} is contended; try again`);
  }

  async list(customerId: string, filter: { runId?: string; entityType?: EntityType; held?: boolean } = {}): Promise<PendingDeletion[]> {
    const client = await this.client();
    const pk = encodeKey(customerId);
    const out: PendingDeletion[] = [];
    for await (const row of client.listEntities<Row>({ queryOptions: { filter: odata`PartitionKey eq ${pk}` } })) {
      const d: PendingDeletion = {
        entityType: row.EntityType as EntityType,
        id: String(row.ItemId),
        removal: row.Removal as PendingDeletion['removal'],
        runId: String(row.RunId),
        held: row.Held === true,
        heldReason: typeof row.HeldReason === 'string' ? row.HeldReason : undefined,
        ...(typeof row.HeldAt === 'string' ? { heldAt: row.HeldAt } : {}),
      };
      if (filter.runId !== undefined && d.runId !== filter.runId) continue;
      if (filter.entityType !== undefined && d.entityType !== filter.entityType) continue;
      if (filter.held !== undefined && d.held !== filter.held) continue;
      out.push(d);
    }
    return out;
  }

  async remove(customerId: string, deletions: ReadonlyArray<Pick<PendingDeletion, 'entityType' | 'id'>>): Promise<void> {
    if (deletions.length === 0) return;
    const client = await this.client();
    const pk = encodeKey(customerId);
    for (const d of deletions) {
      await client.deleteEntity(pk, joinKey(d.entityType, encodeKey(d.id))).catch((e: unknown) => {
        if (statusOf(e) !== 404) throw e;
      });
    }
  }
}

function progressRow(customerId: string, runId: string, entityType: EntityType, counts: EntityCounts) {
  return { partitionKey: encodeKey(customerId), rowKey: joinKey(encodeKey(runId), entityType), Kind: 'progress', EntityType: entityType, Counts: JSON.stringify(counts) };
}
