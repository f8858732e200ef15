/**
 * A customer's whole configuration from one document. Everything is validated first (shapes, duplicate
 * ids, references within the document and to what is stored, range sizes); only then is anything
 * written, item by item, each compared with what is stored so that a second run changes nothing and says
 * so. Items absent from the document are left alone: the document adds and updates, it never deletes.
 */
import { canonicalJson, type Customer, type NumberRange } from '../domain';
import type { Storage } from '../ports/storage';
import { appChanged, customerOnboarded, proveTenantApp, toCustomer, type OnboardingResult } from './customers';
import { loadSnapshot, repositoryOf, type OnboardingDeps } from './deps';
import { InUseError, InvalidConfigurationError } from './errors';
import { checkRangeSize, enforceNoDuplicateNumbers, preventDuplicateNumbers } from './numbers';
import { brokenReferences, describeBroken, itemKey, type BrokenReference, type ConfigurationSnapshot, type ItemKind, type ItemTypes } from './references';
import type { ConfigurationDocument } from './schemas';
import type { FieldError } from '../http/problem';

export type Outcome = 'created' | 'updated' | 'unchanged';
export type ReportKind = ItemKind | 'customer' | 'globalSettings' | 'numberRange';

export interface ApplyReport {
  customerId: string;
  items: Array<{ kind: ReportKind; id: string; outcome: Outcome; detail?: string }>;
  summary: Record<Outcome, number>;
  /** Present when this run onboarded the customer. */
  followUps?: OnboardingResult['followUps'];
}

/** Document lists in write order: what is referred to comes before what refers to it. */
const LISTS: ReadonlyArray<{ field: 'sites' | 'modelFilterCriteria' | 'siteDefaults' | 'quickAddGroups' | 'userProfiles'; kind: ItemKind }> = [
  { field: 'sites', kind: 'site' },
  { field: 'modelFilterCriteria', kind: 'modelFilterCriteria' },
  { field: 'siteDefaults', kind: 'siteDefaults' },
  { field: 'quickAddGroups', kind: 'quickAddGroup' },
  { field: 'userProfiles', kind: 'userProfile' },
];

export async function applyConfiguration(deps: OnboardingDeps, customerId: string, doc: ConfigurationDocument): Promise<ApplyReport> {
  const { storage } = deps;
  const existing = await storage.customers.get(customerId);
  await validateDocument(storage, customerId, doc, existing !== undefined);

  const report: ApplyReport = { customerId, items: [], summary: { created: 0, updated: 0, unchanged: 0 } };
  const note = (kind: ReportKind, id: string, outcome: Outcome, detail?: string) => {
    report.items.push({ kind, id, outcome, ...(detail ? { detail } : {}) });
    report.summary[outcome]++;
  };

  let onboarded: Customer | undefined;
  if (doc.customer) {
    const wanted = toCustomer({ id: customerId, ...doc.customer });
    if (!existing || appChanged(existing.value, wanted)) await proveTenantApp(deps, wanted, '/customer');
    if (!existing) {
      onboarded = (await storage.customers.create(wanted)).value;
      note('customer', customerId, 'created');
    } else if (same(existing.value, wanted)) note('customer', customerId, 'unchanged');
    else {
      await storage.customers.update(wanted, existing.etag);
      note('customer', customerId, 'updated');
    }
  } else note('customer', customerId, 'unchanged');

  for (const { field, kind } of LISTS) {
    for (const item of doc[field]) note(kind, itemKey(kind, item), await putItem(storage, kind, item));
  }
  if (doc.flowThroughCriteria) note('flowThroughCriteria', doc.flowThroughCriteria.id, await putItem(storage, 'flowThroughCriteria', doc.flowThroughCriteria));
  let switchedOn = false;
  if (doc.globalSettings) {
    const current = await storage.globalSettings.get(customerId);
    if (current && same(current.value, doc.globalSettings)) note('globalSettings', customerId, 'unchanged');
    else {
      const wasPreventing = await preventDuplicateNumbers(deps, customerId);
      await storage.globalSettings.put(customerId, doc.globalSettings, current?.etag);
      switchedOn = !wasPreventing && (await preventDuplicateNumbers(deps, customerId));
      note('globalSettings', customerId, current ? 'updated' : 'created');
    }
  }
  if (doc.numberRanges.length > 0) {
    const prevent = await preventDuplicateNumbers(deps, customerId);
    const stored = new Map((await storage.numbers.listRanges(customerId)).map((r) => [r.id, r]));
    for (const range of doc.numberRanges) {
      const before = stored.get(range.id);
      const result = await storage.numbers.addRange(range, { preventDuplicateNumbers: prevent });
      const outcome: Outcome = !before ? 'created' : result.created > 0 || !same(before, range) ? 'updated' : 'unchanged';
      const detail = `${result.created} number(s) added, ${result.existing} already present${result.duplicates.length ? `, ${result.duplicates.length} refused as duplicates` : ''}`;
      note('numberRange', range.id, outcome, detail);
    }
  }
  if (switchedOn) {
    // Prevent duplicate numbers switched on: the duplicates that exist already are flagged and reported.
    const found = await enforceNoDuplicateNumbers(storage, customerId);
    const item = report.items.find((i) => i.kind === 'globalSettings');
    if (item) item.detail = `prevent duplicate numbers on: ${found.duplicates.length} existing duplicate number(s) flagged${found.duplicates.length ? ` (${found.duplicates.slice(0, 10).map((d) => d.number).join(', ')}${found.duplicates.length > 10 ? ', …' : ''})` : ''}`;
  }
  if (onboarded) report.followUps = await customerOnboarded(deps, onboarded);
  return report;
}

async function putItem<K extends ItemKind>(storage: Storage, kind: K, item: ItemTypes[K]): Promise<Outcome> {
  const repo = repositoryOf(storage, kind);
  const current = await repo.get(item.customerId, itemKey(kind, item));
  if (!current) {
    await repo.create(item);
    return 'created';
  }
  if (same(current.value, item)) return 'unchanged';
  // Conditional on what was just read: a concurrent edit makes this run fail (412) rather than lose it.
  await repo.update(item, current.etag);
  return 'updated';
}

/** Everything that can be known before writing; throws InvalidConfigurationError / InUseError. */
async function validateDocument(storage: Storage, customerId: string, doc: ConfigurationDocument, customerExists: boolean): Promise<void> {
  const errors: FieldError[] = [];
  if (!customerExists && !doc.customer) errors.push({ in: 'body', path: '/customer', message: `customer ${customerId} is not onboarded yet, so the document must include the customer` });

  for (const { field, kind } of LISTS) duplicates(doc[field].map((i) => itemKey(kind, i)), field, kind === 'siteDefaults' ? 'siteId' : 'id', errors);
  duplicates(doc.numberRanges.map((r) => r.id), 'numberRanges', 'id', errors);

  const before = customerExists ? await loadSnapshot(storage, customerId) : emptySnapshot();
  const after: ConfigurationSnapshot = { ...before, globalSettings: doc.globalSettings ?? before.globalSettings };
  const origin = new Map<string, string>();
  for (const { field, kind } of LISTS) {
    doc[field].forEach((item, i) => {
      const key = itemKey(kind, item);
      origin.set(`${kind}|${key}`, `/${field}/${i}`);
      after[kind] = [...(after[kind] as ItemTypes[typeof kind][]).filter((x) => itemKey(kind, x) !== key), item] as never;
    });
  }
  const ftc = doc.flowThroughCriteria;
  if (ftc) {
    origin.set(`flowThroughCriteria|${ftc.id}`, '/flowThroughCriteria');
    const other = before.flowThroughCriteria.find((f) => f.id !== ftc.id);
    if (other) errors.push({ in: 'body', path: '/flowThroughCriteria/id', message: `the customer's flow-through criteria are ${other.id}; use that id (a customer has one)` });
    after.flowThroughCriteria = [...after.flowThroughCriteria.filter((f) => f.id !== ftc.id), ftc];
  }
  if (doc.globalSettings) origin.set('globalSettings|globalSettings', '/globalSettings');

  const old = new Set(brokenReferences(before).map(id));
  const others: BrokenReference[] = [];
  for (const b of brokenReferences(after)) {
    const at = origin.get(`${b.kind}|${b.id}`);
    if (at !== undefined) errors.push({ in: 'body', path: `${at}${b.path}`, message: b.message });
    else if (!old.has(id(b))) others.push(b);
  }

  const sites = new Set(after.site.map((s) => s.id));
  doc.numberRanges.forEach((r: NumberRange, i) => {
    if (r.siteId !== undefined && !sites.has(r.siteId)) errors.push({ in: 'body', path: `/numberRanges/${i}/siteId`, message: `site ${r.siteId} does not exist` });
    try {
      checkRangeSize(r, `/numberRanges/${i}`);
    } catch (e) {
      if (e instanceof InvalidConfigurationError) errors.push(...e.fieldErrors);
      else throw e;
    }
  });

  if (errors.length > 0) throw new InvalidConfigurationError(errors);
  if (others.length > 0) throw new InUseError('the configuration', others.map(describeBroken));
}

function duplicates(keys: string[], field: string, idField: string, errors: FieldError[]): void {
  const seen = new Set<string>();
  keys.forEach((k, i) => {
    if (seen.has(k)) errors.push({ in: 'body', path: `/${field}/${i}/${idField}`, message: `${k} appears more than once` });
    seen.add(k);
  });
}

const id = (r: BrokenReference) => `${r.kind}|${r.id}|${r.path}|${r.message}`;

function emptySnapshot(): ConfigurationSnapshot {
  return { site: [], siteDefaults: [], modelFilterCriteria: [], quickAddGroup: [], userProfile: [], flowThroughCriteria: [] };
}

/** Deep equality of JSON values, key order ignored. */
export function same(a: unknown, b: unknown): boolean {
  return canonicalJson(a) === canonicalJson(b);
}

