/** Wires the pull sync's use cases to Table Storage, Service Bus and Microsoft, once per process. */
import { TableProvider, connectionFromSettings, tableStorageFromSettings } from '../adapters/tables';
import { TableCatalogStore, TablePendingDeletionStore, TableSyncDefinitionStore, TableSyncRunStore } from '../adapters/tables/sync';
import { ServiceBusProvisioningScheduler } from '../adapters/servicebus/provisioningScheduler';
import { ServiceBusUserEvents } from '../adapters/servicebus/userEvents';
import { provisionMessageId } from '../provisioning/messages';
import { readSettings } from '../config/settings';
import type { SyncDeps } from '../sync/service';
import { CustomerMicrosoftAccess } from './microsoft';

let cached: { key: string; deps: SyncDeps } | undefined;

export function syncDeps(): SyncDeps {
  const settings = readSettings();
  const key = `${settings.SITESYNC_TABLES_CONNECTION_STRING ?? settings.SITESYNC_TABLES_ENDPOINT}|${settings.ServiceBusConnection ?? ''}`;
  if (cached?.key === key) return cached.deps;
  const storage = tableStorageFromSettings(settings);
  const tables = new TableProvider(connectionFromSettings(settings));
  const deps: SyncDeps = {
    storage,
    runs: new TableSyncRunStore(tables),
    definitions: new TableSyncDefinitionStore(tables),
    catalog: new TableCatalogStore(tables),
    pending: new TablePendingDeletionStore(tables),
    queue: new ServiceBusProvisioningScheduler(provisionMessageId),
    microsoft: new CustomerMicrosoftAccess(storage),
    events: new ServiceBusUserEvents(),
    ...(settings.SITESYNC_HANDOFF_WINDOW ? { handOffWindow: settings.SITESYNC_HANDOFF_WINDOW } : {}),
  };
  cached = { key, deps };
  return deps;
}
