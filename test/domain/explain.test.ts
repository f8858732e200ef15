import { describe, expect, it } from 'vitest';
import { explainCriteria, explainPlacement, type Criterion, type PlacementCandidate } from '../../shared/domain';

const c = (attribute: string, condition: Criterion['condition'], value: string, extra: Partial<Criterion> = {}): Criterion => ({ not: false, join: 'AND', attribute, condition, value, ...extra });

describe('explainCriteria', () => {
  it('reports each criterion with the user values it read, and the folded result as placement computes it', () => {
    const r = explainCriteria({ city: 'Seattle', department: 'Sales' }, [c('city', 'Equals', '{{site.city}}', { join: 'OR' }), c('department', 'Equals', 'Engineering')], { 'site.city': 'seattle' });
    expect(r.criteria.map((x) => [x.value, x.userValues, x.satisfied])).toEqual([
      ['seattle', ['Seattle'], true],
      ['Engineering', ['Sales'], false],
    ]);
    // (true OR false): matched
    expect(r.matched).toBe(true);
  });

  it('a missing attribute satisfies nothing, even negated; a macro without a value leaves the value out', () => {
    const r = explainCriteria({ city: '' }, [c('city', 'Equals', 'x', { not: true }), c('country', 'Equals', '{{site.country}}')], {});
    expect(r.criteria[0]).toMatchObject({ userValues: [], satisfied: false });
    expect(r.criteria[1]).not.toHaveProperty('value');
    expect(r.matched).toBe(false);
  });
});

describe('explainPlacement', () => {
  const site = (id: string, name: string, priority: number, enabled = true): PlacementCandidate => ({
    site: { id, customerId: 'c', name, city: name, macros: {} },
    defaults: { siteId: id, customerId: 'c', includeForOverbuild: enabled, microsoftUsers: true, moveUserCriteriaId: 'by-city', createNumberInventoryAtCustomer: false, manageLicensesAndAllowStaging: false, teamsPolicies: {}, placementPriority: priority },
    moveUserCriteria: { id: 'by-city', customerId: 'c', name: 'By city', usage: 'Move User', criteria: [c('city', 'Equals', '{{site.city}}')] },
  });

  it('lists eligible sites in placement order with their verdicts, then the others with why not', () => {
    const r = explainPlacement({ city: 'Oslo' }, [site('b', 'Bergen', 5), site('o', 'Oslo', 1), site('x', 'Oslo', 9, false)]);
    expect(r.placement).toEqual({ kind: 'site', siteId: 'o', siteName: 'Oslo', alsoMatched: [] });
    expect(r.sites.map((s) => [s.siteId, s.matched, s.notEligible])).toEqual([
      ['b', false, undefined],
      ['o', true, undefined],
      ['x', false, 'not included for overbuild'],
    ]);
  });
});
