/** Wires the notification use cases to Table Storage, Service Bus and Microsoft, once per process. */
import { TableProvider, connectionFromSettings } from '../adapters/tables';
import { TablePendingDeletionStore } from '../adapters/tables/sync';
import { TableSubscriptionStore } from '../adapters/tables/subscriptions';
import { ServiceBusNotificationQueue } from '../adapters/servicebus/notificationQueue';
import { readSettings } from '../config/settings';
import {
  ActivityCounters,
  DEFAULT_LIFETIME_MINUTES,
  LIFECYCLE_PATH,
  NOTIFICATION_PATH,
  RENEW_WHEN_LEFT,
  ensureSubscription,
  SubscriptionDirectory,
  type NotificationDeps,
} from '../notifications';
import type { CustomerOnboardedListener } from '../onboarding/deps';
import type { Orchestrations } from '../ports/orchestrations';
import { startSync, SyncRefused } from '../sync/service';
import { syncDeps } from './sync';

let cached: { key: string; deps: NotificationDeps } | undefined;

/** `orchestrations` is asked for only when a lifecycle event needs a delta sync (the Durable client is an input). */
export function notificationDeps(orchestrations?: () => Orchestrations): NotificationDeps {
  const settings = readSettings();
  const base = settings.SITESYNC_WEBHOOK_BASE_URL?.replace(/\/+$/, '');
  const key = `${settings.SITESYNC_TABLES_CONNECTION_STRING ?? settings.SITESYNC_TABLES_ENDPOINT}|${settings.ServiceBusConnection ?? ''}|${base ?? ''}`;
  if (cached?.key !== key) {
    const sync = syncDeps();
    const tables = new TableProvider(connectionFromSettings(settings));
    const store = new TableSubscriptionStore(tables);
    cached = {
      key,
      deps: {
        storage: sync.storage,
        pending: new TablePendingDeletionStore(tables),
        provisioning: sync.queue,
        microsoft: sync.microsoft,
        ...(sync.events ? { events: sync.events } : {}),
        ...(sync.handOffWindow ? { handOffWindow: sync.handOffWindow } : {}),
        subscriptions: new SubscriptionDirectory(store),
        counters: new ActivityCounters(store),
        queue: new ServiceBusNotificationQueue(),
        settings: {
          notificationUrl: base ? `${base}/api/${NOTIFICATION_PATH}` : undefined,
          lifecycleUrl: base ? `${base}/api/${LIFECYCLE_PATH}` : undefined,
          lifetimeMinutes: DEFAULT_LIFETIME_MINUTES,
          renewWhenLeft: RENEW_WHEN_LEFT,
        },
      },
    };
  }
  const deps = cached.deps;
  if (!orchestrations) return deps;
  return {
    ...deps,
    startDeltaSync: async (customerId) => {
      try {
        await startSync({ ...syncDeps(), orchestrations: orchestrations() }, { customerId, kind: 'delta', trigger: 'notification' });
        return true;
      } catch (error) {
        if (error instanceof SyncRefused && error.status === 409) return false;
        throw error;
      }
    },
  };
}

/** After onboarding: the customer's Graph subscription, so changes reach it between syncs from now on. */
export function subscriptionOnOnboarding(): CustomerOnboardedListener {
  return {
    name: 'graph-subscription',
    async customerOnboarded({ customer }) {
      await ensureSubscription(notificationDeps(), customer.id);
    },
  };
}
