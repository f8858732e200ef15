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
  /** Each scope's row as this instance last wrote it. */
  private readonly known = new Map<string, { state: LedgerState; etag: string }>();

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
      // The row as this instance last wrote it saves the read while nobody else leased meanwhile; if
      // someone did, the write is refused (412) and the row is read again.
      const known = this.known.get(request.scope);
      const row = known ?? (await read(client, partitionKey));
      const { state, grant } = settle(row ? row.state : emptyLedgerState(), request);
      const entity = { partitionKey, rowKey: ROW, State: JSON.stringify(state) };
      try {
        const written = row ? await client.updateEntity(entity, 'Replace', { etag: row.etag }) : await client.createEntity(entity);
        if (written.etag) this.known.set(request.scope, { state, etag: written.etag });
        else this.known.delete(request.scope);
        return grant;
      } catch (error) {
        this.known.delete(request.scope);
        const status = statusOf(error);
        // 412: another instance leased since our read; 409: another created the row first.
        if ((status !== 412 && status !== 409) || Date.now() >= deadline) throw error;
        if (known) continue; // a stale copy of our own: read the row, at once
        // Full jitter over a window that doubles with each lost race, so that racing instances spread out.
        await new Promise((r) => setTimeout(r, Math.random() * Math.min(1_000, 10 * 2 ** attempt)));
      }
    }
  }
}

async function read(client: TableClient, partitionKey: string): Promise<{ state: LedgerState; etag: string } | undefined> {
  try {
    const row = await client.getEntity<Row>(partitionKey, ROW);
    return { state: parse(row.State), etag: String(row.etag) };
  } catch (error) {
    if (statusOf(error) === 404) return undefined;
    throw error;
  }
}

function parse(text: string | undefined): LedgerState {
  if (!text) return emptyLedgerState();
  const value = JSON.parse(text) as Partial<LedgerState>;
  return { buckets: value.buckets ?? {}, holdUntil: typeof value.holdUntil === 'number' ? value.holdUntil : 0, leasers: value.leasers ?? {} };
}
