/**
 * What the sync brought to the customer level, as operators read it: the tenant's license SKUs with their
 * seats, its dial plans and its Teams policies, each list with the outcome of the sync that last read it
 * (so an empty list reads "skipped: no Teams admin bridge", not "none").
 */
import type { MicrosoftLicenseSku, TeamsPolicy, TenantDialPlan } from '../ports/microsoft';
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
