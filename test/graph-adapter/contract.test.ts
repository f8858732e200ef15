/**
 * The adapter against the project's Graph emulator over real HTTPS: real app tokens from the emulator's
 * token endpoint (through @azure/identity and the configured CA), paging, delta, throttling, Teams numbers,
 * licenses, permissions, batch, subscriptions and the Teams bridge. Small tenants keep each test fast.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { generateDemoTenant, type DemoTenant } from '../../local/demo/tenant';
import { startGraphEmulator, type GraphEmulator } from '../../local/graph-emulator';
import {
  DeltaTokenExpiredError,
  GraphInvalidRequestError,
  GraphPermissionError,
  OperationFailedError,
  isUserRemoval,
  type MicrosoftUser,
  type MicrosoftUserChange,
} from '../../shared/ports/microsoft';
import {
  createMicrosoftTenant,
  createTeamsAdminBridge,
  resetMicrosoftTenants,
  type CustomerTenantConfig,
  type GraphSettings,
  type MicrosoftAdapterOptions,
} from '../../shared/adapters/graph';

let emulator: GraphEmulator;
let demo: DemoTenant;
let settings: GraphSettings;
let certDir: string;
let config: CustomerTenantConfig;
/** A second tenant for the tests that add and delete users, so counts in the others hold. */
let mutable: DemoTenant;
let mutableConfig: CustomerTenantConfig;

const options = (extra: MicrosoftAdapterOptions['tenant'] = {}): MicrosoftAdapterOptions => ({
  env: { SITESYNC_SECRET_CONTOSO_APP_SECRET: demo.apps[0].secret, SITESYNC_SECRET_LIMITED_APP_SECRET: 'limited-secret', SITESYNC_SECRET_MUTABLE_APP_SECRET: mutable.apps[0].secret },
  retry: { maxRetries: 5, baseDelayMs: 10, maxDelayMs: 100 },
  tenant: { operationPollMs: 10, operationDeadlineMs: 5_000, usageLocationRetry: { attempts: 0, delayMs: 0 }, ...extra },
});

beforeAll(async () => {
  demo = generateDemoTenant({ seed: 'contract', users: 30 });
  mutable = generateDemoTenant({ seed: 'contract-mutable', users: 20 });
  emulator = await startGraphEmulator({ tenants: [demo, mutable], deltaPageSize: 8, operationDelayMs: 20 });
  certDir = mkdtempSync(join(tmpdir(), 'graph-contract-'));
  settings = {
    SITESYNC_GRAPH_BASE_URL: emulator.url,
    SITESYNC_AUTHORITY_HOST: emulator.authorityHost,
    SITESYNC_GRAPH_CA_FILE: emulator.caFile(certDir),
    SITESYNC_TEAMS_BRIDGE_URL: emulator.teamsBridgeUrl,
  };
  config = { tenantId: demo.tenantId, clientId: demo.apps[0].clientId, credentialRef: 'env:SITESYNC_SECRET_CONTOSO_APP_SECRET' };
  mutableConfig = { tenantId: mutable.tenantId, clientId: mutable.apps[0].clientId, credentialRef: 'env:SITESYNC_SECRET_MUTABLE_APP_SECRET' };
});

afterEach(() => {
  emulator.control.clearFaults();
  resetMicrosoftTenants();
});

afterAll(async () => {
  await emulator?.stop();
  rmSync(certDir, { recursive: true, force: true });
});

async function allUsers(pageSize: number): Promise<{ pages: number; users: MicrosoftUser[] }> {
  resetMicrosoftTenants(); // options apply when a tenant is first created
  const tenant = createMicrosoftTenant(config, settings, options({ pageSize }));
  let pages = 0;
  const users: MicrosoftUser[] = [];
  for await (const page of tenant.listUsers()) {
    pages += 1;
    users.push(...page);
  }
  return { pages, users };
}

async function deltaRound(link: string | undefined): Promise<{ pages: number; changes: MicrosoftUserChange[]; deltaLink: string }> {
  const tenant = createMicrosoftTenant(mutableConfig, settings, options());
  const changes: MicrosoftUserChange[] = [];
  let pages = 0;
  let deltaLink = '';
  for await (const page of tenant.usersDelta(link)) {
    pages += 1;
    changes.push(...page.changes);
    if (page.deltaLink) deltaLink = page.deltaLink;
  }
  return { pages, changes, deltaLink };
}

describe('users', () => {
  it('reads the whole tenant at $top=999 in one page, and page after page at a small $top', async () => {
    const big = await allUsers(999);
    expect(big.pages).toBe(1);
    expect(big.users).toHaveLength(demo.users.length);
    const small = await allUsers(7);
    expect(small.pages).toBe(Math.ceil(demo.users.length / 7));
    expect(new Set(small.users.map((u) => u.id)).size).toBe(demo.users.length);
    const sample = demo.users[3];
    expect(small.users.find((u) => u.id === sample.id)).toMatchObject({
      userPrincipalName: sample.userPrincipalName,
      city: sample.city,
      usageLocation: sample.usageLocation,
      accountEnabled: sample.accountEnabled,
      assignedLicenses: sample.assignedLicenses,
    });
  });

  it('fetches users in batches; unknown ids are absent', async () => {
    const tenant = createMicrosoftTenant(config, settings, options());
    const ids = demo.users.slice(0, 25).map((u) => u.id);
    const found = await tenant.getUsers([...ids, '00000000-0000-0000-0000-00000000dead']);
    expect(found.size).toBe(25);
    expect(emulator.counters.snapshot().requests['batch']).toBeGreaterThanOrEqual(2);
  });
});

describe('tokens', () => {
  it("a tenant's first requests, sent together, share one token request", async () => {
    const before = emulator.counters.snapshot().tokensIssued;
    const tenant = createMicrosoftTenant(config, settings, options());
    const pages = await Promise.all(Array.from({ length: 6 }, () => tenant.usersPage(undefined)));
    expect(pages.every((p) => p.users.length === demo.users.length)).toBe(true);
    expect(emulator.counters.snapshot().tokensIssued - before).toBe(1);
  });
});

describe('reads of single users', () => {
  it('asked for together, leave as listings of at most 15 by id; each gets its own user, an unknown one null', async () => {
    const tenant = createMicrosoftTenant(config, settings, options());
    const users = demo.users.slice(0, 30);
    await tenant.getUser(users[0].id); // a token and a warm connection: the reads below all wait behind one
    const before = emulator.counters.snapshot().requests;
    const dead = '00000000-0000-0000-0000-00000000dead';
    const read = await Promise.all([...users.map((u) => tenant.getUser(u.id)), tenant.getUser(dead)]);
    expect(read.slice(0, 30).map((u) => u?.id)).toEqual(users.map((u) => u.id));
    expect(read[30]).toBeNull();
    const after = emulator.counters.snapshot().requests;
    const listings = (after['users.list'] ?? 0) - (before['users.list'] ?? 0);
    expect(listings).toBeGreaterThanOrEqual(3); // 31 ids, 15 a listing
    expect(listings).toBeLessThanOrEqual(4); // the first alone, then the rest together
    expect((after['users.get'] ?? 0) - (before['users.get'] ?? 0)).toBe(0);
  });
});

describe('delta', () => {
  it('brings adds, changes, soft and hard removals after a full round', async () => {
    const first = await deltaRound(undefined);
    expect(first.pages).toBeGreaterThanOrEqual(3); // 20 users at 8 a page
    expect(first.changes.filter((c) => !isUserRemoval(c))).toHaveLength(mutable.users.length);

    const [changed, softDeleted, hardDeleted] = [mutable.users[1], mutable.users[2], mutable.users[4]];
    emulator.control.updateUser(mutable.tenantId, changed.id, { city: 'Sheffield', department: 'Voice' });
    const added = emulator.control.addUser(mutable.tenantId, { displayName: 'New Starter', userPrincipalName: `new.starter@${mutable.domain}`, city: 'Leeds' });
    emulator.control.softDeleteUser(mutable.tenantId, softDeleted.id);
    emulator.control.hardDeleteUser(mutable.tenantId, hardDeleted.id);

    const next = await deltaRound(first.deltaLink);
    const byId = new Map(next.changes.map((c) => [c.id, c]));
    expect(byId.get(changed.id)).toMatchObject({ city: 'Sheffield', department: 'Voice' });
    expect(byId.get(added.id)).toMatchObject({ displayName: 'New Starter', city: 'Leeds' });
    expect(byId.get(softDeleted.id)).toEqual({ id: softDeleted.id, removed: 'soft' });
    expect(byId.get(hardDeleted.id)).toEqual({ id: hardDeleted.id, removed: 'hard' });
    expect(next.deltaLink).not.toBe(first.deltaLink);
  });

  it('reports an invalidated delta link as DeltaTokenExpiredError', async () => {
    const tenant = createMicrosoftTenant(mutableConfig, settings, options());
    const link = await tenant.latestUsersDeltaLink();
    emulator.control.resetDelta(mutable.tenantId);
    const drain = async () => {
      for await (const _ of tenant.usersDelta(link)) void _;
    };
    await expect(drain()).rejects.toBeInstanceOf(DeltaTokenExpiredError);
  });
});

describe('throttling', () => {
  it('rides out a 429 storm, honouring Retry-After', async () => {
    emulator.control.setFaults({ rules: [{ route: 'GET /users*', status: 429, retryAfterSeconds: 0.05, times: 4 }] });
    const before = emulator.counters.snapshot().faultsInjected;
    const { users } = await allUsers(10);
    expect(users).toHaveLength(demo.users.length);
    expect(emulator.counters.snapshot().faultsInjected - before).toBe(4);
  });
});

describe('licenses and usage location', () => {
  it('refuses a license without usage location, then assigns it once the location is set', async () => {
    const tenant = createMicrosoftTenant(config, settings, options());
    const user = demo.users.find((u) => !u.usageLocation)!;
    const e3 = demo.skus.find((s) => s.skuPartNumber === 'SPE_E3')!;
    const refused = await tenant.assignLicenses(user.id, { add: [{ skuId: e3.skuId }], remove: [] }).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(GraphInvalidRequestError);
    expect(refused).toMatchObject({ reason: 'invalidUsageLocation' });

    await tenant.setUsageLocation(user.id, 'GB');
    await tenant.assignLicenses(user.id, { add: [{ skuId: e3.skuId }], remove: [] });
    expect((await tenant.getUser(user.id))?.assignedLicenses.map((l) => l.skuId)).toContain(e3.skuId);
  });

  it('takes a repeated license change that is already in effect as done (a redelivered message)', async () => {
    const tenant = createMicrosoftTenant(config, settings, options());
    const user = demo.users.find((u) => u.usageLocation && u.assignedLicenses.length > 0)!;
    const skuId = user.assignedLicenses[0].skuId;
    await tenant.assignLicenses(user.id, { add: [], remove: [skuId] });
    await tenant.assignLicenses(user.id, { add: [], remove: [skuId] });
    expect((await tenant.getUser(user.id))?.assignedLicenses.map((l) => l.skuId)).not.toContain(skuId);
  });

  it('reports a SKU without free seats', async () => {
    const tenant = createMicrosoftTenant(config, settings, options());
    const skus = await tenant.listSubscribedSkus();
    const full = skus.find((s) => s.prepaidUnits.enabled <= s.consumedUnits);
    expect(full).toBeDefined();
    const user = demo.users.find((u) => u.usageLocation && !u.assignedLicenses.some((l) => l.skuId === full!.skuId))!;
    const refused = await tenant.assignLicenses(user.id, { add: [{ skuId: full!.skuId }], remove: [] }).catch((e: unknown) => e);
    expect(refused).toMatchObject({ reason: 'noAvailableLicenses' });
  });
});

describe('permissions', () => {
  it('names the missing application permission', async () => {
    emulator.control.addApp(demo.tenantId, { clientId: '7b3f8a40-0000-4000-8000-000000000001', secret: 'limited-secret', displayName: 'limited', roles: ['User.Read.All'] });
    const limited = createMicrosoftTenant(
      { tenantId: demo.tenantId, clientId: '7b3f8a40-0000-4000-8000-000000000001', credentialRef: 'env:SITESYNC_SECRET_LIMITED_APP_SECRET' },
      settings,
      options(),
    );
    expect((await limited.getUser(demo.users[0].id))?.id).toBe(demo.users[0].id);
    const denied = await limited.getTeamsUserConfiguration(demo.users[0].id).catch((e: unknown) => e);
    expect(denied).toBeInstanceOf(GraphPermissionError);
    expect((denied as GraphPermissionError).missingPermissions).toContain('TeamsUserConfiguration.Read.All');
  });

  it('reports a wrong secret as a permission error without the secret in it', async () => {
    const wrong = createMicrosoftTenant(config, settings, { ...options(), env: { SITESYNC_SECRET_CONTOSO_APP_SECRET: 'not-the-secret-value' } });
    const error = await wrong.getUser(demo.users[0].id).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(GraphPermissionError);
    expect(String((error as Error).message)).not.toContain('not-the-secret-value');
  });
});

describe('Teams', () => {
  const phoneUser = () => {
    const configs = demo.teamsUserConfigurations.filter((c) => c.featureTypes.includes('PhoneSystem') && c.telephoneNumbers.length === 0);
    return configs[0] ?? demo.teamsUserConfigurations.find((c) => c.featureTypes.includes('PhoneSystem'))!;
  };

  it('lists Teams user configurations and number assignments page by page', async () => {
    const tenant = createMicrosoftTenant(config, settings, options());
    const ids: string[] = [];
    for await (const page of tenant.listTeamsUserConfigurations()) ids.push(...page.map((c) => c.id));
    // Licensing in other tests may bring users into Teams: every seeded one is there, none twice.
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids).toEqual(expect.arrayContaining(demo.teamsUserConfigurations.map((c) => c.id)));
    let numbers = 0;
    for await (const page of tenant.listNumberAssignments()) numbers += page.length;
    expect(numbers).toBe(demo.numberAssignments.length);
    const one = await tenant.getTeamsUserConfiguration(phoneUser().id);
    expect(one?.featureTypes).toContain('PhoneSystem');
  });

  it('assigns a number through the async operation, then unassigns it', async () => {
    const tenant = createMicrosoftTenant(config, settings, options());
    const user = phoneUser();
    const free = demo.numberAssignments.find((n) => !n.assignmentTargetId && n.numberType === 'directRouting')!;
    await tenant.assignNumber({ userId: user.id, number: free.telephoneNumber, numberType: 'directRouting' });
    expect(await tenant.getNumberAssignment(free.telephoneNumber)).toMatchObject({ assignmentTargetId: user.id, activationState: 'activated' });
    expect((await tenant.getTeamsUserConfiguration(user.id))?.telephoneNumbers.map((t) => t.telephoneNumber)).toContain(free.telephoneNumber);

    await tenant.unassignNumber({ number: free.telephoneNumber, numberType: 'directRouting', userId: user.id });
    expect((await tenant.getNumberAssignment(free.telephoneNumber))?.assignmentTargetId).toBeNull();
  });

  it('starts assignments without waiting, then reads their outcomes many to a request', async () => {
    const tenant = createMicrosoftTenant(config, settings, options());
    const phone = demo.teamsUserConfigurations.filter((c) => c.featureTypes.includes('PhoneSystem')).slice(-3);
    const free = demo.numberAssignments.filter((n) => !n.assignmentTargetId && n.numberType === 'directRouting').slice(-3);
    const taken = demo.numberAssignments.find((n) => n.assignmentTargetId && n.numberType === 'directRouting' && !phone.some((p) => p.id === n.assignmentTargetId))!;
    const started = [
      await tenant.startAssignNumber({ userId: phone[0].id, number: free[0].telephoneNumber, numberType: 'directRouting' }),
      await tenant.startAssignNumber({ userId: phone[1].id, number: free[1].telephoneNumber, numberType: 'directRouting' }),
      await tenant.startAssignNumber({ userId: phone[2].id, number: taken.telephoneNumber, numberType: 'directRouting' }),
    ];
    // A write whose reply is lost: Teams never saw it, and the number says so once asked.
    emulator.control.setFaults({ rules: [{ route: 'POST /admin/teams/telephoneNumberManagement/numberAssignments/assignNumber', status: 504, times: 1 }] });
    started.push(await tenant.startAssignNumber({ userId: phone[2].id, number: free[2].telephoneNumber, numberType: 'directRouting' }));
    emulator.control.clearFaults();
    expect(started.map((s) => s.location !== undefined)).toEqual([true, true, true, false]);

    emulator.control.resetCounters();
    let outcomes = await tenant.numberOperationOutcomes(started);
    for (let i = 0; i < 50 && outcomes.some((o) => o.status === 'pending'); i++) {
      await new Promise((r) => setTimeout(r, 20));
      outcomes = await tenant.numberOperationOutcomes(started);
    }
    expect(outcomes).toEqual([
      { status: 'succeeded' },
      { status: 'succeeded' },
      { status: 'failed', reason: expect.stringMatching(/already been assigned/) },
      { status: 'failed', reason: expect.any(String), notApplied: true },
    ]);
    // Each round: one $batch for the three operations, one for the number read instead.
    const counters = emulator.control.counters();
    expect(counters.requests.batch % 2).toBe(0);
    expect(counters.requests['teams.operations.get']).toBe(3 * (counters.requests.batch / 2));
    for (const [i, n] of free.slice(0, 2).entries()) await tenant.unassignNumber({ number: n.telephoneNumber, numberType: 'directRouting', userId: phone[i].id });
  });

  it('reports a failed assignment with Microsoft’s reason', async () => {
    const tenant = createMicrosoftTenant(config, settings, options());
    const taken = demo.numberAssignments.find((n) => n.assignmentTargetId && n.numberType === 'directRouting')!;
    const other = demo.teamsUserConfigurations.find((c) => c.featureTypes.includes('PhoneSystem') && c.id !== taken.assignmentTargetId)!;
    const error = await tenant.assignNumber({ userId: other.id, number: taken.telephoneNumber, numberType: 'directRouting' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OperationFailedError);
    expect((error as OperationFailedError).reason).toMatch(/already been assigned/);
  });

  it('assigns a Teams policy by name through Graph', async () => {
    const tenant = createMicrosoftTenant(config, settings, options());
    const user = phoneUser();
    await tenant.assignTeamsPolicy(user.id, 'TeamsCallingPolicy', 'RestrictedCalling');
    const cfg = emulator.control.teamsUser(demo.tenantId, user.id);
    const calling = cfg?.effectivePolicyAssignments.find((p) => p.policyType === 'TeamsCallingPolicy');
    expect(calling?.policyAssignment.displayName).toBe('RestrictedCalling');
  });

  it("users given the same policy at once share one request for the policy's id", async () => {
    const tenant = createMicrosoftTenant(config, settings, options());
    const users = demo.teamsUserConfigurations.filter((c) => c.featureTypes.includes('PhoneSystem')).slice(0, 6);
    const before = emulator.counters.snapshot().requests['teams.policy.getPolicyId'] ?? 0;
    await Promise.all(users.map((u) => tenant.assignTeamsPolicy(u.id, 'TeamsCallingPolicy', 'RestrictedCalling')));
    await tenant.assignTeamsPolicy(users[0].id, 'TeamsCallingPolicy', 'RestrictedCalling');
    expect((emulator.counters.snapshot().requests['teams.policy.getPolicyId'] ?? 0) - before).toBe(1);
    // A name Microsoft does not know is not remembered: asked again, it is asked of Microsoft again.
    for (let i = 0; i < 2; i++) await expect(tenant.assignTeamsPolicy(users[0].id, 'TeamsCallingPolicy', 'NoSuchPolicy')).rejects.toThrow(/no such policy/);
    expect((emulator.counters.snapshot().requests['teams.policy.getPolicyId'] ?? 0) - before).toBe(3);
  });
});

describe('groups', () => {
  it('lists groups, adds and removes a member (twice each, harmlessly)', async () => {
    const tenant = createMicrosoftTenant(config, settings, options());
    let groups = 0;
    for await (const page of tenant.listGroups()) groups += page.length;
    expect(groups).toBe(demo.groups.length);
    const group = demo.groups[0];
    const user = demo.users.find((u) => !group.members.includes(u.id))!;
    await tenant.addGroupMember(group.id, user.id);
    await tenant.addGroupMember(group.id, user.id);
    expect(emulator.control.groupMembers(demo.tenantId, group.id)).toContain(user.id);
    await tenant.removeGroupMember(group.id, user.id);
    await tenant.removeGroupMember(group.id, user.id);
    expect(emulator.control.groupMembers(demo.tenantId, group.id)).not.toContain(user.id);
  });
});

describe('subscriptions', () => {
  it('creates (after the validation handshake), lists, renews and deletes', async () => {
    const receiver = http.createServer((req, res) => {
      const token = new URL(req.url ?? '/', 'http://x').searchParams.get('validationToken');
      req.resume();
      if (token !== null) {
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.end(token);
      } else {
        res.writeHead(202);
        res.end();
      }
    });
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    try {
      const notificationUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/notifications`;
      const tenant = createMicrosoftTenant(config, settings, options());
      const expires = new Date(Date.now() + 2 * 24 * 3600_000).toISOString();
      const created = await tenant.createSubscription({ resource: 'users', changeType: 'updated,deleted', notificationUrl, expirationDateTime: expires, clientState: 'contract-state' });
      expect(created).toMatchObject({ resource: 'users', notificationUrl });
      expect((await tenant.listSubscriptions()).map((s) => s.id)).toContain(created.id);
      const later = new Date(Date.now() + 3 * 24 * 3600_000).toISOString();
      const renewed = await tenant.renewSubscription(created.id, later);
      expect(Date.parse(renewed.expirationDateTime)).toBe(Date.parse(later));
      await tenant.deleteSubscription(created.id);
      await tenant.deleteSubscription(created.id);
      expect((await tenant.listSubscriptions()).map((s) => s.id)).not.toContain(created.id);
    } finally {
      receiver.closeAllConnections();
      await new Promise<void>((resolve) => receiver.close(() => resolve()));
    }
  });
});

describe('Teams admin bridge', () => {
  it('lists dial plans and policies', async () => {
    const bridge = createTeamsAdminBridge(config, settings, options());
    const dialPlans = await bridge.listDialPlans();
    expect(dialPlans.map((d) => d.identity).sort()).toEqual(demo.dialPlans.map((d) => d.Identity).sort());
    expect(dialPlans[0].normalizationRules.length).toBeGreaterThan(0);
    expect(dialPlans[0].normalizationRules[0].pattern).toBeTruthy();
    const calling = await bridge.listPolicies('TeamsCallingPolicy');
    expect(calling.map((p) => p.name)).toEqual(expect.arrayContaining(['Global', 'AllowCalling', 'RestrictedCalling']));
  });

  it('grants a dial plan and returns a user to Global', async () => {
    const bridge = createTeamsAdminBridge(config, settings, options());
    const user = demo.teamsUserConfigurations[0];
    const plan = demo.dialPlans[demo.dialPlans.length - 1].Identity;
    await bridge.grantPolicy(user.id, 'TenantDialPlan', plan);
    const assigned = () => emulator.control.teamsUser(demo.tenantId, user.id)?.effectivePolicyAssignments.find((p) => p.policyType === 'TenantDialPlan');
    expect(assigned()?.policyAssignment.displayName).toBe(plan.replace(/^Tag:/, ''));
    await bridge.grantPolicy(user.id, 'TenantDialPlan', null);
    expect(assigned()?.policyAssignment.displayName ?? 'Global').toBe('Global');
  });

  it('retries the bridge through throttling, honouring Retry-After', async () => {
    emulator.control.setFaults({ rules: [{ route: 'GET /teamsbridge/*', status: 429, retryAfterSeconds: 0.02, times: 2 }] });
    const before = emulator.counters.snapshot().faultsInjected;
    const bridge = createTeamsAdminBridge(config, settings, options());
    expect(await bridge.listDialPlans()).toHaveLength(demo.dialPlans.length);
    expect(emulator.counters.snapshot().faultsInjected - before).toBe(2);
  });

  it('maps a bridge refusal to a typed error', async () => {
    const bridge = createTeamsAdminBridge(config, settings, options());
    const error = await bridge.grantPolicy(demo.users[0].id, 'TeamsCallingPolicy', 'NoSuchPolicy').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(GraphInvalidRequestError);
    expect(error).toMatchObject({ code: 'PolicyNotFound' });
  });
});
