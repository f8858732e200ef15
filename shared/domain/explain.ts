/**
 * Why placement put a user where it did, criterion by criterion, for an operator to read: for every site,
 * whether it takes part in placement at all, and if so which of its move-user criteria the user's values
 * satisfied. Uses the same evaluation as placement (`compileCriteria`), one criterion at a time.
 */
import { attributeValues, compileCriteria, type UserAttributes } from './criteria';
import { resolveMacros, siteMacros, type MacroContext } from './macros';
import { placementRules, place, type Placement, type PlacementCandidate } from './placement';
import type { Criterion } from './schemas';

export interface CriterionOutcome {
  attribute: string;
  condition: Criterion['condition'];
  not: boolean;
  join: Criterion['join'];
  /** The value compared, macros resolved in the site's context; absent when a macro has no value there. */
  value?: string;
  /** The user's values of the attribute. */
  userValues: string[];
  satisfied: boolean;
}

export interface SiteExplanation {
  siteId: string;
  siteName: string;
  priority: number;
  /** Why the site takes no part in placement, when it does not. */
  notEligible?: string;
  criteriaId?: string;
  criteriaName?: string;
  /** The whole criteria folded left to right, as placement evaluates them. */
  matched: boolean;
  criteria: CriterionOutcome[];
}

export interface PlacementExplanation {
  placement: Placement;
  /** Eligible sites first, in placement order (priority, then name), then the others by name. */
  sites: SiteExplanation[];
}

export function explainCriteria(attributes: UserAttributes, criteria: readonly Criterion[], macros: MacroContext = {}): { matched: boolean; criteria: CriterionOutcome[] } {
  const outcomes = criteria.map((c): CriterionOutcome => {
    const value = resolveMacros(c.value, macros);
    return {
      attribute: c.attribute,
      condition: c.condition,
      not: c.not,
      join: c.join,
      ...(value === undefined ? {} : { value }),
      userValues: attributeValues(attributes, c.attribute),
      satisfied: compileCriteria([{ ...c, join: 'AND' }], macros)(attributes),
    };
  });
  return { matched: compileCriteria(criteria, macros)(attributes), criteria: outcomes };
}

export function explainPlacement(attributes: UserAttributes, candidates: readonly PlacementCandidate[]): PlacementExplanation {
  const rules = placementRules(candidates);
  const order = new Map(rules.sites.map((s, i) => [s.site.id, i]));
  const sites = candidates.map((c): SiteExplanation => {
    const base = { siteId: c.site.id, siteName: c.site.name, priority: c.defaults.placementPriority };
    const criteria = c.moveUserCriteria;
    const named = criteria ? { criteriaId: criteria.id, criteriaName: criteria.name } : c.defaults.moveUserCriteriaId ? { criteriaId: c.defaults.moveUserCriteriaId } : {};
    const notEligible = !c.defaults.includeForOverbuild
      ? 'not included for overbuild'
      : !c.defaults.microsoftUsers
        ? 'not enabled for Microsoft users'
        : !c.defaults.moveUserCriteriaId
          ? 'no move-user criteria'
          : !criteria || criteria.id !== c.defaults.moveUserCriteriaId
            ? `move-user criteria ${c.defaults.moveUserCriteriaId} do not exist`
            : criteria.usage !== 'Move User'
              ? `criteria ${criteria.id} are for ${criteria.usage}, not Move User`
              : undefined;
    if (notEligible || !criteria) return { ...base, ...named, notEligible: notEligible ?? 'no move-user criteria', matched: false, criteria: [] };
    return { ...base, ...named, ...explainCriteria(attributes, criteria.criteria, siteMacros(c.site)) };
  });
  sites.sort((a, b) => {
    const ia = order.get(a.siteId);
    const ib = order.get(b.siteId);
    if (ia !== undefined && ib !== undefined) return ia - ib;
    if (ia !== undefined) return -1;
    if (ib !== undefined) return 1;
    return a.siteName < b.siteName ? -1 : a.siteName > b.siteName ? 1 : 0;
  });
  return { placement: place(attributes, rules), sites };
}
