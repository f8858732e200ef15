/**
 * Provisioning end to end on the local stack: the real function app, Service Bus broker, Durable runtime,
 * Azurite and the Graph emulator with a 120-user demo tenant.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMicrosoftTenant } from '../../shared/adapters/graph';
import { microsoftConnector } from '../../shared/app/provisioning';
import { ServiceBusProvisioningScheduler } from '../../shared/adapters/servicebus/provisioningScheduler';
import { sender } from '../../shared/adapters/servicebus/client';
import { readSettings } from '../../shared/config/settings';
import { QUEUES } from '../../shared/config/queues';
import type { UserRecord, UserStateKind } from '../../shared/domain';
import type { MicrosoftUser } from '../../shared/ports/microsoft';
import {
  forgetCustomerContexts,
  provisionMessageId,
  provisionUser,
  recheckStagedUsers,
  type ProvisionUserMessage,
  type ProvisioningDeps,
} from '../../shared/provisioning';
import { generateDemoTenant } from '../../local/demo/tenant';
import { freeRanges, OFFICE_SITES, seedCustomer, SKUS, startWorld, syncAdd, type World } from './world';

const CUSTOMER = 'contoso';
const OVERBUILD_CUSTOMER = 'contoso-ob';
const POOL = 3;
const officeCities = new Set(OFFICE_SITES.map((s) => s.city));
const siteOfCity = new Map(OFFICE_SITES.map((s) => [s.city, s.id]));

let world: World;
const duplicateNumbers = () => generateDemoTenant({ seed: 'provisioning', users: 120 }).duplicateNumbers;
/** Teams state before anything was provisioned. */
let teamsBefore: Map<string, { numbers: string[]; features: string[] }>;

beforeAll(async () => {
  world = await startWorld({ users: 120 });
  const control = world.stack.graph!.control;
  teamsBefore = new Map(
    world.users.flatMap((u) => {
      const t = control.teamsUser(world.tenantId, u.id);
      return t ? [[u.id, { numbers: t.telephoneNumbers.map((n) => n.telephoneNumber), features: [...t.featureTypes] }] as const] : [];
    }),
  );
  await seedCustomer(world, {
    customerId: CUSTOMER,
    numbersPerSite: POOL,
    settings: { moveAndFlowThrough: 'yes', addSync: 'yes', updateSync: 'yes', addSyncCriteriaId: 'ft', preventDuplicateNumbers: 'no' },
    extraGroups: [{ id: 'e5', name: 'E5', licenses: [SKUS.SPE_E5.skuId], usageLocation: 'US' }],
  });
}, 120_000);

afterAll(async () => {
  await world?.stop();
});

async function users(customerId: string): Promise<Map<string, UserRecord>> {
  const out = new Map<string, UserRecord>();
  for await (const { value } of world.storage.users.list(customerId)) out.set(value.userId, value);
  return out;
}

function countStates(records: Iterable<UserRecord>): Record<UserStateKind, number> {
  const counts: Record<UserStateKind, number> = { 'at-customer': 0, 'at-site': 0, provisioning: 0, provisioned: 0, staged: 0, 'needs-attention': 0 };
  for (const r of records) counts[r.state.kind]++;
  return counts;
}

/** `line`: a voice user in Teams with Teams Phone and no number, provisioned only if its site's pool has one left. */
type Expected = { kind: UserStateKind | 'line'; siteId?: string; voice: boolean };
function expectedFor(u: MicrosoftUser): Expected {
  if (!u.city || !officeCities.has(u.city)) return { kind: 'at-customer', voice: false };
  // Disabled accounts and guests stay at customer level (the global setting's default).
  if (u.accountEnabled === false || u.userType === 'Guest') return { kind: 'at-customer', voice: false };
  const siteId = siteOfCity.get(u.city)!;
  const voice = u.department === 'Sales';
  const teams = teamsBefore.get(u.id);
  if (!teams) return { kind: u.assignedLicenses.length > 0 ? 'staged' : 'needs-attention', siteId, voice };
  if (!voice || teams.numbers.length > 0) return { kind: 'provisioned', siteId, voice };
  // A voice profile needs a line: without Teams Phone the user cannot have one.
  return { kind: teams.features.includes('PhoneSystem') ? 'line' : 'needs-attention', siteId, voice };
}

async function waitForTransaction(customerId: string, id: string) {
  for (let i = 0; i < 300; i++) {
    const t = await world.storage.transactions.get(customerId, id);
    if (t && t.value.outcome !== 'running') return t.value;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`transaction ${id} did not finish`);
}

const control = () => world.stack.graph!.control;

describe('flow-through provisioning', () => {
  it('a preview shows each voice user the next available number it would get, distinct, says when a site runs out, and takes none', async () => {
    type Planned = { placement: { siteId?: string }; plan?: { line: { kind: string }; changes: Array<{ kind: string; number?: string }>; unmet: string[] } };
    const available = async () => ((await world.api('GET', `/customers/${CUSTOMER}/numbers?status=Available&top=500`)).body.items as Array<{ number: string; siteId?: string }>);
    const before = await available();
    // One page (numbers are offered distinct within a page, in the order the page lists users).
    const page = await world.api('GET', `/customers/${CUSTOMER}/placement-preview?top=100`);
    expect(page.status).toBe(200);
    const items = page.body.items as Planned[];
    const wanting = items.filter((i) => i.plan?.line.kind === 'nextAvailable');
    const offered = wanting.map((i) => i.plan!.changes.find((c) => c.kind === 'number')?.number);
    const given = offered.filter((n) => n !== undefined);
    expect(given.length).toBeGreaterThan(0);
    expect(new Set(given).size).toBe(given.length);
    // Each site offers its own numbers: as many users get one as it has, the others are told why they get none.
    const bySite = new Map<string, number>();
    for (const [k, i] of wanting.entries()) {
      const siteId = i.placement.siteId!;
      if (offered[k]) {
        expect(i.plan!.unmet).toEqual([]);
        const scope = before.find((n) => n.number === offered[k])?.siteId;
        expect(scope === undefined || scope === siteId, `${offered[k]} offered at ${siteId} comes from ${scope}`).toBe(true);
        bySite.set(siteId, (bySite.get(siteId) ?? 0) + 1);
      } else {
        expect(i.plan!.unmet).toEqual([expect.stringMatching(new RegExp(`^(no DirectRouting number is available|the \\d+ DirectRouting number\\(s\\) available) for site ${siteId} or its customer`))]);
      }
    }
    for (const [siteId, n] of bySite) expect(n).toBeLessThanOrEqual(before.filter((e) => e.siteId === siteId).length);
    expect(await available()).toEqual(before);
  });

  it('places and provisions every synced user with exact counts, and never gives a number twice', async () => {
    await world.queue.send(syncAdd(CUSTOMER, world.users.map((u) => u.id), '2026-01-01T00:00:00.000Z'));
    // Number assignments finish on Teams' own time and are checked in rounds: minutes on a loaded machine.
    await world.idle(240_000);
    const records = await users(CUSTOMER);
    const expected = new Map(world.users.map((u) => [u.id, expectedFor(u)]));
    const want: Record<UserStateKind, number> = { 'at-customer': 0, 'at-site': 0, provisioning: 0, provisioned: 0, staged: 0, 'needs-attention': 0 };
    const wanting = new Map<string, number>();
    for (const e of expected.values()) {
      if (e.kind === 'line') wanting.set(e.siteId!, (wanting.get(e.siteId!) ?? 0) + 1);
      else want[e.kind]++;
    }
    // Each site's small pool gives a line to as many voice users as it holds; the others need attention.
    for (const n of wanting.values()) {
      want.provisioned += Math.min(n, POOL);
      want['needs-attention'] += n - Math.min(n, POOL);
    }
    expect(countStates(records.values())).toEqual(want);
    expect(want.provisioned).toBeGreaterThan(20);
    expect(want['at-customer']).toBeGreaterThan(0);
    for (const [id, e] of expected) {
      const r = records.get(id)!;
      if (e.kind === 'line') expect(['provisioned', 'needs-attention'], id).toContain(r.state.kind);
      else expect(r.state.kind, id).toBe(e.kind);
      if (e.siteId) expect('siteId' in r.state && r.state.siteId).toBe(e.siteId);
      expect(r.lastTransactionId, id).toBeDefined();
      // A voice user is never provisioned without its line.
      if (e.voice && r.state.kind === 'provisioned') expect(control().teamsUser(world.tenantId, id)!.telephoneNumbers.length, id).toBeGreaterThan(0);
      if (e.kind === 'line' && r.state.kind === 'needs-attention') expect(r.state.reason).toMatch(/^no line: no DirectRouting number is available/);
      if (e.kind === 'needs-attention' && teamsBefore.has(id)) expect((r.state as { reason: string }).reason).toMatch(/^no line: the user has no Teams Phone license/);
    }
    const excluded = world.users.filter((u) => u.city && officeCities.has(u.city) && (u.accountEnabled === false || u.userType === 'Guest'));
    for (const u of excluded) expect(records.get(u.id)!.state).toMatchObject({ kind: 'at-customer', reason: expect.stringMatching(/disabled accounts|guests/) });

    // Numbers: each site's small pool goes to voice users in Teams with Teams Phone and no number yet.
    const control2 = control();
    for (const site of OFFICE_SITES) {
      const pool = (await world.storage.numbers.list({ customerId: CUSTOMER, siteId: site.id })).filter((n) => n.value.rangeId !== undefined);
      const used = pool.filter((n) => n.value.status === 'Used');
      expect(used.length, site.id).toBe(Math.min(wanting.get(site.id) ?? 0, POOL));
      expect(new Set(used.map((n) => n.value.userId)).size).toBe(used.length);
      for (const n of used) {
        const held = control2.numbers(world.tenantId).find((a) => a.telephoneNumber === n.value.number)!;
        expect(held.assignmentTargetId).toBe(n.value.userId);
        expect(records.get(n.value.userId!)!.number).toBe(n.value.number);
      }
    }
    // Every number held in Teams is assigned to one user only.
    const targets = control2.numbers(world.tenantId).filter((a) => a.assignmentTargetId);
    expect(new Set(targets.map((a) => a.telephoneNumber)).size).toBe(targets.length);
  }, 300_000);

  it('records numbers users already hold; with prevent-duplicate-numbers off the same number enters two sites, flagged', async () => {
    const duplicates = duplicateNumbers();
    expect(duplicates.length).toBeGreaterThan(0);
    for (const { telephoneNumber, userIds } of duplicates) {
      const sea = await world.storage.numbers.get({ customerId: CUSTOMER, siteId: 'sea' }, telephoneNumber);
      const chi = await world.storage.numbers.get({ customerId: CUSTOMER, siteId: 'chi' }, telephoneNumber);
      expect(sea?.value).toMatchObject({ status: 'Used', userId: userIds[0] });
      expect(chi?.value).toMatchObject({ status: 'Used', userId: userIds[1] });
      const records = await Promise.all(userIds.map((id) => world.storage.users.get(CUSTOMER, id)));
      const transactions = await Promise.all(records.map((r) => world.storage.transactions.get(CUSTOMER, r!.value.lastTransactionId!)));
      const flagged = transactions.filter((t) => t!.value.steps.some((s) => s.name === 'number' && /duplicate/.test(s.detail ?? '')));
      expect(flagged.length).toBeGreaterThanOrEqual(1);
    }
  });

  it('a second delivery of every message changes nothing and writes nothing to Microsoft', async () => {
    const before = await users(CUSTOMER);
    const writes = structuredClone(world.stack.graph!.control.counters().writes);
    // Other ids, so that duplicate detection does not drop them: the handler must see the repeat itself.
    const again = new ServiceBusProvisioningScheduler((m) => `${provisionMessageId(m)}~again`, world.stack.settings);
    await again.send(syncAdd(CUSTOMER, world.users.map((u) => u.id), '2026-01-01T00:00:00.000Z'));
    await world.idle(240_000);
    expect(world.stack.graph!.control.counters().writes).toEqual(writes);
    const after = await users(CUSTOMER);
    for (const [id, r] of before) expect(after.get(id)!.state, id).toEqual(r.state);

    // A new cause (a later sync) re-plans from Microsoft's state: still no write.
    await world.queue.send(syncAdd(CUSTOMER, world.users.map((u) => u.id), '2026-01-02T00:00:00.000Z'));
    await world.idle(240_000);
    expect(world.stack.graph!.control.counters().writes).toEqual(writes);
    // Every user handled twice more: minutes on a busy machine.
  }, 300_000);

  it('stages licensed users not in Teams yet, and the staging re-check provisions them once Teams knows them', async () => {
    const staged = [...(await users(CUSTOMER)).values()].filter((r) => r.state.kind === 'staged');
    expect(staged.length).toBeGreaterThan(0);
    const [first, ...rest] = staged;
    world.stack.graph!.control.provisionTeamsUser(world.tenantId, first.userId);
    const { sent } = await recheckStagedUsers({ storage: world.storage, queue: world.queue }, CUSTOMER);
    expect(sent).toBe(staged.length);
    await world.idle();
    const after = await users(CUSTOMER);
    expect(after.get(first.userId)!.state.kind).toBe('provisioned');
    for (const r of rest) expect(after.get(r.userId)!.state.kind).toBe('staged');
  });

  it('retries a transient failure with a new scheduled message, and gives up after the limit', async () => {
    const settings = readSettings(world.stack.settings);
    process.env.SITESYNC_SECRET_PROVISIONING_TEST_SECRET = world.stack.settings[world.stack.demo!.secretSetting];
    const base = microsoftConnector(settings);
    const deps: ProvisioningDeps = {
      storage: world.storage,
      queue: world.queue,
      retry: { baseDelayMs: 200, maxAttempts: 2 },
      // Its own Graph client without retries, so that one injected 503 reaches the use case.
      microsoft: (customer) => {
        // First asked for here, so the cached client keeps these options.
        const tenant = createMicrosoftTenant({ tenantId: customer.tenantId, clientId: customer.clientId!, credentialRef: 'env:SITESYNC_SECRET_PROVISIONING_TEST_SECRET' }, settings, { retry: { maxRetries: 0 } });
        const ports = base({ ...customer, credentialRef: 'env:SITESYNC_SECRET_PROVISIONING_TEST_SECRET' });
        return { ...ports, tenant };
      },
    };
    const records = await users(CUSTOMER);
    // Users left at customer level, in Teams, without a direct calling policy: Quick User gives them one.
    const candidates = world.users.filter((u) => records.get(u.id)!.state.kind === 'at-customer' && teamsBefore.has(u.id) && !world.stack.graph!.control.teamsUser(world.tenantId, u.id)!.effectivePolicyAssignments.some((p) => p.policyType === 'TeamsCallingPolicy' && p.policyAssignment.displayName !== 'Global'));
    expect(candidates.length).toBeGreaterThanOrEqual(2);
    const message = (userId: string): ProvisionUserMessage => ({ customerId: CUSTOMER, userId, reason: 'quick-user', siteId: 'sea', quickAddGroupId: 'standard', line: { kind: 'none' }, requestedAt: new Date().toISOString() });
    const control = world.stack.graph!.control;
    control.setFaults({ rules: [{ route: 'POST /admin/teams/policy/userAssignments/assign', status: 503, times: 1 }] });
    const first = await provisionUser(deps, message(candidates[0].id));
    expect(first).toMatchObject({ kind: 'retry-scheduled', attempt: 1 });
    await world.idle();
    const done = await waitForTransaction(CUSTOMER, first.transactionId!);
    expect(done.outcome).toBe('succeeded');
    expect(done.steps.map((s) => s.name)).toEqual(expect.arrayContaining(['retry', 'policy:TeamsCallingPolicy']));
    expect((await world.storage.users.get(CUSTOMER, candidates[0].id))!.value.state).toMatchObject({ kind: 'provisioned', siteId: 'sea' });

    control.setFaults({ rules: [{ route: 'POST /admin/teams/policy/userAssignments/assign', status: 503, times: 1 }] });
    const last = await provisionUser(deps, { ...message(candidates[1].id), attempt: 1 });
    expect(last).toMatchObject({ kind: 'done', outcome: 'failed', state: { kind: 'needs-attention' } });
    expect((await world.storage.users.get(CUSTOMER, candidates[1].id))!.value.state).toMatchObject({ kind: 'needs-attention', reason: expect.stringContaining('gave up after 2 attempts') });
    control.clearFaults();
  });
});

describe('Quick User', () => {
  it('refuses invalid requests before anything changes: 400, 404, 409 as problem+json', async () => {
    const someone = world.users[0].id;
    const bad = await world.api('POST', `/customers/${CUSTOMER}/quick-user`, { userId: 1 });
    expect(bad.status).toBe(400);
    expect(bad.body).toMatchObject({ status: 400, errors: expect.any(Array) });
    const cases: Array<[unknown, number]> = [
      [{ userId: 'nobody', siteId: 'sea', quickAddGroupId: 'voice' }, 404],
      [{ userId: someone, siteId: 'atlantis', quickAddGroupId: 'voice' }, 404],
      [{ userId: someone, siteId: 'sea', quickAddGroupId: 'gold' }, 404],
      [{ userId: someone, siteId: 'sea', quickAddGroupId: 'voice', line: { kind: 'explicit', number: '+19995550100' } }, 409],
    ];
    const used = (await world.storage.numbers.list({ customerId: CUSTOMER, siteId: 'sea' })).find((n) => n.value.status === 'Used' && n.value.userId !== someone);
    if (used) cases.push([{ userId: someone, siteId: 'sea', quickAddGroupId: 'voice', line: { kind: 'explicit', number: used.value.number } }, 409]);
    const missingCustomer = await world.api('POST', '/customers/nobody/quick-user', { userId: someone, siteId: 'sea', quickAddGroupId: 'voice' });
    expect(missingCustomer.status).toBe(404);
    const before = (await world.storage.transactions.listRecent(CUSTOMER, 1000)).length;
    for (const [body, status] of cases) {
      const res = await world.api('POST', `/customers/${CUSTOMER}/quick-user`, body);
      expect(res.status, JSON.stringify(body)).toBe(status);
      expect(res.body.title).toEqual(expect.any(String));
    }
    expect((await world.storage.transactions.listRecent(CUSTOMER, 1000)).length).toBe(before);
  });

  it('moves one user to a site with an explicit number; the transaction is followed over HTTP', async () => {
    const records = await users(CUSTOMER);
    const control = world.stack.graph!.control;
    const user = world.users.find((u) => {
      const t = control.teamsUser(world.tenantId, u.id);
      return records.get(u.id)!.state.kind === 'at-customer' && t && t.telephoneNumbers.length === 0 && t.featureTypes.includes('PhoneSystem');
    });
    expect(user).toBeDefined();
    // More Sydney numbers, beyond the small pool the flow-through used.
    const [range] = freeRanges(world, CUSTOMER).filter((r) => r.siteId === 'syd');
    const taken = new Set((await world.storage.numbers.list({ customerId: CUSTOMER, siteId: 'syd' })).map((n) => n.value.number));
    await world.storage.numbers.addRange({ ...range, id: 'range-syd-more' }, { preventDuplicateNumbers: false });
    const number = control.numbers(world.tenantId).map((n) => n.telephoneNumber).filter((n) => n.startsWith('+6125550') && !taken.has(n) && n >= range.first && n <= range.last && !control.numbers(world.tenantId).find((a) => a.telephoneNumber === n)!.assignmentTargetId)[0];
    const res = await world.api('POST', `/customers/${CUSTOMER}/quick-user`, { userId: user!.id, siteId: 'syd', quickAddGroupId: 'voice', line: { kind: 'explicit', number } });
    expect(res.status).toBe(202);
    const id = res.body.transactionId as string;
    await world.idle();
    const followed = await world.api('GET', `/customers/${CUSTOMER}/transactions/${encodeURIComponent(id)}`);
    expect(followed.status).toBe(200);
    expect(followed.body).toMatchObject({ id, kind: 'quick-user', outcome: 'succeeded', userId: user!.id });
    expect(followed.body.steps.map((s: { name: string }) => s.name)).toEqual(expect.arrayContaining(['accepted', 'move', 'usage-location', 'number', 'groups']));
    expect((await world.storage.users.get(CUSTOMER, user!.id))!.value).toMatchObject({ state: { kind: 'provisioned', siteId: 'syd' }, number });
    expect(control.teamsUser(world.tenantId, user!.id)!.telephoneNumbers).toEqual([{ telephoneNumber: number, assignmentCategory: 'primary' }]);
    const listed = await world.api('GET', `/customers/${CUSTOMER}/transactions?userId=${user!.id}`);
    expect(listed.body.items[0].id).toBe(id);
    expect(listed.body.items.every((t: { userId: string }) => t.userId === user!.id)).toBe(true);
  });

  it('licenses only as many users as there are seats; the rest need attention with the reason', async () => {
    const unlicensed = world.users.filter((u) => u.userType === 'Member' && u.accountEnabled && u.assignedLicenses.length === 0).slice(0, 5);
    expect(unlicensed).toHaveLength(5);
    // Three E5 seats left for five requests.
    const sku = world.stack.graph!.control.state(world.tenantId).skus.get(SKUS.SPE_E5.skuId.toLowerCase())!;
    sku.prepaidUnits.enabled = sku.consumedUnits + 3;
    const seats = 3;
    const accepted = await Promise.all(unlicensed.map((u) => world.api('POST', `/customers/${CUSTOMER}/quick-user`, { userId: u.id, siteId: 'sea', quickAddGroupId: 'e5' })));
    expect(accepted.map((a) => a.status)).toEqual([202, 202, 202, 202, 202]);
    await world.idle();
    const states = await Promise.all(unlicensed.map(async (u) => (await world.storage.users.get(CUSTOMER, u.id))!.value.state));
    expect(states.filter((s) => s.kind === 'provisioned')).toHaveLength(seats);
    const refused = states.filter((s) => s.kind === 'needs-attention');
    expect(refused).toHaveLength(5 - seats);
    for (const s of refused) expect(s).toMatchObject({ reason: expect.stringContaining('no seats left') });
  });
});

describe('update sync', () => {
  it('moves a user whose attributes now match another site: old number to cooling, a new one at the new site', async () => {
    let entry;
    let from = '';
    for (const site of OFFICE_SITES) {
      entry ??= (await world.storage.numbers.list({ customerId: CUSTOMER, siteId: site.id })).find((n) => n.value.status === 'Used' && n.value.rangeId !== undefined);
      if (entry && !from) from = site.id;
    }
    expect(entry).toBeDefined();
    const userId = entry!.value.userId!;
    const target = OFFICE_SITES.find((s) => s.id !== from && s.countryCode === OFFICE_SITES.find((o) => o.id === from)!.countryCode) ?? OFFICE_SITES.find((s) => s.id !== from)!;
    const [more] = freeRanges(world, CUSTOMER).filter((r) => r.siteId === target.id);
    await world.storage.numbers.addRange({ ...more, id: `range-${target.id}-more` }, { preventDuplicateNumbers: false });
    const record = (await world.storage.users.get(CUSTOMER, userId))!.value;
    await world.storage.users.upsertMany(CUSTOMER, [{ ...record.attributes, city: target.city }], new Date());
    const at = new Date().toISOString();
    await world.queue.send([{ customerId: CUSTOMER, userId, reason: 'sync-update', observedAt: at, requestedAt: at }]);
    await world.idle();
    const moved = (await world.storage.users.get(CUSTOMER, userId))!.value;
    expect(moved.state).toMatchObject({ kind: 'provisioned', siteId: target.id });
    expect(moved.number).toBeDefined();
    expect(moved.number).not.toBe(entry!.value.number);
    expect((await world.storage.numbers.get({ customerId: CUSTOMER, siteId: from }, entry!.value.number))!.value.status).toBe('Cooling');
    expect((await world.storage.numbers.get({ customerId: CUSTOMER, siteId: target.id }, moved.number!))!.value).toMatchObject({ status: 'Used', userId });
    const teams = world.stack.graph!.control.teamsUser(world.tenantId, userId)!;
    expect(teams.telephoneNumbers.map((t) => t.telephoneNumber)).toEqual([moved.number]);
    const transaction = await world.storage.transactions.get(CUSTOMER, moved.lastTransactionId!);
    expect(transaction!.value).toMatchObject({ kind: 'move', outcome: 'succeeded' });
  });
});

describe('overbuild', () => {
  it('moves every matching customer-level user, records duplicates refused with prevent-duplicate-numbers on, and summarises', async () => {
    await seedCustomer(world, { customerId: OVERBUILD_CUSTOMER, settings: { moveAndFlowThrough: 'yes', addSync: 'no', preventDuplicateNumbers: 'yes', addSyncCriteriaId: 'ft' } });
    const writes = structuredClone(world.stack.graph!.control.counters().writes);
    const notFound = await world.api('POST', `/customers/${OVERBUILD_CUSTOMER}/overbuilds`, { siteId: 'atlantis', provision: false });
    expect(notFound.status).toBe(404);
    const invalid = await world.api('POST', `/customers/${OVERBUILD_CUSTOMER}/overbuilds`, { provision: 'yes' });
    expect(invalid.status).toBe(400);

    const started = await world.api('POST', `/customers/${OVERBUILD_CUSTOMER}/overbuilds`, { provision: false, repeatEveryMinutes: 1440 });
    expect(started.status).toBe(202);
    await world.stack.durable!.waitForCompletion(started.body.id, 180_000);
    const status = await world.api('GET', `/customers/${OVERBUILD_CUSTOMER}/overbuilds/${started.body.id}`);
    expect(status.status).toBe(200);
    const matching = world.users.filter((u) => u.city && officeCities.has(u.city)).length;
    expect(status.body).toMatchObject({ runtimeStatus: 'Completed', summary: { total: world.users.length, moved: matching, provisioned: 0, failed: [], unmatched: { count: world.users.length - matching } } });
    // Moving writes nothing to Microsoft.
    expect(world.stack.graph!.control.counters().writes).toEqual(writes);

    const records = await users(OVERBUILD_CUSTOMER);
    expect(countStates(records.values())).toMatchObject({ 'at-site': matching, 'at-customer': world.users.length - matching });
    for (const { telephoneNumber, userIds } of duplicateNumbers()) {
      const outcomes = await Promise.all(userIds.map(async (id) => {
        const r = records.get(id)!;
        const t = await world.storage.transactions.get(OVERBUILD_CUSTOMER, r.lastTransactionId!);
        return t!.value.steps.find((s) => s.name === 'number')!.result;
      }));
      expect(outcomes.sort(), telephoneNumber).toEqual(['failed', 'ok']);
    }
    const schedules = await world.storage.syncState.get<unknown[]>(OVERBUILD_CUSTOMER, 'overbuild-schedules');
    expect(schedules!.value).toEqual([expect.objectContaining({ provision: false, everyMinutes: 1440 })]);
    // Two overbuilds of a customer's users; a busy machine can take minutes over them.
  }, 300_000);

  it('previews placement page by page without changing anything', async () => {
    forgetCustomerContexts();
    const writes = structuredClone(world.stack.graph!.control.counters().writes);
    const first = await world.api('GET', `/customers/${CUSTOMER}/placement-preview?top=5&mode=flow-through`);
    expect(first.status).toBe(200);
    const atCustomer = [...(await users(CUSTOMER)).values()].filter((r) => !('siteId' in r.state)).length;
    let seen = first.body.items.length;
    let continuation = first.body.continuation as string | undefined;
    while (continuation) {
      const page = await world.api('GET', `/customers/${CUSTOMER}/placement-preview?top=5&continuation=${continuation}`);
      seen += page.body.items.length;
      continuation = page.body.continuation;
    }
    expect(seen).toBe(atCustomer);
    expect(world.stack.graph!.control.counters().writes).toEqual(writes);
    expect((await world.api('GET', `/customers/${CUSTOMER}/placement-preview?mode=sideways`)).status).toBe(400);
  });
});

describe('dead letters', () => {
  it('dead-letters a body that is not a provisioning message, shows why over HTTP, and replays it', async () => {
    // The handler's refusals are logged as errors: expected here, kept in the world's log.
    world.log.expectErrors(/PoisonMessageError/);
    await sender(QUEUES.userProvisioning.name, world.stack.settings).sendMessages({ messageId: 'poison-1', body: { hello: 'world' }, contentType: 'application/json' });
    const dlq = `${QUEUES.userProvisioning.name}/$DeadLetterQueue`;
    for (let i = 0; i < 200 && world.stack.broker.stats(dlq).active < 1; i++) await new Promise((r) => setTimeout(r, 50));
    const listed = await world.api('GET', '/dead-letters/user-provisioning');
    expect(listed.status).toBe(200);
    expect(listed.body.messages).toEqual([
      expect.objectContaining({ messageId: 'poison-1', deadLetterReason: 'MaxDeliveryCountExceeded', handlerReason: expect.stringContaining('invalid provisioning message'), body: { hello: 'world' } }),
    ]);
    const replay = await world.api('POST', '/dead-letters/user-provisioning/replay', { messageIds: ['poison-1'] });
    expect(replay.body).toEqual({ replayed: ['poison-1'], notFound: [] });
    // Still poison: it comes back to the dead-letter queue under its replay id, the original completed.
    let seen: Array<{ messageId: string }> = [];
    for (let i = 0; i < 200; i++) {
      seen = (await world.api('GET', '/dead-letters/user-provisioning')).body.messages;
      if (seen.length === 1 && seen[0].messageId !== 'poison-1') break;
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(seen).toEqual([expect.objectContaining({ messageId: expect.stringMatching(/^poison-1~replay~/) })]);
    expect(world.log.errors()).toEqual(expect.arrayContaining([expect.objectContaining({ source: 'provisionUser', message: expect.stringContaining('invalid provisioning message') })]));
  });
});

describe('HTTP contract', () => {
  const ROUTES: Array<[string, string]> = [
    ['post', '/api/customers/{customerId}/quick-user'],
    ['get', '/api/customers/{customerId}/transactions/{transactionId}'],
    ['get', '/api/customers/{customerId}/transactions'],
    ['post', '/api/customers/{customerId}/overbuilds'],
    ['get', '/api/customers/{customerId}/overbuilds/{id}'],
    ['get', '/api/dead-letters/user-provisioning'],
    ['post', '/api/dead-letters/user-provisioning/replay'],
    ['get', '/api/customers/{customerId}/placement-preview'],
  ];

  it('lists every provisioning route in the OpenAPI document, with its body, statuses and Location', async () => {
    const doc = await world.api('GET', '/openapi.json');
    expect(doc.status).toBe(200);
    for (const [method, path] of ROUTES) expect(doc.body.paths[path]?.[method], `${method} ${path}`).toMatchObject({ operationId: expect.any(String), responses: expect.any(Object) });
    const quickUser = doc.body.paths['/api/customers/{customerId}/quick-user'].post;
    expect(quickUser.requestBody.content['application/json'].schema).toMatchObject({ additionalProperties: false, required: expect.arrayContaining(['userId', 'siteId', 'quickAddGroupId']) });
    expect(quickUser.responses['202']).toMatchObject({ headers: { Location: expect.any(Object) } });
    expect(quickUser.responses['404']).toBeDefined();
    const overbuild = doc.body.paths['/api/customers/{customerId}/overbuilds'].post;
    expect(Object.keys(overbuild.requestBody.content['application/json'].schema.properties).sort()).toEqual(['provision', 'repeatEveryMinutes', 'siteId']);
    expect(overbuild.responses['202']).toMatchObject({ headers: { Location: expect.any(Object) } });
    const listed = doc.body.paths['/api/customers/{customerId}/transactions'].get.parameters.map((p: { name: string }) => p.name);
    expect(listed).toEqual(expect.arrayContaining(['customerId', 'top', 'userId']));
  });

  it('answers bad input with a 4xx problem naming the field, never a 5xx, and changes nothing', async () => {
    const someone = world.users[0].id;
    const valid = { userId: someone, siteId: 'sea', quickAddGroupId: 'voice' };
    const quickUser = `/customers/${CUSTOMER}/quick-user`;
    const overbuilds = `/customers/${CUSTOMER}/overbuilds`;
    // [method, path, body, status, field named in errors]
    const cases: Array<[string, string, unknown, number, string?]> = [
      ['POST', quickUser, '{"userId":', 400],
      ['POST', quickUser, '[]', 400],
      ['POST', quickUser, 'null', 400],
      ['POST', quickUser, { ...valid, extra: true }, 400, '/extra'],
      ['POST', quickUser, { ...valid, line: { kind: 'none', number: '+14255550100' } }, 400, '/line/number'],
      ['POST', quickUser, { ...valid, userId: 42 }, 400, '/userId'],
      ['POST', quickUser, { ...valid, line: { kind: 'explicit', number: 'tomorrow' } }, 400, '/line/number'],
      ['POST', quickUser, { ...valid, line: { kind: 'sideways' } }, 400, '/line/kind'],
      ['POST', quickUser, { ...valid, siteId: 'x'.repeat(201) }, 400, '/siteId'],
      ['POST', quickUser, { ...valid, siteId: '../sea' }, 404],
      ['POST', quickUser, { ...valid, quickAddGroupId: "voice' or 1 eq 1" }, 404],
      ['POST', '/customers/-contoso/quick-user', valid, 400, 'customerId'],
      ['POST', `/customers/${'c'.repeat(129)}/quick-user`, valid, 400, 'customerId'],
      ['POST', '/customers/con%20toso/quick-user', valid, 400, 'customerId'],
      ['POST', overbuilds, '{provision: true}', 400],
      ['POST', overbuilds, { provision: false, everyday: true }, 400, '/everyday'],
      ['POST', overbuilds, { provision: 'yes' }, 400, '/provision'],
      ['POST', overbuilds, { provision: true, repeatEveryMinutes: 1.5 }, 400, '/repeatEveryMinutes'],
      ['POST', overbuilds, { provision: true, repeatEveryMinutes: -1 }, 400, '/repeatEveryMinutes'],
      ['POST', overbuilds, { siteId: 7 }, 400, '/siteId'],
      ['POST', overbuilds, { siteId: '../sea' }, 404],
      ['POST', '/customers/nobody/overbuilds', { provision: false }, 404],
      ['POST', '/customers/_x/overbuilds', { provision: false }, 400, 'customerId'],
      ['GET', `/customers/${CUSTOMER}/overbuilds/over%20build`, undefined, 400, 'id'],
      ['GET', `/customers/${CUSTOMER}/overbuilds/overbuild-nothing`, undefined, 404],
      ['GET', `/customers/${CUSTOMER}/transactions/not%27one`, undefined, 400, 'transactionId'],
      ['GET', `/customers/${CUSTOMER}/transactions/0000`, undefined, 404],
      ['GET', `/customers/${CUSTOMER}/transactions?top=lots`, undefined, 400, 'top'],
      ['GET', `/customers/${CUSTOMER}/transactions?top=501`, undefined, 400, 'top'],
      ['GET', `/customers/${CUSTOMER}/transactions?user=someone`, undefined, 400, 'user'],
      ['GET', `/customers/${CUSTOMER}/placement-preview?mode=sideways`, undefined, 400, 'mode'],
      ['GET', `/customers/${CUSTOMER}/placement-preview?top=0`, undefined, 400, 'top'],
      ['GET', '/customers/nobody/placement-preview', undefined, 404],
      ['GET', '/dead-letters/user-provisioning?top=-1', undefined, 400, 'top'],
      ['POST', '/dead-letters/user-provisioning/replay', { messageIds: [] }, 400, '/messageIds'],
      ['POST', '/dead-letters/user-provisioning/replay', { messageIds: [1] }, 400, '/messageIds/0'],
      ['POST', '/dead-letters/user-provisioning/replay', { messageIds: ['a'], all: true }, 400, '/all'],
    ];
    const errorsBefore = world.log.errors().length;
    const transactionsBefore = (await world.storage.transactions.listRecent(CUSTOMER, 1000)).length;
    for (const [method, path, body, status, field] of cases) {
      const what = `${method} ${path} ${typeof body === 'string' ? body : JSON.stringify(body)}`;
      const res = await world.api(method, path, body);
      expect(res.status, what).toBe(status);
      expect(res.contentType, what).toBe('application/problem+json');
      expect(res.body, what).toMatchObject({ status, title: expect.any(String) });
      if (field) expect(res.body.errors.map((e: { path: string }) => e.path), what).toContain(field);
    }
    expect((await world.storage.transactions.listRecent(CUSTOMER, 1000)).length).toBe(transactionsBefore);
    expect(await world.storage.syncState.get(CUSTOMER, 'overbuild-schedules')).toBeUndefined();
    // A 500 would have been logged by the route wrapper.
    expect(world.log.errors().slice(errorsBefore)).toEqual([]);
  });
});
