import { describe, expect, it } from 'vitest';
import {
  criteriaAttributes,
  DEFAULT_GLOBAL_SETTINGS,
  changedFields,
  globalSettingsSchema,
  guardDeletes,
  mergeUser,
  newTransactionId,
  readsPlacement,
  resolveGlobalSettings,
  transactionOutcome,
} from '../../shared/domain';

describe('reconciliation diff', () => {
  const stored = { id: 'u1', displayName: 'Joe Adams', city: 'Chicago', department: 'Engineering', assignedLicenses: ['a', 'b'] };
  const placement = criteriaAttributes([{ not: false, attribute: 'City', condition: 'Equals', value: 'x', join: 'AND' }]);

  it('reports changed synced fields and whether placement may change', () => {
    expect(changedFields(stored, { ...stored, city: 'London' })).toEqual(['city']);
    expect(readsPlacement(['city'], placement)).toBe(true);
    expect(changedFields(stored, { ...stored, department: 'Sales' })).toEqual(['department']);
    expect(readsPlacement(['department'], placement)).toBe(false);
  });

  it('ignores list order and absent fields, sees explicit nulls', () => {
    expect(changedFields(stored, { id: 'u1', assignedLicenses: ['b', 'a'] })).toEqual([]);
    expect(changedFields(stored, { id: 'u1', city: null })).toEqual(['city']);
  });

  it('a new user has every given field changed; merge keeps fields the fresh read left out', () => {
    expect(changedFields(undefined, { id: 'u2', city: 'Paris' })).toEqual(['city']);
    expect(mergeUser(stored, { id: 'u1', city: 'London' })).toEqual({ ...stored, city: 'London' });
  });
});

describe('delete guard', () => {
  it('allows deletions within both limits', () => {
    expect(guardDeletes('users', 5, 1000, { maxCount: 10, maxShare: 0.1 })).toEqual({ allow: true });
    expect(guardDeletes('users', 0, 0, { maxCount: 0, maxShare: 0 })).toEqual({ allow: true });
  });

  it('holds when the count is exceeded', () => {
    const d = guardDeletes('users', 11, 100_000, { maxCount: 10, maxShare: 0.5 });
    expect(d).toMatchObject({ allow: false, pending: 11, total: 100_000 });
    if (!d.allow) expect(d.reason).toBe('11 users deletions pending, more than the limit of 10');
  });

  it('holds when the share is exceeded, and when everything would go', () => {
    const d = guardDeletes('policies', 3, 10, { maxCount: 10, maxShare: 0.25 });
    expect(d.allow).toBe(false);
    if (!d.allow) expect(d.reason).toBe('3 of 10 policies (30%) would be deleted, more than the limit of 25%');
    expect(guardDeletes('users', 4, 0, { maxCount: null, maxShare: 0.9 }).allow).toBe(false);
  });

  it('a null limit is no limit; the defaults protect a real tenant', () => {
    expect(guardDeletes('users', 500, 1000, { maxCount: null, maxShare: null }).allow).toBe(true);
    const t = DEFAULT_GLOBAL_SETTINGS.deleteThresholds.users;
    expect(guardDeletes('users', 40, 1000, t).allow).toBe(true);
    expect(guardDeletes('users', 51, 100_000, t).allow).toBe(false);
    expect(guardDeletes('users', 20, 100, t).allow).toBe(false);
  });
});

describe('global settings', () => {
  it('defaults: nothing moves, duplicates allowed, 30 days cooling', () => {
    expect(resolveGlobalSettings([])).toEqual(DEFAULT_GLOBAL_SETTINGS);
    expect(globalSettingsSchema.parse({})).toMatchObject({ moveAndFlowThrough: 'inherit', preventDuplicateNumbers: 'inherit' });
  });

  it('the most specific explicit value wins; inherit takes the level above', () => {
    const provider = globalSettingsSchema.parse({ moveAndFlowThrough: 'yes', addSync: 'yes', preventDuplicateNumbers: 'yes', numberCoolingDays: 10 });
    const customer = globalSettingsSchema.parse({ addSync: 'inherit', updateSync: 'yes', preventDuplicateNumbers: 'no', deleteThresholds: { users: { maxCount: 5, maxShare: null } } });
    const r = resolveGlobalSettings([provider, customer]);
    expect(r).toMatchObject({ moveAndFlowThrough: true, addSync: true, updateSync: true, preventDuplicateNumbers: false, numberCoolingDays: 10 });
    expect(r.deleteThresholds.users).toEqual({ maxCount: 5, maxShare: null });
    expect(r.deleteThresholds.licenses).toEqual(DEFAULT_GLOBAL_SETTINGS.deleteThresholds.licenses);
  });

  it('add and update sync need move and flow-through', () => {
    const r = resolveGlobalSettings([globalSettingsSchema.parse({ moveAndFlowThrough: 'no', addSync: 'yes', updateSync: 'yes' })]);
    expect(r).toMatchObject({ addSync: false, updateSync: false });
  });
});

describe('transactions', () => {
  it('ids sort newest first', () => {
    const older = newTransactionId(new Date('2026-01-01T00:00:00Z'), 'x');
    const newer = newTransactionId(new Date('2026-01-02T00:00:00Z'), 'a');
    expect([older, newer].sort()).toEqual([newer, older]);
  });

  it('outcome from the steps', () => {
    const at = '2026-01-01T00:00:00Z';
    expect(transactionOutcome([{ name: 'a', result: 'ok', at }])).toBe('succeeded');
    expect(transactionOutcome([{ name: 'a', result: 'ok', at }, { name: 'b', result: 'failed', at }])).toBe('partially-failed');
    expect(transactionOutcome([{ name: 'b', result: 'failed', at }])).toBe('failed');
  });
});
