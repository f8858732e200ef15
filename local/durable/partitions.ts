/**
 * How the task hub's work is shared between workers, as the Durable extension's Azure Storage provider
 * shares it (DurableTask.AzureStorage, table partition manager):
 * - an instance belongs to control queue `FNV-1a-32(UTF-8(instanceId)) % partitionCount`;
 * - a worker processes a control queue only while it holds that partition's lease, a row of the
 *   `<Hub>Partitions` table (RowKey = the queue's name) written with its ETag;
 * - every `leaseAcquireInterval` each worker reads all rows and, per row: claims it when it is free, expired,
 *   or released to it; renews its own; drains and releases its own when another worker asked for it
 *   (`NextOwner`); asks for another's when that one is shutting down; then asks for leases from workers
 *   holding more than their share, so that no two workers differ by more than one;
 * - a worker that dies stops renewing, and its leases are claimed by the others once they expire.
 */
import { TableClient, type TableEntityResult } from '@azure/data-tables';
import type { DurableSettings } from './settings';

/** FNV-1a, 32 bits, over the UTF-8 bytes (DurableTask.AzureStorage `Fnv1aHashHelper`). */
export function fnv1a32(text: string): number {
  let hash = 2166136261;
  for (const byte of Buffer.from(text, 'utf8')) {
    hash ^= byte;
    hash = Math.imul(hash, 16777619) >>> 0;
  }
  return hash >>> 0;
}

export function partitionOf(instanceId: string, partitionCount: number): number {
  return fnv1a32(instanceId) % partitionCount;
}

export function controlQueueName(hub: string, partition: number): string {
  return `${hub.toLowerCase()}-control-${partition.toString().padStart(2, '0')}`;
}

export function workItemQueueName(hub: string): string {
  return `${hub.toLowerCase()}-workitems`;
}

export function controlQueueFor(hub: string, instanceId: string, partitionCount: number): string {
  return controlQueueName(hub, partitionOf(instanceId, partitionCount));
}

export interface PartitionEvents {
  /** This worker now holds the queue's lease: start receiving from it. */
  acquired(queue: string): void;
  /** Another worker asked for the queue (or this one stops): stop receiving and finish or give back what is held. */
  drain(queue: string): Promise<void>;
  /** The lease turned out to be another's: stop at once. */
  lost(queue: string): void;
}

interface LeaseRow {
  queue: string;
  currentOwner: string;
  nextOwner: string;
  ownedSince: number;
  lastRenewal: number;
  expiresAt: number;
  isDraining: boolean;
  etag: string;
}

/** ETag conflicts in a row before the manager goes back to its normal interval. */
const MAX_CONFLICTS = 10;
/** The interval while draining or waiting for a lease asked for (DurableTask.AzureStorage). */
const SHORT_INTERVAL_MS = 1_000;

export class TablePartitionManager {
  private readonly table: TableClient;
  private readonly queues: string[];
  private readonly held = new Map<string, number>();
  private readonly draining = new Map<string, Promise<void>>();
  private loop?: Promise<void>;
  private wake?: () => void;
  private stopping = false;
  private conflicts = 0;

  constructor(
    connectionString: string,
    private readonly hub: string,
    readonly workerId: string,
    private readonly settings: DurableSettings,
    private readonly events: PartitionEvents,
    private readonly log: (level: 'information' | 'warning', message: string) => void,
  ) {
    const options = { allowInsecureConnection: /DefaultEndpointsProtocol=http;|UseDevelopmentStorage=true|http:\/\//i.test(connectionString) };
    this.table = TableClient.fromConnectionString(connectionString, `${hub}Partitions`, options);
    this.queues = Array.from({ length: settings.partitionCount }, (_, i) => controlQueueName(hub, i));
  }

  /** Creates the lease rows if needed, runs a first pass (a lone worker owns every partition when it returns), then keeps going. */
  async start(): Promise<void> {
    await this.table.createTable();
    for (const queue of this.queues) {
      try {
        await this.table.createEntity({ partitionKey: '', rowKey: queue, CurrentOwner: '', NextOwner: '', IsDraining: false, ExpiresAt: new Date(0), OwnedSince: new Date(0), LastRenewal: new Date(0) });
      } catch (err) {
        if (statusOf(err) !== 409) throw err;
      }
    }
    await this.iterate().catch((err: unknown) => this.log('warning', `partition leases: ${describe(err)}`));
    this.loop = this.run();
  }

  /** Queues whose lease this worker holds and may still act on (not expiring within `marginMs`). */
  holds(queue: string, marginMs = 0): boolean {
    const expiresAt = this.held.get(queue);
    return expiresAt !== undefined && !this.draining.has(queue) && Date.now() + marginMs < expiresAt;
  }

  owned(): string[] {
    return [...this.held.keys()];
  }

  /** Drains and releases every lease (a graceful shutdown), so that other workers claim them at once. */
  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    this.wake?.();
    await this.loop;
    const rows = await this.readRows().catch(() => [] as LeaseRow[]);
    await Promise.all(
      rows
        .filter((row) => row.currentOwner === this.workerId)
        .map(async (row) => {
          await this.drainQueue(row.queue);
          await this.write(row.queue, { ...row, currentOwner: '', nextOwner: '', isDraining: false, expiresAt: Date.now() }, row.etag).catch(() => undefined);
        }),
    );
    this.held.clear();
  }

  private async run(): Promise<void> {
    while (!this.stopping) {
      let delay: number;
      try {
        delay = await this.iterate();
      } catch (err) {
        this.log('warning', `partition leases: ${describe(err)}`);
        delay = SHORT_INTERVAL_MS;
      }
      if (this.stopping) break;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, delay);
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  }

  /** One pass over the lease table; returns how long to wait before the next. */
  private async iterate(): Promise<number> {
    const rows = await this.readRows();
    const now = Date.now();
    let short = this.draining.size > 0;
    let conflicted = false;
    const attempt = async (work: () => Promise<void>): Promise<void> => {
      try {
        await work();
      } catch (err) {
        if (statusOf(err) !== 412 && statusOf(err) !== 404) throw err;
        conflicted = true;
      }
    };
    for (const row of rows) {
      const mine = row.currentOwner === this.workerId;
      const free = !row.currentOwner && !row.nextOwner;
      const releasedToMe = !row.currentOwner && row.nextOwner === this.workerId;
      if (free || now >= row.expiresAt || releasedToMe) {
        if (this.stopping) continue;
        await attempt(async () => {
          await this.write(row.queue, { ...row, currentOwner: this.workerId, nextOwner: '', ownedSince: now, lastRenewal: now, expiresAt: now + this.settings.leaseClaimMs, isDraining: false }, row.etag);
          const had = this.held.has(row.queue);
          this.held.set(row.queue, now + this.settings.leaseClaimMs);
          if (!had) {
            this.log('information', `${this.workerId} acquired ${row.queue}`);
            this.events.acquired(row.queue);
          }
        });
      } else if (mine && !row.nextOwner) {
        await attempt(async () => {
          await this.write(row.queue, { ...row, lastRenewal: now, expiresAt: now + this.settings.leaseIntervalMs }, row.etag);
          const had = this.held.has(row.queue);
          this.held.set(row.queue, now + this.settings.leaseIntervalMs);
          // A worker started again under the same id (an instance recycled) finds its own leases.
          if (!had && !this.stopping) this.events.acquired(row.queue);
        });
      } else if (mine) {
        // Another worker asked for it: keep renewing while the work in hand finishes, then release.
        short = true;
        await attempt(async () => {
          const etag = await this.write(row.queue, { ...row, lastRenewal: now, expiresAt: now + this.settings.leaseIntervalMs, isDraining: true }, row.etag);
          this.held.set(row.queue, now + this.settings.leaseIntervalMs);
          if (!this.draining.has(row.queue)) this.beginRelease({ ...row, isDraining: true, lastRenewal: now, expiresAt: now + this.settings.leaseIntervalMs, etag });
        });
      } else {
        if (this.held.has(row.queue) && !this.draining.has(row.queue)) {
          this.held.delete(row.queue);
          this.log('warning', `${this.workerId} lost ${row.queue} to ${row.currentOwner || '(nobody)'}`);
          this.events.lost(row.queue);
        }
        if (row.isDraining && !row.nextOwner && !this.stopping) {
          short = true;
          await attempt(() => this.write(row.queue, { ...row, nextOwner: this.workerId }, row.etag).then(() => undefined));
        } else if (row.nextOwner === this.workerId) {
          short = true;
        }
      }
    }
    if (!this.stopping && !conflicted) short = (await this.balance(rows.filter((r) => r.currentOwner && Date.now() < r.expiresAt))) || short;
    if (conflicted) {
      this.conflicts++;
      if (this.conflicts < MAX_CONFLICTS) return 0;
    }
    this.conflicts = 0;
    return short ? Math.min(SHORT_INTERVAL_MS, this.settings.leaseAcquireIntervalMs) : this.settings.leaseAcquireIntervalMs;
  }

  /** Asks owners holding more than their share for leases; true when it asked for any. */
  private async balance(live: LeaseRow[]): Promise<boolean> {
    const counts = new Map<string, LeaseRow[]>();
    for (const row of live) counts.set(row.currentOwner, [...(counts.get(row.currentOwner) ?? []), row]);
    const others = [...counts.keys()].filter((owner) => owner !== this.workerId);
    const average = Math.floor(this.settings.partitionCount / (others.length + 1));
    const mine = (counts.get(this.workerId)?.length ?? 0) + live.filter((r) => r.nextOwner === this.workerId).length;
    if (mine >= average) return false;
    let asked = false;
    for (const owner of others.sort((a, b) => counts.get(b)!.length - counts.get(a)!.length)) {
      const rows = counts.get(owner)!;
      if (rows.length <= average) continue;
      const wanted = rows.length - average > 1 ? 2 : 1;
      for (const row of rows.filter((r) => !r.nextOwner).slice(0, wanted)) {
        try {
          await this.write(row.queue, { ...row, nextOwner: this.workerId }, row.etag);
          asked = true;
        } catch (err) {
          if (statusOf(err) !== 412) throw err;
        }
      }
      break;
    }
    return asked;
  }

  private beginRelease(row: LeaseRow): void {
    const work = (async () => {
      await this.drainQueue(row.queue);
      this.held.delete(row.queue);
      // Released with NextOwner kept: the worker that asked claims it on its next pass.
      const current = (await this.readRows()).find((r) => r.queue === row.queue);
      if (current && current.currentOwner === this.workerId) {
        await this.write(row.queue, { ...current, currentOwner: '', isDraining: false }, current.etag);
        this.log('information', `${this.workerId} released ${row.queue} to ${current.nextOwner || '(anyone)'}`);
      }
    })()
      .catch((err: unknown) => this.log('warning', `releasing ${row.queue}: ${describe(err)}`))
      .finally(() => this.draining.delete(row.queue));
    this.draining.set(row.queue, work);
  }

  private async drainQueue(queue: string): Promise<void> {
    const existing = this.draining.get(queue);
    if (existing && !this.stopping) return existing;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      this.events.drain(queue),
      new Promise<void>((resolve) => {
        timer = setTimeout(resolve, this.settings.leaseDrainMs);
      }),
    ]);
    clearTimeout(timer);
  }

  private async readRows(): Promise<LeaseRow[]> {
    const rows: LeaseRow[] = [];
    for await (const row of this.table.listEntities<Record<string, unknown>>({ queryOptions: { filter: `PartitionKey eq ''` } })) rows.push(fromRow(row));
    return rows.filter((r) => this.queues.includes(r.queue)).sort((a, b) => (a.queue < b.queue ? -1 : 1));
  }

  private async write(queue: string, row: Omit<LeaseRow, 'queue' | 'etag'> & { etag?: string }, etag: string): Promise<string> {
    const response = await this.table.updateEntity(
      {
        partitionKey: '',
        rowKey: queue,
        CurrentOwner: row.currentOwner,
        NextOwner: row.nextOwner,
        OwnedSince: new Date(row.ownedSince),
        LastRenewal: new Date(row.lastRenewal),
        ExpiresAt: new Date(row.expiresAt),
        IsDraining: row.isDraining,
      },
      'Replace',
      { etag },
    );
    return response.etag ?? '';
  }
}

function fromRow(row: TableEntityResult<Record<string, unknown>>): LeaseRow {
  const time = (value: unknown) => (value instanceof Date ? value.getTime() : typeof value === 'string' ? Date.parse(value) : 0);
  return {
    queue: row.rowKey ?? '',
    currentOwner: typeof row.CurrentOwner === 'string' ? row.CurrentOwner : '',
    nextOwner: typeof row.NextOwner === 'string' ? row.NextOwner : '',
    ownedSince: time(row.OwnedSince),
    lastRenewal: time(row.LastRenewal),
    expiresAt: time(row.ExpiresAt),
    isDraining: row.IsDraining === true,
    etag: row.etag,
  };
}

function statusOf(err: unknown): number | undefined {
  return typeof err === 'object' && err !== null && 'statusCode' in err ? (err as { statusCode: number }).statusCode : undefined;
}

function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
