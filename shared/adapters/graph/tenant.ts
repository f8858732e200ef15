/**
 * MicrosoftTenant over Microsoft Graph (`@microsoft/microsoft-graph-client` v3) for one customer tenant.
 * Every request goes through the tenant's pacer; reads stream page by page; writes that may have taken
 * effect are checked before they are repeated.
 */
import type { TokenCredential } from '@azure/identity';
import { Client, ResponseType } from '@microsoft/microsoft-graph-client';
import {
  GraphInvalidRequestError,
  GraphNotFoundError,
  GraphThrottledError,
  GraphTransientError,
  MicrosoftError,
  OperationFailedError,
  OperationTimedOutError,
  POLICY_NOT_FOUND,
  type AssignNumberRequest,
  type CreateSubscriptionRequest,
  type GraphSubscription,
  type LicenseChange,
  type MicrosoftGroup,
  type MicrosoftLicenseSku,
  type MicrosoftTenant,
  type MicrosoftUser,
  type NumberAssignment,
  type NumberType,
  type TeamsUserConfiguration,
  type TeamsConfigurationsPage,
  type UsersDeltaPageAt,
  type UsersPage,
  type UnassignNumberRequest,
  type UsersDeltaPage,
  type NumberOperation,
  type NumberOperationOutcome,
} from '../../ports/microsoft';
import { batchPath, numberStatePath, outcomeOfNumber, outcomeOfOperation } from './numberOperations';
import { readErrorBody, toMicrosoftError, type FailureContext } from './errors';
import {
  GROUP_SELECT,
  SKU_SELECT,
  USER_SELECT,
  mergeDeltaItems,
  toGroup,
  toNumberAssignment,
  toSku,
  toSubscription,
  toTeamsUserConfiguration,
  toUser,
  unwrapEntity,
  withPlus,
} from './mapping';
import { NO_COST, addCosts, costOf, parseRetryAfter, systemClock, type Clock, type Pacer, type RequestCost, type RetryPolicy } from './pacer';
import { CallOptions, PacedGraphMiddleware } from './pipeline';
import { CoalescedReads } from './coalescedReads';
import { bodyText, type Transport } from './transport';

type Json = Record<string, unknown>;

export interface GraphTenantOptions {
  tenantId: string;
  /** e.g. https://graph.microsoft.com (no version). */
  graphBaseUrl: string;
  credential: TokenCredential;
  pacer: Pacer;
  transport: Transport;
  retry: RetryPolicy;
  clock?: Clock;
  random?: () => number;
  /** Page size for plain lists; Graph's maximum for users is 999. */
  pageSize?: number;
  /** Number assignments allow up to 1,000 a page. */
  numberPageSize?: number;
  /** How often an async Teams operation is polled, and how long it may run. */
  operationPollMs?: number;
  operationDeadlineMs?: number;
  /**
   * assignLicense can refuse a usage location set a moment ago (replication lag): retry that refusal this
   * many times, this far apart.
   */
  usageLocationRetry?: { attempts: number; delayMs: number };
  /** Version serving the Teams policy assignment endpoints: v1.0 (generally available); beta on request. */
  teamsPolicyVersion?: 'v1.0' | 'beta';
}

interface RequestSpec {
  method: 'GET' | 'POST' | 'PATCH' | 'DELETE';
  /** A path under the version, or an absolute link Graph gave us. */
  url: string;
  operation: string;
  body?: unknown;
  headers?: Record<string, string>;
  version?: string;
  idempotent?: boolean;
  cost?: RequestCost;
  deltaLink?: boolean;
}

const PAGE_HEADERS = { Prefer: 'include-unknown-enum-members' };
const WRITE_ATTEMPTS = 3;
/** Values one `$filter=… in (…)` may list (Microsoft Graph known issues: 15 without advanced queries). */
const USERS_PER_LISTING = 15;
const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export class GraphMicrosoftTenant implements MicrosoftTenant {
  readonly tenantId: string;
  private readonly client: Client;
  private readonly clock: Clock;
  private readonly policyIds = new Map<string, Promise<string>>();
  private readonly userReads = new CoalescedReads<MicrosoftUser>((ids) => this.listUsersById(ids), USERS_PER_LISTING);
  private readonly o: Required<Pick<GraphTenantOptions, 'pageSize' | 'numberPageSize' | 'operationPollMs' | 'operationDeadlineMs' | 'usageLocationRetry' | 'teamsPolicyVersion'>>;

  private readonly options: GraphTenantOptions;

  constructor(options: GraphTenantOptions) {
    this.tenantId = options.tenantId;
    // The base is given without a version; one given with it (…/v1.0) is accepted too.
    this.options = { ...options, graphBaseUrl: options.graphBaseUrl.replace(/\/+$/, '').replace(/\/(v1\.0|beta)$/, '') };
    options = this.options;
    this.clock = options.clock ?? systemClock;
    this.o = {
      pageSize: options.pageSize ?? 999,
      numberPageSize: options.numberPageSize ?? 1000,
      operationPollMs: options.operationPollMs ?? 2_000,
      operationDeadlineMs: options.operationDeadlineMs ?? 120_000,
      usageLocationRetry: options.usageLocationRetry ?? { attempts: 2, delayMs: 5_000 },
      teamsPolicyVersion: options.teamsPolicyVersion ?? 'v1.0',
    };
    this.client = Client.initWithMiddleware({
      middleware: new PacedGraphMiddleware({
        pacer: options.pacer,
        transport: options.transport,
        credential: options.credential,
        scopes: [GRAPH_SCOPE],
        retry: options.retry,
        clock: this.clock,
        random: options.random,
      }),
      baseUrl: `${options.graphBaseUrl.replace(/\/+$/, '')}/`,
      defaultVersion: 'v1.0',
    });
  }

  get pacer(): Pacer {
    return this.options.pacer;
  }

  // ── Reads ────────────────────────────────────────────────────────────────────────────────────────

  listUsers(): AsyncIterable<MicrosoftUser[]> {
    return this.pages(`/users?$select=${USER_SELECT.join(',')}&$top=${this.o.pageSize}`, 'list users', toUser);
  }

  async forEachUsersPage(onPage: (users: MicrosoftUser[]) => Promise<void> | void): Promise<number> {
    let count = 0;
    for await (const page of this.listUsers()) {
      count += page.length;
      await onPage(page);
    }
    return count;
  }

  async *usersDelta(deltaLink: string | undefined): AsyncIterable<UsersDeltaPage> {
    const first = deltaLink ?? `/users/delta?$select=${USER_SELECT.join(',')}`;
    // Any 400/410 past the very first request of a fresh round means the sync state is gone.
    let isFirst = deltaLink === undefined;
    const fetchPage = (url: string) => {
      const spec: RequestSpec = { method: 'GET', url, operation: 'users delta', headers: PAGE_HEADERS, deltaLink: !isFirst };
      isFirst = false;
      return this.request(spec) as Promise<Json>;
    };
    for await (const page of prefetched(first, fetchPage)) {
      const changes = mergeDeltaItems(asArray(page.value));
      if (typeof page['@odata.nextLink'] === 'string') {
        yield { changes };
        continue;
      }
      const newDeltaLink = page['@odata.deltaLink'];
      if (typeof newDeltaLink !== 'string') throw new GraphTransientError('users delta: a page ended the round without a delta link');
      yield { changes, deltaLink: newDeltaLink };
    }
  }

  // ── Page at a time: a Durable activity reads one page and hands its link to the next ─────────────

  async usersPage(link: string | undefined, filter?: string): Promise<UsersPage> {
    const url = link ?? `/users?$select=${USER_SELECT.join(',')}&$top=${this.o.pageSize}${filter ? `&$filter=${encodeURIComponent(filter)}` : ''}`;
    const page = (await this.request({ method: 'GET', url, operation: 'list users', headers: PAGE_HEADERS })) as Json;
    const next = page['@odata.nextLink'];
    return { users: asArray(page.value).map(toUser), nextLink: typeof next === 'string' ? next : undefined };
  }

  async usersDeltaPage(link: string | undefined): Promise<UsersDeltaPageAt> {
    const url = link ?? `/users/delta?$select=${USER_SELECT.join(',')}`;
    // A stored link that fails with 400/410 means the sync state is gone (DeltaTokenExpiredError).
    const page = (await this.request({ method: 'GET', url, operation: 'users delta', headers: PAGE_HEADERS, deltaLink: link !== undefined })) as Json;
    const next = page['@odata.nextLink'];
    const deltaLink = page['@odata.deltaLink'];
    if (typeof next !== 'string' && typeof deltaLink !== 'string') throw new GraphTransientError('users delta: a page ended the round without a delta link');
    return {
      changes: mergeDeltaItems(asArray(page.value)),
      nextLink: typeof next === 'string' ? next : undefined,
      deltaLink: typeof deltaLink === 'string' ? deltaLink : undefined,
    };
  }

  async teamsConfigurationsPage(link: string | undefined): Promise<TeamsConfigurationsPage> {
    const url = link ?? TEAMS_USER_CONFIGURATIONS;
    const page = (await this.request({ method: 'GET', url, operation: 'list Teams user configurations', headers: PAGE_HEADERS })) as Json;
    const next = page['@odata.nextLink'];
    return { configurations: asArray(page.value).map(toTeamsUserConfiguration), nextLink: typeof next === 'string' ? next : undefined };
  }

  async latestUsersDeltaLink(): Promise<string> {
    let link: string | undefined;
    for await (const page of this.usersDeltaFrom(`/users/delta?$select=${USER_SELECT.join(',')}&$deltaToken=latest`)) link = page.deltaLink ?? link;
    if (!link) throw new GraphTransientError('users delta: no delta link for $deltaToken=latest');
    return link;
  }

  private async *usersDeltaFrom(firstUrl: string): AsyncGenerator<UsersDeltaPage> {
    let link = firstUrl;
    for (;;) {
      const page = (await this.request({ method: 'GET', url: link, operation: 'users delta', headers: PAGE_HEADERS })) as Json;
      const next = page['@odata.nextLink'];
      if (typeof next === 'string') {
        yield { changes: mergeDeltaItems(asArray(page.value)) };
        link = next;
        continue;
      }
      const deltaLink = page['@odata.deltaLink'];
      yield { changes: mergeDeltaItems(asArray(page.value)), deltaLink: typeof deltaLink === 'string' ? deltaLink : undefined };
      return;
    }
  }

  /**
   * One user by id. Reads asked for while another is on its way leave together as one listing by id: a
   * burst of change notifications costs a request per 15 users, not one each.
   */
  async getUser(id: string): Promise<MicrosoftUser | null> {
    if (GUID.test(id)) return (await this.userReads.get(id.toLowerCase())) ?? null;
    try {
      const body = await this.request({ method: 'GET', url: `/users/${encodeURIComponent(id)}?$select=${USER_SELECT.join(',')}`, operation: 'get user' });
      return toUser(unwrapEntity(body));
    } catch (error) {
      if (error instanceof GraphNotFoundError) return null;
      throw error;
    }
  }

  async getUsers(ids: string[]): Promise<Map<string, MicrosoftUser>> {
    const found = new Map<string, MicrosoftUser>();
    const unique = [...new Set(ids)];
    for (let i = 0; i < unique.length; i += 20) {
      const chunk = unique.slice(i, i + 20);
      const responses = await this.batch(
        chunk.map((id) => ({ method: 'GET' as const, url: `/users/${encodeURIComponent(id)}?$select=${USER_SELECT.join(',')}` })),
        'get users',
      );
      responses.forEach((response, index) => {
        if (response.status === 404) return;
        if (response.status >= 200 && response.status < 300) {
          const user = toUser(unwrapEntity(response.body));
          found.set(user.id, user);
          return;
        }
        const detail = readErrorBody(response.body);
        throw toMicrosoftError({ status: response.status, ...detail, headers: new Headers(response.headers) }, { operation: `get user ${chunk[index]}` });
      });
    }
    return found;
  }

  /**
   * Users by id (lower-case GUIDs) as one listing (`$filter=id in (…)`, at most 15, the most an `in` takes
   * without advanced queries): one request, where a `$batch` counts one per user against the quotas. A user
   * Graph does not return (deleted, soft-deleted) is absent from the map.
   */
  private async listUsersById(ids: string[]): Promise<Map<string, MicrosoftUser>> {
    const filter = encodeURIComponent(`id in (${ids.map((id) => `'${id}'`).join(',')})`);
    const body = (await this.request({ method: 'GET', url: `/users?$filter=${filter}&$select=${USER_SELECT.join(',')}`, operation: 'get users' })) as Json;
    const found = new Map<string, MicrosoftUser>();
    for (const item of asArray(body.value)) {
      const user = toUser(item as Json);
      found.set(user.id.toLowerCase(), user);
    }
    return found;
  }

  async listSubscribedSkus(): Promise<MicrosoftLicenseSku[]> {
    const skus: MicrosoftLicenseSku[] = [];
    for await (const page of this.pages(`/subscribedSkus?$select=${SKU_SELECT.join(',')}`, 'list subscribed skus', toSku)) skus.push(...page);
    return skus;
  }

  listGroups(): AsyncIterable<MicrosoftGroup[]> {
    return this.pages(`/groups?$select=${GROUP_SELECT.join(',')}&$top=${this.o.pageSize}`, 'list groups', toGroup);
  }

  listTeamsUserConfigurations(): AsyncIterable<TeamsUserConfiguration[]> {
    return this.pages(TEAMS_USER_CONFIGURATIONS, 'list Teams user configurations', toTeamsUserConfiguration);
  }

  async listResourceAccounts(): Promise<TeamsUserConfiguration[]> {
    const out: TeamsUserConfiguration[] = [];
    const url = `/admin/teams/userConfigurations?$filter=${encodeURIComponent("accountType eq 'resourceAccount'")}&$top=999`;
    for await (const page of this.pages(url, 'list resource accounts', toTeamsUserConfiguration)) out.push(...page);
    return out;
  }

  async getTeamsUserConfiguration(userId: string): Promise<TeamsUserConfiguration | null> {
    try {
      const body = await this.request({
        method: 'GET',
        url: `/admin/teams/userConfigurations/${encodeURIComponent(userId)}`,
        operation: 'get Teams user configuration',
        headers: PAGE_HEADERS,
      });
      return toTeamsUserConfiguration(unwrapEntity(body));
    } catch (error) {
      if (error instanceof GraphNotFoundError) return null;
      throw error;
    }
  }

  listNumberAssignments(filter: { numberType?: NumberType; assignmentStatus?: string } = {}): AsyncIterable<NumberAssignment[]> {
    const clauses = [
      ...(filter.numberType ? [`numberType eq '${odataString(filter.numberType)}'`] : []),
      ...(filter.assignmentStatus ? [`assignmentStatus eq '${odataString(filter.assignmentStatus)}'`] : []),
    ];
    const query = [`$top=${this.o.numberPageSize}`, ...(clauses.length ? [`$filter=${encodeURIComponent(clauses.join(' and '))}`] : [])];
    return this.pages(`${NUMBERS}?${query.join('&')}`, 'list number assignments', toNumberAssignment);
  }

  async getNumberAssignment(number: string): Promise<NumberAssignment | null> {
    const filter = encodeURIComponent(`telephoneNumber eq '${odataString(withPlus(number))}'`);
    const body = (await this.request({ method: 'GET', url: `${NUMBERS}?$filter=${filter}`, operation: 'get number assignment' })) as Json;
    const first = asArray(body.value)[0];
    return first ? toNumberAssignment(first) : null;
  }

  // ── Writes ───────────────────────────────────────────────────────────────────────────────────────

  async setUsageLocation(userId: string, usageLocation: string): Promise<void> {
    await this.request({ method: 'PATCH', url: `/users/${encodeURIComponent(userId)}`, body: { usageLocation }, operation: 'set usage location' });
  }

  async assignLicenses(userId: string, change: LicenseChange): Promise<void> {
    const body = {
      addLicenses: change.add.map((l) => ({ skuId: l.skuId, disabledPlans: l.disabledPlans ?? [] })),
      removeLicenses: change.remove, // must be present, even empty
    };
    const applied = async (): Promise<boolean> => {
      const user = await this.getUser(userId);
      if (!user) return false;
      const held = new Map(user.assignedLicenses.map((l) => [l.skuId, new Set(l.disabledPlans)]));
      const addsHeld = body.addLicenses.every((l) => {
        const disabled = held.get(l.skuId);
        return disabled !== undefined && disabled.size === l.disabledPlans.length && l.disabledPlans.every((p) => disabled.has(p));
      });
      return addsHeld && body.removeLicenses.every((skuId) => !held.has(skuId));
    };
    for (let attempt = 0; ; attempt++) {
      try {
        await this.writeOnce(
          { method: 'POST', url: `/users/${encodeURIComponent(userId)}/assignLicense`, body, operation: 'assign licenses' },
          applied,
        );
        return;
      } catch (error) {
        // A repeat of a change already in effect (a redelivered message whose first attempt got this far)
        // is refused by Microsoft, e.g. removing a license the user no longer has: it is done.
        if (error instanceof GraphInvalidRequestError && error.reason !== 'invalidUsageLocation' && error.reason !== 'noAvailableLicenses' && (await applied())) return;
        const lagging = error instanceof GraphInvalidRequestError && error.reason === 'invalidUsageLocation';
        if (!lagging || attempt >= this.o.usageLocationRetry.attempts) throw error;
        await this.clock.sleep(this.o.usageLocationRetry.delayMs);
      }
    }
  }

  async addGroupMember(groupId: string, userId: string): Promise<void> {
    const base = this.options.graphBaseUrl.replace(/\/+$/, '');
    try {
      await this.request({
        method: 'POST',
        url: `/groups/${encodeURIComponent(groupId)}/members/$ref`,
        body: { '@odata.id': `${base}/v1.0/directoryObjects/${userId}` },
        operation: 'add group member',
        // Adding a member twice is refused as "already exist", which we count as done: safe to repeat.
        idempotent: true,
      });
    } catch (error) {
      if (error instanceof GraphInvalidRequestError && error.reason === 'alreadyAssigned') return;
      throw error;
    }
  }

  async removeGroupMember(groupId: string, userId: string): Promise<void> {
    try {
      await this.request({
        method: 'DELETE',
        url: `/groups/${encodeURIComponent(groupId)}/members/${encodeURIComponent(userId)}/$ref`,
        operation: 'remove group member',
      });
    } catch (error) {
      if (error instanceof GraphNotFoundError) return;
      throw error;
    }
  }

  async assignNumber(request: AssignNumberRequest): Promise<void> {
    const body: Json = { telephoneNumber: request.number, assignmentTargetId: request.userId, numberType: request.numberType };
    if (request.assignmentCategory) body.assignmentCategory = request.assignmentCategory;
    if (request.locationId) body.locationId = request.locationId;
    await this.numberOperation(`${NUMBERS}/assignNumber`, body, 'assign number', request.number, (state) =>
      state?.assignmentTargetId === request.userId ? (state.activationState === 'assignmentPending' ? 'pending' : 'done') : 'notApplied',
    );
  }

  async unassignNumber(request: UnassignNumberRequest): Promise<void> {
    const body = { telephoneNumber: request.number, numberType: request.numberType };
    await this.numberOperation(`${NUMBERS}/unassignNumber`, body, 'unassign number', request.number, (state) => {
      if (!state || state.assignmentStatus === 'unassigned') return 'done';
      if (request.userId !== undefined && state.assignmentTargetId !== request.userId) return 'done';
      return 'notApplied';
    });
  }

  async startAssignNumber(request: AssignNumberRequest): Promise<NumberOperation> {
    const body: Json = { telephoneNumber: request.number, assignmentTargetId: request.userId, numberType: request.numberType };
    if (request.assignmentCategory) body.assignmentCategory = request.assignmentCategory;
    if (request.locationId) body.locationId = request.locationId;
    const started: NumberOperation = { kind: 'assign', number: request.number, userId: request.userId };
    let response: Response;
    try {
      response = await this.requestRaw({ method: 'POST', url: `${NUMBERS}/assignNumber`, body, operation: 'assign number', idempotent: false });
    } catch (error) {
      // The reply was lost: whether the write took effect is read from the number once Teams has had the
      // time to finish it, not guessed now (a queued operation does not show yet).
      if (error instanceof GraphTransientError && error.mayHaveApplied) return started;
      throw error;
    }
    const location = response.headers.get('location');
    await response.arrayBuffer().catch(() => undefined);
    return response.status === 202 && location ? { ...started, location } : started;
  }

  async numberOperationOutcomes(operations: readonly NumberOperation[]): Promise<NumberOperationOutcome[]> {
    const outcomes = new Array<NumberOperationOutcome | undefined>(operations.length);
    // First each operation where Microsoft reports it; one that is gone (404) is read from its number.
    let byNumber: number[] = [];
    const withLocation = operations.map((op, index) => index).filter((index) => operations[index].location);
    for (let i = 0; i < withLocation.length; i += 20) {
      const chunk = withLocation.slice(i, i + 20);
      const replies = await this.batch(chunk.map((index) => ({ method: 'GET' as const, url: batchPath(operations[index].location!) })), 'check number operations');
      replies.forEach((reply, k) => {
        const index = chunk[k];
        if (reply.status === 404) byNumber.push(index);
        else if (reply.status >= 200 && reply.status < 300) outcomes[index] = outcomeOfOperation(reply.body);
        else throw toMicrosoftError({ status: reply.status, ...readErrorBody(reply.body), headers: new Headers(reply.headers) }, { operation: 'check number operation' });
      });
    }
    byNumber = [...byNumber, ...operations.map((op, index) => index).filter((index) => !operations[index].location)];
    for (let i = 0; i < byNumber.length; i += 20) {
      const chunk = byNumber.slice(i, i + 20);
      const replies = await this.batch(chunk.map((index) => ({ method: 'GET' as const, url: numberStatePath(operations[index].number) })), 'check numbers');
      replies.forEach((reply, k) => {
        const index = chunk[k];
        if (reply.status < 200 || reply.status >= 300) {
          throw toMicrosoftError({ status: reply.status, ...readErrorBody(reply.body), headers: new Headers(reply.headers) }, { operation: 'check number' });
        }
        const first = asArray((reply.body as Json | null)?.value)[0];
        outcomes[index] = outcomeOfNumber(operations[index], first ? toNumberAssignment(first) : null);
      });
    }
    return outcomes.map((o) => o ?? { status: 'pending' });
  }

  async assignTeamsPolicy(userId: string, policyType: string, policyName: string): Promise<void> {
    await this.assignTeamsPolicies(userId, [{ policyType, policyName }]);
  }

  async assignTeamsPolicies(userId: string, assignments: ReadonlyArray<{ policyType: string; policyName: string }>): Promise<void> {
    if (assignments.length === 0) return;
    const value = [];
    for (const a of assignments) {
      value.push({ '@odata.type': '#microsoft.graph.teamsAdministration.teamsPolicyUserAssignment', userId, policyType: a.policyType, policyId: await this.policyId(a.policyType, a.policyName) });
    }
    await this.request({
      method: 'POST',
      url: '/admin/teams/policy/userAssignments/assign',
      version: this.o.teamsPolicyVersion,
      body: { value },
      operation: `assign ${assignments.map((a) => a.policyType).join(', ')}`,
      idempotent: true, // assigning the policy a user already holds changes nothing
    });
  }

  async unassignTeamsPolicies(userId: string, policyTypes: readonly string[]): Promise<void> {
    if (policyTypes.length === 0) return;
    await this.request({
      method: 'POST',
      url: '/admin/teams/policy/userAssignments/unassign',
      version: this.o.teamsPolicyVersion,
      body: { value: policyTypes.map((policyType) => ({ '@odata.type': '#microsoft.graph.teamsAdministration.teamsPolicyUserAssignment', userId, policyType })) },
      operation: `unassign ${policyTypes.join(', ')}`,
      idempotent: true, // taking away what is already gone changes nothing
    });
  }

  // ── Subscriptions ────────────────────────────────────────────────────────────────────────────────

  async createSubscription(request: CreateSubscriptionRequest): Promise<GraphSubscription> {
    const body: Json = {
      changeType: request.changeType,
      notificationUrl: request.notificationUrl,
      resource: request.resource,
      expirationDateTime: request.expirationDateTime,
      ...(request.clientState !== undefined ? { clientState: request.clientState } : {}),
      ...(request.lifecycleNotificationUrl !== undefined ? { lifecycleNotificationUrl: request.lifecycleNotificationUrl } : {}),
    };
    let created: GraphSubscription | undefined;
    await this.writeOnce({ method: 'POST', url: '/subscriptions', body, operation: 'create subscription' }, async () => {
      const existing = (await this.listSubscriptions()).find(
        (s) => s.resource === request.resource && s.notificationUrl === request.notificationUrl && s.clientState === (request.clientState ?? null),
      );
      created = existing;
      return existing !== undefined;
    }, (response) => (created = toSubscription(response as Json)));
    if (!created) throw new GraphTransientError('create subscription: no subscription in the reply');
    return created;
  }

  async renewSubscription(id: string, expirationDateTime: string): Promise<GraphSubscription> {
    const body = await this.request({ method: 'PATCH', url: `/subscriptions/${encodeURIComponent(id)}`, body: { expirationDateTime }, operation: 'renew subscription' });
    return toSubscription((body ?? { id, expirationDateTime }) as Json);
  }

  async deleteSubscription(id: string): Promise<void> {
    try {
      await this.request({ method: 'DELETE', url: `/subscriptions/${encodeURIComponent(id)}`, operation: 'delete subscription' });
    } catch (error) {
      if (error instanceof GraphNotFoundError) return;
      throw error;
    }
  }

  async listSubscriptions(): Promise<GraphSubscription[]> {
    const subscriptions: GraphSubscription[] = [];
    for await (const page of this.pages('/subscriptions', 'list subscriptions', toSubscription)) subscriptions.push(...page);
    return subscriptions;
  }

  // ── Plumbing ─────────────────────────────────────────────────────────────────────────────────────

  /** Follows every @odata.nextLink whole, one page at a time, the headers set again on each page. */
  private async *pages<T>(firstUrl: string, operation: string, map: (raw: Json) => T): AsyncGenerator<T[]> {
    const fetchPage = (url: string) => this.request({ method: 'GET', url, operation, headers: PAGE_HEADERS }) as Promise<Json>;
    for await (const page of prefetched(firstUrl, fetchPage)) {
      const items = asArray(page.value);
      if (items.length > 0) yield items.map(map);
    }
  }

  /** One Graph call through the pacer, its failure mapped to the port's errors. */
  private async request(spec: RequestSpec, raw = false): Promise<unknown> {
    const callOptions = new CallOptions({ idempotent: spec.idempotent, cost: spec.cost, operation: spec.operation });
    let builder = this.client.api(spec.url).middlewareOptions([callOptions]);
    if (spec.version && !/^https:\/\//.test(spec.url)) builder = builder.version(spec.version);
    if (spec.headers) builder = builder.headers(spec.headers);
    if (raw) builder = builder.responseType(ResponseType.RAW);
    const context: FailureContext = { operation: spec.operation, deltaLink: spec.deltaLink, write: spec.method !== 'GET' };
    try {
      switch (spec.method) {
        case 'GET':
          return raw ? await builder.get() : await this.readJson(await (builder.responseType(ResponseType.RAW).get() as Promise<Response>), context);
        case 'POST':
          return await builder.post(spec.body ?? {});
        case 'PATCH':
          return await builder.patch(spec.body ?? {});
        case 'DELETE':
          return await builder.delete();
      }
    } catch (error) {
      if (callOptions.failure) throw callOptions.failure;
      if (error instanceof MicrosoftError) throw error;
      const e = error as { statusCode?: unknown; code?: unknown; message?: unknown; requestId?: unknown; headers?: unknown };
      if (typeof e.statusCode === 'number' && e.statusCode > 0) {
        throw toMicrosoftError(
          {
            status: e.statusCode,
            code: typeof e.code === 'string' ? e.code : undefined,
            message: typeof e.message === 'string' ? e.message : undefined,
            requestId: typeof e.requestId === 'string' ? e.requestId : undefined,
            headers: e.headers instanceof Headers ? e.headers : undefined,
          },
          context,
        );
      }
      throw new GraphTransientError(`${spec.operation}: ${error instanceof Error ? error.message : String(error)}`, undefined, undefined, undefined, context.write);
    }
  }

  /** A read's answer: its JSON parsed from the transport's bytes, or its failure mapped as the client's would be. */
  private async readJson(response: Response, context: FailureContext): Promise<unknown> {
    const text = await bodyText(response);
    let body: unknown;
    try {
      body = text === '' ? undefined : JSON.parse(text);
    } catch (error) {
      if (response.ok) throw new GraphTransientError(`${context.operation}: the answer is not JSON (${error instanceof Error ? error.message : String(error)})`);
    }
    if (response.ok) return body;
    throw refusal(response, body, context);
  }

  /** A raw call: the caller reads status and headers (202 + Location); failures mapped like any other. */
  private async requestRaw(spec: RequestSpec): Promise<Response> {
    const response = (await this.request(spec, true)) as Response;
    if (response.ok) return response;
    let body: unknown;
    try {
      body = JSON.parse(await bodyText(response));
    } catch {
      body = undefined;
    }
    throw refusal(response, body, { operation: spec.operation, write: spec.method !== 'GET' });
  }

  /**
   * A non-idempotent write sent at most once per known outcome: when the reply is lost (timeout, 5xx after
   * sending), `applied` looks at the state and only a write that did not take effect is sent again.
   */
  private async writeOnce(spec: RequestSpec, applied: () => Promise<boolean>, onReply?: (body: unknown) => void): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        const body = await this.request({ ...spec, idempotent: false });
        onReply?.(body);
        return;
      } catch (error) {
        if (!(error instanceof GraphTransientError) || attempt >= WRITE_ATTEMPTS) throw error;
        if (error.mayHaveApplied && (await applied())) return;
      }
    }
  }

  /**
   * assignNumber / unassignNumber: 202 + Location, polled to the end. When the reply to the POST is lost the
   * number's own state decides whether to send it again, wait for it, or stop.
   */
  private async numberOperation(
    url: string,
    body: Json,
    operation: string,
    number: string,
    judge: (state: NumberAssignment | null) => 'done' | 'pending' | 'notApplied',
  ): Promise<void> {
    const deadline = this.clock.now() + this.o.operationDeadlineMs;
    for (let attempt = 1; ; attempt++) {
      let response: Response;
      try {
        response = await this.requestRaw({ method: 'POST', url, body, operation, idempotent: false });
      } catch (error) {
        if (!(error instanceof GraphTransientError) || !error.mayHaveApplied || attempt >= WRITE_ATTEMPTS) throw error;
        const verdict = await this.awaitNumberState(number, judge, deadline, operation);
        if (verdict === 'done') return;
        continue;
      }
      if (response.status !== 202) return; // applied synchronously
      const location = response.headers.get('location');
      await response.arrayBuffer().catch(() => undefined);
      if (!location) {
        if ((await this.awaitNumberState(number, judge, deadline, operation)) === 'done') return;
        throw new GraphTransientError(`${operation}: accepted without an operation to follow`);
      }
      await this.pollOperation(location, deadline, operation);
      return;
    }
  }

  private async awaitNumberState(
    number: string,
    judge: (state: NumberAssignment | null) => 'done' | 'pending' | 'notApplied',
    deadline: number,
    operation: string,
  ): Promise<'done' | 'notApplied'> {
    let wait = Math.min(250, this.o.operationPollMs);
    for (;;) {
      const verdict = judge(await this.getNumberAssignment(number));
      if (verdict !== 'pending') return verdict;
      if (this.clock.now() >= deadline) throw new OperationTimedOutError(`${operation}: ${number} still pending at the deadline`, undefined);
      await this.clock.sleep(wait);
      wait = Math.min(wait * 2, this.o.operationPollMs);
    }
  }

  private async pollOperation(location: string, deadline: number, operation: string): Promise<void> {
    const url = /^https?:\/\//.test(location) ? location : `${this.options.graphBaseUrl.replace(/\/+$/, '')}/v1.0/${location.replace(/^\/+/, '')}`;
    const operationId = /operations(?:\('([^']+)'\)|\/([^/?]+))/.exec(location)?.slice(1).find(Boolean);
    // Most operations finish within seconds: look early, then back off to the configured interval.
    let wait = Math.min(250, this.o.operationPollMs);
    for (;;) {
      const state = unwrapEntity(await this.request({ method: 'GET', url, operation: `${operation} (status)` }));
      const status = String(state.status ?? '');
      if (status === 'succeeded') return;
      if (status === 'failed') {
        const numbers = asArray(state.numbers);
        const detail = numbers.map((n) => n.statusDetail).find((d) => typeof d === 'string' && d.length > 0);
        const error = (state.error ?? {}) as Json;
        const reason = String(detail ?? error.message ?? error.code ?? 'failed without a reason');
        throw new OperationFailedError(`${operation} failed: ${reason}`, operationId, reason);
      }
      if (this.clock.now() >= deadline) throw new OperationTimedOutError(`${operation}: operation ${operationId ?? ''} still ${status || 'running'} at the deadline`, operationId);
      await this.clock.sleep(wait);
      wait = Math.min(wait * 2, this.o.operationPollMs);
    }
  }

  /**
   * A policy's id by its name, asked of Microsoft once per adapter: users provisioned at the same moment
   * share the one request on its way (a failed one is forgotten, so the next user asks again).
   */
  private policyId(policyType: string, policyName: string): Promise<string> {
    const key = `${policyType}|${policyName}`;
    let id = this.policyIds.get(key);
    if (!id) {
      id = this.resolvePolicyId(policyType, policyName);
      this.policyIds.set(key, id);
      id.catch(() => this.policyIds.delete(key));
    }
    return id;
  }

  private async resolvePolicyId(policyType: string, policyName: string): Promise<string> {
    const name = policyName.replace(/^Tag:/i, '');
    let body: Json;
    try {
      body = (await this.request({
        method: 'GET',
        url: `/admin/teams/policy/getPolicyId(type='${encodeURIComponent(odataString(policyType))}',name='${encodeURIComponent(odataString(name))}')`,
        version: this.o.teamsPolicyVersion,
        operation: `resolve ${policyType} ${name}`,
      })) as Json;
    } catch (error) {
      if (error instanceof GraphNotFoundError) throw new GraphNotFoundError(`resolve ${policyType} ${name}: Graph has no such policy`, 404, POLICY_NOT_FOUND, error.requestId);
      throw error;
    }
    const match = asArray(body.value).find((v) => typeof v.policyId === 'string');
    if (!match) throw new GraphNotFoundError(`resolve ${policyType} ${name}: Graph has no such policy`, 404, POLICY_NOT_FOUND);
    return match.policyId as string;
  }

  /**
   * Up to 20 requests in one $batch, each item's status honoured: throttled or unavailable items are sent
   * again in a new batch after the longest Retry-After; every other status is returned to the caller.
   */
  async batch(
    requests: Array<{ method: 'GET' | 'POST' | 'PATCH' | 'DELETE'; url: string; body?: unknown }>,
    operation: string,
  ): Promise<Array<{ status: number; headers: Record<string, string>; body: unknown }>> {
    if (requests.length > 20) throw new RangeError('a Graph $batch holds at most 20 requests');
    const results = new Array<{ status: number; headers: Record<string, string>; body: unknown } | undefined>(requests.length);
    let pending = requests.map((_, index) => index);
    for (let round = 0; pending.length > 0; round++) {
      const cost = pending.reduce((sum, index) => addCosts(sum, costOf(requests[index].method, requests[index].url)), NO_COST);
      const allReads = pending.every((index) => requests[index].method === 'GET');
      const reply = (await this.request({
        method: 'POST',
        url: '/$batch',
        body: {
          requests: pending.map((index) => ({
            id: String(index),
            method: requests[index].method,
            url: requests[index].url,
            ...(requests[index].body !== undefined ? { body: requests[index].body, headers: { 'Content-Type': 'application/json' } } : {}),
          })),
        },
        operation,
        cost,
        idempotent: allReads,
      })) as Json;
      let waitMs = 0;
      let holdMs = 0;
      const retry: number[] = [];
      for (const item of asArray(reply.responses)) {
        const index = Number(item.id);
        if (!Number.isInteger(index) || index < 0 || index >= requests.length) continue;
        const headers = lowerKeys((item.headers ?? {}) as Record<string, unknown>);
        const status = Number(item.status);
        const transient = status === 429 || status === 503 || status === 504;
        const after = transient ? parseRetryAfter(headers['retry-after'], this.clock.now()) : undefined;
        if (after !== undefined) holdMs = Math.max(holdMs, after);
        if (status === 429) this.options.pacer.noteThrottled();
        const retryable = status === 429 || status === 503 || (status === 504 && requests[index].method === 'GET');
        if (retryable && round < this.options.retry.maxRetries) {
          retry.push(index);
          waitMs = Math.max(waitMs, after ?? this.options.retry.baseDelayMs * 2 ** round);
        } else {
          results[index] = { status, headers, body: item.body };
        }
      }
      // Each item is throttled on its own, but Microsoft throttles the app + tenant: hold it whole.
      if (holdMs > 0) this.options.pacer.holdUntilTime(this.clock.now() + holdMs);
      // Items the reply left out are sent again too.
      for (const index of pending) if (results[index] === undefined && !retry.includes(index)) retry.push(index);
      if (retry.length > 0 && round >= this.options.retry.maxRetries) {
        throw new GraphThrottledError(`${operation}: batch items still throttled after ${round} retries`, 429, 'TooManyRequests', undefined, waitMs);
      }
      if (retry.length > 0) await this.clock.sleep(waitMs);
      pending = retry;
    }
    return results.map((r) => r!);
  }
}

const NUMBERS = '/admin/teams/telephoneNumberManagement/numberAssignments';
/** Asked in pages of 999 like users; the service's own default page is 100. */
const TEAMS_USER_CONFIGURATIONS = '/admin/teams/userConfigurations?$top=999';

/**
 * Follows every @odata.nextLink whole (headers set again on each page) and asks for the next page while the
 * caller works on this one: at most two pages in memory, the network and the caller overlapped.
 */
async function* prefetched(firstUrl: string, fetchPage: (url: string) => Promise<Json>): AsyncGenerator<Json> {
  let current: Promise<Json> | undefined = fetchPage(firstUrl);
  while (current) {
    const page: Json = await current;
    const next = page['@odata.nextLink'];
    current = typeof next === 'string' ? fetchPage(next) : undefined;
    // A failure of the page ahead surfaces when it is awaited, not as an unhandled rejection meanwhile.
    current?.catch(() => undefined);
    yield page;
  }
}

function asArray(value: unknown): Json[] {
  return Array.isArray(value) ? value.filter((v): v is Json => typeof v === 'object' && v !== null) : [];
}

function lowerKeys(headers: Record<string, unknown>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(headers)) out[k.toLowerCase()] = String(v);
  return out;
}

/** Single quotes double inside an OData string literal. */
function odataString(value: string): string {
  return value.replace(/'/g, "''");
}

/** App-only scope of the Graph resource; a local emulator is addressed as Graph itself. */
const GRAPH_SCOPE = 'https://graph.microsoft.com/.default';

/** Microsoft's refusal of a call, from its status, its error body (when it has one) and its headers. */
function refusal(response: Response, body: unknown, context: FailureContext): MicrosoftError {
  return toMicrosoftError({ status: response.status, ...readErrorBody(body), headers: response.headers }, context);
}
