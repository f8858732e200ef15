/** Everything the notification use cases run against, wired once per process in shared/app. */
import type { MicrosoftAccess, PendingDeletionStore } from '../sync/ports';
import type { ProvisioningQueue } from '../provisioning/messages';
import type { Storage } from '../ports/storage';
import type { UserEventPublisher } from '../ports/events';
import type { ActivityCounters } from './activity';
import type { SubscriptionDirectory } from './directory';
import type { NotificationQueue } from './ports';

export interface SubscriptionSettings {
  /** `<base>/api/graph/notifications`; undefined when SITESYNC_WEBHOOK_BASE_URL is not set. */
  notificationUrl?: string;
  lifecycleUrl?: string;
  lifetimeMinutes: number;
  /** Renew once less than this share of the lifetime is left. */
  renewWhenLeft: number;
}

export interface NotificationDeps {
  storage: Storage;
  pending: PendingDeletionStore;
  /** Flow-through hand-off (the "user-provisioning" queue). */
  provisioning: ProvisioningQueue;
  microsoft: MicrosoftAccess;
  subscriptions: SubscriptionDirectory;
  counters: ActivityCounters;
  queue: NotificationQueue;
  settings: SubscriptionSettings;
  /** Where user state changes are published (docs/events.md). */
  events?: UserEventPublisher;
  /** Hand-offs of a customer in the provisioning queue at once (default HANDOFF_WINDOW). */
  handOffWindow?: number;
  /** Starts a delta sync of the customer; resolves false when one could not start (one is running). */
  startDeltaSync?: (customerId: string) => Promise<boolean>;
  now?: () => Date;
}

export const nowOf = (deps: Pick<NotificationDeps, 'now'>): Date => (deps.now ? deps.now() : new Date());
