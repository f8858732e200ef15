/**
 * Placement: which site a user belongs to, from each site's move-user criteria (site defaults).
 * Ties are broken deterministically (priority, then name, then id) and recorded, because the source
 * system leaves the choice undefined and an operator must be able to see and fix the overlap.
 */
import { compileCriteria, type CompiledCriteria, type UserAttributes } from './criteria';
import { siteMacros } from './macros';
import type { ModelFilterCriteria, Site, SiteDefaults } from './schemas';

export interface PlacementCandidate {
  site: Site;
  defaults: SiteDefaults;
  /** The criteria named by `defaults.moveUserCriteriaId`, when found. */
  moveUserCriteria?: ModelFilterCriteria;
}

export type PlacementReason =
  /** No site is included for overbuild with Microsoft users and move-user criteria. */
  | 'no-site-enabled'
  /** Sites are enabled but none of their criteria match the user. */
  | 'no-site-matches';

export type Placement =
  | { kind: 'site'; siteId: string; siteName: string; /** Other matching sites, in order; empty when unambiguous. */ alsoMatched: string[] }
  | { kind: 'customer'; reason: PlacementReason };

/** Sites ready to receive users, each with its criteria compiled in the site's macro context. */
export interface PlacementRules {
  readonly sites: ReadonlyArray<{ site: Site; priority: number; matches: CompiledCriteria }>;
}

/** Compiles once per customer; `place` then costs one criteria evaluation per site per user. */
export function placementRules(candidates: readonly PlacementCandidate[]): PlacementRules {
  const sites = candidates
    .filter(
      (c) =>
        c.defaults.includeForOverbuild &&
        c.defaults.microsoftUsers &&
        c.moveUserCriteria !== undefined &&
        c.moveUserCriteria.id === c.defaults.moveUserCriteriaId &&
        c.moveUserCriteria.usage === 'Move User',
    )
    .map((c) => ({
      site: c.site,
      priority: c.defaults.placementPriority,
      matches: compileCriteria(c.moveUserCriteria?.criteria ?? [], siteMacros(c.site)),
    }))
    .sort((a, b) => b.priority - a.priority || compareText(a.site.name, b.site.name) || compareText(a.site.id, b.site.id));
  return { sites };
}

export function place(attributes: UserAttributes, rules: PlacementRules): Placement {
  if (rules.sites.length === 0) return { kind: 'customer', reason: 'no-site-enabled' };
  const matched = rules.sites.filter((s) => s.matches(attributes));
  if (matched.length === 0) return { kind: 'customer', reason: 'no-site-matches' };
  const [first, ...rest] = matched;
  return { kind: 'site', siteId: first.site.id, siteName: first.site.name, alsoMatched: rest.map((s) => s.site.id) };
}

/** Convenience for a single user. */
export function placeUser(attributes: UserAttributes, candidates: readonly PlacementCandidate[]): Placement {
  return place(attributes, placementRules(candidates));
}

function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
