/**
 * Counters of what the webhook and the queue consumer did, per subscription. Counted in memory and added
 * to storage about once a second, so a burst of notifications costs no storage write per request and no
 * contention on one counter row.
 */
import { zeroNotificationCounts, type NotificationCounts } from './model';
import type { SubscriptionStore } from './ports';

interface Pending {
  delta: NotificationCounts;
  notificationAt?: string;
  lifecycleEvent?: { event: string; at: string };
}

/** Notifications naming no known subscription are counted here. */
export const UNKNOWN_SUBSCRIPTION = '*unknown';

export class ActivityCounters {
  private pending = new Map<string, Pending>();
  private timer?: NodeJS.Timeout;
  private flushing: Promise<void> = Promise.resolve();

  constructor(
    private readonly store: SubscriptionStore,
    private readonly intervalMs = 1_000,
  ) {}

  add(subscriptionId: string, delta: Partial<NotificationCounts>, last: { notificationAt?: string; lifecycleEvent?: { event: string; at: string } } = {}): void {
    const p = this.pending.get(subscriptionId) ?? { delta: zeroNotificationCounts() };
    for (const [k, v] of Object.entries(delta) as Array<[keyof NotificationCounts, number]>) p.delta[k] += v;
    if (last.notificationAt && (!p.notificationAt || last.notificationAt > p.notificationAt)) p.notificationAt = last.notificationAt;
    if (last.lifecycleEvent) p.lifecycleEvent = last.lifecycleEvent;
    this.pending.set(subscriptionId, p);
    if (!this.timer) {
      this.timer = setTimeout(() => {
        this.timer = undefined;
        void this.flush().catch(() => undefined);
      }, this.intervalMs);
      this.timer.unref();
    }
  }

  /** Writes everything counted so far; what fails to write is kept for the next flush. */
  flush(): Promise<void> {
    this.flushing = this.flushing.catch(() => undefined).then(async () => {
      const batch = this.pending;
      this.pending = new Map();
      const failures: unknown[] = [];
      await Promise.all(
        [...batch].map(async ([id, p]) => {
          try {
            await this.store.addActivity(id, p.delta, { notificationAt: p.notificationAt, lifecycleEvent: p.lifecycleEvent });
          } catch (error) {
            failures.push(error);
            this.add(id, p.delta, { notificationAt: p.notificationAt, lifecycleEvent: p.lifecycleEvent });
          }
        }),
      );
      if (failures.length > 0) throw failures[0];
    });
    return this.flushing;
  }
}
