/**
 * References between a customer's configuration items, checked on every write: a site defaults document
 * names a site and move-user criteria, a profile names a Quick Add Group, the flow-through criteria name
 * criteria and profiles, the global settings name flow-through criteria. A write may not leave a
 * reference pointing at nothing (or at criteria of the wrong usage); a delete may not orphan one.
 */
import type { FlowThroughCriteria, GlobalSettings, ModelFilterCriteria, QuickAddGroup, Site, SiteDefaults, UserProfile } from '../domain';

export interface ItemTypes {
  site: Site;
  siteDefaults: SiteDefaults;
  modelFilterCriteria: ModelFilterCriteria;
  quickAddGroup: QuickAddGroup;
  userProfile: UserProfile;
  flowThroughCriteria: FlowThroughCriteria;
}
export type ItemKind = keyof ItemTypes;

export const ITEM_LABELS: Record<ItemKind | 'globalSettings', string> = {
  site: 'site',
  siteDefaults: 'site defaults',
  modelFilterCriteria: 'model filter criteria',
  quickAddGroup: 'Quick Add Group',
  userProfile: 'user profile',
  flowThroughCriteria: 'flow-through criteria',
  globalSettings: 'global settings',
};

export function itemKey<K extends ItemKind>(kind: K, item: ItemTypes[K]): string {
  return kind === 'siteDefaults' ? (item as SiteDefaults).siteId : (item as { id: string }).id;
}

/** Every configuration item of one customer. */
export interface ConfigurationSnapshot {
  site: Site[];
  siteDefaults: SiteDefaults[];
  modelFilterCriteria: ModelFilterCriteria[];
  quickAddGroup: QuickAddGroup[];
  userProfile: UserProfile[];
  flowThroughCriteria: FlowThroughCriteria[];
  globalSettings?: GlobalSettings;
}

/** A reference that points at nothing, found on one item. */
export interface BrokenReference {
  kind: ItemKind | 'globalSettings';
  /** Key of the item holding the reference. */
  id: string;
  /** JSON Pointer of the reference inside that item. */
  path: string;
  message: string;
}

export function brokenReferences(s: ConfigurationSnapshot): BrokenReference[] {
  const sites = new Set(s.site.map((x) => x.id));
  const criteria = new Map(s.modelFilterCriteria.map((c) => [c.id, c]));
  const groups = new Set(s.quickAddGroup.map((g) => g.id));
  const profiles = new Set(s.userProfile.map((p) => p.id));
  const ftc = new Set(s.flowThroughCriteria.map((f) => f.id));
  const out: BrokenReference[] = [];
  for (const d of s.siteDefaults) {
    if (!sites.has(d.siteId)) out.push({ kind: 'siteDefaults', id: d.siteId, path: '/siteId', message: `site ${d.siteId} does not exist` });
    if (d.moveUserCriteriaId !== undefined) {
      const c = criteria.get(d.moveUserCriteriaId);
      if (!c) out.push({ kind: 'siteDefaults', id: d.siteId, path: '/moveUserCriteriaId', message: `model filter criteria ${d.moveUserCriteriaId} do not exist` });
      else if (c.usage !== 'Move User') out.push({ kind: 'siteDefaults', id: d.siteId, path: '/moveUserCriteriaId', message: `model filter criteria ${c.id} have usage ${c.usage}; site defaults need Move User` });
    }
  }
  for (const p of s.userProfile) {
    if (!groups.has(p.quickAddGroupId)) out.push({ kind: 'userProfile', id: p.id, path: '/quickAddGroupId', message: `Quick Add Group ${p.quickAddGroupId} does not exist` });
  }
  for (const f of s.flowThroughCriteria) {
    f.entries.forEach((e, i) => {
      const c = criteria.get(e.criteriaId);
      if (!c) out.push({ kind: 'flowThroughCriteria', id: f.id, path: `/entries/${i}/criteriaId`, message: `model filter criteria ${e.criteriaId} do not exist` });
      else if (c.usage !== 'Flow Through Provisioning') out.push({ kind: 'flowThroughCriteria', id: f.id, path: `/entries/${i}/criteriaId`, message: `model filter criteria ${c.id} have usage ${c.usage}; flow-through entries need Flow Through Provisioning` });
      if (!profiles.has(e.profileId)) out.push({ kind: 'flowThroughCriteria', id: f.id, path: `/entries/${i}/profileId`, message: `user profile ${e.profileId} does not exist` });
    });
  }
  const g = s.globalSettings;
  for (const field of ['addSyncCriteriaId', 'updateSyncCriteriaId'] as const) {
    const id = g?.[field];
    if (id !== undefined && !ftc.has(id)) out.push({ kind: 'globalSettings', id: 'globalSettings', path: `/${field}`, message: `flow-through criteria ${id} do not exist` });
  }
  return out;
}

const identity = (r: BrokenReference) => `${r.kind}|${r.id}|${r.path}|${r.message}`;

/** References a change breaks (present after, absent before): the ones to refuse. */
export function newlyBroken(before: ConfigurationSnapshot, after: ConfigurationSnapshot): BrokenReference[] {
  const old = new Set(brokenReferences(before).map(identity));
  return brokenReferences(after).filter((r) => !old.has(identity(r)));
}

/** The snapshot with one item put (added or replaced) or removed. */
export function withItem<K extends ItemKind>(s: ConfigurationSnapshot, kind: K, key: string, item: ItemTypes[K] | undefined): ConfigurationSnapshot {
  const list = (s[kind] as ItemTypes[K][]).filter((x) => itemKey(kind, x) !== key);
  if (item !== undefined) list.push(item);
  return { ...s, [kind]: list };
}

/** Human reasons, for a 409 on another item's behalf. */
export function describeBroken(r: BrokenReference): string {
  return `${ITEM_LABELS[r.kind]}${r.kind === 'globalSettings' ? '' : ` ${r.id}`} refers to it (${r.path.slice(1)})`;
}
