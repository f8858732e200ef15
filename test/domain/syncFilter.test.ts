import { describe, expect, it } from 'vitest';
import { inSyncFilter, syncFilterQuery, syncFilterSchema } from '../../shared/domain';
import { compileFilter } from '../../local/graph-emulator/filter';

describe('the sync filter', () => {
  const filter = syncFilterSchema.parse({ membersOnly: true, attributes: [{ attribute: 'department', values: ['Sales', "O'Brien & Co"] }, { attribute: 'country', values: ['Germany'] }] });

  it('is the $filter Graph takes on /users: eq for one value, in for several, quotes doubled', () => {
    expect(syncFilterQuery(filter)).toBe("userType eq 'Member' and department in ('Sales','O''Brien & Co') and country eq 'Germany'");
    expect(syncFilterQuery(syncFilterSchema.parse({}))).toBeUndefined();
    expect(syncFilterQuery(undefined)).toBeUndefined();
  });

  it('checks a user as Graph would answer the query, case-insensitively', () => {
    const graph = compileFilter(syncFilterQuery(filter)!);
    const users = [
      { userType: 'Member', department: 'sales', country: 'GERMANY' },
      { userType: 'Guest', department: 'Sales', country: 'Germany' },
      { userType: 'Member', department: "o'brien & co", country: 'Germany' },
      { userType: 'Member', department: 'IT', country: 'Germany' },
      { userType: 'Member', department: null, country: 'Germany' },
    ];
    for (const u of users) expect(inSyncFilter(u, filter), JSON.stringify(u)).toBe(graph.predicate(u));
    expect(users.map((u) => inSyncFilter(u, filter))).toEqual([true, false, true, false, false]);
  });

  it('refuses what Graph could not filter on, more than 15 values, and an attribute named twice', () => {
    expect(syncFilterSchema.safeParse({ attributes: [{ attribute: 'streetAddress', values: ['x'] }] }).success).toBe(false);
    expect(syncFilterSchema.safeParse({ attributes: [{ attribute: 'city', values: Array.from({ length: 16 }, (_, i) => `c${i}`) }] }).success).toBe(false);
    expect(syncFilterSchema.safeParse({ attributes: [{ attribute: 'city', values: ['a'] }, { attribute: 'city', values: ['b'] }] }).success).toBe(false);
  });
});
