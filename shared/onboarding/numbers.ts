/** Number ranges (expanded into the inventory) and the inventory listed with filters and paging. */
import {
  effectiveStatus,
  endCooling,
  expandRange,
  inventoryName,
  MAX_RANGE_SIZE,
  NumberStatusRefused,
  operatorStatus,
  resolveGlobalSettings,
  type NumberEntry,
  type NumberRange,
  type NumberStatus,
  type OperatorNumberAction,
} from '../domain';
import { ConcurrencyError, ConflictError, NotFoundError, PROVIDER_SCOPE, type AddRangeResult, type NumberScope, type Storage } from '../ports/storage';
import { PageCollector, type Page, type PagingQuery } from '../http/query';
import { requireCustomer, type OnboardingDeps } from './deps';
import { InUseError, InvalidConfigurationError } from './errors';
import { reconcileNumbers } from '../inventory/reconcile';

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
  await markHeldInRange(deps.storage, range);
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
  /** Only numbers flagged duplicate (true), or only those not flagged (false). */
  duplicate?: boolean;
  /** Only numbers recorded outside any range (true: held in Teams when first seen), or only range numbers (false). */
  outsideRanges?: boolean;
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
      if (filter.duplicate !== undefined && (value.duplicate === true) !== filter.duplicate) continue;
      if (filter.outsideRanges !== undefined && (value.rangeId === undefined) !== filter.outsideRanges) continue;
      // The same number may sit in two scopes (duplicates allowed); the scope keeps keys unique.
      collector.add(`${value.number}~${value.siteId ?? ''}`, { ...value, status });
    }
  }
  return collector.page();
}

async function effectiveSettings(storage: Storage, customerId: string) {
  const [provider, own] = await Promise.all([storage.globalSettings.get(PROVIDER_SCOPE), storage.globalSettings.get(customerId)]);
  return resolveGlobalSettings([provider?.value, own?.value]);
}

/**
 * An operator reserves a number, marks it used by a utility, or releases either, with a reason: the
 * statuses only an operator sets. @throws ConflictError (409) when the number's state refuses the change
 * (a user holds it), NotFoundError when the inventory has no such number.
 */
export async function setNumberStatus(
  deps: OnboardingDeps,
  customerId: string,
  number: string,
  change: { action: OperatorNumberAction; siteId?: string; reason?: string },
): Promise<NumberEntry> {
  await requireCustomer(deps.storage, customerId);
  if (change.siteId !== undefined && !(await deps.storage.sites.get(customerId, change.siteId))) throw new NotFoundError(`site ${change.siteId} does not exist`);
  if (change.action !== 'release' && !change.reason) throw new InvalidConfigurationError([{ in: 'body', path: '/reason', message: `a reason is required to ${change.action === 'reserve' ? 'reserve a number' : 'mark a number used by a utility'}` }]);
  const scope: NumberScope = { customerId, ...(change.siteId !== undefined ? { siteId: change.siteId } : {}) };
  const now = (deps.now ?? (() => new Date()))();
  const { numberCoolingDays } = await effectiveSettings(deps.storage, customerId);
  try {
    const saved = await deps.storage.numbers.update(scope, number, (entry) => {
      const next = operatorStatus(entry, change.action, change.reason, now, numberCoolingDays);
      return next === entry ? undefined : next;
    });
    return { ...saved.value, status: effectiveStatus(saved.value, now) };
  } catch (error) {
    if (error instanceof NumberStatusRefused) throw new ConflictError(error.message);
    throw error;
  }
}

/**
 * Deletes a range and the numbers it brought into the inventory, unless one of them is in use (held by a
 * user or a utility): then nothing is deleted and the 409 names them. Numbers reserved or cooling go with
 * the range; numbers the inventory had before the range keep their place.
 */
export async function deleteNumberRange(deps: OnboardingDeps, customerId: string, rangeId: string): Promise<{ removed: number }> {
  await requireCustomer(deps.storage, customerId);
  const range = await deps.storage.numbers.getRange(customerId, rangeId);
  if (!range) throw new NotFoundError(`number range ${rangeId} does not exist`);
  const scope: NumberScope = { customerId, ...(range.siteId !== undefined ? { siteId: range.siteId } : {}) };
  const ours = (await deps.storage.numbers.list(scope)).filter((e) => e.value.rangeId === rangeId && e.value.number >= range.first && e.value.number <= range.last);
  const describe = (e: NumberEntry) => `${e.number} (${e.status === 'Used' ? `held by user ${e.userId ?? '?'}` : `used by a utility: ${e.reason ?? 'no reason given'}`})`;
  const inUse = ours.filter((e) => e.value.status === 'Used' || e.value.status === 'Used-Utility').map((e) => describe(e.value));
  if (inUse.length > 0) throw new InUseError(`number range ${rangeId}`, inUse);
  let removed = 0;
  const refused: string[] = [];
  for (const { value } of ours) {
    for (let attempt = 0; ; attempt++) {
      try {
        await deps.storage.numbers.remove(scope, value.number);
        removed++;
        break;
      } catch (error) {
        // Taken meanwhile: the range stays, and the answer names the number.
        if (error instanceof ConflictError) {
          refused.push(`${value.number} (taken while the range was being deleted)`);
          break;
        }
        if (!(error instanceof ConcurrencyError) || attempt >= 5) throw error;
      }
    }
  }
  if (refused.length > 0) throw new InUseError(`number range ${rangeId}`, refused);
  await deps.storage.numbers.removeRange(customerId, rangeId);
  return { removed };
}

/** The cooling timer's sweep: numbers whose cooling period is over are Available again, in storage as in reads. */
export async function endCoolingPeriods(storage: Storage, now: Date): Promise<{ customers: number; available: number }> {
  let available = 0;
  const customers = await storage.customers.list();
  for (const { value: customer } of customers) {
    for (const { value } of await storage.numbers.listAll(customer.id)) {
      if (!endCooling(value, now)) continue;
      try {
        await storage.numbers.update({ customerId: customer.id, ...(value.siteId !== undefined ? { siteId: value.siteId } : {}) }, value.number, (current) => endCooling(current, now));
        available++;
      } catch (error) {
        if (!(error instanceof NotFoundError)) throw error;
      }
    }
  }
  return { customers: customers.length, available };
}

export interface DuplicateNumbersReport {
  /** Numbers now claimed customer-wide, so no second inventory can take them. */
  claimed: number;
  /** Numbers already kept in several inventories, or held by several users: flagged, and not handed out again. */
  duplicates: Array<{ number: string; inventories: string[]; heldBy?: string[] }>;
}

/**
 * Prevent duplicate numbers switched on: every number is claimed customer-wide, and the duplicates that
 * already exist are reported and flagged, so none of them is handed out again.
 */
export async function enforceNoDuplicateNumbers(storage: Storage, customerId: string): Promise<DuplicateNumbersReport> {
  const { claimed } = await storage.numbers.claimExisting(customerId);
  const byNumber = new Map<string, NumberEntry[]>();
  for (const { value } of await storage.numbers.listAll(customerId)) byNumber.set(value.number, [...(byNumber.get(value.number) ?? []), value]);
  const duplicates: DuplicateNumbersReport['duplicates'] = [];
  for (const [number, entries] of byNumber) {
    const inventories = entries.map(inventoryName).sort();
    const heldBy = [...new Set(entries.flatMap((e) => e.heldBy ?? []))].sort();
    if (inventories.length < 2 && heldBy.length < 2) continue;
    duplicates.push({ number, inventories, ...(heldBy.length > 1 ? { heldBy } : {}) });
    for (const entry of entries) {
      const alsoIn = inventories.filter((i) => i !== inventoryName(entry));
      if (entry.duplicate && (alsoIn.length === 0 || JSON.stringify(entry.alsoIn) === JSON.stringify(alsoIn))) continue;
      await storage.numbers
        .update({ customerId, ...(entry.siteId !== undefined ? { siteId: entry.siteId } : {}) }, number, (e) => ({ ...e, duplicate: true, ...(alsoIn.length ? { alsoIn } : {}) }))
        .catch((error: unknown) => {
          if (!(error instanceof NotFoundError)) throw error;
        });
    }
  }
  return { claimed, duplicates: duplicates.sort((a, b) => (a.number < b.number ? -1 : 1)) };
}

/**
 * The numbers of a new range that users hold in Teams (as the last sync saw it) are Used by them from the
 * start, so next available never offers them in the meantime.
 */
export async function markHeldInRange(storage: Storage, range: Pick<NumberRange, 'customerId' | 'first' | 'last'>): Promise<void> {
  const holdings = new Map<string, string[]>();
  for await (const row of storage.users.teamsNumbers(range.customerId)) {
    const inRange = row.numbers.filter((n) => n.length === range.first.length && n >= range.first && n <= range.last);
    if (inRange.length > 0) holdings.set(row.userId, inRange);
  }
  if (holdings.size > 0) await reconcileNumbers(storage, { customerId: range.customerId, complete: false, holdings });
}
