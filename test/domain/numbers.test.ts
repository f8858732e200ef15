import { describe, expect, it } from 'vitest';
import {
  allocationOrder,
  assignNumber,
  effectiveStatus,
  entriesForRange,
  expandRange,
  isAssignable,
  MAX_RANGE_SIZE,
  nextAvailable,
  NumberStatusRefused,
  numberRangeSchema,
  operatorStatus,
  reconcileEntry,
  releaseNumber,
  type NumberEntry,
} from '../../shared/domain';

const now = new Date('2026-03-01T00:00:00Z');
const entry = (number: string, extra: Partial<NumberEntry> = {}): NumberEntry => ({
  number,
  customerId: 'c',
  siteId: 's',
  status: 'Available',
  vendor: 'Microsoft',
  lineType: 'DirectRouting',
  everUsed: false,
  ...extra,
});

describe('number allocation order', () => {
  it('prefers numbers never used (lowest first), then the longest released', () => {
    const entries = [
      entry('+15550003', { everUsed: true, releasedAt: '2025-12-01T00:00:00Z' }),
      entry('+15550002'),
      entry('+15550004', { everUsed: true, releasedAt: '2025-01-01T00:00:00Z' }),
      entry('+15550001'),
    ];
    expect(allocationOrder(entries, now).map((e) => e.number)).toEqual(['+15550001', '+15550002', '+15550004', '+15550003']);
  });

  it('skips Used, Used-Utility, Reserved, cooling, other vendors and other line types', () => {
    const entries = [
      entry('+15550001', { status: 'Used', userId: 'u' }),
      entry('+15550002', { status: 'Used-Utility' }),
      entry('+15550003', { status: 'Reserved' }),
      entry('+15550004', { status: 'Cooling', coolingUntil: '2026-03-10T00:00:00Z', everUsed: true }),
      entry('+15550005', { vendor: 'Cisco' }),
      entry('+15550006', { lineType: 'CallingPlan' }),
      entry('+15550007'),
    ];
    expect(allocationOrder(entries, now, 'DirectRouting').map((e) => e.number)).toEqual(['+15550007']);
    expect(nextAvailable(entries, now, 'CallingPlan')?.number).toBe('+15550006');
  });

  it('site numbers come before customer numbers', () => {
    const entries = [entry('+15550001', { siteId: undefined }), entry('+15550009')];
    expect(allocationOrder(entries, now).map((e) => e.number)).toEqual(['+15550009', '+15550001']);
  });
});

describe('cooling', () => {
  it('a released number cools for 30 days by default, then is available again, after the never-used ones', () => {
    const used = assignNumber(entry('+15550001'), 'u1', now);
    expect(used).toMatchObject({ status: 'Used', userId: 'u1', everUsed: true });
    const released = releaseNumber(used, now);
    expect(released.status).toBe('Cooling');
    expect(released.coolingUntil).toBe('2026-03-31T00:00:00.000Z');
    expect(effectiveStatus(released, new Date('2026-03-30T23:59:59Z'))).toBe('Cooling');
    const later = new Date('2026-03-31T00:00:00Z');
    expect(effectiveStatus(released, later)).toBe('Available');
    expect(allocationOrder([released, entry('+15550002')], later).map((e) => e.number)).toEqual(['+15550002', '+15550001']);
    const reassigned = assignNumber(released, 'u2', later);
    expect(reassigned).toMatchObject({ status: 'Used', userId: 'u2' });
    expect(reassigned.coolingUntil).toBeUndefined();
  });

  it('a cooling period of 0 makes the number available at once; assigning a cooling number throws', () => {
    expect(releaseNumber(assignNumber(entry('+15550001'), 'u', now), now, 0).status).toBe('Available');
    expect(() => assignNumber(releaseNumber(entry('+15550001', { status: 'Used' }), now, 5), 'u', now)).toThrow(/Cooling/);
  });
});

describe('ranges', () => {
  it('expands first to last, keeping leading digits', () => {
    expect(expandRange({ first: '+3120555009', last: '+3120555012' })).toEqual(['+3120555009', '+3120555010', '+3120555011', '+3120555012']);
  });

  it('adds only the missing numbers', () => {
    const range = numberRangeSchema.parse({ id: 'r', customerId: 'c', siteId: 's', first: '+15550001', last: '+15550004', lineType: 'CallingPlan' });
    expect(entriesForRange(range, new Set(['+15550002'])).map((e) => e.number)).toEqual(['+15550001', '+15550003', '+15550004']);
  });

  it('refuses huge or inverted ranges', () => {
    expect(() => expandRange({ first: '+15550000000', last: `+1555${String(MAX_RANGE_SIZE).padStart(7, '0')}` })).toThrow(/more than/);
    expect(numberRangeSchema.safeParse({ id: 'r', customerId: 'c', first: '+15550009', last: '+15550001', lineType: 'CallingPlan' }).success).toBe(false);
  });
});

describe('the inventory as a view of Microsoft', () => {
  const read = { now, coolingDays: 30, complete: true, readStartedAt: '2026-02-28T00:00:00.000Z' };
  it('a held number is Used by its holder, whatever it read before, except a utility', () => {
    for (const status of ['Available', 'Cooling', 'Reserved'] as const) {
      expect(reconcileEntry(entry('+15550001', { status }), ['u1'], ['s'], read)).toMatchObject({ status: 'Used', userId: 'u1', usedSince: now.toISOString() });
    }
    expect(reconcileEntry(entry('+15550001', { status: 'Used-Utility' }), ['u1'], ['s'], read).status).toBe('Used-Utility');
    // The holder already recorded keeps it; a stale one gives way.
    const kept = entry('+15550001', { status: 'Used', userId: 'u2' });
    expect(reconcileEntry(kept, ['u1', 'u2'], ['s'], read)).toMatchObject({ userId: 'u2', heldBy: ['u1', 'u2'], duplicate: true });
    expect(reconcileEntry(kept, ['u1'], ['s'], read)).toMatchObject({ userId: 'u1' });
    expect(reconcileEntry(kept, ['u2'], ['s'], read)).toBe(kept);
    // Microsoft's assignee, when known, owns it among several holders, whoever was recorded.
    expect(reconcileEntry(kept, ['u1', 'u2', 'u3'], ['s'], read, 'u3')).toMatchObject({ userId: 'u3', heldBy: ['u1', 'u2', 'u3'] });
    expect(reconcileEntry(entry('+15550001', { status: 'Used', userId: 'gone' }), ['a', 'z'], ['s'], read, 'z')).toMatchObject({ userId: 'z' });
  });
  it('a complete read releases what nobody holds any more, but not what was taken after the read began', () => {
    const old = entry('+15550001', { status: 'Used', userId: 'u', usedSince: '2026-01-01T00:00:00.000Z' });
    expect(reconcileEntry(old, [], ['s'], read)).toMatchObject({ status: 'Cooling', userId: 'u' });
    expect(reconcileEntry(old, [], ['s'], { ...read, complete: false })).toBe(old);
    const fresh = entry('+15550001', { status: 'Used', userId: 'u', usedSince: '2026-02-28T12:00:00.000Z' });
    expect(reconcileEntry(fresh, [], ['s'], read)).toBe(fresh);
  });
  it('a number in several inventories is flagged, and unflagged when it is in one again', () => {
    const flagged = reconcileEntry(entry('+15550001'), [], ['s', 'customer'], read);
    expect(flagged).toMatchObject({ alsoIn: ['customer'], duplicate: true, status: 'Available' });
    expect(reconcileEntry(flagged, [], ['s'], read)).toEqual(entry('+15550001'));
  });
});

describe("the operator's statuses", () => {
  it('reserve, utility and release, with the reason; a user\'s number is refused', () => {
    const reserved = operatorStatus(entry('+15550001'), 'reserve', 'CEO', now, 30);
    expect(reserved).toMatchObject({ status: 'Reserved', reason: 'CEO', reasonAt: now.toISOString() });
    expect(isAssignable(reserved, now)).toBe(false);
    expect(operatorStatus(reserved, 'release', undefined, now, 30)).toMatchObject({ status: 'Available' });
    const utility = operatorStatus(entry('+15550001'), 'utility', 'fax', now, 30);
    expect(utility).toMatchObject({ status: 'Used-Utility', reason: 'fax' });
    expect(() => operatorStatus(utility, 'reserve', 'x', now, 30)).toThrow(NumberStatusRefused);
    expect(operatorStatus(utility, 'release', undefined, now, 30)).toMatchObject({ status: 'Cooling', coolingUntil: '2026-03-31T00:00:00.000Z' });
    expect(() => operatorStatus(entry('+15550001', { status: 'Used', userId: 'u' }), 'reserve', 'x', now, 30)).toThrow(/held by user u/);
    const staged = entry('+15550001', { status: 'Reserved', userId: 'u', reason: 'staged' });
    expect(() => operatorStatus(staged, 'utility', 'x', now, 30)).toThrow(/reserved for user u/);
  });
});
