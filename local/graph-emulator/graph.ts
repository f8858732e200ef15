/** Microsoft Graph routes (v1.0 and beta share them): users, delta, licenses, groups, Teams, subscriptions. */
import { randomUUID } from 'node:crypto';
import type { AccessTokenClaims } from './auth';
import { compileFilter, FilterError, type CompiledFilter } from './filter';
import { decodeToken, encodeToken, graphError, GUID_RE, isRecord, noContent, ok, parseJsonBody, type EmuRequest, type EmuResponse } from './http';
import { ServiceError, type TelephoneOperation, type TenantState, type UserRecord } from './state';
import type { SubscriptionHub } from './subscriptions';
import type { Counters } from './faults';
import type { IdentityResource } from './quotas';
import type { AssignedLicense, DemoUser } from '../demo/tenant';
import { TEAMS_POLICY_TYPES, teamsPolicyId } from '../demo/tenant';

export interface GraphConfig {
  usersDefaultPageSize: number;
  usersMaxPageSize: number;
  deltaPageSize: number;
  deltaTokenMaxAgeMs: number;
  expiredDeltaStatus: 400 | 410;
  operationDelayMs: number;
  /** Slots scanned per /users page when a filter cannot use an index; a page may come back short. */
  maxScanPerPage: number;
}

export interface GraphEnv {
  config: GraphConfig;
  counters: Counters;
  hub: SubscriptionHub;
  clock: () => number;
  scheduleOperation(tenant: TenantState, op: TelephoneOperation): void;
}

export interface GraphCall {
  req: EmuRequest;
  /** Path segments after the version. */
  seg: string[];
  version: string;
  tenant: TenantState;
  claims: AccessTokenClaims;
}

// ---------------------------------------------------------------------------------------------
// Permissions

const P = {
  readUsers: ['User.Read.All', 'User.ReadWrite.All', 'Directory.Read.All', 'Directory.ReadWrite.All'],
  writeUsers: ['User.ReadWrite.All', 'Directory.ReadWrite.All'],
  assignLicense: ['LicenseAssignment.ReadWrite.All', 'User.ReadWrite.All', 'Directory.ReadWrite.All'],
  readSkus: ['LicenseAssignment.Read.All', 'LicenseAssignment.ReadWrite.All', 'Organization.Read.All', 'Organization.ReadWrite.All', 'Directory.Read.All', 'Directory.ReadWrite.All'],
  readGroups: ['GroupMember.Read.All', 'GroupMember.ReadWrite.All', 'Group.Read.All', 'Group.ReadWrite.All', 'Directory.Read.All', 'Directory.ReadWrite.All'],
  writeMembers: ['GroupMember.ReadWrite.All', 'Group.ReadWrite.All', 'Directory.ReadWrite.All'],
  teamsConfig: ['TeamsUserConfiguration.Read.All'],
  readNumbers: ['TeamsTelephoneNumber.Read.All', 'TeamsTelephoneNumber.ReadWrite.All'],
  writeNumbers: ['TeamsTelephoneNumber.ReadWrite.All'],
  assignPolicy: ['TeamsPolicyUserAssign.ReadWrite.All'],
} as const;

export function requireRole(claims: AccessTokenClaims, anyOf: readonly string[]): EmuResponse | null {
  if (anyOf.some((r) => claims.roles.includes(r))) return null;
  return graphError(403, 'Authorization_RequestDenied', `Insufficient privileges to complete the operation. Requires one of the application permissions: ${anyOf.join(', ')}.`);
}

// ---------------------------------------------------------------------------------------------
// Users: properties and projection

const DEFAULT_USER_PROPS = ['businessPhones', 'displayName', 'givenName', 'jobTitle', 'mail', 'mobilePhone', 'officeLocation', 'preferredLanguage', 'surname', 'userPrincipalName', 'id'];
const USER_PROPS = [
  'id', 'userPrincipalName', 'displayName', 'givenName', 'surname', 'mail', 'mailNickname', 'jobTitle', 'department', 'officeLocation',
  'city', 'state', 'country', 'streetAddress', 'postalCode', 'usageLocation', 'businessPhones', 'mobilePhone', 'preferredLanguage',
  'accountEnabled', 'userType', 'companyName', 'employeeId', 'employeeType', 'onPremisesSyncEnabled', 'onPremisesImmutableId',
  'createdDateTime', 'assignedLicenses', 'assignedPlans', 'deletedDateTime',
];
const USER_PROP_BY_LOWER = new Map(USER_PROPS.map((p) => [p.toLowerCase(), p]));
const SINGLE_ONLY_PROPS = new Set(['aboutme', 'birthday', 'hiredate', 'interests', 'mysite', 'pastprojects', 'preferredname', 'responsibilities', 'schools', 'skills', 'mailboxsettings']);
const USER_FILTER_PROPS = new Set(USER_PROPS);

function parseSelect(raw: string | null, collection: boolean): { ok: true; props: string[] | null } | { ok: false; response: EmuResponse } {
  if (!raw) return { ok: true, props: null };
  const props: string[] = [];
  for (const name of raw.split(',').map((s) => s.trim()).filter(Boolean)) {
    const canonical = USER_PROP_BY_LOWER.get(name.toLowerCase());
    if (canonical) {
      if (!props.includes(canonical)) props.push(canonical);
      continue;
    }
    if (SINGLE_ONLY_PROPS.has(name.toLowerCase())) {
      if (collection) return { ok: false, response: graphError(501, 'NotImplemented', 'This operation target is not yet supported.') };
      continue;
    }
    return { ok: false, response: graphError(400, 'Request_BadRequest', `Could not find a property named '${name}' on type 'microsoft.graph.user'.`) };
  }
  return { ok: true, props };
}

function projectUser(tenant: TenantState, rec: UserRecord, props: string[] | null): Record<string, unknown> {
  const u = rec.u as unknown as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const p of props ?? DEFAULT_USER_PROPS) {
    if (p === 'assignedPlans') out[p] = tenant.assignedPlans(rec.u);
    else if (p === 'deletedDateTime') out[p] = rec.deletedDateTime;
    else out[p] = u[p] ?? null;
  }
  if (!('id' in out)) out.id = rec.u.id;
  return out;
}

function contextUrl(req: EmuRequest, version: string, entity: string, props: string[] | null): string {
  return `${req.origin}/${version}/$metadata#${entity}${props ? `(${props.join(',')})` : ''}`;
}

function topOf(req: EmuRequest, def: number, max: number): { ok: true; top: number } | { ok: false; response: EmuResponse } {
  const raw = req.query.get('$top');
  if (raw === null) return { ok: true, top: def };
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1 || n > max) {
    return { ok: false, response: graphError(400, 'Request_UnsupportedQuery', `Invalid page size specified: '${raw}'. Must be between 1 and ${max} inclusive.`) };
  }
  return { ok: true, top: n };
}

function compile(expr: string | null, props: Set<string> | null): { ok: true; filter: CompiledFilter | null } | { ok: false; response: EmuResponse } {
  if (!expr) return { ok: true, filter: null };
  try {
    return { ok: true, filter: compileFilter(expr, props) };
  } catch (e) {
    if (e instanceof FilterError) return { ok: false, response: graphError(400, 'Request_UnsupportedQuery', `Unsupported Query. ${e.message}`) };
    throw e;
  }
}

interface UsersPageToken { t: string; p: number; sel: string | null; f: string | null; top: number }

function listUsers(call: GraphCall, env: GraphEnv): EmuResponse {
  const { req, tenant, version } = call;
  let state: UsersPageToken;
  const skip = req.query.get('$skiptoken');
  if (skip) {
    const tok = decodeToken<UsersPageToken>(skip);
    if (!tok || tok.t !== tenant.tenantId) return graphError(400, 'Request_BadRequest', 'Invalid paging token.');
    state = tok;
  } else {
    const top = topOf(req, env.config.usersDefaultPageSize, env.config.usersMaxPageSize);
    if (!top.ok) return top.response;
    state = { t: tenant.tenantId, p: 0, sel: req.query.get('$select'), f: req.query.get('$filter'), top: top.top };
  }
  const sel = parseSelect(state.sel, true);
  if (!sel.ok) return sel.response;
  const filter = compile(state.f, USER_FILTER_PROPS);
  if (!filter.ok) return filter.response;
  const value: Record<string, unknown>[] = [];
  const f = filter.filter;
  let next: number | null = null;
  if (f?.lookup && (f.lookup.prop === 'id' || f.lookup.prop === 'userPrincipalName')) {
    for (const v of f.lookup.values) {
      const rec = f.lookup.prop === 'id' ? tenant.byId.get(v) : tenant.byUpn.get(v.toLowerCase());
      if (rec && !rec.deletedDateTime) value.push(projectUser(tenant, rec, sel.props));
    }
  } else {
    const slots = tenant.slots;
    let i = state.p;
    const scanEnd = f ? Math.min(slots.length, i + env.config.maxScanPerPage) : slots.length;
    for (; i < scanEnd && value.length < state.top; i++) {
      const rec = slots[i];
      if (!rec || rec.deletedDateTime) continue;
      if (f && !f.predicate(rec.u as unknown as Record<string, unknown>)) continue;
      value.push(projectUser(tenant, rec, sel.props));
    }
    if (i < slots.length) next = i;
  }
  const body: Record<string, unknown> = { '@odata.context': contextUrl(req, version, 'users', sel.props) };
  if (!skip && req.query.get('$count') === 'true' && (req.headers.consistencylevel ?? '').toLowerCase() === 'eventual') {
    body['@odata.count'] = f ? countMatching(tenant, f) : tenant.activeCount;
  }
  if (next !== null) body['@odata.nextLink'] = `${req.origin}/${version}/users?$skiptoken=${encodeToken({ ...state, p: next })}`;
  body.value = value;
  return ok(body);
}

function countMatching(tenant: TenantState, f: CompiledFilter): number {
  let n = 0;
  for (const rec of tenant.slots) if (rec && !rec.deletedDateTime && f.predicate(rec.u as unknown as Record<string, unknown>)) n++;
  return n;
}

// ---------------------------------------------------------------------------------------------
// Delta

interface DeltaToken {
  t: string;
  /** i: initial round paging, c: change round paging, d: delta link. */
  k: 'i' | 'c' | 'd';
  /** initial: slot index; change: log index. */
  p: number;
  /** The sequence the round reads changes after (for i: the sequence the next round starts from). */
  s: number;
  /** change round: read changes up to this sequence. */
  u: number;
  sel: string | null;
  ids: string[] | null;
  g: number;
  at: number;
}

function parseDeltaFilter(expr: string | null): { ok: true; ids: string[] | null } | { ok: false; response: EmuResponse } {
  if (!expr) return { ok: true, ids: null };
  const parts = expr.split(/\s+or\s+/i);
  const ids: string[] = [];
  for (const p of parts) {
    const m = /^\s*id\s+eq\s+'([^']+)'\s*$/.exec(p);
    if (!m) return { ok: false, response: graphError(400, 'Request_UnsupportedQuery', "Unsupported Query. Delta on users supports only $filter=id eq '{id}' joined by or.") };
    ids.push(m[1]);
  }
  if (ids.length > 50) return { ok: false, response: graphError(400, 'Request_UnsupportedQuery', 'Unsupported Query. At most 50 ids may be filtered.') };
  return { ok: true, ids };
}

function deltaUsers(call: GraphCall, env: GraphEnv): EmuResponse {
  const { req, tenant, version } = call;
  const now = env.clock();
  const raw = req.query.get('$deltatoken') ?? req.query.get('$deltaToken') ?? req.query.get('$skiptoken') ?? req.query.get('$skipToken');
  const link = (k: 'next' | 'delta', tok: DeltaToken): string =>
    `${req.origin}/${version}/users/delta?${k === 'next' ? '$skiptoken' : '$deltatoken'}=${encodeToken(tok)}`;
  let tok: DeltaToken;
  if (raw && raw !== 'latest') {
    const parsed = decodeToken<DeltaToken>(raw);
    if (!parsed || parsed.t !== tenant.tenantId) return graphError(400, 'Request_BadRequest', 'Invalid delta or skip token.');
    const restart = (): string => {
      const q = new URLSearchParams();
      if (parsed.sel) q.set('$select', parsed.sel);
      if (parsed.ids) q.set('$filter', parsed.ids.map((id) => `id eq '${id}'`).join(' or '));
      const qs = q.toString();
      return `${req.origin}/${version}/users/delta${qs ? `?${qs}` : ''}`;
    };
    if (parsed.g !== tenant.deltaGeneration) {
      return graphError(410, 'resyncRequired', 'The delta token is no longer valid, and the app must reset the sync state.', { location: restart() });
    }
    if (now - parsed.at > env.config.deltaTokenMaxAgeMs) {
      return graphError(env.config.expiredDeltaStatus, 'syncStateNotFound', 'The sync state generation is not found. The delta token is expired and data must be synchronized again.', env.config.expiredDeltaStatus === 410 ? { location: restart() } : undefined);
    }
    tok = parsed;
  } else {
    const f = parseDeltaFilter(req.query.get('$filter'));
    if (!f.ok) return f.response;
    for (const o of ['$top', '$orderby', '$expand']) {
      if (req.query.has(o)) return graphError(400, 'Request_UnsupportedQuery', `Unsupported Query. ${o} is not supported on delta.`);
    }
    const selRaw = req.query.get('$select');
    const check = parseSelect(selRaw, true);
    if (!check.ok) return check.response;
    tok = { t: tenant.tenantId, k: 'i', p: 0, s: tenant.seq, u: tenant.seq, sel: selRaw, ids: f.ids, g: tenant.deltaGeneration, at: now };
    if (raw === 'latest') {
      return ok({ '@odata.context': contextUrl(req, version, 'users', check.props), '@odata.deltaLink': link('delta', { ...tok, k: 'd' }), value: [] });
    }
  }
  const sel = parseSelect(tok.sel, true);
  if (!sel.ok) return sel.response;
  const minimal = (req.headers.prefer ?? '').toLowerCase().includes('return=minimal');
  const pageSize = env.config.deltaPageSize;
  const value: Record<string, unknown>[] = [];
  const idSet = tok.ids ? new Set(tok.ids) : null;
  const removed = (id: string, reason: 'changed' | 'deleted'): Record<string, unknown> => ({ id, '@removed': { reason } });

  if (tok.k === 'i') {
    const slots = tenant.slots;
    let i = tok.p;
    if (idSet) {
      for (const id of idSet) {
        const rec = tenant.byId.get(id);
        if (rec) value.push(rec.deletedDateTime ? removed(id, 'changed') : projectUser(tenant, rec, sel.props));
      }
      i = slots.length;
    } else {
      for (; i < slots.length && value.length < pageSize; i++) {
        const rec = slots[i];
        if (!rec) continue;
        value.push(rec.deletedDateTime ? removed(rec.u.id, 'changed') : projectUser(tenant, rec, sel.props));
      }
    }
    const body: Record<string, unknown> = { '@odata.context': contextUrl(req, version, 'users', sel.props) };
    if (i < slots.length) body['@odata.nextLink'] = link('next', { ...tok, p: i, at: now });
    else body['@odata.deltaLink'] = link('delta', { ...tok, k: 'd', p: 0, at: now });
    body.value = value;
    return ok(body);
  }

  // A change round: the log entries after `s` up to `u`; a user appears once, at its latest entry.
  if (tok.k === 'd') tok = { ...tok, k: 'c', p: lowerBound(tenant.logSeq, tok.s + 1), u: tenant.seq };
  const tracked = sel.props ?? DEFAULT_USER_PROPS;
  let i = tok.p;
  for (; i < tenant.logSeq.length && tenant.logSeq[i] <= tok.u && value.length < pageSize; i++) {
    const seq = tenant.logSeq[i];
    const id = tenant.logId[i];
    if (idSet && !idSet.has(id)) continue;
    const tomb = tenant.tombstones.get(id);
    if (tomb !== undefined) {
      if (tomb === seq) value.push(removed(id, 'deleted'));
      continue;
    }
    const rec = tenant.byId.get(id);
    if (!rec || rec.seq !== seq) continue;
    if (rec.deletedDateTime) {
      value.push(removed(id, 'changed'));
      continue;
    }
    const fresh = rec.createdSeq > tok.s || rec.stateSeq > tok.s;
    const changed = rec.fieldSeq ? tracked.filter((p) => (rec.fieldSeq![p] ?? 0) > tok.s) : [];
    if (!fresh && changed.length === 0) continue;
    value.push(minimal && !fresh ? projectUser(tenant, rec, changed) : projectUser(tenant, rec, sel.props));
  }
  const done = i >= tenant.logSeq.length || tenant.logSeq[i] > tok.u;
  const body: Record<string, unknown> = { '@odata.context': contextUrl(req, version, 'users', sel.props) };
  if (!done) body['@odata.nextLink'] = link('next', { ...tok, p: i, at: now });
  else body['@odata.deltaLink'] = link('delta', { ...tok, k: 'd', p: 0, s: tok.u, at: now });
  body.value = value;
  return ok(body);
}

function lowerBound(arr: number[], x: number): number {
  let lo = 0;
  let hi = arr.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (arr[mid] < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

// ---------------------------------------------------------------------------------------------
// Writes on users

function patchUser(call: GraphCall, env: GraphEnv, idOrUpn: string): EmuResponse {
  const rec = call.tenant.requireUser(idOrUpn);
  env.counters.writeFor('users.patch', rec.u.id);
  const body = parseJsonBody(call.req);
  if (!body.ok) return body.response;
  if (!isRecord(body.value)) return graphError(400, 'Request_BadRequest', 'Request body is required.');
  const ul = body.value.usageLocation;
  if (ul !== undefined && ul !== null && !(typeof ul === 'string' && /^[A-Z]{2}$/.test(ul))) {
    return graphError(400, 'Request_BadRequest', `Invalid value specified for property 'usageLocation' of resource 'User'.`);
  }
  call.tenant.updateUser(rec.u.id, body.value);
  return noContent();
}

function assignLicense(call: GraphCall, env: GraphEnv, idOrUpn: string): EmuResponse {
  const rec = call.tenant.requireUser(idOrUpn);
  env.counters.writeFor('users.assignLicense', rec.u.id);
  const body = parseJsonBody(call.req);
  if (!body.ok) return body.response;
  const v = body.value;
  if (!isRecord(v) || !Array.isArray(v.addLicenses) || !Array.isArray(v.removeLicenses)) {
    return graphError(400, 'Request_BadRequest', "Invalid request: both 'addLicenses' and 'removeLicenses' must be present.");
  }
  const add: AssignedLicense[] = [];
  for (const l of v.addLicenses) {
    if (!isRecord(l) || typeof l.skuId !== 'string' || !GUID_RE.test(l.skuId)) return graphError(400, 'Request_BadRequest', "Cannot convert a primitive value to the expected type 'Edm.Guid'. See the inner exception for more details.");
    const disabled = Array.isArray(l.disabledPlans) ? l.disabledPlans.map(String) : [];
    add.push({ skuId: l.skuId, disabledPlans: disabled });
  }
  const remove: string[] = [];
  for (const s of v.removeLicenses) {
    if (typeof s !== 'string' || !GUID_RE.test(s)) return graphError(400, 'Request_BadRequest', "Cannot convert a primitive value to the expected type 'Edm.Guid'. See the inner exception for more details.");
    remove.push(s);
  }
  const u = call.tenant.assignLicense(rec.u.id, add, remove);
  return ok({ '@odata.context': contextUrl(call.req, call.version, 'users/$entity', null), ...projectUser(call.tenant, call.tenant.byId.get(u.id)!, null) });
}

// ---------------------------------------------------------------------------------------------
// Groups

function groupView(g: { g: Record<string, unknown> }): Record<string, unknown> {
  return { ...g.g };
}

function listPaged<T>(call: GraphCall, items: T[], entity: string, def: number, max: number, view: (t: T) => Record<string, unknown>, filterProps: Set<string> | null): EmuResponse {
  const { req, version } = call;
  const skip = req.query.get('$skiptoken');
  let p = 0;
  let top: number;
  let f: string | null;
  if (skip) {
    const tok = decodeToken<{ p: number; top: number; f: string | null }>(skip);
    if (!tok) return graphError(400, 'Request_BadRequest', 'Invalid paging token.');
    ({ p, top, f } = tok);
  } else {
    const t = topOf(req, def, max);
    if (!t.ok) return t.response;
    top = t.top;
    f = req.query.get('$filter');
  }
  const filter = compile(f, filterProps);
  if (!filter.ok) return filter.response;
  const value: Record<string, unknown>[] = [];
  let i = p;
  for (; i < items.length && value.length < top; i++) {
    const v = view(items[i]);
    if (filter.filter && !filter.filter.predicate(v)) continue;
    value.push(v);
  }
  const body: Record<string, unknown> = { '@odata.context': `${req.origin}/${version}/$metadata#${entity}` };
  if (i < items.length) {
    const path = req.path.replace(/^\/(v1\.0|beta)/, '');
    body['@odata.nextLink'] = `${req.origin}/${version}${path}?$skiptoken=${encodeToken({ p: i, top, f })}`;
  }
  body.value = value;
  return ok(body);
}

function refTarget(body: unknown): string | null {
  if (!isRecord(body) || typeof body['@odata.id'] !== 'string') return null;
  const m = /([0-9a-fA-F-]{36})'?\)?$/.exec(body['@odata.id']);
  return m ? m[1] : null;
}

// ---------------------------------------------------------------------------------------------
// Teams

function operationView(call: GraphCall, op: TelephoneOperation, env: GraphEnv): Record<string, unknown> {
  const tenant = call.tenant;
  if (!op.final && env.clock() - op.createdAt >= env.config.operationDelayMs) tenant.completeOperation(op);
  const elapsed = env.clock() - op.createdAt;
  const status = op.final ? op.final.status : elapsed >= env.config.operationDelayMs / 2 ? 'running' : 'notStarted';
  const number = tenant.numberIndex.get(op.telephoneNumber);
  return {
    '@odata.context': `${call.req.origin}/${call.version}/$metadata#admin/teams/telephoneNumberManagement/operations/$entity`,
    id: op.id, createdDateTime: op.createdDateTime, status, statusDetail: op.final?.statusDetail ?? null,
    numbers: [{
      resourceLocation: number ? `${call.req.origin}/${call.version}/admin/teams/telephoneNumberManagement/numberAssignments/${number.id}` : null,
      status, statusDetail: op.final?.statusDetail ?? null,
    }],
  };
}

function startNumberOperation(call: GraphCall, env: GraphEnv, kind: TelephoneOperation['kind']): EmuResponse {
  const body = parseJsonBody(call.req);
  if (!body.ok) return body.response;
  const v = body.value;
  if (!isRecord(v) || typeof v.telephoneNumber !== 'string' || typeof v.numberType !== 'string' || (kind === 'assignNumber' && typeof v.assignmentTargetId !== 'string')) {
    return graphError(400, 'BadRequest', kind === 'assignNumber'
      ? 'telephoneNumber, assignmentTargetId and numberType are required.'
      : 'telephoneNumber and numberType are required.');
  }
  const target = kind === 'assignNumber' ? call.tenant.findUser(String(v.assignmentTargetId))?.u.id ?? String(v.assignmentTargetId) : null;
  const number = call.tenant.normalizeNumber(v.telephoneNumber);
  env.counters.writeFor(`teams.${kind}`, target ?? call.tenant.numberIndex.get(number)?.assignmentTargetId ?? undefined);
  if (!['directRouting', 'callingPlan', 'operatorConnect'].includes(v.numberType)) {
    return graphError(400, 'BadRequest', `Invalid numberType '${v.numberType}'.`);
  }
  const category = v.assignmentCategory ?? 'primary';
  if (!['primary', 'private', 'alternate'].includes(String(category))) return graphError(400, 'BadRequest', `Invalid assignmentCategory '${String(category)}'.`);
  const now = env.clock();
  const op: TelephoneOperation = {
    id: randomUUID(), kind, createdAt: now, createdDateTime: new Date(now).toISOString(), telephoneNumber: number, targetId: target,
    numberType: v.numberType, assignmentCategory: category as TelephoneOperation['assignmentCategory'],
    locationId: typeof v.locationId === 'string' ? v.locationId : null, final: null, finishedDateTime: null,
  };
  call.tenant.operations.set(op.id, op);
  env.scheduleOperation(call.tenant, op);
  return noContent(202, { location: `${call.req.origin}/${call.version}/admin/teams/telephoneNumberManagement/operations('${op.id}')` });
}

const DIAL_PLAN = 'TenantDialPlan';

/** Graph's docs write policy types both ways (`TeamsMeetingPolicy`, `teamsMeetingBroadcastPolicy`): match either. */
function graphPolicyType(raw: string): string | undefined {
  return [...TEAMS_POLICY_TYPES, DIAL_PLAN].find((t) => t.toLowerCase() === raw.toLowerCase());
}

function assignPolicies(call: GraphCall, env: GraphEnv, unassign: boolean): EmuResponse {
  const body = parseJsonBody(call.req);
  if (!body.ok) return body.response;
  const v = body.value;
  if (!isRecord(v) || !Array.isArray(v.value) || v.value.length === 0) return graphError(400, 'BadRequest', 'The request body must hold a non-empty value array.');
  const kind = unassign ? 'teams.policy.unassign' : 'teams.policy.assign';
  const plan: Array<{ userId: string; policyType: string; identity: string }> = [];
  for (const item of v.value) {
    if (!isRecord(item) || typeof item.userId !== 'string' || typeof item.policyType !== 'string') return graphError(400, 'BadRequest', 'Each assignment needs userId and policyType.');
    env.counters.writeFor(kind, item.userId);
    const policyType = graphPolicyType(item.policyType);
    if (!policyType || policyType === DIAL_PLAN) return graphError(400, 'BadRequest', `Unknown policy type '${item.policyType}'.`);
    let identity = 'Global';
    if (!unassign) {
      if (typeof item.policyId !== 'string') return graphError(400, 'BadRequest', 'policyId is required.');
      const policy = call.tenant.findPolicyById(policyType, item.policyId);
      if (!policy) return graphError(400, 'BadRequest', `Policy '${item.policyId}' of type '${item.policyType}' was not found.`);
      identity = policy.Identity;
    } else if (!call.tenant.findPolicy(policyType, null)) {
      return graphError(400, 'BadRequest', `Unknown policy type '${item.policyType}'.`);
    }
    if (!call.tenant.findUser(item.userId) || !call.tenant.teams.has(call.tenant.findUser(item.userId)!.u.id)) {
      return graphError(404, 'NotFound', `User '${item.userId}' was not found in Microsoft Teams.`);
    }
    plan.push({ userId: item.userId, policyType, identity });
  }
  for (const p of plan) call.tenant.setPolicy(p.userId, p.policyType, p.identity);
  return noContent();
}

// ---------------------------------------------------------------------------------------------
// The router

export interface RouteMatch {
  kind: string;
  /** Cost class for identity routes; Teams and subscriptions are not charged against identity quotas. */
  quota: IdentityResource | null;
  write: boolean;
  roles: readonly string[] | null;
  run: () => EmuResponse | Promise<EmuResponse>;
}

export function route(call: GraphCall, env: GraphEnv): RouteMatch | null {
  const { req, seg, tenant } = call;
  const m = req.method;
  const s = seg;
  const n = s.length;
  const T = (kind: string, quota: RouteMatch['quota'], write: boolean, roles: readonly string[] | null, run: RouteMatch['run']): RouteMatch => ({ kind, quota, write, roles, run });

  if (s[0] === 'users') {
    if (n === 1 && m === 'GET') return T('users.list', 'users', false, P.readUsers, () => listUsers(call, env));
    if (n === 2 && s[1] === 'delta' && m === 'GET') return T('users.delta', 'users', false, P.readUsers, () => deltaUsers(call, env));
    if (n === 2 && s[1] === '$count' && m === 'GET') {
      return T('users.count', 'users', false, P.readUsers, () => (req.headers.consistencylevel ?? '').toLowerCase() === 'eventual'
        ? { status: 200, text: String(tenant.activeCount), contentType: 'text/plain' }
        : graphError(400, 'Request_BadRequest', '$count is not currently supported.'));
    }
    if (n === 2 && m === 'GET') {
      return T('users.get', 'other', false, P.readUsers, () => {
        const rec = tenant.requireUser(s[1]);
        const sel = parseSelect(req.query.get('$select'), false);
        if (!sel.ok) return sel.response;
        return ok({ '@odata.context': contextUrl(req, call.version, 'users/$entity', sel.props), ...projectUser(tenant, rec, sel.props) });
      });
    }
    if (n === 2 && m === 'PATCH') return T('users.patch', 'other', true, P.writeUsers, () => patchUser(call, env, s[1]));
    if (n === 3 && s[2] === 'assignLicense' && m === 'POST') return T('users.assignLicense', 'other', true, P.assignLicense, () => assignLicense(call, env, s[1]));
    if (n === 3 && s[2] === 'memberOf' && m === 'GET') {
      return T('users.memberOf', 'memberOf', false, P.readGroups, () => {
        const rec = tenant.requireUser(s[1]);
        const groups = tenant.groupOrder.map((id) => tenant.groups.get(id)!).filter((g) => g.members.has(rec.u.id));
        return listPaged(call, groups, 'directoryObjects', 100, 999, (g) => ({ '@odata.type': '#microsoft.graph.group', ...groupView(g) }), null);
      });
    }
    return null;
  }
  if (s[0] === 'subscribedSkus' && n === 1 && m === 'GET') {
    return T('subscribedSkus.list', 'subscribedSkus', false, P.readSkus, () =>
      ok({ '@odata.context': `${req.origin}/${call.version}/$metadata#subscribedSkus`, value: [...tenant.skus.values()] }));
  }
  if (s[0] === 'groups') {
    if (n === 1 && m === 'GET') {
      return T('groups.list', 'other', false, P.readGroups, () =>
        listPaged(call, tenant.groupOrder.map((id) => tenant.groups.get(id)!), 'groups', 100, 999, groupView, null));
    }
    if (n === 2 && m === 'GET') return T('groups.get', 'other', false, P.readGroups, () => ok(groupView(tenant.requireGroup(s[1]))));
    if (n === 3 && s[2] === 'members' && m === 'GET') {
      return T('groups.members.list', 'groupMembers', false, P.readGroups, () => {
        const g = tenant.requireGroup(s[1]);
        const recs = [...g.members].map((id) => tenant.byId.get(id)).filter((r): r is UserRecord => !!r && !r.deletedDateTime);
        return listPaged(call, recs, 'directoryObjects', 100, 999, (r) => ({ '@odata.type': '#microsoft.graph.user', ...projectUser(tenant, r, null) }), null);
      });
    }
    if (n === 4 && s[2] === 'members' && s[3] === '$ref' && m === 'POST') {
      return T('groups.members.add', 'other', true, P.writeMembers, () => {
        const body = parseJsonBody(req);
        if (!body.ok) return body.response;
        const userId = refTarget(body.value);
        env.counters.writeFor('groups.members.add', userId ?? undefined);
        if (!userId) return graphError(400, 'Request_BadRequest', "Invalid '@odata.id' in the request body.");
        tenant.addMember(s[1], userId);
        return noContent();
      });
    }
    if (n === 5 && s[2] === 'members' && s[4] === '$ref' && m === 'DELETE') {
      return T('groups.members.remove', 'other', true, P.writeMembers, () => {
        env.counters.writeFor('groups.members.remove', s[3]);
        tenant.removeMember(s[1], s[3]);
        return noContent();
      });
    }
    return null;
  }
  if (s[0] === 'admin' && s[1] === 'teams') {
    const r = s.slice(2);
    if (r[0] === 'userConfigurations') {
      if (r.length === 1 && m === 'GET') {
        return T('teams.userConfigurations.list', null, false, P.teamsConfig, () =>
          listPaged(call, tenant.teamsOrder, 'admin/teams/userConfigurations', 100, 999, (id) => ({ ...tenant.teams.get(id)! }), null));
      }
      if (r.length === 2 && m === 'GET') {
        return T('teams.userConfigurations.get', null, false, P.teamsConfig, () => {
          const rec = tenant.findUser(r[1]);
          const cfg = rec ? tenant.teams.get(rec.u.id) : undefined;
          if (!cfg) return graphError(404, 'NotFound', `User '${r[1]}' was not found in Microsoft Teams.`);
          const out: Record<string, unknown> = { '@odata.context': `${req.origin}/${call.version}/$metadata#admin/teams/userConfigurations/$entity`, ...cfg };
          if ((req.query.get('$expand') ?? '').includes('user') && rec) out.user = projectUser(tenant, rec, null);
          return ok(out);
        });
      }
      return null;
    }
    if (r[0] === 'telephoneNumberManagement') {
      if (r[1] === 'numberAssignments') {
        if (r.length === 2 && m === 'GET') return T('teams.numberAssignments.list', null, false, P.readNumbers, () => listNumbers(call));
        if (r.length === 3 && r[2] === 'assignNumber' && m === 'POST') return T('teams.assignNumber', null, true, P.writeNumbers, () => startNumberOperation(call, env, 'assignNumber'));
        if (r.length === 3 && r[2] === 'unassignNumber' && m === 'POST') return T('teams.unassignNumber', null, true, P.writeNumbers, () => startNumberOperation(call, env, 'unassignNumber'));
        if (r.length === 3 && m === 'GET') {
          return T('teams.numberAssignments.get', null, false, P.readNumbers, () => {
            const a = tenant.numbers.find((x) => x.id === r[2]);
            return a ? ok(a) : graphError(404, 'NotFound', `Number assignment '${r[2]}' was not found.`);
          });
        }
      }
      const opm = r.length === 2 && r[1].startsWith('operations(') ? /^operations\('?([^')]+)'?\)$/.exec(r[1]) : null;
      if ((opm || (r[1] === 'operations' && r.length === 3)) && m === 'GET') {
        const id = opm ? opm[1] : r[2];
        return T('teams.operations.get', null, false, P.readNumbers, () => {
          const op = tenant.operations.get(id);
          return op ? ok(operationView(call, op, env)) : graphError(404, 'NotFound', `Operation '${id}' was not found.`);
        });
      }
      return null;
    }
    if (r[0] === 'policy') {
      if (r[1] === 'userAssignments' && r.length === 3 && m === 'POST' && (r[2] === 'assign' || r[2] === 'unassign')) {
        return T(`teams.policy.${r[2]}`, null, true, P.assignPolicy, () => assignPolicies(call, env, r[2] === 'unassign'));
      }
      const gm = r.length === 2 ? /^getPolicyId\(type='([^']+)',name='([^']+)'\)$/.exec(r[1]) : null;
      if (gm && m === 'GET') {
        return T('teams.policy.getPolicyId', null, false, P.assignPolicy, () => {
          const type = graphPolicyType(gm[1]);
          // Graph has no dial plans (no teamsAdministration type for them): they stay with the bridge.
          const policy = type && type !== DIAL_PLAN ? tenant.findPolicy(type, gm[2]) : undefined;
          if (!type || !policy) return graphError(404, 'NotFound', `Policy '${gm[2]}' of type '${gm[1]}' was not found.`);
          return ok({
            '@odata.context': `${req.origin}/${call.version}/$metadata#Collection(microsoft.graph.teamsAdministration.policyIdentifierDetail)`,
            value: [{ '@odata.type': '#microsoft.graph.teamsAdministration.policyIdentifierDetail', name: policy.Identity, policyId: teamsPolicyId(type, policy.Identity) }],
          });
        });
      }
    }
    return null;
  }
  if (s[0] === 'subscriptions') {
    const app = call.claims.appid;
    const hub = env.hub;
    if (n === 1 && m === 'POST') {
      return T('subscriptions.create', null, true, P.readUsers, async () => {
                const body = parseJsonBody(req);
        if (!body.ok) return body.response;
        return hub.create(tenant.tenantId, app, body.value, (id) => !!tenant.findUser(id));
      });
    }
    if (n === 1 && m === 'GET') {
      return T('subscriptions.list', null, false, null, () =>
        ok({ '@odata.context': `${req.origin}/${call.version}/$metadata#subscriptions`, value: hub.list(tenant.tenantId, app).map((x) => hub.view(x)) }));
    }
    if (n === 2 && m === 'GET') return T('subscriptions.get', null, false, null, () => hub.get(tenant.tenantId, app, s[1]));
    if (n === 2 && m === 'PATCH') {
      return T('subscriptions.update', null, true, null, () => {
                const body = parseJsonBody(req);
        if (!body.ok) return body.response;
        return hub.patch(tenant.tenantId, app, s[1], body.value);
      });
    }
    if (n === 2 && m === 'DELETE') {
      return T('subscriptions.delete', null, true, null, () => {
                return hub.delete(tenant.tenantId, app, s[1]);
      });
    }
    if (n === 3 && s[2] === 'reauthorize' && m === 'POST') {
      return T('subscriptions.reauthorize', null, true, null, () => {
                return hub.reauthorize(tenant.tenantId, app, s[1]);
      });
    }
  }
  return null;
}

const NUMBER_FILTER_PROPS = new Set(['telephoneNumber', 'numberType', 'activationState', 'assignmentStatus', 'assignmentTargetId', 'assignmentCategory', 'isoCountryCode', 'locationId', 'civicAddressId', 'networkSiteId', 'operatorId', 'numberSource', 'capabilities']);

/** Number assignments page with `$top` (default 500, max 1,000) and `$skip`, as the Teams API does. */
function listNumbers(call: GraphCall): EmuResponse {
  const { req, tenant, version } = call;
  const t = topOf(req, 500, 1000);
  if (!t.ok) return t.response;
  const skip = Number(req.query.get('$skip') ?? 0);
  if (!Number.isInteger(skip) || skip < 0) return graphError(400, 'BadRequest', `Invalid $skip '${req.query.get('$skip')}'.`);
  const filter = compile(req.query.get('$filter'), NUMBER_FILTER_PROPS);
  if (!filter.ok) return filter.response;
  const f = filter.filter;
  const matching = f
    ? f.lookup?.prop === 'telephoneNumber'
      ? f.lookup.values.map((v) => tenant.numberIndex.get(tenant.normalizeNumber(v))).filter((x) => x !== undefined)
      : tenant.numbers.filter((a) => f.predicate(a as unknown as Record<string, unknown>))
    : tenant.numbers;
  const value = matching.slice(skip, skip + t.top);
  const body: Record<string, unknown> = { '@odata.context': `${req.origin}/${version}/$metadata#admin/teams/telephoneNumberManagement/numberAssignments` };
  if (skip + t.top < matching.length) {
    const q = new URLSearchParams(req.query);
    q.set('$skip', String(skip + t.top));
    q.set('$top', String(t.top));
    body['@odata.nextLink'] = `${req.origin}/${version}/admin/teams/telephoneNumberManagement/numberAssignments?${q.toString()}`;
  }
  body.value = value;
  return ok(body);
}

/** Runs a matched route, turning domain errors into Graph error responses. */
export async function runRoute(match: RouteMatch): Promise<EmuResponse> {
  try {
    return await match.run();
  } catch (e) {
    if (e instanceof ServiceError) return graphError(e.status, e.code, e.message);
    throw e;
  }
}

export type { DemoUser };
