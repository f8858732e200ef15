/**
 * The adapter's paging, retry and error rules against a tiny HTTPS server: what Graph answers is scripted
 * per test, every request the adapter makes is recorded.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  DeltaTokenExpiredError,
  GraphInvalidRequestError,
  GraphNotFoundError,
  GraphPermissionError,
  GraphThrottledError,
  GraphTransientError,
  OperationFailedError,
  isUserRemoval,
  type MicrosoftUserRemoval,
} from '../../shared/ports/microsoft';
import { GraphMicrosoftTenant, Pacer, createTransport, microsoftQuotas } from '../../shared/adapters/graph';
import { createSecretSource, parseCredentialReference } from '../../shared/adapters/graph/credentials';
import { graphErrorReply, startStubServer, staticCredential, type StubServer } from './stub-server';

let server: StubServer;
let transport: ReturnType<typeof createTransport>;

beforeAll(async () => {
  server = await startStubServer();
  transport = createTransport({ ca: server.ca, timeoutMs: 300 });
});

afterAll(async () => {
  transport.close();
  await server.close();
});

function tenant(overrides: { maxRetries?: number } = {}): GraphMicrosoftTenant {
  return new GraphMicrosoftTenant({
    tenantId: 'tenant-1',
    graphBaseUrl: server.origin,
    credential: staticCredential,
    pacer: new Pacer(microsoftQuotas('L')),
    transport: transport.send,
    retry: { maxRetries: overrides.maxRetries ?? 3, baseDelayMs: 5, maxDelayMs: 20 },
    operationPollMs: 5,
    operationDeadlineMs: 2_000,
    usageLocationRetry: { attempts: 1, delayMs: 5 },
  });
}

const user = (id: string, extra: Record<string, unknown> = {}) => ({ id, userPrincipalName: `${id}@contoso.example`, displayName: id, ...extra });

describe('reads', () => {
  it('reads every page with $select and $top=999, following each nextLink whole', async () => {
    server.handle((req, origin) => {
      const url = new URL(req.url, origin);
      if (!url.searchParams.has('$skiptoken')) {
        return { status: 200, json: { value: [user('u1'), user('u2')], '@odata.nextLink': `${origin}/v1.0/users?$select=id&$top=999&$skiptoken=RFNwdAoAAQ==` } };
      }
      if (url.searchParams.get('$skiptoken') === 'RFNwdAoAAQ==') return { status: 200, json: { value: [], '@odata.nextLink': `${origin}/v1.0/users?$skiptoken=second` } };
      return { status: 200, json: { value: [user('u3', { accountEnabled: false, assignedLicenses: [{ skuId: 's1', disabledPlans: [] }] })] } };
    });
    const pages: string[][] = [];
    for await (const page of tenant().listUsers()) pages.push(page.map((u) => u.id));
    expect(pages).toEqual([['u1', 'u2'], ['u3']]); // the empty page is skipped
    const first = new URL(server.requests[0].url, server.origin);
    expect(first.pathname).toBe('/v1.0/users');
    expect(first.searchParams.get('$top')).toBe('999');
    expect(first.searchParams.get('$select')).toContain('usageLocation');
    expect(first.searchParams.get('$select')).toContain('onPremisesSyncEnabled');
    expect(server.requests[1].url).toContain('$skiptoken=RFNwdAoAAQ==');
    expect(server.requests.every((r) => r.headers.authorization === 'Bearer test-token')).toBe(true);
    expect(server.requests.every((r) => r.headers.prefer === 'include-unknown-enum-members')).toBe(true);
  });

  it('maps users with nulls for what Graph left out', async () => {
    server.handle(() => ({ status: 200, json: user('u9', { city: 'Leeds' }) }));
    const u = await tenant().getUser('u9');
    expect(u).toMatchObject({ id: 'u9', city: 'Leeds', department: null, businessPhones: [], assignedLicenses: [], accountEnabled: null });
  });

  it('returns null for a user Graph does not know', async () => {
    server.handle(() => graphErrorReply(404, 'Request_ResourceNotFound', "Resource 'x' does not exist"));
    expect(await tenant().getUser('x')).toBeNull();
  });
});

describe('delta', () => {
  it('yields adds, changes and both kinds of removal, repeats merged, and the new delta link last', async () => {
    server.handle((req, origin) => {
      if (!req.url.includes('$skiptoken')) {
        return {
          status: 200,
          json: {
            value: [user('a', { city: 'Leeds' }), user('b'), { id: 'a', city: 'York' }, { id: 'c', '@removed': { reason: 'changed' } }],
            '@odata.nextLink': `${origin}/v1.0/users/delta?$skiptoken=p2`,
          },
        };
      }
      return { status: 200, json: { value: [{ id: 'd', '@removed': { reason: 'deleted' } }], '@odata.deltaLink': `${origin}/v1.0/users/delta?$deltatoken=next` } };
    });
    const pages = [];
    for await (const page of tenant().usersDelta(undefined)) pages.push(page);
    expect(pages).toHaveLength(2);
    expect(pages[0].deltaLink).toBeUndefined();
    const [a, b, c] = pages[0].changes;
    expect(a).toMatchObject({ id: 'a', city: 'York', displayName: 'a' });
    expect(b).toMatchObject({ id: 'b' });
    expect(c).toEqual({ id: 'c', removed: 'soft' });
    expect(pages[1].changes).toEqual([{ id: 'd', removed: 'hard' }]);
    expect(isUserRemoval(pages[1].changes[0])).toBe(true);
    expect((pages[1].changes[0] as MicrosoftUserRemoval).removed).toBe('hard');
    expect(pages[1].deltaLink).toBe(`${server.origin}/v1.0/users/delta?$deltatoken=next`);
    expect(new URL(server.requests[0].url, server.origin).searchParams.get('$select')).toContain('department');
  });

  it('reports an expired delta token as DeltaTokenExpiredError (syncStateNotFound and 410)', async () => {
    server.handle(() => graphErrorReply(400, 'syncStateNotFound', 'The sync state generation is not found.'));
    const drain = async (link: string) => {
      for await (const _ of tenant().usersDelta(link)) void _;
    };
    await expect(drain(`${server.origin}/v1.0/users/delta?$deltatoken=old`)).rejects.toBeInstanceOf(DeltaTokenExpiredError);
    server.handle(() => ({ status: 410, headers: { location: `${server.origin}/v1.0/users/delta?$deltatoken=` }, json: {} }));
    await expect(drain(`${server.origin}/v1.0/users/delta?$deltatoken=old`)).rejects.toBeInstanceOf(DeltaTokenExpiredError);
  });
});

describe('throttling and retries', () => {
  it('honours Retry-After on 429 and then succeeds', async () => {
    let calls = 0;
    server.handle(() => (++calls <= 2 ? graphErrorReply(429, 'TooManyRequests', 'Please retry again later.', { 'retry-after': '0.02' }) : { status: 200, json: user('u1') }));
    const t = tenant();
    expect((await t.getUser('u1'))?.id).toBe('u1');
    expect(server.requests).toHaveLength(3);
    expect(t.pacer.stats.throttledResponses).toBe(2);
  });

  it('gives up with GraphThrottledError when the storm outlasts the retries', async () => {
    server.handle(() => graphErrorReply(429, 'TooManyRequests', 'Please retry again later.', { 'retry-after': '0.01' }));
    const error = await tenant({ maxRetries: 2 }).getUser('u1').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(GraphThrottledError);
    expect(server.requests).toHaveLength(3);
  });

  it('holds the whole tenant for the last Retry-After of a request that ran out of retries', async () => {
    const arrivals: Array<{ path: string; at: number }> = [];
    server.handle((req) => {
      const path = new URL(req.url, server.origin).pathname;
      arrivals.push({ path, at: Date.now() });
      if (path.endsWith('/subscribedSkus')) return graphErrorReply(429, 'TooManyRequests', 'Please retry again later.', { 'retry-after': '0.4' });
      return { status: 200, json: user('u1') };
    });
    const t = tenant({ maxRetries: 1 });
    const failed = await t.listSubscribedSkus().catch((e: unknown) => e);
    expect(failed).toBeInstanceOf(GraphThrottledError);
    // Other requests of the tenant, sent the moment the throttled one gave up, wait out its Retry-After.
    await Promise.all([t.getUser('u1'), t.getUser('u2'), t.getUser('u3')]);
    const lastThrottled = arrivals.filter((a) => a.path.endsWith('/subscribedSkus')).at(-1)!.at;
    const others = arrivals.filter((a) => !a.path.endsWith('/subscribedSkus'));
    expect(others).toHaveLength(3);
    for (const a of others) expect(a.at - lastThrottled).toBeGreaterThanOrEqual(390);
  });

  it('holds the whole tenant for a throttled item of a batch that is not retried', async () => {
    const arrivals: number[] = [];
    server.handle((req) => {
      arrivals.push(Date.now());
      if (req.method === 'POST') {
        const { requests } = JSON.parse(req.body) as { requests: Array<{ id: string }> };
        return { status: 200, json: { responses: requests.map((r) => ({ id: r.id, status: 429, headers: { 'Retry-After': '0.4' }, body: { error: { code: 'TooManyRequests', message: 'later' } } })) } };
      }
      return { status: 200, json: user('u1') };
    });
    const t = tenant({ maxRetries: 0 });
    await t.getUsers(['u1']).catch(() => undefined);
    await t.getUser('u1');
    expect(arrivals).toHaveLength(2);
    expect(arrivals[1] - arrivals[0]).toBeGreaterThanOrEqual(390);
  });

  it('retries 503 and 504 on reads with backoff', async () => {
    let calls = 0;
    server.handle(() => (++calls === 1 ? { status: 503, json: {} } : calls === 2 ? { status: 504, json: {} } : { status: 200, json: { value: [] } }));
    expect(await tenant().listSubscribedSkus()).toEqual([]);
    expect(server.requests).toHaveLength(3);
  });

  it('does not repeat a license write after a 504 when the user already holds the licenses', async () => {
    server.handle((req) => {
      if (req.method === 'POST') return { status: 504, json: {} };
      return { status: 200, json: user('u1', { assignedLicenses: [{ skuId: 'sku-1', disabledPlans: [] }] }) };
    });
    await tenant().assignLicenses('u1', { add: [{ skuId: 'sku-1' }], remove: [] });
    expect(server.requests.map((r) => r.method)).toEqual(['POST', 'GET']);
    expect(JSON.parse(server.requests[0].body)).toEqual({ addLicenses: [{ skuId: 'sku-1', disabledPlans: [] }], removeLicenses: [] });
  });

  it('repeats a license write after a 504 only when the state shows it did not take effect', async () => {
    let posts = 0;
    server.handle((req) => {
      if (req.method === 'POST') return ++posts === 1 ? { status: 504, json: {} } : { status: 200, json: user('u1') };
      return { status: 200, json: user('u1', { assignedLicenses: [] }) };
    });
    await tenant().assignLicenses('u1', { add: [{ skuId: 'sku-1' }], remove: [] });
    expect(server.requests.map((r) => r.method)).toEqual(['POST', 'GET', 'POST']);
  });

  it('retries a throttled write: a 429 says it was not processed', async () => {
    let posts = 0;
    server.handle(() => (++posts === 1 ? graphErrorReply(429, 'TooManyRequests', 'later', { 'retry-after': '0.01' }) : { status: 204 }));
    await tenant().addGroupMember('g1', 'u1');
    expect(server.requests).toHaveLength(2);
  });
});

describe('error mapping', () => {
  it('names the missing permission when Graph does', async () => {
    server.handle(() => graphErrorReply(403, 'Forbidden', "Missing role permissions on the request. API requires one of 'TeamsUserConfiguration.Read.All'."));
    const error = await tenant().getTeamsUserConfiguration('u1').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(GraphPermissionError);
    expect((error as GraphPermissionError).missingPermissions).toEqual(['TeamsUserConfiguration.Read.All']);
  });

  it('reports license refusals with their reason', async () => {
    server.handle(() => graphErrorReply(400, 'Request_BadRequest', 'Subscription with SKU sku-1 does not have any available licenses.'));
    const noSeats = await tenant().assignLicenses('u1', { add: [{ skuId: 'sku-1' }], remove: [] }).catch((e: unknown) => e);
    expect(noSeats).toBeInstanceOf(GraphInvalidRequestError);
    expect(noSeats).toMatchObject({ code: 'Request_BadRequest', reason: 'noAvailableLicenses', status: 400 });

    server.handle(() => graphErrorReply(400, 'Request_BadRequest', 'License assignment cannot be done for user with invalid usage location.'));
    const t = tenant();
    const noLocation = await t.assignLicenses('u1', { add: [{ skuId: 'sku-1' }], remove: [] }).catch((e: unknown) => e);
    expect(noLocation).toMatchObject({ reason: 'invalidUsageLocation' });
    expect(server.requests).toHaveLength(2); // one bounded retry for replication lag
  });

  it('counts an existing membership and a missing one as done', async () => {
    server.handle(() => graphErrorReply(400, 'Request_BadRequest', "One or more added object references already exist for the following modified properties: 'members'."));
    await tenant().addGroupMember('g1', 'u1');
    server.handle(() => graphErrorReply(404, 'Request_ResourceNotFound', 'gone'));
    await tenant().removeGroupMember('g1', 'u1');
  });
});

describe('Teams numbers', () => {
  it('polls an accepted assignment to success', async () => {
    let polls = 0;
    server.handle((req, origin) => {
      if (req.method === 'POST') return { status: 202, headers: { location: `${origin}/v1.0/admin/teams/telephoneNumberManagement/operations('op-1')` } };
      return { status: 200, json: { id: 'op-1', status: ++polls < 3 ? 'running' : 'succeeded' } };
    });
    await tenant().assignNumber({ userId: 'u1', number: '+442071234567', numberType: 'directRouting', locationId: 'loc-1' });
    expect(JSON.parse(server.requests[0].body)).toEqual({ telephoneNumber: '+442071234567', assignmentTargetId: 'u1', numberType: 'directRouting', locationId: 'loc-1' });
    expect(server.requests.filter((r) => r.method === 'GET')).toHaveLength(3);
  });

  it('reports a failed operation with Microsoft’s reason', async () => {
    server.handle((req, origin) => {
      if (req.method === 'POST') return { status: 202, headers: { location: `${origin}/v1.0/admin/teams/telephoneNumberManagement/operations('op-2')` } };
      return { status: 200, json: { id: 'op-2', status: 'failed', numbers: [{ status: 'failed', statusDetail: 'Telephone Number has already been assigned to another user' }] } };
    });
    const error = await tenant().assignNumber({ userId: 'u1', number: '+442071234567', numberType: 'directRouting' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OperationFailedError);
    expect(error).toMatchObject({ operationId: 'op-2', reason: 'Telephone Number has already been assigned to another user' });
  });

  it('after a lost reply checks the number before repeating, and does not repeat a write that took effect', async () => {
    server.handle((req) => {
      if (req.method === 'POST') return { hang: true, status: 0 };
      return { status: 200, json: { value: [{ id: 'n1', telephoneNumber: '+442071234567', assignmentTargetId: 'u1', activationState: 'activated', assignmentStatus: 'userAssigned' }] } };
    });
    await tenant().assignNumber({ userId: 'u1', number: '+442071234567', numberType: 'directRouting' });
    expect(server.requests.map((r) => r.method)).toEqual(['POST', 'GET']);
    expect(decodeURIComponent(server.requests[1].url)).toContain("telephoneNumber eq '+442071234567'");
  });

  it('repeats the assignment when the number shows it did not take effect', async () => {
    let posts = 0;
    server.handle((req, origin) => {
      if (req.method === 'POST') return ++posts === 1 ? { hang: true, status: 0 } : { status: 202, headers: { location: `${origin}/v1.0/admin/teams/telephoneNumberManagement/operations('op-3')` } };
      if (req.url.includes('operations')) return { status: 200, json: { id: 'op-3', status: 'succeeded' } };
      return { status: 200, json: { value: [{ id: 'n1', telephoneNumber: '+442071234567', assignmentTargetId: null, assignmentStatus: 'unassigned' }] } };
    });
    await tenant().assignNumber({ userId: 'u1', number: '+442071234567', numberType: 'directRouting' });
    expect(posts).toBe(2);
  });
});

describe('Teams policies', () => {
  it('assigns every policy of a user in one v1.0 request, each id resolved once through v1.0 getPolicyId', async () => {
    server.handle((req) => {
      if (req.method === 'GET') {
        const type = /type='([^']+)'/.exec(decodeURIComponent(req.url))![1];
        return { status: 200, json: { value: [{ '@odata.type': '#microsoft.graph.teamsAdministration.policyIdentifierDetail', name: 'Tag:X', policyId: `id-${type}` }] } };
      }
      return { status: 204 };
    });
    const t = tenant();
    const policies = [{ policyType: 'TeamsCallingPolicy', policyName: 'X' }, { policyType: 'OnlineVoiceRoutingPolicy', policyName: 'Tag:X' }];
    await t.assignTeamsPolicies('u1', policies);
    await t.assignTeamsPolicies('u2', policies);
    const paths = server.requests.map((r) => `${r.method} ${decodeURIComponent(r.url)}`);
    expect(paths).toEqual([
      "GET /v1.0/admin/teams/policy/getPolicyId(type='TeamsCallingPolicy',name='X')",
      "GET /v1.0/admin/teams/policy/getPolicyId(type='OnlineVoiceRoutingPolicy',name='X')",
      'POST /v1.0/admin/teams/policy/userAssignments/assign',
      'POST /v1.0/admin/teams/policy/userAssignments/assign',
    ]);
    expect(JSON.parse(server.requests[2].body)).toEqual({
      value: [
        { '@odata.type': '#microsoft.graph.teamsAdministration.teamsPolicyUserAssignment', userId: 'u1', policyType: 'TeamsCallingPolicy', policyId: 'id-TeamsCallingPolicy' },
        { '@odata.type': '#microsoft.graph.teamsAdministration.teamsPolicyUserAssignment', userId: 'u1', policyType: 'OnlineVoiceRoutingPolicy', policyId: 'id-OnlineVoiceRoutingPolicy' },
      ],
    });
  });
});

describe('batch', () => {
  it('reads users 20 to a batch, retrying only throttled items after their Retry-After', async () => {
    let round = 0;
    server.handle((req) => {
      const body = JSON.parse(req.body) as { requests: Array<{ id: string; url: string }> };
      round += 1;
      return {
        status: 200,
        json: {
          responses: body.requests.map((r) => {
            const id = decodeURIComponent(r.url.split('/')[2].split('?')[0]);
            if (id === 'missing') return { id: r.id, status: 404, body: { error: { code: 'Request_ResourceNotFound', message: 'no' } } };
            if (id === 'u3' && round === 1) return { id: r.id, status: 429, headers: { 'Retry-After': '0.01' }, body: { error: { code: 'TooManyRequests', message: 'later' } } };
            return { id: r.id, status: 200, body: user(id) };
          }),
        },
      };
    });
    const ids = [...Array.from({ length: 22 }, (_, i) => `u${i}`), 'missing'];
    const found = await tenant().getUsers(ids);
    expect(found.size).toBe(22);
    expect(found.has('missing')).toBe(false);
    const batches = server.requests.map((r) => (JSON.parse(r.body) as { requests: unknown[] }).requests.length);
    expect(batches).toEqual([20, 1, 3]); // the throttled item went again on its own
    expect(server.requests.every((r) => r.url === '/v1.0/$batch')).toBe(true);
  });
});

describe('subscriptions', () => {
  it('creates, renews, lists and deletes (an already-deleted one counts as done)', async () => {
    server.handle((req) => {
      if (req.method === 'POST') return { status: 201, json: { id: 'sub-1', ...JSON.parse(req.body) } };
      if (req.method === 'PATCH') return { status: 200, json: { id: 'sub-1', resource: 'users', changeType: 'updated,deleted', notificationUrl: 'https://x/n', ...JSON.parse(req.body) } };
      if (req.method === 'GET') return { status: 200, json: { value: [{ id: 'sub-1', resource: 'users', expirationDateTime: '2026-06-01T00:00:00Z' }] } };
      return graphErrorReply(404, 'ResourceNotFound', 'gone');
    });
    const t = tenant();
    const created = await t.createSubscription({ resource: 'users', changeType: 'updated,deleted', notificationUrl: 'https://x/n', expirationDateTime: '2026-05-30T00:00:00Z', clientState: 'secret-state' });
    expect(created).toMatchObject({ id: 'sub-1', resource: 'users', clientState: 'secret-state' });
    expect((await t.renewSubscription('sub-1', '2026-06-01T00:00:00Z')).expirationDateTime).toBe('2026-06-01T00:00:00Z');
    expect(await t.listSubscriptions()).toHaveLength(1);
    await t.deleteSubscription('sub-1');
  });
});

describe('credentials', () => {
  it('resolves env: references and never puts a secret in an error', async () => {
    const secrets = createSecretSource({ env: { SITESYNC_SECRET_CONTOSO: 's3cr3t-value', AzureWebJobsStorage: 'host-secret' } });
    expect(await secrets.resolve('env:SITESYNC_SECRET_CONTOSO')).toBe('s3cr3t-value');
    const missing = await secrets.resolve('env:SITESYNC_SECRET_NOT_SET').catch((e: Error) => e);
    expect(String(missing)).toContain('SITESYNC_SECRET_NOT_SET');
    // Only settings set aside for customer secrets: never the host's own.
    const hostSetting = await secrets.resolve('env:AzureWebJobsStorage').catch((e: Error) => e);
    expect(String(hostSetting)).toContain('SITESYNC_SECRET_');
    expect(String(hostSetting)).not.toContain('host-secret');
    expect(() => parseCredentialReference('s3cr3t-value')).toThrow(/kv:<secret-name>/);
    expect(String((() => { try { parseCredentialReference('s3cr3t-value'); } catch (e) { return e; } })())).not.toContain('s3cr3t');
    const noVault = await createSecretSource({}).resolve('kv:contoso').catch((e: Error) => e);
    expect(String(noVault)).toContain('SITESYNC_KEY_VAULT_URL');
  });

  it('reports a transport failure on a read as transient after retries', async () => {
    server.handle(() => ({ hang: true, status: 0 }));
    const error = await tenant({ maxRetries: 1 }).getUser('u1').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(GraphTransientError);
    expect(error).not.toBeInstanceOf(GraphNotFoundError);
    expect(server.requests).toHaveLength(2);
  });
});
