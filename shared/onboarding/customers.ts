/** Onboarding a customer with its Microsoft tenant, and the customer's own lifecycle. */
import type { Customer } from '../domain';
import { ConcurrencyError, ConflictError, NotFoundError, type CustomerScopedRepository, type Versioned } from '../ports/storage';
import { pageOf, type Page, type PagingQuery } from '../http/query';
import type { OnboardingDeps } from './deps';
import { InUseError, InvalidConfigurationError } from './errors';
import type { OnboardCustomerInput } from './schemas';

export interface OnboardingResult {
  customer: Versioned<Customer>;
  /** What each after-onboarding listener did; a failure leaves the customer onboarded. */
  followUps: Array<{ name: string; ok: boolean; error?: string }>;
}

/** Stores the customer with its tenant and app registration, then runs the after-onboarding listeners. */
export async function onboardCustomer(deps: OnboardingDeps, input: OnboardCustomerInput): Promise<OnboardingResult> {
  if (await deps.storage.customers.get(input.id)) throw new ConflictError(`customer ${input.id} already exists`);
  await proveTenantApp(deps, input);
  const customer = await deps.storage.customers.create(toCustomer(input));
  return { customer, followUps: await customerOnboarded(deps, customer.value) };
}

/** Runs the after-onboarding hook; exported for the configuration document, which onboards too. */
export async function customerOnboarded(deps: OnboardingDeps, customer: Customer): Promise<OnboardingResult['followUps']> {
  const at = (deps.now ?? (() => new Date()))();
  const out: OnboardingResult['followUps'] = [];
  for (const listener of deps.afterCustomerOnboarded ?? []) {
    try {
      await listener.customerOnboarded({ customer, at });
      out.push({ name: listener.name, ok: true });
    } catch (e) {
      out.push({ name: listener.name, ok: false, error: e instanceof Error ? e.message : String(e) });
    }
  }
  return out;
}

export function toCustomer(input: OnboardCustomerInput): Customer {
  return { id: input.id, name: input.name, tenantId: input.tenantId, clientId: input.clientId, credentialRef: input.credentialRef };
}

export async function getCustomer(deps: OnboardingDeps, customerId: string): Promise<Versioned<Customer>> {
  const found = await deps.storage.customers.get(customerId);
  if (!found) throw new NotFoundError(`customer ${customerId} does not exist`);
  return found;
}

export async function listCustomers(deps: OnboardingDeps, paging: PagingQuery): Promise<Page<Customer>> {
  const all = await deps.storage.customers.list();
  return pageOf(
    all.map((c) => c.value),
    (c) => c.id,
    paging,
  );
}

/** Replaces the customer's name and tenant details. `etag` is an ETag or `*`. */
export async function updateCustomer(deps: OnboardingDeps, input: OnboardCustomerInput, etag: string): Promise<Versioned<Customer>> {
  const current = await getCustomer(deps, input.id);
  const writeEtag = etag === '*' ? current.etag : etag;
  if (writeEtag !== current.etag) throw new ConcurrencyError(`customer ${input.id} changed since it was read`);
  if (appChanged(current.value, input)) await proveTenantApp(deps, input);
  return deps.storage.customers.update(toCustomer(input), writeEtag);
}

/** Whether the tenant, the app or its credential reference differs from what is stored. */
export function appChanged(stored: Customer, wanted: Pick<Customer, 'tenantId' | 'clientId' | 'credentialRef'>): boolean {
  return stored.tenantId !== wanted.tenantId || stored.clientId !== wanted.clientId || stored.credentialRef !== wanted.credentialRef;
}

/**
 * The app registration must work before it is kept: a 400 names each problem (a secret that does not
 * exist, a refused credential, permissions missing by name). `at` is where the fields are in the body.
 */
export async function proveTenantApp(deps: OnboardingDeps, app: Pick<Customer, 'tenantId' | 'clientId' | 'credentialRef'>, at = ''): Promise<void> {
  if (!deps.tenantApps || !app.clientId || !app.credentialRef) return;
  const findings = await deps.tenantApps.verify({ tenantId: app.tenantId, clientId: app.clientId, credentialRef: app.credentialRef });
  if (findings.length === 0) return;
  throw new InvalidConfigurationError(
    findings.map((f) => ({ in: 'body', path: `${at}/${f.field}`, message: f.message })),
    `The tenant's app registration cannot be used: ${findings.map((f) => f.message).join('; ')}.`,
  );
}

/**
 * Deletes a customer that has no sites, users or numbers left and no work running; its remaining
 * configuration (criteria, groups, profiles, flow-through criteria, global settings) goes with it, and so
 * does everything the other parts keep for it (`customerRemoval`). The customer's own record goes last, so
 * a deletion that stopped half-way is finished by repeating it.
 */
export async function deleteCustomer(deps: OnboardingDeps, customerId: string, etag: string): Promise<void> {
  const current = await getCustomer(deps, customerId);
  const writeEtag = etag === '*' ? current.etag : etag;
  if (writeEtag !== current.etag) throw new ConcurrencyError(`customer ${customerId} changed since it was read`);
  const s = deps.storage;
  const reasons: string[] = [];
  const sites = await s.sites.list(customerId);
  if (sites.length > 0) reasons.push(`${sites.length} site(s) remain`);
  if (await s.users.anyStored(customerId)) reasons.push('users synced from the tenant remain');
  if ((await s.numbers.list({ customerId })).length > 0) reasons.push('numbers remain in the customer inventory');
  for (const participant of deps.customerRemoval ?? []) reasons.push(...((await participant.blockers?.(customerId)) ?? []));
  if (reasons.length > 0) throw new InUseError(`customer ${customerId}`, reasons);
  for (const participant of deps.customerRemoval ?? []) await participant.remove(customerId);
  const repos: Array<CustomerScopedRepository<{ id: string }>> = [s.flowThroughCriteria, s.userProfiles, s.quickAddGroups, s.modelFilterCriteria];
  for (const repo of repos) {
    for (const item of await repo.list(customerId)) await repo.delete(customerId, item.value.id);
  }
  await s.globalSettings.delete(customerId);
  await s.customers.delete(customerId, writeEtag);
}
