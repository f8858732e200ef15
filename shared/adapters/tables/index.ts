/**
 * Storage on Azure Table Storage: every repository of `shared/ports/storage`. Layout in docs/storage.md.
 */
import {
  customerSchema,
  flowThroughCriteriaSchema,
  globalSettingsSchema,
  modelFilterCriteriaSchema,
  quickAddGroupSchema,
  siteDefaultsSchema,
  siteSchema,
  transactionRecordSchema,
  userProfileSchema,
} from '../../domain';
import type { Settings } from '../../config/settings';
import type { CustomerRepository, GlobalSettingsRepository, Storage } from '../../ports/storage';
import { connectionFromSettings, TableProvider, type TableConnection } from './client';
import { customerScopedRepository, DocumentTable } from './documents';
import { encodeKey } from './keys';
import { TableKeyValueStore } from './keyValue';
import { TableNumberInventory } from './numbers';
import { TableTransactionRepository, transactionColumns } from './transactions';
import { TableUserRepository } from './users';
import { pendingNumberAssignmentSchema, pendingNumberRepository } from './pendingNumbers';

export { TableProvider, connectionFromSettings, BatchWriter, submitAll, submitBatch, type TableConnection } from './client';
export { encodeKey, decodeKey } from './keys';
export { TABLE_LIMITS, planBatches, packJson, unpackJson, entitySize, assertEntityFits, type BatchAction, type TableEntityShape } from './limits';

export const TABLES = {
  customers: 'Customers',
  sites: 'Sites',
  siteDefaults: 'SiteDefaults',
  modelFilterCriteria: 'ModelFilterCriteria',
  quickAddGroups: 'QuickAddGroups',
  userProfiles: 'UserProfiles',
  flowThroughCriteria: 'FlowThroughCriteria',
  globalSettings: 'GlobalSettings',
  transactions: 'Transactions',
  pendingNumbers: 'PendingNumberAssignments',
} as const;

const CUSTOMERS_PARTITION = 'customer';
const SETTINGS_PARTITION = 'settings';

export function createTableStorage(connection: TableConnection): Storage {
  const tables = new TableProvider(connection);

  const customerTable = new DocumentTable(tables, TABLES.customers, customerSchema, 'customer');
  const customers: CustomerRepository = {
    get: (id) => customerTable.get(CUSTOMERS_PARTITION, encodeKey(id)),
    list: () => customerTable.list(CUSTOMERS_PARTITION),
    create: (c) => customerTable.create(CUSTOMERS_PARTITION, encodeKey(c.id), c),
    update: (c, etag) => customerTable.update(CUSTOMERS_PARTITION, encodeKey(c.id), c, etag),
    delete: (id, etag) => customerTable.delete(CUSTOMERS_PARTITION, encodeKey(id), etag),
  };

  const settingsTable = new DocumentTable(tables, TABLES.globalSettings, globalSettingsSchema, 'global settings');
  const globalSettings: GlobalSettingsRepository = {
    get: (scope) => settingsTable.get(SETTINGS_PARTITION, encodeKey(scope)),
    put: (scope, settings, etag) =>
      etag ? settingsTable.update(SETTINGS_PARTITION, encodeKey(scope), settings, etag) : settingsTable.upsert(SETTINGS_PARTITION, encodeKey(scope), settings),
    delete: (scope) => settingsTable.delete(SETTINGS_PARTITION, encodeKey(scope)),
  };

  return {
    customers,
    sites: customerScopedRepository(new DocumentTable(tables, TABLES.sites, siteSchema, 'site'), (s) => s.id),
    siteDefaults: customerScopedRepository(new DocumentTable(tables, TABLES.siteDefaults, siteDefaultsSchema, 'site defaults'), (d) => d.siteId),
    modelFilterCriteria: customerScopedRepository(new DocumentTable(tables, TABLES.modelFilterCriteria, modelFilterCriteriaSchema, 'model filter criteria'), (c) => c.id),
    quickAddGroups: customerScopedRepository(new DocumentTable(tables, TABLES.quickAddGroups, quickAddGroupSchema, 'Quick Add Group'), (g) => g.id),
    userProfiles: customerScopedRepository(new DocumentTable(tables, TABLES.userProfiles, userProfileSchema, 'user profile'), (p) => p.id),
    flowThroughCriteria: customerScopedRepository(new DocumentTable(tables, TABLES.flowThroughCriteria, flowThroughCriteriaSchema, 'flow-through criteria'), (f) => f.id),
    globalSettings,
    numbers: new TableNumberInventory(tables),
    users: new TableUserRepository(tables),
    transactions: new TableTransactionRepository(new DocumentTable(tables, TABLES.transactions, transactionRecordSchema, 'transaction', transactionColumns)),
    syncState: new TableKeyValueStore(tables),
    pendingNumbers: pendingNumberRepository(new DocumentTable(tables, TABLES.pendingNumbers, pendingNumberAssignmentSchema, 'pending number assignment')),
  };
}

/** Storage from the app settings (connection string locally, endpoint with managed identity in Azure). */
export function tableStorageFromSettings(settings: Settings): Storage {
  return createTableStorage(connectionFromSettings(settings));
}
