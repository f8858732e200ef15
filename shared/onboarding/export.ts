/**
 * A customer's whole configuration as one document, in the shape `PUT …/configuration` takes: export it,
 * edit it, apply it here or to another customer. Ids stay; the customer id comes from the URL on import.
 * Only what an operator configures is in it (no users, numbers' states or sync records).
 */
import type { Storage } from '../ports/storage';
import { requireCustomer } from './deps';

export async function exportConfiguration(deps: { storage: Storage }, customerId: string): Promise<Record<string, unknown>> {
  const { storage } = deps;
  const customer = (await requireCustomer(storage, customerId)).value;
  const [sites, criteria, defaults, groups, profiles, flowThrough, settings, ranges] = await Promise.all([
    storage.sites.list(customerId),
    storage.modelFilterCriteria.list(customerId),
    storage.siteDefaults.list(customerId),
    storage.quickAddGroups.list(customerId),
    storage.userProfiles.list(customerId),
    storage.flowThroughCriteria.list(customerId),
    storage.globalSettings.get(customerId),
    storage.numbers.listRanges(customerId),
  ]);
  const values = <T>(items: Array<{ value: T }>) => items.map((i) => withoutCustomer(i.value));
  const { id: _id, ...customerFields } = customer;
  return {
    customer: customerFields,
    sites: values(sites),
    modelFilterCriteria: values(criteria),
    siteDefaults: values(defaults),
    quickAddGroups: values(groups),
    userProfiles: values(profiles),
    ...(flowThrough.length > 0 ? { flowThroughCriteria: withoutCustomer(flowThrough[0].value) } : {}),
    ...(settings ? { globalSettings: settings.value } : {}),
    numberRanges: ranges.map(withoutCustomer),
  };
}

function withoutCustomer<T>(value: T): Omit<T, 'customerId'> {
  const { customerId: _c, ...rest } = value as T & { customerId?: string };
  return rest;
}
