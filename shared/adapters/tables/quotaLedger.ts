/**
 * The pacer's shared budgets in Table Storage: one row per app + tenant scope, its buckets as JSON. Every
 * lease is a read and a write conditional on the row's ETag, so concurrent instances never grant the same
 * tokens twice; a lost race reads again. Layout in docs/storage.md.
 */
import type { TableClient } from '@azure/data-tables';
import { emptyLedgerState, settle, type LeaseGrant, type LeaseRequest, type LedgerState, type QuotaLedger } from '../graph/ledger';
import type { TableProvider } from './client';
import { statusOf } from './errors';
import { encodeKey } from './keys';

export const QUOTA_LEDGER_TABLE = 'QuotaLedger';
const ROW = 'budgets';
/** How long a lease keeps losing races before it gives up (the pacer then paces on its own for a while). */
const CONTENTION_DEADLINE_MS = 30_000;

type Row = { partitionKey: string; rowKey: string; State?: string; etag?: string };

export class TableQuotaLedger implements QuotaLedger {
  /** The lease in flight per scope: an instance races the others, never itself. */
  private readonly tails = new Map<string, Promise<unknown>>();

  constructor(private readonly tables: TableProvider) {}

  lease(request: LeaseRequest): Promise<LeaseGrant> {
    const tail = this.tails.get(request.scope) ?? Promise.resolve();
    const next = tail.then(() => this.leaseNow(request));
    const settled = next.catch(() => undefined);
    this.tails.set(request.scope, settled);
    void settled.then(() => {
      if (this.tails.get(request.scope) === settled) this.tails.delete(request.scope);
    });
    return next;
  }

  private async leaseNow(request: LeaseRequest): Promise<LeaseGrant> {
    const client = await this.tables.table(QUOTA_LEDGER_TABLE);
    const partitionKey = encodeKey(request.scope);
    const deadline = Date.now() + CONTENTION_DEADLINE_MS;
    for (let attempt = 1; ; attempt++) {
      const row = await read(client, partitionKey);
      const { state, grant } = settle(row ? parse(row.State) : emptyLedgerState(), request);
      const entity = { partitionKey, rowKey: ROW, State: JSON.stringify(state) };
      try {
        if (row) await client.updateEntity(entity, 'Replace', { etag: row.etag });
        else await client.createEntity(entity);
        return grant;
      } catch (error) {
        const status = statusOf(error);
        // 412: another instance leased since our read; 409: another created the row first.
        if ((status !== 412 && status !== 409) || Date.now() >= deadline) throw error;
        // Full jitter over a window that doubles with each lost race, so that racing instances spread out.
        await new Promise((r) => setTimeout(r, Math.random() * Math.min(1_000, 10 * 2 ** attempt)));
      }
    }
  }
}

async function read(client: TableClient, partitionKey: string): Promise<Row | undefined> {
  try {
    return await client.getEntity<Row>(partitionKey, ROW);
  } catch (error) {
    if (statusOf(error) === 404) return undefined;
    throw error;
  }
}

function parse(text: string | undefined): LedgerState {
  if (!text) return emptyLedgerState();
  const value = JSON.parse(text) as Partial<LedgerState>;
  return { buckets: value.buckets ?? {}, holdUntil: typeof value.holdUntil === 'number' ? value.holdUntil : 0 };
}
