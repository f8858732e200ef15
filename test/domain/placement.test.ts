import { describe, expect, it } from 'vitest';
import {
  chooseProfile,
  flowThroughCriteriaSchema,
  modelFilterCriteriaSchema,
  placeUser,
  siteDefaultsSchema,
  siteSchema,
  type ModelFilterCriteria,
  type PlacementCandidate,
} from '../../shared/domain';

const cityCriteria = modelFilterCriteriaSchema.parse({
  id: 'by-city',
  customerId: 'c',
  name: 'City of the site',
  usage: 'Move User',
  criteria: [{ attribute: 'City', condition: 'Equals', value: '{{site.city}}' }],
});
const salesCriteria = modelFilterCriteriaSchema.parse({
  id: 'sales',
  customerId: 'c',
  name: 'Sales',
  usage: 'Move User',
  criteria: [{ attribute: 'department', condition: 'Contains', value: 'sales' }],
});

function candidate(id: string, name: string, city: string | undefined, criteria: ModelFilterCriteria, options: Record<string, unknown> = {}): PlacementCandidate {
  return {
    site: siteSchema.parse({ id, customerId: 'c', name, city }),
    defaults: siteDefaultsSchema.parse({ siteId: id, customerId: 'c', includeForOverbuild: true, microsoftUsers: true, moveUserCriteriaId: criteria.id, ...options }),
    moveUserCriteria: criteria,
  };
}

describe('placement', () => {
  const chicago = candidate('s-chi', 'Chicago', 'Chicago', cityCriteria);
  const london = candidate('s-lon', 'London', 'London', cityCriteria);

  it('moves the user to the site whose move-user criteria match, in the site context', () => {
    expect(placeUser({ city: 'London' }, [chicago, london])).toEqual({ kind: 'site', siteId: 's-lon', siteName: 'London', alsoMatched: [] });
  });

  it('leaves an unmatched user at customer with the reason', () => {
    expect(placeUser({ city: 'Paris' }, [chicago, london])).toEqual({ kind: 'customer', reason: 'no-site-matches' });
    expect(placeUser({}, [chicago, london])).toEqual({ kind: 'customer', reason: 'no-site-matches' });
  });

  it('only sites included for overbuild with Microsoft users and move-user criteria take part', () => {
    const off = candidate('s-off', 'Off', 'Paris', cityCriteria, { includeForOverbuild: false });
    const noMs = candidate('s-noms', 'No MS', 'Paris', cityCriteria, { microsoftUsers: false });
    const ftpUsage = candidate('s-ftp', 'FTP', 'Paris', { ...cityCriteria, usage: 'Flow Through Provisioning' });
    expect(placeUser({ city: 'Paris' }, [off, noMs, ftpUsage])).toEqual({ kind: 'customer', reason: 'no-site-enabled' });
  });

  it('several matches: highest priority, then name, and the others are recorded', () => {
    const a = candidate('s-b', 'Bravo sales', 'X', salesCriteria);
    const b = candidate('s-a', 'Alpha sales', 'X', salesCriteria);
    const c = candidate('s-z', 'Zulu sales', 'X', salesCriteria, { placementPriority: 5 });
    expect(placeUser({ department: 'Sales' }, [a, b])).toEqual({ kind: 'site', siteId: 's-a', siteName: 'Alpha sales', alsoMatched: ['s-b'] });
    expect(placeUser({ department: 'Sales' }, [a, b, c])).toEqual({ kind: 'site', siteId: 's-z', siteName: 'Zulu sales', alsoMatched: ['s-a', 's-b'] });
  });
});

describe('profile choice by flow-through criteria', () => {
  const ftp = (id: string, department: string): ModelFilterCriteria =>
    modelFilterCriteriaSchema.parse({
      id,
      customerId: 'c',
      name: id,
      usage: 'Flow Through Provisioning',
      criteria: [{ attribute: 'department', condition: 'Equals', value: department }],
    });
  const criteriaById = new Map([
    ['eng', ftp('eng', 'Engineering')],
    ['eng2', ftp('eng2', 'Engineering')],
    ['sales', ftp('sales', 'Sales')],
    ['moved', { ...ftp('moved', 'Support'), usage: 'Move User' as const }],
  ]);
  const flowThrough = flowThroughCriteriaSchema.parse({
    id: 'ftc',
    customerId: 'c',
    name: 'Acme',
    entries: [
      { criteriaId: 'moved', profileId: 'support' },
      { criteriaId: 'eng', profileId: 'voice', role: 'engineer' },
      { criteriaId: 'eng2', profileId: 'never' },
      { criteriaId: 'sales', profileId: 'teams-only' },
      { criteriaId: 'missing', profileId: 'ghost' },
    ],
  });

  it('the first matching entry wins', () => {
    expect(chooseProfile({ department: 'Engineering' }, flowThrough, criteriaById)).toEqual({ kind: 'profile', profileId: 'voice', role: 'engineer', entryIndex: 1 });
    expect(chooseProfile({ department: 'Sales' }, flowThrough, criteriaById)).toEqual({ kind: 'profile', profileId: 'teams-only', entryIndex: 3 });
  });

  it('criteria not meant for flow-through, or missing, are skipped; no match says so', () => {
    expect(chooseProfile({ department: 'Support' }, flowThrough, criteriaById)).toEqual({ kind: 'none', reason: 'no-entry-matches' });
    expect(chooseProfile({ department: 'Sales' }, undefined, criteriaById)).toEqual({ kind: 'none', reason: 'no-criteria' });
  });
});
