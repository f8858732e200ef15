/**
 * Create, read, replace, delete and list of a customer's configuration items (sites, site defaults, model
 * filter criteria, Quick Add Groups, user profiles, flow-through criteria). Every write checks references
 * against the customer's whole configuration first: a reference to nothing is a 400 on the item written,
 * a change that would orphan another item's reference is a 409 naming it.
 */
import { ConcurrencyError, ConflictError, NotFoundError, type Versioned } from '../ports/storage';
import { PreconditionRequiredError } from '../http/etag';
import { pageOf, type Page, type PagingQuery } from '../http/query';
import { loadSnapshot, repositoryOf, requireCustomer, type OnboardingDeps } from './deps';
import { InUseError, InvalidConfigurationError } from './errors';
import { describeBroken, ITEM_LABELS, itemKey, newlyBroken, withItem, type ConfigurationSnapshot, type ItemKind, type ItemTypes } from './references';

export async function listItems<K extends ItemKind>(deps: OnboardingDeps, kind: K, customerId: string, paging: PagingQuery): Promise<Page<ItemTypes[K]>> {
  await requireCustomer(deps.storage, customerId);
  const all = await repositoryOf(deps.storage, kind).list(customerId);
  return pageOf(
    all.map((v) => v.value),
    (v) => itemKey(kind, v),
    paging,
  );
}

export async function getItem<K extends ItemKind>(deps: OnboardingDeps, kind: K, customerId: string, id: string): Promise<Versioned<ItemTypes[K]>> {
  await requireCustomer(deps.storage, customerId);
  const found = await repositoryOf(deps.storage, kind).get(customerId, id);
  if (!found) throw new NotFoundError(`${ITEM_LABELS[kind]} ${id} does not exist`);
  return found;
}

/** Refuses a change that breaks references: 400 for the changed item's own, 409 for others'. */
export function checkReferences(kind: ItemKind, key: string, before: ConfigurationSnapshot, after: ConfigurationSnapshot, deleting = false): void {
  const broken = newlyBroken(before, after);
  const own = broken.filter((b) => b.kind === kind && b.id === key);
  if (own.length > 0 && !deleting) throw new InvalidConfigurationError(own.map((b) => ({ in: 'body', path: b.path, message: b.message })));
  const others = broken.filter((b) => !(b.kind === kind && b.id === key));
  if (others.length > 0) throw new InUseError(`${ITEM_LABELS[kind]} ${key}`, others.map(describeBroken));
}

export async function createItem<K extends ItemKind>(deps: OnboardingDeps, kind: K, value: ItemTypes[K]): Promise<Versioned<ItemTypes[K]>> {
  const customerId = value.customerId;
  await requireCustomer(deps.storage, customerId);
  const key = itemKey(kind, value);
  const repo = repositoryOf(deps.storage, kind);
  if (await repo.get(customerId, key)) throw new ConflictError(`${ITEM_LABELS[kind]} ${key} already exists`);
  const before = await loadSnapshot(deps.storage, customerId);
  checkReferences(kind, key, before, withItem(before, kind, key, value));
  return repo.create(value);
}

export interface ReplaceOptions {
  /** The If-Match value: an ETag, `*`, or undefined when the caller sent none. */
  etag: string | undefined;
  /** A missing item is created (singletons such as site defaults); otherwise 404. */
  createIfMissing?: boolean;
}

/**
 * Replaces an item. An existing item needs an ETag (PreconditionRequiredError without one, a stale one is a
 * ConcurrencyError); a missing one is created when allowed and no If-Match was sent (If-Match on a missing item is a 412, as HTTP says).
 */
export async function replaceItem<K extends ItemKind>(deps: OnboardingDeps, kind: K, value: ItemTypes[K], options: ReplaceOptions): Promise<{ item: Versioned<ItemTypes[K]>; created: boolean }> {
  const customerId = value.customerId;
  await requireCustomer(deps.storage, customerId);
  const key = itemKey(kind, value);
  const repo = repositoryOf(deps.storage, kind);
  const current = await repo.get(customerId, key);
  if (!current) {
    if (!options.createIfMissing) throw new NotFoundError(`${ITEM_LABELS[kind]} ${key} does not exist`);
    if (options.etag !== undefined) throw new ConcurrencyError(`${ITEM_LABELS[kind]} ${key} does not exist, so no ETag can match`);
  } else if (options.etag === undefined) {
    throw new PreconditionRequiredError();
  }
  const before = await loadSnapshot(deps.storage, customerId);
  checkReferences(kind, key, before, withItem(before, kind, key, value));
  if (!current) return { item: await repo.create(value), created: true };
  const etag = options.etag === '*' ? current.etag : (options.etag as string);
  if (etag !== current.etag) throw new ConcurrencyError(`${ITEM_LABELS[kind]} ${key} changed since it was read`);
  return { item: await repo.update(value, etag), created: false };
}

/**
 * Deletes an item that nothing refers to. Sites also need to be empty of users and of numbers in use;
 * their defaults and available numbers go with them.
 */
export async function deleteItem(deps: OnboardingDeps, kind: ItemKind, customerId: string, id: string, etag: string): Promise<void> {
  await requireCustomer(deps.storage, customerId);
  const repo = repositoryOf(deps.storage, kind);
  const current = await repo.get(customerId, id);
  if (!current) throw new NotFoundError(`${ITEM_LABELS[kind]} ${id} does not exist`);
  const writeEtag = etag === '*' ? current.etag : etag;
  if (writeEtag !== current.etag) throw new ConcurrencyError(`${ITEM_LABELS[kind]} ${id} changed since it was read`);
  let before = await loadSnapshot(deps.storage, customerId);
  if (kind === 'site') {
    await guardSiteDelete(deps, customerId, id);
    // The site's own defaults go with it; they are not a reason to refuse.
    before = withItem(before, 'siteDefaults', id, undefined);
  }
  checkReferences(kind, id, before, withItem(before, kind, id, undefined), true);
  await repo.delete(customerId, id, writeEtag);
  if (kind === 'site') {
    await deps.storage.siteDefaults.delete(customerId, id);
    const scope = { customerId, siteId: id };
    for (const n of await deps.storage.numbers.list(scope)) await deps.storage.numbers.remove(scope, n.value.number).catch(() => undefined);
  }
}

async function guardSiteDelete(deps: OnboardingDeps, customerId: string, siteId: string): Promise<void> {
  const reasons: string[] = [];
  let users = 0;
  for await (const u of deps.storage.users.list(customerId)) {
    if ('siteId' in u.value.state && u.value.state.siteId === siteId) users++;
  }
  if (users > 0) reasons.push(`${users} user(s) are at the site`);
  const numbers = await deps.storage.numbers.list({ customerId, siteId });
  const inUse = numbers.filter((n) => n.value.status !== 'Available' && n.value.status !== 'Cooling').length;
  if (inUse > 0) reasons.push(`${inUse} number(s) of its inventory are in use or reserved`);
  if (reasons.length > 0) throw new InUseError(`site ${siteId}`, reasons);
}

// ---------------------------------------------------------------------------------------------
// Flow-through criteria: one per customer, addressed without an id

/** The customer's flow-through criteria; 404 when none. */
export async function getFlowThroughCriteria(deps: OnboardingDeps, customerId: string): Promise<Versioned<ItemTypes['flowThroughCriteria']>> {
  await requireCustomer(deps.storage, customerId);
  const [first] = await deps.storage.flowThroughCriteria.list(customerId);
  if (!first) throw new NotFoundError(`customer ${customerId} has no flow-through criteria`);
  return first;
}

/** The id a body without one gets: the stored criteria's, else the default. */
export async function flowThroughCriteriaId(deps: OnboardingDeps, customerId: string, fallback: string): Promise<string> {
  const [first] = await deps.storage.flowThroughCriteria.list(customerId);
  return first?.value.id ?? fallback;
}

/** Creates (no ETag) or replaces (ETag or `*`) the customer's flow-through criteria. */
export async function putFlowThroughCriteria(deps: OnboardingDeps, value: ItemTypes['flowThroughCriteria'], etag: string | undefined) {
  const other = (await deps.storage.flowThroughCriteria.list(value.customerId)).find((f) => f.value.id !== value.id);
  if (other) throw new ConflictError(`the customer's flow-through criteria are ${other.value.id}; a customer has one, so replace that one`);
  return replaceItem(deps, 'flowThroughCriteria', value, { etag, createIfMissing: true });
}

export async function deleteFlowThroughCriteria(deps: OnboardingDeps, customerId: string, etag: string): Promise<void> {
  const current = await getFlowThroughCriteria(deps, customerId);
  await deleteItem(deps, 'flowThroughCriteria', customerId, current.value.id, etag);
}
