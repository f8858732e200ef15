/**
 * A customer's provisioning configuration, read once and compiled: sites with their defaults and move-user
 * criteria (placement rules), Quick Add Groups, user profiles, flow-through criteria and the resolved
 * global settings, with what the last sync recorded that every user's plan consults (its last complete
 * Teams pass, whether it read the dial plans). Cached briefly per process: a burst of messages for one
 * customer reads it once, and an operator's change or a sync's record is seen within the cache's lifetime
 * (at once in the process that wrote it).
 */
import {
  placementRules,
  resolveGlobalSettings,
  siteMacros,
  type Customer,
  type EffectiveGlobalSettings,
  type FlowThroughCriteria,
  type MacroContext,
  type ModelFilterCriteria,
  type PlacementRules,
  type QuickAddGroup,
  type Site,
  type SiteDefaults,
  type UserProfile,
} from '../domain';
import { NotFoundError, PROVIDER_SCOPE, type Storage } from '../ports/storage';
import { catalogOutcomeKey, TEAMS_PASS_KEY, type CatalogOutcomeRecord, type TeamsPassRecord } from '../sync/model';

export interface CustomerContext {
  customer: Customer;
  settings: EffectiveGlobalSettings;
  sites: Map<string, Site>;
  siteDefaults: Map<string, SiteDefaults>;
  criteria: Map<string, ModelFilterCriteria>;
  quickAddGroups: Map<string, QuickAddGroup>;
  profiles: Map<string, UserProfile>;
  flowThrough: Map<string, FlowThroughCriteria>;
  /** Every site enabled for Microsoft users with move-user criteria. */
  placement: PlacementRules;
  /** The last Teams pass a sync read to its end, if any. */
  teamsPass?: TeamsPassRecord;
  /** How the last sync's read of the dial plans ended, if it ran. */
  dialPlans?: CatalogOutcomeRecord;
  loadedAt: number;
}

/** A storage not-found, so that callers over HTTP answer 404 without knowing this class. */
export class CustomerNotFoundError extends NotFoundError {
  override name = 'CustomerNotFoundError';
}

const TTL_MS = 5_000;
const cache = new Map<string, Promise<CustomerContext>>();

/** Loads (or reuses, within a few seconds) the customer's configuration. */
export function customerContext(storage: Storage, customerId: string, now = Date.now()): Promise<CustomerContext> {
  const cached = cache.get(customerId);
  if (cached) {
    return cached.then((c) => (now - c.loadedAt < TTL_MS ? c : reload(storage, customerId, now)));
  }
  return reload(storage, customerId, now);
}

/** Drops cached configuration (after an operator's change, in tests). */
export function forgetCustomerContexts(customerId?: string): void {
  if (customerId === undefined) cache.clear();
  else cache.delete(customerId);
}

function reload(storage: Storage, customerId: string, now: number): Promise<CustomerContext> {
  const loading = load(storage, customerId, now);
  cache.set(customerId, loading);
  loading.catch(() => cache.delete(customerId));
  return loading;
}

async function load(storage: Storage, customerId: string, now: number): Promise<CustomerContext> {
  const [customer, sites, defaults, criteria, groups, profiles, flowThrough, provider, own, teamsPass, dialPlans] = await Promise.all([
    storage.customers.get(customerId),
    storage.sites.list(customerId),
    storage.siteDefaults.list(customerId),
    storage.modelFilterCriteria.list(customerId),
    storage.quickAddGroups.list(customerId),
    storage.userProfiles.list(customerId),
    storage.flowThroughCriteria.list(customerId),
    storage.globalSettings.get(PROVIDER_SCOPE),
    storage.globalSettings.get(customerId),
    storage.syncState.get<TeamsPassRecord>(customerId, TEAMS_PASS_KEY),
    storage.syncState.get<CatalogOutcomeRecord>(customerId, catalogOutcomeKey('dialPlans')),
  ]);
  if (!customer) throw new CustomerNotFoundError(`customer ${customerId} does not exist`);
  const byId = <T>(items: Array<{ value: T }>, id: (t: T) => string) => new Map(items.map((i) => [id(i.value), i.value]));
  const context: Omit<CustomerContext, 'placement'> = {
    customer: customer.value,
    settings: resolveGlobalSettings([provider?.value, own?.value]),
    sites: byId(sites, (s) => s.id),
    siteDefaults: byId(defaults, (d) => d.siteId),
    criteria: byId(criteria, (c) => c.id),
    quickAddGroups: byId(groups, (g) => g.id),
    profiles: byId(profiles, (p) => p.id),
    flowThrough: byId(flowThrough, (f) => f.id),
    ...(teamsPass ? { teamsPass: teamsPass.value } : {}),
    ...(dialPlans ? { dialPlans: dialPlans.value } : {}),
    loadedAt: now,
  };
  return { ...context, placement: placementFor(context) };
}

/** Placement rules over the given sites (all, or one for a single-site overbuild). */
export function placementFor(context: Pick<CustomerContext, 'sites' | 'siteDefaults' | 'criteria'>, onlySiteId?: string): PlacementRules {
  const candidates = [...context.sites.values()]
    .filter((site) => onlySiteId === undefined || site.id === onlySiteId)
    .flatMap((site) => {
      const defaults = context.siteDefaults.get(site.id);
      if (!defaults) return [];
      const moveUserCriteria = defaults.moveUserCriteriaId ? context.criteria.get(defaults.moveUserCriteriaId) : undefined;
      return [{ site, defaults, ...(moveUserCriteria ? { moveUserCriteria } : {}) }];
    });
  return placementRules(candidates);
}

export function macrosOf(context: CustomerContext, siteId: string): MacroContext {
  const site = context.sites.get(siteId);
  return site ? siteMacros(site) : {};
}
