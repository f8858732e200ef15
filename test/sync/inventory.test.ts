/**
 * The number inventory as a view of Microsoft plus the operator's intent, through the local host, the Graph
 * emulator and Azurite: what a sync makes of numbers held in Teams, duplicates, releases, the statuses an
 * operator sets, range deletion, cooling and prevent duplicate numbers switched on late.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMicrosoftTenant } from '../../shared/adapters/graph';
import { readSettings } from '../../shared/config/settings';
import { generateDemoTenant } from '../../local/demo/tenant';
import type { NumberEntry } from '../../shared/domain';
import { runSync, seedDemoCustomer, startTestStack, type TestStack } from '../support/stack';

const USERS = 200;
let t: TestStack;
let customerId: string;
let tenantId: string;
const control = () => t.stack.graph!.control;
const duplicates = generateDemoTenant({ seed: 'inventory', users: USERS }).duplicateNumbers;

interface RunWithNumbers {
  runId: string;
  status: string;
  numbers?: { held: number; marked: number; released: number; recordedOutsideRanges: number; duplicates: number; duplicateNumbers: string[] };
}

/** Every number each user holds in Teams now, as Microsoft shows it. */
function heldInTeams(): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const [userId, cfg] of control().state(tenantId).teams) for (const n of cfg.telephoneNumbers) out.set(n.telephoneNumber, [...(out.get(n.telephoneNumber) ?? []), userId]);
  return out;
}

async function inventory(): Promise<NumberEntry[]> {
  return (await t.storage.numbers.listAll(customerId)).map((e) => e.value);
}

function tenantAdmin() {
  const demo = t.stack.demo!;
  process.env[demo.secretSetting] = t.stack.settings[demo.secretSetting];
  return createMicrosoftTenant({ tenantId: demo.tenantId, clientId: demo.clientId, credentialRef: `env:${demo.secretSetting}` }, readSettings(t.stack.settings));
}

beforeAll(async () => {
  t = await startTestStack({ users: USERS, seed: 'inventory' });
  customerId = await seedDemoCustomer(t);
  tenantId = t.stack.demo!.tenantId;
  await t.storage.sites.create({ id: 'sea', customerId, name: 'Seattle', city: 'Seattle', macros: {} });
  await t.storage.sites.create({ id: 'chi', customerId, name: 'Chicago', city: 'Chicago', macros: {} });
}, 120_000);
afterAll(async () => {
  await t?.stop();
});

describe('a full sync makes the inventory a view of Microsoft', () => {
  let first: RunWithNumbers;
  let held: Map<string, string[]>;

  it('every number held in Teams is Used by its holder, in whichever range it falls, or recorded outside any range', async () => {
    held = heldInTeams();
    const seattle = [...held.keys()].filter((n) => n.startsWith('+1206')).sort();
    expect(seattle.length).toBeGreaterThan(5);
    // A customer-level range and a site range over numbers some users hold, with free numbers around them.
    const range = (id: string, first: string, last: string, siteId?: string) =>
      t.api.json('POST', `/customers/${customerId}/number-ranges`, { id, first, last, lineType: 'DirectRouting', ...(siteId ? { siteId } : {}) });
    await range('customer-range', seattle[0], seattle[2]);
    await range('site-range', seattle[3], seattle[5], 'sea');
    first = (await runSync(t, customerId, 'full')) as RunWithNumbers;
    expect(first.status).toBe('succeeded');
    const entries = await inventory();
    for (const [number, userIds] of held) {
      const kept = entries.filter((e) => e.number === number);
      expect(kept.length, number).toBeGreaterThan(0);
      for (const e of kept) {
        expect(e.status, number).toBe('Used');
        expect(userIds, number).toContain(e.userId);
      }
    }
    const byNumber = new Map(entries.map((e) => [`${e.siteId ?? ''}|${e.number}`, e]));
    expect(byNumber.get(`|${seattle[1]}`)).toMatchObject({ rangeId: 'customer-range', status: 'Used' });
    expect(byNumber.get(`sea|${seattle[4]}`)).toMatchObject({ rangeId: 'site-range', status: 'Used' });
    // Held outside any range: recorded at the customer (its users are at customer level).
    const outside = entries.filter((e) => e.rangeId === undefined);
    expect(outside.length).toBe(held.size - 6);
    expect(outside.every((e) => e.siteId === undefined && e.status === 'Used')).toBe(true);
    expect(first.numbers).toMatchObject({ held: held.size, recordedOutsideRanges: held.size - 6 });
    expect(first.numbers!.marked).toBeGreaterThanOrEqual(6);
  });

  it('a number held by two users is flagged duplicate at sync time: in the run, the numbers API and the summary', async () => {
    expect(duplicates.length).toBeGreaterThan(0);
    const numbers = duplicates.map((d) => d.telephoneNumber).sort();
    expect(first.numbers!.duplicateNumbers).toEqual(expect.arrayContaining(numbers));
    const flagged = await t.api.json<{ items: NumberEntry[] }>('GET', `/customers/${customerId}/numbers?duplicate=true&top=1000`);
    expect(flagged.items.map((e) => e.number).sort()).toEqual(expect.arrayContaining(numbers));
    for (const d of duplicates) {
      const entry = flagged.items.find((e) => e.number === d.telephoneNumber)!;
      expect(entry.heldBy).toEqual([...d.userIds].sort());
    }
    const summary = await t.api.json<{ numbers: { duplicates: number; duplicateNumbers: string[]; outsideRanges: number; byStatus: Record<string, number> } }>('GET', `/customers/${customerId}/summary`);
    expect(summary.numbers.duplicates).toBeGreaterThanOrEqual(duplicates.length);
    expect(summary.numbers.duplicateNumbers).toEqual(expect.arrayContaining(numbers));
    expect(summary.numbers.byStatus.Used).toBe((await inventory()).filter((e) => e.status === 'Used').length);
  });

  it('next available never offers a number Microsoft shows held, even from a range added after the sync', async () => {
    // Over the last numbers held at Seattle and the free ones after them.
    const seattle = control().numbers(tenantId).filter((n) => n.telephoneNumber.startsWith('+1206') && n.numberType === 'directRouting').map((n) => n.telephoneNumber).sort();
    const firstFree = seattle.findIndex((n) => !control().numbers(tenantId).find((a) => a.telephoneNumber === n)!.assignmentTargetId);
    expect(firstFree).toBeGreaterThan(8);
    const range = await t.api.json<{ created: number }>('POST', `/customers/${customerId}/number-ranges`, { id: 'late', first: seattle[firstFree - 2], last: seattle[firstFree + 1], lineType: 'DirectRouting', siteId: 'chi' });
    expect(range.created).toBe(4);
    const offered: string[] = [];
    for (let i = 0; i < 3; i++) {
      const next = await t.storage.numbers.allocateNext({ customerId, siteId: 'chi', userId: `someone-new-${i}`, lineType: 'DirectRouting', now: new Date() });
      if (next.ok) offered.push(next.entry.value.number);
    }
    expect(offered.sort()).toEqual([seattle[firstFree], seattle[firstFree + 1]]);
    for (const n of offered) expect(heldInTeams().has(n)).toBe(false);
    for (const [i, n] of offered.entries()) await t.storage.numbers.release({ customerId, siteId: 'chi' }, n, `someone-new-${i}`, new Date(), 0);
  });

  it('a number given up in Teams cools at the next full sync; one taken in Teams is Used by its new holder', async () => {
    const admin = tenantAdmin();
    // A free number to be taken, chosen before another is given up (which would make it free too).
    const free = control().numbers(tenantId).find((n) => !n.assignmentTargetId && n.numberType === 'directRouting')!.telephoneNumber;
    const directRouting = new Set(control().numbers(tenantId).filter((n) => n.numberType === 'directRouting').map((n) => n.telephoneNumber));
    const [released] = [...heldInTeams()].find(([n, users]) => users.length === 1 && directRouting.has(n) && !duplicates.some((d) => d.telephoneNumber === n))!;
    await admin.unassignNumber({ number: released, numberType: 'directRouting' });
    const taker = [...control().state(tenantId).teams.values()].find((c) => c.featureTypes.includes('PhoneSystem') && c.telephoneNumbers.length === 0)!;
    await t.api.json('POST', `/customers/${customerId}/number-ranges`, { id: 'free', first: free, last: free, lineType: 'DirectRouting' });
    await admin.assignNumber({ userId: taker.id, number: free, numberType: 'directRouting', assignmentCategory: 'primary' });
    const run = (await runSync(t, customerId, 'full')) as RunWithNumbers;
    expect(run.numbers!.released).toBeGreaterThanOrEqual(1);
    const entries = await inventory();
    expect(entries.find((e) => e.number === released)).toMatchObject({ status: 'Cooling' });
    expect(entries.find((e) => e.number === free)).toMatchObject({ status: 'Used', userId: taker.id });
  });

  it('a user new in a delta round has its number marked Used at once', async () => {
    const free = control().numbers(tenantId).find((n) => !n.assignmentTargetId && n.numberType === 'directRouting')!.telephoneNumber;
    await t.api.json('POST', `/customers/${customerId}/number-ranges`, { id: 'for-new-hire', first: free, last: free, lineType: 'DirectRouting', siteId: 'chi' });
    const hire = control().addUser(tenantId, { displayName: 'New Voice Hire', city: 'Chicago', department: 'Sales' });
    control().provisionTeamsUser(tenantId, hire.id);
    const e5 = [...control().state(tenantId).skus.values()].find((s) => s.skuPartNumber === 'SPE_E5')!;
    e5.prepaidUnits.enabled = Math.max(e5.prepaidUnits.enabled, e5.consumedUnits + 1);
    await tenantAdmin().setUsageLocation(hire.id, 'US');
    await tenantAdmin().assignLicenses(hire.id, { add: [{ skuId: e5.skuId }], remove: [] });
    expect(control().teamsUser(tenantId, hire.id)!.featureTypes).toContain('PhoneSystem');
    await tenantAdmin().assignNumber({ userId: hire.id, number: free, numberType: 'directRouting', assignmentCategory: 'primary' });
    const run = await runSync(t, customerId, 'delta');
    expect(run.status).toBe('succeeded');
    expect((await t.storage.numbers.get({ customerId, siteId: 'chi' }, free))!.value).toMatchObject({ status: 'Used', userId: hire.id });
  });
});

describe('the statuses an operator sets', () => {
  const post = (number: string, action: string, body: unknown) => t.api.request('POST', `/customers/${customerId}/numbers/${encodeURIComponent(number)}/${action}`, body);

  it('reserve and utility need a reason, release undoes them; a number a user holds is refused with 409', async () => {
    const spare = control().numbers(tenantId).filter((n) => !n.assignmentTargetId && n.numberType === 'directRouting').map((n) => n.telephoneNumber).sort().reverse()[5];
    await t.api.json('POST', `/customers/${customerId}/number-ranges`, { id: 'operator', first: spare, last: spare, lineType: 'DirectRouting' });
    const entries = await inventory();
    const free = entries.find((e) => e.number === spare && e.siteId === undefined)!;
    expect(free.status).toBe('Available');
    const used = entries.find((e) => e.status === 'Used' && e.siteId === undefined)!;
    expect((await post(free.number, 'reserve', {})).status).toBe(400);
    const reserved = await post(free.number, 'reserve', { reason: 'for the new CEO' });
    expect(reserved.status).toBe(200);
    expect(await reserved.json()).toMatchObject({ number: free.number, status: 'Reserved', reason: 'for the new CEO' });
    // A reserved number is never offered.
    const offered = await t.storage.numbers.allocateNext({ customerId, siteId: 'chi', userId: 'probe', now: new Date() });
    if (offered.ok) {
      expect(offered.entry.value.number).not.toBe(free.number);
      await t.storage.numbers.release({ customerId, siteId: offered.entry.value.siteId }, offered.entry.value.number, 'probe', new Date(), 0);
    }
    expect(await (await post(free.number, 'reserve', { reason: 'for the new CFO' })).json()).toMatchObject({ status: 'Reserved', reason: 'for the new CFO' });
    expect(await (await post(free.number, 'release', {})).json()).toMatchObject({ status: 'Available' });
    // Without the +, as some clients send it.
    const utility = await post(free.number.slice(1), 'utility', { reason: 'lift phone' });
    expect(await utility.json()).toMatchObject({ status: 'Used-Utility', reason: 'lift phone' });
    expect(await (await post(free.number, 'release', {})).json()).toMatchObject({ status: 'Cooling' });
    const refused = await post(used.number, 'reserve', { reason: 'mine now' });
    expect(refused.status).toBe(409);
    expect(await refused.json()).toMatchObject({ detail: expect.stringContaining(`held by user ${used.userId}`) });
    expect((await post('+19999999999', 'reserve', { reason: 'x' })).status).toBe(404);
    expect((await post('not-a-number', 'reserve', { reason: 'x' })).status).toBe(400);
    expect((await post(free.number, 'reserve', { reason: 'x', siteId: 'atlantis' })).status).toBe(404);
    expect((await post(free.number, 'reserve', { reason: 'x', extra: 1 })).status).toBe(400);
  });

  it('the OpenAPI document lists the routes', async () => {
    const doc = await t.api.json<{ paths: Record<string, Record<string, unknown>> }>('GET', '/openapi.json');
    for (const action of ['reserve', 'utility', 'release']) expect(doc.paths[`/api/customers/{customerId}/numbers/{number}/${action}`]?.post).toBeDefined();
    expect(doc.paths['/api/customers/{customerId}/number-ranges/{rangeId}']?.delete).toBeDefined();
  });
});

describe('ranges and cooling', () => {
  it('a range with a Used number is not deleted: 409 naming it; one without is deleted with its numbers', async () => {
    const refused = await t.api.request('DELETE', `/customers/${customerId}/number-ranges/customer-range`);
    expect(refused.status).toBe(409);
    const problem = (await refused.json()) as { detail: string };
    const used = (await inventory()).filter((e) => e.rangeId === 'customer-range' && e.status === 'Used');
    expect(used.length).toBeGreaterThan(0);
    for (const e of used) expect(problem.detail).toContain(e.number);
    expect((await inventory()).filter((e) => e.rangeId === 'customer-range')).toHaveLength(3);

    const free = control().numbers(tenantId).filter((n) => !n.assignmentTargetId && n.numberType === 'directRouting').map((n) => n.telephoneNumber).sort();
    await t.api.json('POST', `/customers/${customerId}/number-ranges`, { id: 'spare', first: free[free.length - 2], last: free[free.length - 1], lineType: 'DirectRouting', siteId: 'chi' });
    await t.api.request('POST', `/customers/${customerId}/numbers/${encodeURIComponent(free[free.length - 1])}/reserve`, { siteId: 'chi', reason: 'held back' });
    expect((await t.api.request('DELETE', `/customers/${customerId}/number-ranges/spare`)).status).toBe(204);
    expect((await inventory()).filter((e) => e.rangeId === 'spare')).toEqual([]);
    expect((await t.api.request('DELETE', `/customers/${customerId}/number-ranges/spare`)).status).toBe(404);
  });

  it('the cooling timer makes numbers whose period is over Available in storage', async () => {
    const cooling = (await t.storage.numbers.listAll(customerId)).find((e) => e.value.status === 'Cooling')!;
    const scope = { customerId, ...(cooling.value.siteId ? { siteId: cooling.value.siteId } : {}) };
    await t.storage.numbers.update(scope, cooling.value.number, (e) => ({ ...e, coolingUntil: new Date(Date.now() - 1000).toISOString() }));
    expect((await t.api.request('POST', '/admin/functions/numberCooling', {}, 'master')).status).toBe(202);
    for (let i = 0; i < 100 && (await t.storage.numbers.get(scope, cooling.value.number))!.value.status === 'Cooling'; i++) await new Promise((r) => setTimeout(r, 100));
    expect((await t.storage.numbers.get(scope, cooling.value.number))!.value).toMatchObject({ status: 'Available' });
  });
});

describe('prevent duplicate numbers switched on late', () => {
  it('reports the duplicates that exist, and none of them is handed out again', async () => {
    // The same free number kept in two sites, as the setting off allows.
    const free = control().numbers(tenantId).filter((n) => !n.assignmentTargetId && n.numberType === 'directRouting').map((n) => n.telephoneNumber).sort()[0];
    await t.api.json('POST', `/customers/${customerId}/number-ranges`, { id: 'twice-sea', first: free, last: free, lineType: 'DirectRouting', siteId: 'sea' });
    await t.api.json('POST', `/customers/${customerId}/number-ranges`, { id: 'twice-chi', first: free, last: free, lineType: 'DirectRouting', siteId: 'chi' });
    const res = await t.api.request('PUT', `/customers/${customerId}/global-settings`, { preventDuplicateNumbers: 'yes' });
    expect(res.status).toBe(201);
    const body = (await res.json()) as { preventDuplicateNumbers: string; duplicateNumbers: { duplicates: Array<{ number: string; inventories: string[]; heldBy?: string[] }> } };
    expect(body.preventDuplicateNumbers).toBe('yes');
    expect(body.duplicateNumbers.duplicates).toEqual(expect.arrayContaining([{ number: free, inventories: ['chi', 'sea'] }]));
    for (const d of duplicates) expect(body.duplicateNumbers.duplicates.map((x) => x.number)).toContain(d.telephoneNumber);
    for (const siteId of ['sea', 'chi']) {
      expect((await t.storage.numbers.get({ customerId, siteId }, free))!.value).toMatchObject({ duplicate: true, status: 'Available' });
      const offered = await t.storage.numbers.allocateNext({ customerId, siteId, userId: `probe-${siteId}`, now: new Date(), refuseDuplicates: true });
      if (offered.ok) expect(offered.entry.value.number).not.toBe(free);
    }
  });
});
