import { describe, expect, it } from 'vitest';
import { DEMO_OFFICES, DEMO_SKUS, generateDemoTenant } from '../../local/demo/tenant';

describe('demo tenant generator', () => {
  it('gives the same tenant for the same seed and size, and another for another seed', () => {
    const a = generateDemoTenant({ seed: 'acme', users: 600 });
    const b = generateDemoTenant({ seed: 'acme', users: 600 });
    const c = generateDemoTenant({ seed: 'other', users: 600 });
    expect(JSON.stringify(b)).toBe(JSON.stringify(a));
    expect(c.tenantId).not.toBe(a.tenantId);
    expect(c.users[0].id).not.toBe(a.users[0].id);
  });

  it('keeps a given tenant id and rejects sizes out of range', () => {
    expect(generateDemoTenant({ seed: 1, users: 10, tenantId: 'tid-1' }).tenantId).toBe('tid-1');
    expect(() => generateDemoTenant({ seed: 1, users: 9 })).toThrow(RangeError);
    expect(() => generateDemoTenant({ seed: 1, users: 200_001 })).toThrow(RangeError);
  });

  it('has realistic variety: offices, guests, disabled accounts, missing usage locations, unique UPNs', () => {
    const t = generateDemoTenant({ seed: 42, users: 2000 });
    const users = t.users;
    expect(new Set(users.map((u) => u.userPrincipalName.toLowerCase())).size).toBe(users.length);
    expect(new Set(users.map((u) => u.id)).size).toBe(users.length);
    for (const o of DEMO_OFFICES) expect(users.some((u) => u.city === o.city && u.officeLocation === o.officeLocation)).toBe(true);
    const guests = users.filter((u) => u.userType === 'Guest');
    expect(guests.length).toBeGreaterThan(0);
    expect(guests.every((u) => u.userPrincipalName.includes('#EXT#@'))).toBe(true);
    expect(users.some((u) => !u.accountEnabled)).toBe(true);
    expect(users.some((u) => u.userType === 'Member' && u.usageLocation === null)).toBe(true);
    expect(new Set(users.map((u) => u.department)).size).toBeGreaterThan(5);
  });

  it('licenses within seats, Teams numbers in the office country, and a few duplicated numbers', () => {
    const t = generateDemoTenant({ seed: 42, users: 2000 });
    for (const sku of t.skus) {
      const holders = t.users.filter((u) => u.assignedLicenses.some((l) => l.skuId === sku.skuId)).length;
      expect(sku.consumedUnits).toBe(holders);
      expect(sku.consumedUnits).toBeLessThanOrEqual(sku.prepaidUnits.enabled);
      expect(sku.servicePlans.length).toBeGreaterThan(0);
    }
    const pstn2 = t.skus.find((s) => s.skuId === DEMO_SKUS.MCOPSTN2.skuId)!;
    expect(pstn2.prepaidUnits.enabled - pstn2.consumedUnits).toBe(0);
    const licensedMembers = t.users.filter((u) => u.assignedLicenses.length > 0);
    expect(t.teamsUserConfigurations.length).toBeGreaterThan(0);
    expect(t.teamsUserConfigurations.length).toBeLessThan(licensedMembers.length);
    const byId = new Map(t.users.map((u) => [u.id, u]));
    for (const cfg of t.teamsUserConfigurations.filter((c) => c.telephoneNumbers.length)) {
      const dialCode = { US: '+1', GB: '+44', AU: '+61' }[byId.get(cfg.id)!.usageLocation as 'US' | 'GB' | 'AU'];
      expect(cfg.telephoneNumbers[0].telephoneNumber.startsWith(dialCode)).toBe(true);
      expect(cfg.telephoneNumbers[0].telephoneNumber).toMatch(/^\+\d{10,13}$/);
    }
    expect(t.duplicateNumbers.length).toBeGreaterThan(0);
    for (const d of t.duplicateNumbers) {
      const [a, b] = d.userIds.map((id) => byId.get(id)!);
      expect(a.city).not.toBe(b.city);
      expect(a.businessPhones).toEqual([d.telephoneNumber]);
      expect(b.businessPhones).toEqual([d.telephoneNumber]);
    }
    expect(t.numberAssignments.some((n) => n.assignmentStatus === 'unassigned')).toBe(true);
    expect(t.dialPlans.map((d) => d.SimpleName).sort()).toEqual(['DP-AU', 'DP-GB', 'DP-US']);
    expect(t.dialPlans.every((d) => d.NormalizationRules.length >= 3)).toBe(true);
    for (const list of Object.values(t.policies)) expect(list.length).toBeGreaterThanOrEqual(2);
    expect(t.groups.length).toBeGreaterThan(4);
  });
});
