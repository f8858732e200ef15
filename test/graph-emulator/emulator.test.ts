import { ClientSecretCredential } from '@azure/identity';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO_SKUS } from '../../local/demo/tenant';
import { startGraphEmulator, type GraphEmulator, type TenantSummary } from '../../local/graph-emulator/index';
import { EmulatorClient, type HttpResult } from './client';

let now = Date.UTC(2026, 0, 5, 12);
const clock = (): number => now;

let emu: GraphEmulator;
let tenant: TenantSummary;
let http: EmulatorClient;
let g: EmulatorClient;

async function tokenFor(e: GraphEmulator, tenantId: string, clientId: string, secret: string, scope = 'https://graph.microsoft.com/.default'): Promise<string> {
  const cred = new ClientSecretCredential(tenantId, clientId, secret, {
    authorityHost: e.authorityHost, disableInstanceDiscovery: true, tlsOptions: { ca: e.caPem },
  });
  return (await cred.getToken(scope)).token;
}

/** Tokens expire on the emulator's clock: take a new one after moving the clock far. */
async function refreshToken(): Promise<void> {
  const app = tenant.apps[0];
  g = http.withToken(await tokenFor(emu, tenant.tenantId, app.clientId, app.secret));
}

beforeAll(async () => {
  emu = await startGraphEmulator({ tenants: [{ seed: 'emu-test', users: 1200 }], clock, operationDelayMs: 20, deltaPageSize: 400 });
  tenant = emu.tenants[0];
  http = new EmulatorClient(emu.caPem).withHeaders({ 'x-emulator-key': emu.controlKey });
  await refreshToken();
});

afterAll(async () => {
  http?.close();
  await emu?.stop();
});

describe('identity', () => {
  it('issues app-only tokens to @azure/identity carrying tenant, app and roles', async () => {
    const app = tenant.apps[0];
    const token = await tokenFor(emu, tenant.tenantId, app.clientId, app.secret);
    const claims = JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString()) as Record<string, unknown>;
    expect(claims).toMatchObject({ tid: tenant.tenantId, appid: app.clientId, aud: 'https://graph.microsoft.com' });
    expect(claims.roles).toEqual(app.roles);
  });

  it('refuses a wrong secret with an AADSTS error', async () => {
    const app = tenant.apps[0];
    await expect(tokenFor(emu, tenant.tenantId, app.clientId, 'wrong')).rejects.toThrow(/AADSTS7000215/);
    const res = await http.send('POST', `${emu.url}/${tenant.tenantId}/oauth2/v2.0/token`,
      `grant_type=client_credentials&client_id=${app.clientId}&client_secret=nope&scope=https%3A%2F%2Fgraph.microsoft.com%2F.default`,
      { 'content-type': 'application/x-www-form-urlencoded' });
    expect(res.status).toBe(401);
    expect(res.body).toMatchObject({ error: 'invalid_client', error_codes: [7000215] });
  });

  it('requires a bearer token and the route permission', async () => {
    expect((await http.get(`${emu.graphBaseUrl}/users`)).status).toBe(401);
    emu.control.addApp(tenant.tenantId, { clientId: 'reader-app', secret: 's3cret', displayName: 'reader', roles: ['User.Read.All'] });
    const reader = http.withToken(await tokenFor(emu, tenant.tenantId, 'reader-app', 's3cret'));
    expect((await reader.get(`${emu.graphBaseUrl}/users?$top=1`)).status).toBe(200);
    const denied = await reader.send('PATCH', `${emu.graphBaseUrl}/users/${tenant.apps[0].clientId}`, { usageLocation: 'US' });
    expect(denied.status).toBe(403);
    expect(denied.body.error.code).toBe('Authorization_RequestDenied');
    expect(denied.body.error.message).toContain('User.ReadWrite.All');
  });
});

describe('users', () => {
  it('pages at 999 with absolute https nextLinks on its own host, and refuses $top over 999', async () => {
    const sizes: number[] = [];
    let url: string | undefined = `${emu.graphBaseUrl}/users?$top=999&$select=id,userPrincipalName,usageLocation,assignedLicenses`;
    const ids = new Set<string>();
    while (url) {
      const res: HttpResult = await g.get(url);
      expect(res.status).toBe(200);
      sizes.push(res.body.value.length);
      for (const u of res.body.value) ids.add(u.id);
      expect(Object.keys(res.body.value[0]).sort()).toEqual(['assignedLicenses', 'id', 'usageLocation', 'userPrincipalName']);
      url = res.body['@odata.nextLink'];
      if (url) expect(url.startsWith(`${emu.url}/v1.0/users?`)).toBe(true);
    }
    expect(sizes).toEqual([999, 201]);
    expect(ids.size).toBe(1200);

    const bad = await g.get(`${emu.graphBaseUrl}/users?$top=1000`);
    expect(bad.status).toBe(400);
    expect(bad.body.error.code).toBe('Request_UnsupportedQuery');
    expect(bad.body.error.message).toContain("Invalid page size specified: '1000'");

    const def = await g.get(`${emu.graphBaseUrl}/users`);
    expect(def.body.value).toHaveLength(100);
    expect(Object.keys(def.body.value[0])).toContain('businessPhones');
    expect(Object.keys(def.body.value[0])).not.toContain('usageLocation');
  });

  it('gets one user by id or UPN and filters by UPN', async () => {
    const u = emu.control.state(tenant.tenantId).slots[5]!.u;
    expect((await g.get(`${emu.graphBaseUrl}/users/${u.id}`)).body.userPrincipalName).toBe(u.userPrincipalName);
    expect((await g.get(`${emu.graphBaseUrl}/users/${encodeURIComponent(u.userPrincipalName)}?$select=id,city`)).body).toMatchObject({ id: u.id, city: u.city });
    const f = await g.get(`${emu.graphBaseUrl}/users?$filter=${encodeURIComponent(`userPrincipalName eq '${u.userPrincipalName}'`)}`);
    expect(f.body.value.map((x: { id: string }) => x.id)).toEqual([u.id]);
    expect((await g.get(`${emu.graphBaseUrl}/users/00000000-0000-0000-0000-000000000000`)).body.error.code).toBe('Request_ResourceNotFound');
  });

  it('lists users by id with in, up to 15 values as Graph takes without advanced queries', async () => {
    const ids = emu.control.state(tenant.tenantId).slots.slice(0, 16).map((s) => s!.u.id);
    const list = (n: number) => g.get(`${emu.graphBaseUrl}/users?$filter=${encodeURIComponent(`id in (${ids.slice(0, n).map((id) => `'${id}'`).join(',')})`)}&$select=id`);
    const fifteen = await list(15);
    expect(fifteen.status).toBe(200);
    expect(fifteen.body.value.map((x: { id: string }) => x.id)).toEqual(ids.slice(0, 15));
    const sixteen = await list(16);
    expect(sixteen.status).toBe(400);
    expect(sixteen.body.error.code).toBe('Request_UnsupportedQuery');
  });
});

async function deltaRound(url: string): Promise<{ items: Array<Record<string, unknown>>; deltaLink: string }> {
  const items: Array<Record<string, unknown>> = [];
  let next: string | undefined = url;
  for (;;) {
    const res: HttpResult = await g.get(next!);
    expect(res.status).toBe(200);
    items.push(...res.body.value);
    expect(res.body['@odata.nextLink'] && res.body['@odata.deltaLink']).toBeFalsy();
    if (res.body['@odata.deltaLink']) return { items, deltaLink: res.body['@odata.deltaLink'] };
    next = res.body['@odata.nextLink'];
  }
}

describe('delta', () => {
  it('reports adds, changes, soft and hard deletes, restores; expired and reset tokens answer 410', async () => {
    const t = tenant.tenantId;
    const first = await deltaRound(`${emu.graphBaseUrl}/users/delta?$select=id,displayName,department,usageLocation`);
    expect(first.items.length).toBeGreaterThanOrEqual(1200);

    const empty = await deltaRound(first.deltaLink);
    expect(empty.items).toEqual([]);

    const state = emu.control.state(t);
    const [a, b, c, d] = [10, 11, 12, 13].map((i) => state.slots[i]!.u.id);
    const added = emu.control.addUser(t, { displayName: 'New Hire', department: 'Sales', usageLocation: 'US' });
    emu.control.updateUser(t, a, { department: 'Finance' });
    emu.control.updateUser(t, b, { mobilePhone: '+12065550000' });
    emu.control.softDeleteUser(t, c);
    emu.control.hardDeleteUser(t, d);
    const round = await deltaRound(empty.deltaLink);
    const byId = new Map(round.items.map((x) => [x.id, x]));
    expect(byId.get(added.id)).toMatchObject({ displayName: 'New Hire', department: 'Sales' });
    expect(byId.get(a)).toMatchObject({ department: 'Finance' });
    expect(byId.has(b)).toBe(false);
    expect(byId.get(c)).toEqual({ id: c, '@removed': { reason: 'changed' } });
    expect(byId.get(d)).toEqual({ id: d, '@removed': { reason: 'deleted' } });
    expect(round.items).toHaveLength(4);

    emu.control.restoreUser(t, c);
    const restored = await deltaRound(round.deltaLink);
    expect(restored.items).toHaveLength(1);
    expect(restored.items[0].id).toBe(c);
    expect(restored.items[0]['@removed']).toBeUndefined();

    const latest = await g.get(`${emu.graphBaseUrl}/users/delta?$deltatoken=latest`);
    expect(latest.body.value).toEqual([]);
    expect(latest.body['@odata.deltaLink']).toContain('$deltatoken=');

    now += 8 * 24 * 3600 * 1000;
    expect((await g.get(restored.deltaLink)).status).toBe(401);
    await refreshToken();
    const expired = await g.get(restored.deltaLink);
    expect(expired.status).toBe(410);
    expect(expired.body.error.code).toBe('syncStateNotFound');
    expect(expired.headers.location).toContain('/v1.0/users/delta?');

    const fresh = await deltaRound(latest.body['@odata.deltaLink'].replace(/\$deltatoken=.*/, '$deltatoken=latest'));
    emu.control.resetDelta(t);
    const reset = await g.get(fresh.deltaLink);
    expect(reset.status).toBe(410);
    expect(reset.body.error.code).toBe('resyncRequired');
  });
});

describe('licenses', () => {
  it('assigns and removes licenses, keeping subscribedSkus counts; errors as Graph words them', async () => {
    const t = tenant.tenantId;
    const u = emu.control.addUser(t, { displayName: 'Licence Test' });
    const url = `${emu.graphBaseUrl}/users/${u.id}/assignLicense`;
    const e3 = DEMO_SKUS.SPE_E3.skuId;

    const missing = await g.send('POST', url, { addLicenses: [{ skuId: e3, disabledPlans: [] }] });
    expect(missing.status).toBe(400);

    const noLocation = await g.send('POST', url, { addLicenses: [{ skuId: e3, disabledPlans: [] }], removeLicenses: [] });
    expect(noLocation.status).toBe(400);
    expect(noLocation.body.error).toMatchObject({ code: 'Request_BadRequest', message: 'License assignment cannot be done for user with invalid usage location.' });

    expect((await g.send('PATCH', `${emu.graphBaseUrl}/users/${u.id}`, { usageLocation: 'GB' })).status).toBe(204);
    const skuBefore = (await g.get(`${emu.graphBaseUrl}/subscribedSkus`)).body.value.find((s: { skuId: string }) => s.skuId === e3);
    const okRes = await g.send('POST', url, { addLicenses: [{ skuId: e3, disabledPlans: [] }], removeLicenses: [] });
    expect(okRes.status).toBe(200);
    expect(okRes.body.id).toBe(u.id);
    const skuAfter = (await g.get(`${emu.graphBaseUrl}/subscribedSkus`)).body.value.find((s: { skuId: string }) => s.skuId === e3);
    expect(skuAfter.consumedUnits).toBe(skuBefore.consumedUnits + 1);
    expect(emu.control.getUser(t, u.id)!.assignedLicenses.map((l) => l.skuId)).toEqual([e3]);

    const full = await g.send('POST', url, { addLicenses: [{ skuId: DEMO_SKUS.MCOPSTN2.skuId, disabledPlans: [] }], removeLicenses: [] });
    expect(full.status).toBe(400);
    expect(full.body.error.message).toContain('does not have any available licenses');

    const badGuid = await g.send('POST', url, { addLicenses: [{ skuId: 'nope' }], removeLicenses: [] });
    expect(badGuid.body.error.message).toContain("'Edm.Guid'");

    expect((await g.send('POST', url, { addLicenses: [], removeLicenses: [e3] })).status).toBe(200);
    const skuEnd = (await g.get(`${emu.graphBaseUrl}/subscribedSkus`)).body.value.find((s: { skuId: string }) => s.skuId === e3);
    expect(skuEnd.consumedUnits).toBe(skuBefore.consumedUnits);
  });
});

describe('groups', () => {
  it('adds and removes members by $ref', async () => {
    const groups = (await g.get(`${emu.graphBaseUrl}/groups`)).body.value;
    const qag = groups.find((x: { displayName: string }) => x.displayName.startsWith('QAG'));
    const user = emu.control.state(tenant.tenantId).slots[20]!.u;
    const ref = { '@odata.id': `https://graph.microsoft.com/v1.0/directoryObjects/${user.id}` };
    expect((await g.send('POST', `${emu.graphBaseUrl}/groups/${qag.id}/members/$ref`, ref)).status).toBe(204);
    expect((await g.send('POST', `${emu.graphBaseUrl}/groups/${qag.id}/members/$ref`, ref)).status).toBe(400);
    expect(emu.control.groupMembers(tenant.tenantId, qag.id)).toEqual([user.id]);
    expect((await g.send('DELETE', `${emu.graphBaseUrl}/groups/${qag.id}/members/${user.id}/$ref`)).status).toBe(204);
    expect((await g.send('DELETE', `${emu.graphBaseUrl}/groups/${qag.id}/members/${user.id}/$ref`)).status).toBe(404);
  });
});

async function pollOperation(location: string): Promise<Record<string, unknown>> {
  const seen: string[] = [];
  for (;;) {
    const op = await g.get(location);
    expect(op.status).toBe(200);
    seen.push(op.body.status);
    if (op.body.status === 'succeeded' || op.body.status === 'failed') return op.body;
    now += 10;
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe('Teams', () => {
  it('lists user configurations and number assignments', async () => {
    const configs = await g.get(`${emu.graphBaseUrl}/admin/teams/userConfigurations?$top=50`);
    expect(configs.body.value).toHaveLength(50);
    expect(configs.body.value[0]).toHaveProperty('effectivePolicyAssignments');
    expect(configs.body['@odata.nextLink']).toMatch(/^https:\/\/127\.0\.0\.1:\d+\/v1\.0\/admin\/teams\/userConfigurations\?/);
    const numbers = await g.get(`${emu.graphBaseUrl}/admin/teams/telephoneNumberManagement/numberAssignments?$filter=${encodeURIComponent("assignmentStatus eq 'unassigned'")}&$top=5`);
    expect(numbers.body.value).toHaveLength(5);
    expect(numbers.body.value.every((n: { assignmentStatus: string }) => n.assignmentStatus === 'unassigned')).toBe(true);
  });

  it('assigns a number through an operation, and fails for unknown or taken numbers', async () => {
    const state = emu.control.state(tenant.tenantId);
    const cfg = [...state.teams.values()].find((c) => c.featureTypes.includes('PhoneSystem') && c.telephoneNumbers.length === 0)!;
    const free = state.numbers.find((n) => n.assignmentStatus === 'unassigned' && n.numberType === 'directRouting')!;
    const assign = (telephoneNumber: string) => g.send('POST', `${emu.graphBaseUrl}/admin/teams/telephoneNumberManagement/numberAssignments/assignNumber`,
      { telephoneNumber: telephoneNumber.slice(1), assignmentTargetId: cfg.id, numberType: 'directRouting' });
    const res = await assign(free.telephoneNumber);
    expect(res.status).toBe(202);
    expect(res.headers.location).toMatch(/\/v1\.0\/admin\/teams\/telephoneNumberManagement\/operations\('[^']+'\)$/);
    const op = await pollOperation(String(res.headers.location));
    expect(op.status).toBe('succeeded');
    expect(emu.control.teamsUser(tenant.tenantId, cfg.id)!.telephoneNumbers).toEqual([{ telephoneNumber: free.telephoneNumber, assignmentCategory: 'primary' }]);
    expect(emu.control.teamsUser(tenant.tenantId, cfg.id)!.isEnterpriseVoiceEnabled).toBe(true);
    expect(free.assignmentTargetId).toBe(cfg.id);

    // A Direct Routing number is the customer's own: Teams records an unknown one when it is assigned.
    const unassign = (telephoneNumber: string) =>
      g.send('POST', `${emu.graphBaseUrl}/admin/teams/telephoneNumberManagement/numberAssignments/unassignNumber`, { telephoneNumber, numberType: 'directRouting' });
    const carrierNumber = await pollOperation(String((await assign('+19995550000')).headers.location));
    expect(carrierNumber.status).toBe('succeeded');
    expect(state.numberIndex.get('+19995550000')?.assignmentTargetId).toBe(cfg.id);
    await pollOperation(String((await unassign('+19995550000')).headers.location));
    // Unknown Calling Plan numbers are refused: Microsoft owns those.
    const unknown = await pollOperation(
      String((await g.send('POST', `${emu.graphBaseUrl}/admin/teams/telephoneNumberManagement/numberAssignments/assignNumber`, { telephoneNumber: '+19995550001', assignmentTargetId: cfg.id, numberType: 'callingPlan' })).headers.location),
    );
    expect(unknown.status).toBe('failed');
    expect(unknown.statusDetail).toContain('not found');
    await pollOperation(String((await assign(free.telephoneNumber)).headers.location));

    const taken = state.numbers.find((n) => n.assignmentTargetId && n.assignmentTargetId !== cfg.id && n.numberType === 'directRouting')!;
    const takenOp = await pollOperation(String((await assign(taken.telephoneNumber)).headers.location));
    expect(takenOp.status).toBe('failed');
    expect(takenOp.statusDetail).toContain('already been assigned');

    const un = await g.send('POST', `${emu.graphBaseUrl}/admin/teams/telephoneNumberManagement/numberAssignments/unassignNumber`, { telephoneNumber: free.telephoneNumber, numberType: 'directRouting' });
    expect((await pollOperation(String(un.headers.location))).status).toBe('succeeded');
    expect(free.assignmentStatus).toBe('unassigned');
    expect(emu.counters.snapshot().writesByUser[cfg.id]['teams.assignNumber']).toBe(5);
  });

  it('finishes a number operation after seconds by default, as Teams does', async () => {
    let at = Date.UTC(2026, 0, 5, 12);
    const slow = await startGraphEmulator({ tenants: [{ seed: 'emu-slow', users: 60 }], clock: () => at });
    try {
      const t = slow.tenants[0];
      const client = http.withToken(await tokenFor(slow, t.tenantId, t.apps[0].clientId, t.apps[0].secret));
      const state = slow.control.state(t.tenantId);
      const cfg = [...state.teams.values()].find((c) => c.featureTypes.includes('PhoneSystem') && c.telephoneNumbers.length === 0)!;
      const free = state.numbers.find((n) => n.assignmentStatus === 'unassigned' && n.numberType === 'directRouting')!;
      const res = await client.send('POST', `${slow.graphBaseUrl}/admin/teams/telephoneNumberManagement/numberAssignments/assignNumber`,
        { telephoneNumber: free.telephoneNumber, assignmentTargetId: cfg.id, numberType: 'directRouting' });
      const location = String(res.headers.location);
      at += 1_000;
      expect((await client.get(location)).body.status).toBe('notStarted');
      at += 2_000;
      expect((await client.get(location)).body.status).toBe('running');
      at += 2_000;
      expect((await client.get(location)).body.status).toBe('succeeded');
    } finally {
      await slow.stop();
    }
  });

  it('assigns policies through Graph and through the Teams bridge', async () => {
    const t = tenant.tenantId;
    const cfg = [...emu.control.state(t).teams.values()][0];
    const idRes = await g.get(`${emu.graphBaseUrl}/admin/teams/policy/getPolicyId(type='TeamsCallingPolicy',name='RestrictedCalling')`);
    expect(idRes.status).toBe(200);
    expect(idRes.body.value).toEqual([{ '@odata.type': '#microsoft.graph.teamsAdministration.policyIdentifierDetail', name: 'Tag:RestrictedCalling', policyId: expect.any(String) }]);
    const policyId = idRes.body.value[0].policyId;
    // Types are matched whichever case Microsoft's pages write them in.
    expect((await g.get(`${emu.graphBaseUrl}/admin/teams/policy/getPolicyId(type='teamsCallingPolicy',name='RestrictedCalling')`)).body.value[0].policyId).toBe(policyId);
    // Graph has no dial plans: neither an id nor an assignment for one.
    expect((await g.get(`${emu.graphBaseUrl}/admin/teams/policy/getPolicyId(type='TenantDialPlan',name='DP-GB')`)).status).toBe(404);
    const dialPlan = await g.send('POST', `${emu.graphBaseUrl}/admin/teams/policy/userAssignments/assign`, {
      value: [{ '@odata.type': '#microsoft.graph.teamsAdministration.teamsPolicyUserAssignment', userId: cfg.id, policyType: 'TenantDialPlan', policyId: 'x' }],
    });
    expect(dialPlan.status).toBe(400);
    const assign = await g.send('POST', `${emu.graphBaseUrl}/admin/teams/policy/userAssignments/assign`, {
      value: [{ '@odata.type': '#microsoft.graph.teamsAdministration.teamsPolicyUserAssignment', userId: cfg.id, policyType: 'TeamsCallingPolicy', policyId }],
    });
    expect(assign.status).toBe(204);
    const effective = emu.control.teamsUser(t, cfg.id)!.effectivePolicyAssignments.find((p) => p.policyType === 'TeamsCallingPolicy')!;
    expect(effective.policyAssignment.displayName).toBe('RestrictedCalling');

    const bridge = `${emu.teamsBridgeUrl}/tenants/${t}`;
    const dp = await g.get(`${bridge}/dialPlans`);
    expect(dp.status).toBe(200);
    expect(dp.body.value[0]).toHaveProperty('NormalizationRules');
    expect((await g.get(`${bridge}/policies/OnlineVoiceRoutingPolicy`)).body.value.length).toBeGreaterThan(1);
    expect((await g.get(`${bridge}/policies/NoSuchPolicy`)).status).toBe(404);
    const grant = await g.send('POST', `${bridge}/policyAssignments`, { userId: cfg.id, policyType: 'TenantDialPlan', policyName: 'DP-GB' });
    expect(grant.status).toBe(200);
    expect(grant.body).toEqual({ userId: cfg.id, policyType: 'TenantDialPlan', policyName: 'DP-GB' });
    expect((await g.send('POST', `${bridge}/policyAssignments`, { userId: cfg.id, policyType: 'TeamsCallingPolicy', policyName: 'Nope' })).status).toBe(400);
    expect((await g.send('POST', `${bridge}/policyAssignments`, { userId: cfg.id, policyType: 'TeamsCallingPolicy', policyName: null })).status).toBe(200);
    expect((await http.get(`${bridge}/dialPlans`)).status).toBe(401);
  });
});

describe('batch', () => {
  it('runs up to 20 requests with per-item status and dependsOn', async () => {
    const u = emu.control.state(tenant.tenantId).slots[30]!.u;
    const res = await g.send('POST', `${emu.graphBaseUrl}/$batch`, {
      requests: [
        { id: '1', method: 'GET', url: `/users/${u.id}?$select=id` },
        { id: '2', method: 'GET', url: '/users/00000000-0000-0000-0000-000000000000' },
        { id: '3', method: 'PATCH', url: `/users/${u.id}`, headers: { 'Content-Type': 'application/json' }, body: { usageLocation: 'AU' }, dependsOn: ['2'] },
      ],
    });
    expect(res.status).toBe(200);
    const byId = Object.fromEntries(res.body.responses.map((r: { id: string; status: number }) => [r.id, r.status]));
    expect(byId).toEqual({ 1: 200, 2: 404, 3: 424 });
    const tooMany = await g.send('POST', `${emu.graphBaseUrl}/$batch`, { requests: Array.from({ length: 21 }, (_, i) => ({ id: String(i), method: 'GET', url: '/users' })) });
    expect(tooMany.status).toBe(400);
  });
});

describe('faults and quotas', () => {
  it('injects 429 with Retry-After and 503 per route, seeded', async () => {
    emu.faults.set({ seed: 7, rules: [{ route: 'GET /users', status: 429, retryAfterSeconds: 2.5, times: 2 }, { route: '/subscribedSkus', status: 503 }] });
    const r1 = await g.get(`${emu.graphBaseUrl}/users?$top=1`);
    const r2 = await g.get(`${emu.graphBaseUrl}/users?$top=1`);
    const r3 = await g.get(`${emu.graphBaseUrl}/users?$top=1`);
    expect([r1.status, r2.status, r3.status]).toEqual([429, 429, 200]);
    expect(r1.headers['retry-after']).toBe('2.5');
    expect(r1.body.error.code).toBe('TooManyRequests');
    expect((await g.get(`${emu.graphBaseUrl}/subscribedSkus`)).status).toBe(503);
    emu.faults.clear();

    const pattern = async (): Promise<number[]> => {
      emu.faults.set({ seed: 'same', rules: [{ route: 'GET /groups', status: 504, rate: 0.5 }] });
      const out: number[] = [];
      for (let i = 0; i < 12; i++) out.push((await g.get(`${emu.graphBaseUrl}/groups?$top=1`)).status);
      return out;
    };
    const a = await pattern();
    const b = await pattern();
    expect(a).toEqual(b);
    expect(a).toContain(504);
    expect(a).toContain(200);
    emu.faults.clear();
  });

  it('enforces resource-unit and write quotas with a Retry-After that works', async () => {
    emu.control.setQuotas(true, { readUnitsPer10s: 6, writesPer150s: 2 });
    const url = `${emu.graphBaseUrl}/users?$select=id`;
    const statuses: number[] = [];
    let throttled;
    for (let i = 0; i < 8 && !throttled; i++) {
      const r = await g.get(url);
      statuses.push(r.status);
      if (r.status === 429) throttled = r;
    }
    expect(statuses.slice(0, 6)).toEqual([200, 200, 200, 200, 200, 200]);
    expect(throttled!.headers['x-ms-throttle-information']).toBe('ResourceUnitLimitExceeded');
    const wait = Number(throttled!.headers['retry-after']);
    expect(wait).toBeGreaterThan(0);
    now += wait * 1000;
    expect((await g.get(url)).status).toBe(200);

    const u = emu.control.state(tenant.tenantId).slots[40]!.u;
    const patch = () => g.send('PATCH', `${emu.graphBaseUrl}/users/${u.id}`, { jobTitle: `T${Math.random()}` });
    now += 60_000;
    expect((await patch()).status).toBe(204);
    expect((await patch()).status).toBe(204);
    const w = await patch();
    expect(w.status).toBe(429);
    expect(w.headers['x-ms-throttle-information']).toBe('WriteLimitExceeded');
    expect(emu.counters.snapshot().writesByUser[u.id]['users.patch']).toBe(2);
    emu.control.setQuotas(false);
  });

  it('answers throttling with Retry-After in whole seconds', async () => {
    emu.control.setQuotas(true, { readUnitsPer10s: 1 });
    const url = `${emu.graphBaseUrl}/users?$select=id`;
    now += 60_000;
    expect((await g.get(url)).status).toBe(200);
    now += 1; // a hundredth of a unit refilled: 9.999 s to wait, sent as 10
    const r = await g.get(url);
    expect(r.status).toBe(429);
    expect(r.headers['retry-after']).toBe('10');
    emu.control.setQuotas(false);
  });

  it('throttles the Teams admin routes and the bridge per app and tenant, per second', async () => {
    emu.control.setQuotas(true, { teamsAdminPerSecond: 3, bridgePerSecond: 2 });
    now += 60_000;
    const teams = `${emu.graphBaseUrl}/admin/teams/userConfigurations?$top=1`;
    const statuses: number[] = [];
    for (let i = 0; i < 4; i++) statuses.push((await g.get(teams)).status);
    expect(statuses).toEqual([200, 200, 200, 429]);
    const refused = await g.get(teams);
    expect(refused.body.error.code).toBe('TooManyRequests');
    expect(refused.headers['retry-after']).toBe('1');
    now += 1_000;
    expect((await g.get(teams)).status).toBe(200);

    const app = tenant.apps[0];
    const bridge = http.withToken(await tokenFor(emu, tenant.tenantId, app.clientId, app.secret, '48ac35b8-9aa8-4d74-927d-1f4a14a0b239/.default'));
    const dialPlans = `${emu.teamsBridgeUrl}/tenants/${tenant.tenantId}/dialPlans`;
    const bridged = [await bridge.get(dialPlans), await bridge.get(dialPlans), await bridge.get(dialPlans)];
    expect(bridged.map((r) => r.status)).toEqual([200, 200, 429]);
    expect(bridged[2].headers['retry-after']).toBe('1');
    expect(bridged[2].body).toMatchObject({ error: { code: 'TooManyRequests' } });
    const counters = emu.control.counters();
    expect(counters.throttledBy).toMatchObject({ teamsAdmin: 2, bridge: 1 });
    emu.control.setQuotas(false);
  });

  it('adds the configured latency to every call, a batch once', async () => {
    emu.control.setLatency(150);
    try {
      let started = performance.now();
      expect((await g.get(`${emu.graphBaseUrl}/users?$top=1`)).status).toBe(200);
      expect(performance.now() - started).toBeGreaterThanOrEqual(145);
      started = performance.now();
      const batch = await g.send('POST', `${emu.graphBaseUrl}/$batch`, {
        requests: Array.from({ length: 5 }, (_, i) => ({ id: String(i), method: 'GET', url: '/users?$top=1' })),
      });
      expect(batch.status).toBe(200);
      const took = performance.now() - started;
      expect(took).toBeGreaterThanOrEqual(145);
      expect(took).toBeLessThan(5 * 150);
      expect((await http.get(`${emu.url}/_control/latency`)).body).toEqual({ ms: 150 });
    } finally {
      emu.control.setLatency(0);
    }
  });
});

describe('control API over HTTP', () => {
  it('needs its own key: without it nothing is changed or shown', async () => {
    const outsider = new EmulatorClient(emu.caPem);
    try {
      for (const [method, path] of [['GET', '/_control/subscriptions'], ['GET', '/_control/tenants'], ['POST', `/_control/tenants/${tenant.tenantId}/users`], ['PUT', '/_control/faults']] as const) {
        const res = await outsider.send(method, `${emu.url}${path}`, method === 'GET' ? undefined : {});
        expect(res.status).toBe(401);
        expect(res.text).not.toContain('clientState');
      }
      expect((await outsider.get(`${emu.url}/_control/counters`, { 'x-emulator-key': 'guess' })).status).toBe(401);
      expect((await outsider.get(`${emu.url}/_control/counters`, { 'x-emulator-key': emu.controlKey })).status).toBe(200);
      expect((await outsider.get(`${emu.url}/v1.0/users/%zz`)).status).toBe(400);
    } finally {
      outsider.close();
    }
  });

  it('adds and changes users, reads and resets counters', async () => {
    const base = `${emu.url}/_control/tenants/${tenant.tenantId}`;
    const created = await http.send('POST', `${base}/users`, { displayName: 'Via Control', city: 'London' });
    expect(created.status).toBe(201);
    const id = created.body.id;
    expect((await http.send('PATCH', `${base}/users/${id}`, { department: 'IT' })).body.department).toBe('IT');
    expect((await http.send('POST', `${base}/users/${id}/softDelete`)).status).toBe(204);
    expect((await g.get(`${emu.graphBaseUrl}/users/${id}`)).status).toBe(404);
    expect((await http.send('POST', `${base}/users/${id}/restore`)).status).toBe(200);
    expect((await http.send('DELETE', `${base}/users/${id}`)).status).toBe(204);
    expect((await http.get(`${base}/users/${id}`)).status).toBe(404);

    await g.send('PATCH', `${emu.graphBaseUrl}/users/${emu.control.state(tenant.tenantId).slots[50]!.u.id}`, { usageLocation: 'US' });
    const counters = await http.get(`${emu.url}/_control/counters`);
    expect(counters.body.writes['users.patch']).toBeGreaterThan(0);
    expect((await http.send('POST', `${emu.url}/_control/counters/reset`)).status).toBe(204);
    expect((await http.get(`${emu.url}/_control/counters`)).body.writes).toEqual({});
    expect((await http.send('PUT', `${emu.url}/_control/faults`, { rules: [{ route: 'GET /groups', status: 503 }] })).status).toBe(204);
    expect((await g.get(`${emu.graphBaseUrl}/groups`)).status).toBe(503);
    expect((await http.send('DELETE', `${emu.url}/_control/faults`)).status).toBe(204);
    expect((await g.get(`${emu.graphBaseUrl}/groups`)).status).toBe(200);
  });

  it('runs several emulators side by side', async () => {
    const other = await startGraphEmulator({ tenants: [{ seed: 'other', users: 10 }] });
    try {
      expect(other.port).not.toBe(emu.port);
      const t = other.tenants[0];
      const token = await tokenFor(other, t.tenantId, t.apps[0].clientId, t.apps[0].secret);
      const c = new EmulatorClient(other.caPem, token);
      expect((await c.get(`${other.graphBaseUrl}/users`)).body.value).toHaveLength(10);
      c.close();
      expect((await g.get(`${other.graphBaseUrl}/users`)).status).toBe(401);
    } finally {
      await other.stop();
    }
  });
});
