/**
 * The webhook's view of the subscriptions: point reads by id, kept in memory for a minute so the request
 * path costs no storage round trip once warm. A miss is remembered only briefly, since a subscription just
 * created on another instance must be found by its first notification.
 */
import type { SubscriptionRecord } from './model';
import type { SubscriptionStore } from './ports';

export interface DirectoryOptions {
  ttlMs: number;
  missTtlMs: number;
  maxEntries: number;
}

const DEFAULTS: DirectoryOptions = { ttlMs: 60_000, missTtlMs: 1_000, maxEntries: 10_000 };

export class SubscriptionDirectory {
  private readonly cache = new Map<string, { record?: SubscriptionRecord; until: number }>();
  private readonly loading = new Map<string, Promise<SubscriptionRecord | undefined>>();
  private readonly options: DirectoryOptions;

  constructor(
    readonly store: SubscriptionStore,
    options: Partial<DirectoryOptions> = {},
    private readonly clock: () => number = Date.now,
  ) {
    this.options = { ...DEFAULTS, ...options };
  }

  lookup(subscriptionId: string): Promise<SubscriptionRecord | undefined> | SubscriptionRecord | undefined {
    const hit = this.cache.get(subscriptionId);
    if (hit && hit.until > this.clock()) return hit.record;
    // One read per id however many requests wait on it.
    let load = this.loading.get(subscriptionId);
    if (!load) {
      load = this.store.get(subscriptionId).then(
        (record) => {
          this.loading.delete(subscriptionId);
          this.set(subscriptionId, record);
          return record;
        },
        (error: unknown) => {
          this.loading.delete(subscriptionId);
          throw error;
        },
      );
      this.loading.set(subscriptionId, load);
    }
    return load;
  }

  /** After a write by this instance: the next notification finds it without a read. */
  remember(record: SubscriptionRecord): void {
    this.set(record.subscriptionId, record);
  }

  forget(subscriptionId: string): void {
    this.cache.delete(subscriptionId);
  }

  private set(subscriptionId: string, record: SubscriptionRecord | undefined): void {
    if (this.cache.size >= this.options.maxEntries) {
      const oldest = this.cache.keys().next();
      if (!oldest.done) this.cache.delete(oldest.value);
    }
    this.cache.delete(subscriptionId);
    this.cache.set(subscriptionId, { record, until: this.clock() + (record ? this.options.ttlMs : this.options.missTtlMs) });
  }
}
