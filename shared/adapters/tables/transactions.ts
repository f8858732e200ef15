/**
 * Transactions: PartitionKey = customer, RowKey = the transaction id, which sorts newest first (see
 * `newTransactionId`), so "recent transactions" is the head of one partition.
 */
import { odata } from '@azure/data-tables';
import { type TransactionOutcome, type TransactionRecord, type TransactionStep } from '../../domain';
import { ConcurrencyError, NotFoundError, type TransactionRepository, type Versioned } from '../../ports/storage';
import type { DocumentTable } from './documents';
import { encodeKey } from './keys';

const MAX_APPEND_ATTEMPTS = 10;

export class TableTransactionRepository implements TransactionRepository {
  constructor(private readonly table: DocumentTable<TransactionRecord>) {}

  create(transaction: TransactionRecord): Promise<Versioned<TransactionRecord>> {
    return this.table.create(encodeKey(transaction.customerId), encodeKey(transaction.id), transaction);
  }

  get(customerId: string, id: string): Promise<Versioned<TransactionRecord> | undefined> {
    return this.table.get(encodeKey(customerId), encodeKey(id));
  }

  async appendSteps(
    customerId: string,
    id: string,
    steps: TransactionStep[],
    outcome?: Exclude<TransactionOutcome, 'running'>,
    finishedAt?: Date,
  ): Promise<Versioned<TransactionRecord>> {
    for (let attempt = 0; attempt < MAX_APPEND_ATTEMPTS; attempt++) {
      const current = await this.get(customerId, id);
      if (!current) throw new NotFoundError(`transaction ${id} was not found`);
      const allSteps = [...current.value.steps, ...steps];
      const next: TransactionRecord = { ...current.value, steps: allSteps };
      if (outcome) {
        next.outcome = outcome;
        next.finishedAt = (finishedAt ?? new Date()).toISOString();
      }
      try {
        return await this.table.update(encodeKey(customerId), encodeKey(id), next, current.etag);
      } catch (e) {
        if (!(e instanceof ConcurrencyError)) throw e;
      }
    }
    throw new ConcurrencyError(`transaction ${id} kept changing while steps were appended`);
  }

  async listRecent(customerId: string, limit: number): Promise<TransactionRecord[]> {
    const client = await this.table.client();
    const out: TransactionRecord[] = [];
    const partitionKey = encodeKey(customerId);
    for await (const row of client.listEntities<Record<string, unknown>>({ queryOptions: { filter: odata`PartitionKey eq ${partitionKey}` } })) {
      out.push(this.table.decode(row).value);
      if (out.length >= limit) break;
    }
    return out;
  }
}
