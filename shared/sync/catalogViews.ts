/**
 * What the sync brought to the customer level, as operators read it: the tenant's license SKUs with their
 * seats, its dial plans, its Teams policies and its resource accounts, each list with the outcome of the sync that last read it
 * (so an empty list reads "skipped: no Teams admin bridge", not "none").
 */
import { CUSTOMER_INVENTORY, type ResourceAccount, type ResourceAccountKind } from '../domain';
import type { MicrosoftLicenseSku, TeamsPolicy, TenantDialPlan } from '../ports/microsoft';
import { RESOURCE_ACCOUNT_NUMBERS_KEY } from './resourceAccounts';
import { NotFoundError, type Storage } from '../ports/storage';
import { catalogOutcomeKey, type CatalogOutcomeRecord } from './model';
import type { CatalogStore, CatalogType } from './ports';

export interface LicenseView {
  skuId: string;
  skuPartNumber: string;
  capabilityStatus: string | null;
  appliesTo: string | null;
  /** Seats bought (enabled), in use (consumed) and free to assign (available, never below 0). */
  seats: { enabled: number; consumed: number; available: number; suspended: number; warning: number };
  servicePlans: Array<{ servicePlanId: string; servicePlanName: string }>;
}

export interface CatalogList<T> {
  value: T[];
  /** The outcome of the sync that last read this type; absent before the first sync. */
  lastSync?: CatalogOutcomeRecord;
}

interface CatalogReadDeps {
  storage: Storage;
  catalog: CatalogStore;
}

async function list<T>(deps: CatalogReadDeps, customerId: string, type: CatalogType): Promise<{ items: T[]; lastSync?: CatalogOutcomeRecord }> {
  if (!(await deps.storage.customers.get(customerId))) throw new NotFoundError(`customer "${customerId}" does not exist`);
  const [items, outcome] = await Promise.all([deps.catalog.list(customerId, type), deps.storage.syncState.get<CatalogOutcomeRecord>(customerId, catalogOutcomeKey(type))]);
  return { items: items.map((i) => i.data as T), ...(outcome ? { lastSync: outcome.value } : {}) };
}

export async function customerLicenses(deps: CatalogReadDeps, customerId: string): Promise<CatalogList<LicenseView>> {
  const { items, lastSync } = await list<MicrosoftLicenseSku>(deps, customerId, 'licenses');
  const value = items
    .map((s) => ({
      skuId: s.skuId,
      skuPartNumber: s.skuPartNumber,
      capabilityStatus: s.capabilityStatus,
      appliesTo: s.appliesTo,
      seats: {
        enabled: s.prepaidUnits.enabled,
        consumed: s.consumedUnits,
        available: Math.max(0, s.prepaidUnits.enabled - s.consumedUnits),
        suspended: s.prepaidUnits.suspended,
        warning: s.prepaidUnits.warning,
      },
      servicePlans: s.servicePlans.map((p) => ({ servicePlanId: p.servicePlanId, servicePlanName: p.servicePlanName })),
    }))
    .sort((a, b) => a.skuPartNumber.localeCompare(b.skuPartNumber));
  return { value, ...(lastSync ? { lastSync } : {}) };
}

export async function customerDialPlans(deps: CatalogReadDeps, customerId: string): Promise<CatalogList<TenantDialPlan>> {
  const { items, lastSync } = await list<TenantDialPlan>(deps, customerId, 'dialPlans');
  return { value: items.sort((a, b) => a.name.localeCompare(b.name)), ...(lastSync ? { lastSync } : {}) };
}

export async function customerPolicies(deps: CatalogReadDeps, customerId: string, policyType?: string): Promise<CatalogList<TeamsPolicy>> {
  const { items, lastSync } = await list<TeamsPolicy>(deps, customerId, 'policies');
  const value = items
    .filter((p) => !policyType || p.policyType === policyType)
    .sort((a, b) => a.policyType.localeCompare(b.policyType) || a.name.localeCompare(b.name));
  return { value, ...(lastSync ? { lastSync } : {}) };
}

export interface ResourceAccountView extends ResourceAccount {
  /** Each service number with its status in the inventory (Used-Utility once synced), or null when no inventory has it. */
  inventory: Array<{ number: string; status: string | null; inventory: string | null; reason: string | null }>;
}

export interface ResourceAccountList extends CatalogList<ResourceAccountView> {
  /** How many serve auto attendants, call queues, or what is unknown (no Teams admin bridge to ask). */
  byKind: Record<ResourceAccountKind, number>;
}

/** The tenant's resource accounts as last synced, each number with what the inventory says of it. */
export async function customerResourceAccounts(deps: CatalogReadDeps, customerId: string): Promise<ResourceAccountList> {
  const { items, lastSync } = await list<ResourceAccount>(deps, customerId, 'resourceAccounts');
  const marked = (await deps.storage.syncState.get<Record<string, { inventory: string }>>(customerId, RESOURCE_ACCOUNT_NUMBERS_KEY))?.value ?? {};
  const byKind: Record<ResourceAccountKind, number> = { 'auto-attendant': 0, 'call-queue': 0, unknown: 0 };
  const value: ResourceAccountView[] = [];
  for (const account of items.sort((a, b) => (a.userPrincipalName ?? a.id).localeCompare(b.userPrincipalName ?? b.id))) {
    byKind[account.kind]++;
    const inventory = await Promise.all(
      account.numbers.map(async (number) => {
        const where = marked[number]?.inventory;
        const entry = where ? await deps.storage.numbers.get(where === CUSTOMER_INVENTORY ? { customerId } : { customerId, siteId: where }, number) : undefined;
        return { number, status: entry?.value.status ?? null, inventory: entry ? where ?? null : null, reason: entry?.value.reason ?? null };
      }),
    );
    value.push({ ...account, inventory });
  }
  return { value, byKind, ...(lastSync ? { lastSync } : {}) };
}
