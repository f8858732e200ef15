/** What the notification use cases need besides the shared storage, Microsoft and sync ports. */
import type { NotificationCounts, QueuedNotification, SubscriptionActivity, SubscriptionRecord } from './model';

export interface SubscriptionStore {
  /** A point read by subscription id (the webhook's lookup). */
  get(subscriptionId: string): Promise<SubscriptionRecord | undefined>;
  listForCustomer(customerId: string): Promise<SubscriptionRecord[]>;
  listAll(): Promise<SubscriptionRecord[]>;
  put(record: SubscriptionRecord): Promise<void>;
  /** Removes the record; its activity counters stay readable. */
  remove(subscriptionId: string): Promise<void>;
  activity(subscriptionId: string): Promise<SubscriptionActivity>;
  /** Adds to the counters (safe under concurrent writers from several instances). */
  addActivity(subscriptionId: string, delta: Partial<NotificationCounts>, last?: { notificationAt?: string; lifecycleEvent?: { event: string; at: string } }): Promise<void>;
}

/** The "graph-notifications" queue. */
export interface NotificationQueue {
  send(messages: readonly QueuedNotification[]): Promise<void>;
}
