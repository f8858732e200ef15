/** Users of a customer (or of one site), filtered and paged for operators. */
import type { UserRecord, UserStateKind } from '../domain';
import { NotFoundError } from '../ports/storage';
import { PageCollector, type Page, type PagingQuery } from '../http/query';
import { requireCustomer, type OnboardingDeps } from './deps';

export interface UserFilter {
  siteId?: string;
  state?: UserStateKind;
  /** Case-insensitive prefix of the user principal name or the display name. */
  search?: string;
}

/**
 * Pages by user id over the customer's whole user listing, keeping only `top` users in memory: each page
 * reads every user of the customer, which is fine at operator pace for tenants of tens of thousands.
 */
export async function listUsers(deps: OnboardingDeps, customerId: string, filter: UserFilter & PagingQuery): Promise<Page<UserRecord>> {
  await requireCustomer(deps.storage, customerId);
  if (filter.siteId !== undefined && !(await deps.storage.sites.get(customerId, filter.siteId))) throw new NotFoundError(`site ${filter.siteId} does not exist`);
  const prefix = filter.search?.toLowerCase();
  const collector = new PageCollector<UserRecord>(filter.top ?? 100, filter.continuation);
  for await (const { value } of deps.storage.users.list(customerId)) {
    if (filter.state !== undefined && value.state.kind !== filter.state) continue;
    if (filter.siteId !== undefined && !('siteId' in value.state && value.state.siteId === filter.siteId)) continue;
    if (prefix !== undefined && !matchesPrefix(value, prefix)) continue;
    collector.add(value.userId, value);
  }
  return collector.page();
}

function matchesPrefix(user: UserRecord, prefix: string): boolean {
  const fields = [user.attributes.userPrincipalName, user.attributes.displayName];
  return fields.some((f) => typeof f === 'string' && f.toLowerCase().startsWith(prefix));
}
