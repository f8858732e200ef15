/** Number ranges (expanded into the inventory) and the inventory listed with filters and paging. */
import { effectiveStatus, expandRange, MAX_RANGE_SIZE, resolveGlobalSettings, type NumberEntry, type NumberRange, type NumberStatus } from '../domain';
import { NotFoundError, PROVIDER_SCOPE, type AddRangeResult, type NumberScope } from '../ports/storage';
import { PageCollector, type Page, type PagingQuery } from '../http/query';
import { requireCustomer, type OnboardingDeps } from './deps';
import { InvalidConfigurationError } from './errors';

/** Refuses a range that cannot be expanded (too large); returns its size. */
export function checkRangeSize(range: Pick<NumberRange, 'first' | 'last'>, path = ''): number {
  try {
    return expandRange(range).length;
  } catch {
    throw new InvalidConfigurationError([{ in: 'body', path: `${path}/last`, message: `a range may hold at most ${MAX_RANGE_SIZE} numbers` }]);
  }
}

export async function preventDuplicateNumbers(deps: OnboardingDeps, customerId: string): Promise<boolean> {
  const [provider, customer] = await Promise.all([deps.storage.globalSettings.get(PROVIDER_SCOPE), deps.storage.globalSettings.get(customerId)]);
  return resolveGlobalSettings([provider?.value, customer?.value]).preventDuplicateNumbers;
}

/** Adds a range to the customer's or a site's inventory; numbers already there are kept. */
export async function addNumberRange(deps: OnboardingDeps, range: NumberRange): Promise<{ range: NumberRange } & AddRangeResult> {
  await requireCustomer(deps.storage, range.customerId);
  if (range.siteId !== undefined && !(await deps.storage.sites.get(range.customerId, range.siteId))) {
    throw new InvalidConfigurationError([{ in: 'body', path: '/siteId', message: `site ${range.siteId} does not exist` }]);
  }
  checkRangeSize(range);
  const result = await deps.storage.numbers.addRange(range, { preventDuplicateNumbers: await preventDuplicateNumbers(deps, range.customerId) });
  return { range, ...result };
}

export async function listNumberRanges(deps: OnboardingDeps, customerId: string, paging: PagingQuery): Promise<Page<NumberRange>> {
  await requireCustomer(deps.storage, customerId);
  const collector = new PageCollector<NumberRange>(paging.top ?? 100, paging.continuation);
  for (const r of await deps.storage.numbers.listRanges(customerId)) collector.add(r.id, r);
  return collector.page();
}

export interface NumberFilter {
  /** One site's inventory; absent = the customer's and every site's. */
  siteId?: string;
  /** Effective status: a cooling number whose period is over counts as Available. */
  status?: NumberStatus;
}

export async function listNumbers(deps: OnboardingDeps, customerId: string, filter: NumberFilter & PagingQuery): Promise<Page<NumberEntry>> {
  await requireCustomer(deps.storage, customerId);
  const scopes: NumberScope[] = [];
  if (filter.siteId !== undefined) {
    if (!(await deps.storage.sites.get(customerId, filter.siteId))) throw new NotFoundError(`site ${filter.siteId} does not exist`);
    scopes.push({ customerId, siteId: filter.siteId });
  } else {
    scopes.push({ customerId }, ...(await deps.storage.sites.list(customerId)).map((s) => ({ customerId, siteId: s.value.id })));
  }
  const now = (deps.now ?? (() => new Date()))();
  const collector = new PageCollector<NumberEntry>(filter.top ?? 100, filter.continuation);
  for (const scope of scopes) {
    for (const { value } of await deps.storage.numbers.list(scope)) {
      const status = effectiveStatus(value, now);
      if (filter.status !== undefined && status !== filter.status) continue;
      // The same number may sit in two scopes (duplicates allowed); the scope keeps keys unique.
      collector.add(`${value.number}~${value.siteId ?? ''}`, { ...value, status });
    }
  }
  return collector.page();
}
