/** A customer's global settings: what is stored (inherit / yes / no) and what is in effect. */
import { resolveGlobalSettings, type EffectiveGlobalSettings, type GlobalSettings } from '../domain';
import { ConcurrencyError, PROVIDER_SCOPE, type Versioned } from '../ports/storage';
import { PreconditionRequiredError } from '../http/etag';
import { globalSettingsBodySchema } from './schemas';
import { loadSnapshot, requireCustomer, type OnboardingDeps } from './deps';
import { InvalidConfigurationError } from './errors';
import { newlyBroken } from './references';
import { enforceNoDuplicateNumbers, type DuplicateNumbersReport } from './numbers';

/** The stored settings, or all-inherit when none were stored (then without an ETag). */
export async function getGlobalSettings(deps: OnboardingDeps, customerId: string): Promise<{ value: GlobalSettings; etag?: string }> {
  await requireCustomer(deps.storage, customerId);
  return (await deps.storage.globalSettings.get(customerId)) ?? { value: globalSettingsBodySchema.parse({}) };
}

/** The provider's defaults and the customer's settings resolved: what the sync and provisioning apply. */
export async function effectiveGlobalSettings(deps: OnboardingDeps, customerId: string): Promise<EffectiveGlobalSettings> {
  await requireCustomer(deps.storage, customerId);
  const [provider, customer] = await Promise.all([deps.storage.globalSettings.get(PROVIDER_SCOPE), deps.storage.globalSettings.get(customerId)]);
  return resolveGlobalSettings([provider?.value, customer?.value]);
}

/**
 * Creates (no ETag needed) or replaces (ETag or `*` needed) the customer's settings. Switching prevent
 * duplicate numbers on claims every number customer-wide and flags the duplicates that exist already,
 * which the answer reports.
 */
export async function putGlobalSettings(
  deps: OnboardingDeps,
  customerId: string,
  settings: GlobalSettings,
  etag: string | undefined,
): Promise<{ item: Versioned<GlobalSettings>; created: boolean; duplicateNumbers?: DuplicateNumbersReport }> {
  await requireCustomer(deps.storage, customerId);
  const current = await deps.storage.globalSettings.get(customerId);
  if (current && etag === undefined) throw new PreconditionRequiredError();
  if (!current && etag !== undefined) throw new ConcurrencyError('no global settings are stored, so no ETag can match');
  const before = await loadSnapshot(deps.storage, customerId);
  const broken = newlyBroken(before, { ...before, globalSettings: settings });
  if (broken.length > 0) throw new InvalidConfigurationError(broken.map((b) => ({ in: 'body', path: b.path, message: b.message })));
  const writeEtag = current ? (etag === '*' ? current.etag : (etag as string)) : undefined;
  if (current && writeEtag !== current.etag) throw new ConcurrencyError('global settings changed since they were read');
  const provider = await deps.storage.globalSettings.get(PROVIDER_SCOPE);
  const wasPreventing = resolveGlobalSettings([provider?.value, current?.value]).preventDuplicateNumbers;
  const item = await deps.storage.globalSettings.put(customerId, settings, writeEtag);
  const preventing = resolveGlobalSettings([provider?.value, settings]).preventDuplicateNumbers;
  if (preventing && !wasPreventing) return { item, created: !current, duplicateNumbers: await enforceNoDuplicateNumbers(deps.storage, customerId) };
  return { item, created: !current };
}
