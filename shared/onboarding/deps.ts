/** What the onboarding use cases need, and the hook that later work fills in. */
import type { Customer } from '../domain';
import { NotFoundError, type CustomerScopedRepository, type Storage, type Versioned } from '../ports/storage';
import type { ConfigurationSnapshot, ItemKind, ItemTypes } from './references';

/** Raised when a customer has just been onboarded (created with its tenant), once per customer. */
export interface CustomerOnboarded {
  customer: Customer;
  at: Date;
}

/**
 * Work to start once a customer exists: the first pull sync, the Graph change-notification subscription.
 * Listeners run in order after the customer is stored; one that fails does not undo the onboarding (the
 * customer exists and the step can be retried), it is reported in the result.
 */
export interface CustomerOnboardedListener {
  /** Short name for the report, e.g. "first-sync". */
  readonly name: string;
  customerOnboarded(event: CustomerOnboarded): Promise<void>;
}

/**
 * A part of sitesync that keeps something for a customer outside its configuration: when the customer is
 * deleted, it says whether the customer can go now and then removes what it keeps, so that nothing of the
 * customer (run errors, Durable histories, subscriptions, its credential reference) outlives it.
 */
export interface CustomerRemovalParticipant {
  /** Short name for errors, e.g. "durable-instances". */
  readonly name: string;
  /** Why the customer cannot be deleted now (work still running); empty when it can. */
  blockers?(customerId: string): Promise<string[]>;
  /** Removes what it keeps for the customer. Idempotent: a deletion that stopped half-way is repeated. */
  remove(customerId: string): Promise<void>;
}

/** Something that stops a customer's app registration from working for sitesync, on the field to fix. */
export interface TenantAppFinding {
  field: 'tenantId' | 'clientId' | 'credentialRef';
  message: string;
  /** Application permissions sitesync needs that the app's token does not carry. */
  missingPermissions?: string[];
}

/**
 * Proves an app registration before it is stored: its credential reference names a secret that exists,
 * Microsoft Entra issues a token with it, and the token carries every permission sitesync needs.
 */
export interface TenantAppVerifier {
  /** Empty when the app works; each finding names its problem and never the secret. */
  verify(app: { tenantId: string; clientId: string; credentialRef: string }): Promise<TenantAppFinding[]>;
}

export interface OnboardingDeps {
  storage: Storage;
  /** Proves the tenant's app registration on onboarding and on every change of it. */
  tenantApps?: TenantAppVerifier;
  /** The after-onboarding hook; empty by default. */
  afterCustomerOnboarded?: readonly CustomerOnboardedListener[];
  /** What else a customer's deletion removes (its runs, work, Durable instances, subscriptions). */
  customerRemoval?: readonly CustomerRemovalParticipant[];
  now?: () => Date;
}

export function repositoryOf<K extends ItemKind>(storage: Storage, kind: K): CustomerScopedRepository<ItemTypes[K]> {
  const repos: { [P in ItemKind]: CustomerScopedRepository<ItemTypes[P]> } = {
    site: storage.sites,
    siteDefaults: storage.siteDefaults,
    modelFilterCriteria: storage.modelFilterCriteria,
    quickAddGroup: storage.quickAddGroups,
    userProfile: storage.userProfiles,
    flowThroughCriteria: storage.flowThroughCriteria,
  };
  return repos[kind];
}

export async function requireCustomer(storage: Storage, customerId: string): Promise<Versioned<Customer>> {
  const customer = await storage.customers.get(customerId);
  if (!customer) throw new NotFoundError(`customer ${customerId} does not exist`);
  return customer;
}

export async function loadSnapshot(storage: Storage, customerId: string): Promise<ConfigurationSnapshot> {
  const values = async <T>(p: Promise<Versioned<T>[]>) => (await p).map((v) => v.value);
  const [site, siteDefaults, modelFilterCriteria, quickAddGroup, userProfile, flowThroughCriteria, globalSettings] = await Promise.all([
    values(storage.sites.list(customerId)),
    values(storage.siteDefaults.list(customerId)),
    values(storage.modelFilterCriteria.list(customerId)),
    values(storage.quickAddGroups.list(customerId)),
    values(storage.userProfiles.list(customerId)),
    values(storage.flowThroughCriteria.list(customerId)),
    storage.globalSettings.get(customerId),
  ]);
  return { site, siteDefaults, modelFilterCriteria, quickAddGroup, userProfile, flowThroughCriteria, globalSettings: globalSettings?.value };
}
