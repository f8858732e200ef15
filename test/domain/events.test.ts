import { describe, expect, it } from 'vitest';
import { userEventType, type UserState } from '../../shared/domain';

const atCustomer: UserState = { kind: 'at-customer' };
const atSite = (siteId: string): UserState => ({ kind: 'at-site', siteId });
const provisioned = (siteId: string): UserState => ({ kind: 'provisioned', siteId, profileId: 'p' });

describe('user state change events', () => {
  it('names a change by what happened', () => {
    expect(userEventType(atCustomer, atSite('a'))).toBe('placed');
    expect(userEventType(atCustomer, provisioned('a'))).toBe('provisioned');
    expect(userEventType(atSite('a'), provisioned('a'))).toBe('provisioned');
    expect(userEventType(atCustomer, { kind: 'staged', siteId: 'a', profileId: 'p', since: 'x' })).toBe('staged');
    expect(userEventType(provisioned('a'), { kind: 'needs-attention', siteId: 'a', reason: 'r' })).toBe('needs-attention');
    expect(userEventType(atCustomer, { kind: 'needs-attention', reason: 'r' })).toBe('needs-attention');
    expect(userEventType(provisioned('a'), provisioned('b'))).toBe('moved');
    expect(userEventType(provisioned('a'), { kind: 'at-customer', reason: 'offboarded' })).toBe('offboarded');
    expect(userEventType(provisioned('a'), undefined)).toBe('deleted');
  });

  it('is no event when the visible state stays: the same kind at the same site, or another reason to stay at customer level', () => {
    expect(userEventType(provisioned('a'), provisioned('a'))).toBeUndefined();
    expect(userEventType(atCustomer, { kind: 'at-customer', reason: 'no-site-matches' })).toBeUndefined();
    expect(userEventType(undefined, atCustomer)).toBeUndefined();
    expect(userEventType(undefined, undefined)).toBeUndefined();
  });
});
