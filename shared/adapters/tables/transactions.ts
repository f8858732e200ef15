/**
 * Transactions: PartitionKey = customer, RowKey = the transaction id, which sorts newest first (see
 * `newTransactionId`), so "recent transactions" is the head of one partition. The user's id is a column
 * beside the document (`UserId`), so one user's transactions, however old, are one filtered partition query
 * (rows written before the column existed lack it).
 */
import { odata } from '@azure/data-tables';
import { type TransactionOutcome, type TransactionRecord, type TransactionStep } from '../../domain';
import { ConcurrencyError, NotFoundError, type TransactionRepository, type Versioned } from '../../ports/storage';
import type { DocumentTable } from './documents';
import { encodeKey } from './keys';

const MAX_APPEND_ATTEMPTS = 10;
/** Transactions this instance wrote last, kept for the next append: most are appended to by their writer. */
const KNOWN_ENTRIES = 2_000;

/** The columns a transaction's row carries beside its document. */
export const transactionColumns = (t: TransactionRecord): Record<string, string | undefined> => ({ UserId: t.userId });

export class TableTransactionRepository implements TransactionRepository {
  /**
   * The version this instance last wrote of each recent transaction. An append starts from it instead of a
   * read; the write is conditional on its ETag, so if anyone wrote since, it is refused and the row read.
   */
  private readonly known = new Map<string, Versioned<TransactionRecord>>();

  constructor(private readonly table: DocumentTable<TransactionRecord>) {}

  async create(transaction: TransactionRecord): Promise<Versioned<TransactionRecord>> {
    return this.remember(transaction.customerId, transaction.id, await this.table.create(encodeKey(transaction.customerId), encodeKey(transaction.id), transaction));
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
    const key = knownKey(customerId, id);
    for (let attempt = 0; attempt < MAX_APPEND_ATTEMPTS; attempt++) {
      const known = this.known.get(key);
      this.known.delete(key);
      const current = known ?? (await this.get(customerId, id));
      if (!current) throw new NotFoundError(`transaction ${id} was not found`);
      const allSteps = [...current.value.steps, ...steps];
      const next: TransactionRecord = { ...current.value, steps: allSteps };
      if (outcome) {
        next.outcome = outcome;
        next.finishedAt = (finishedAt ?? new Date()).toISOString();
      }
      try {
        return this.remember(customerId, id, await this.table.update(encodeKey(customerId), encodeKey(id), next, current.etag));
      } catch (e) {
        // A row written elsewhere since (or gone): read it, unless what failed was already a fresh read.
        if (known && (e instanceof ConcurrencyError || e instanceof NotFoundError)) continue;
        if (!(e instanceof ConcurrencyError)) throw e;
      }
    }
    throw new ConcurrencyError(`transaction ${id} kept changing while steps were appended`);
  }

  private remember(customerId: string, id: string, written: Versioned<TransactionRecord>): Versioned<TransactionRecord> {
    const key = knownKey(customerId, id);
    this.known.delete(key);
    if (written.etag) this.known.set(key, written);
    if (this.known.size > KNOWN_ENTRIES) this.known.delete(this.known.keys().next().value!);
    return written;
  }

  async listRecent(customerId: string, limit: number, options: { userId?: string } = {}): Promise<TransactionRecord[]> {
    const client = await this.table.client();
    const out: TransactionRecord[] = [];
    const partitionKey = encodeKey(customerId);
    const filter = options.userId === undefined ? odata`PartitionKey eq ${partitionKey}` : odata`PartitionKey eq ${partitionKey} and UserId eq ${options.userId}`;
    for await (const row of client.listEntities<Record<string, unknown>>({ queryOptions: { filter } })) {
      out.push(this.table.decode(row).value);
      if (out.length >= limit) break;
    }
    return out;
  }
}

function knownKey(customerId: string, id: string): string {
  return `${customerId}\n${id}`;
}
