/**
 * The Teams admin bridge (docs/teams-bridge.md): dial plans, policies and policy grants that Graph does
 * not offer, shaped like the Teams PowerShell cmdlets' output.
 */
import { TEAMS_POLICY_TYPES } from '../demo/tenant';
import { bridgeError, isRecord, parseJsonBody, type EmuRequest, type EmuResponse } from './http';
import type { Counters } from './faults';
import type { TokenIssuer } from './auth';
import { ServiceError, type TenantState } from './state';

export const BRIDGE_PREFIX = '/teamsbridge';
const GRANTABLE = new Set<string>([...TEAMS_POLICY_TYPES, 'TenantDialPlan']);

export function handleBridge(
  req: EmuRequest,
  ctx: {
    findTenant(id: string): TenantState | undefined;
    issuer: TokenIssuer;
    counters: Counters;
    /** The quota's refusal (429) when the app + tenant is over its rate, else undefined. */
    admit(appId: string, tenantId: string): EmuResponse | undefined;
  },
): EmuResponse {
  const seg = req.path.slice(BRIDGE_PREFIX.length).split('/').filter(Boolean).map(decodeURIComponent);
  if (seg[0] !== 'tenants' || seg.length < 3) return bridgeError(404, 'NotFound', `No route for ${req.method} ${req.path}.`);
  const auth = ctx.issuer.verify(req.headers.authorization);
  if (!auth.ok) return bridgeError(401, 'Unauthorized', auth.message);
  const tenant = ctx.findTenant(seg[1]);
  if (!tenant) return bridgeError(404, 'TenantNotFound', `Tenant '${seg[1]}' is not served by this bridge.`);
  if (auth.claims.tid !== tenant.tenantId) return bridgeError(403, 'Forbidden', `The token was issued for tenant '${auth.claims.tid}', not '${tenant.tenantId}'.`);
  const refused = ctx.admit(auth.claims.appid, tenant.tenantId);
  if (refused) return refused;
  const rest = seg.slice(2);

  if (req.method === 'GET' && rest.length === 1 && rest[0] === 'dialPlans') {
    ctx.counters.request('bridge.dialPlans');
    return { status: 200, json: { value: tenant.dialPlans } };
  }
  if (req.method === 'GET' && rest.length === 1 && rest[0] === 'applicationInstances') {
    ctx.counters.request('bridge.applicationInstances');
    return { status: 200, json: { value: tenant.applicationInstances } };
  }
  if (req.method === 'GET' && rest.length === 2 && rest[0] === 'policies') {
    ctx.counters.request('bridge.policies');
    const list = (tenant.policies as Record<string, unknown[] | undefined>)[rest[1]];
    if (!list) return bridgeError(404, 'UnknownPolicyType', `Unknown policy type '${rest[1]}'. Known: ${TEAMS_POLICY_TYPES.join(', ')}.`);
    return { status: 200, json: { value: list } };
  }
  if (req.method === 'POST' && rest.length === 1 && rest[0] === 'policyAssignments') {
    ctx.counters.request('bridge.policyAssignments');
    ctx.counters.write('bridge.policyAssignments');
    const body = parseJsonBody(req);
    if (!body.ok) return bridgeError(400, 'BadRequest', 'The body is not valid JSON.');
    const v = body.value;
    if (!isRecord(v) || typeof v.userId !== 'string' || typeof v.policyType !== 'string' || !(v.policyName === null || v.policyName === undefined || typeof v.policyName === 'string')) {
      return bridgeError(400, 'BadRequest', 'Body must be { userId, policyType, policyName } with policyName a string or null.');
    }
    const rec = tenant.findUser(v.userId);
    ctx.counters.writeFor('bridge.policyAssignments', rec?.u.id ?? v.userId);
    if (!GRANTABLE.has(v.policyType)) return bridgeError(400, 'UnknownPolicyType', `Unknown policy type '${v.policyType}'.`);
    const policyName = typeof v.policyName === 'string' ? v.policyName : null;
    const policy = tenant.findPolicy(v.policyType, policyName);
    if (!policy) return bridgeError(400, 'PolicyNotFound', `Cannot find ${v.policyType} '${policyName}'.`);
    if (!rec) return bridgeError(404, 'UserNotFound', `Management object not found for identity '${v.userId}'.`);
    try {
      tenant.setPolicy(rec.u.id, v.policyType, policy.Identity);
    } catch (e) {
      if (e instanceof ServiceError) return bridgeError(404, 'UserNotFound', e.message);
      throw e;
    }
    return { status: 200, json: { userId: v.userId, policyType: v.policyType, policyName } };
  }
  return bridgeError(404, 'NotFound', `No route for ${req.method} ${req.path}.`);
}
