/**
 * TeamsAdminBridge over HTTP: the bridge runs the Teams PowerShell cmdlets Graph has no equivalent for
 * (Get-CsTenantDialPlan, Get-Cs<policy>, Grant-Cs<policy>) in the customer's tenant, authorised by an
 * app-only token for that tenant. It answers with the cmdlets' objects as JSON (PascalCase).
 *
 *   GET  {base}/tenants/{tenantId}/dialPlans                  → { value: [Get-CsTenantDialPlan objects] }
 *   GET  {base}/tenants/{tenantId}/policies/{policyType}      → { value: [Get-Cs<policyType> objects] }
 *   GET  {base}/tenants/{tenantId}/applicationInstances        → { value: [Get-CsOnlineApplicationInstance objects] }
 *   POST {base}/tenants/{tenantId}/policyAssignments          { userId, policyType, policyName } → 204
 *
 * Calls are paced at the Teams rate by the bridge's own pacer and use the tenant's retry policy; errors use
 * Graph's error shape.
 */
import type { TokenCredential } from '@azure/identity';
import {
  GraphTransientError,
  type ApplicationInstance,
  type DialPlanNormalizationRule,
  type TeamsAdminBridge,
  type TeamsPolicy,
  type TenantDialPlan,
} from '../../ports/microsoft';
import { readErrorBody, toMicrosoftError } from '../graph/errors';
import { backoffDelay, parseRetryAfter, systemClock, type Clock, type Pacer, type RetryPolicy } from '../graph/pacer';
import { tokenFailure } from '../graph/pipeline';
import { TransportError, type Transport } from '../graph/transport';

/** Skype and Teams Tenant Admin API: the resource Teams PowerShell authenticates to. */
export const TEAMS_ADMIN_SCOPE = '48ac35b8-9aa8-4d74-927d-1f4a14a0b239/.default';

export interface TeamsBridgeOptions {
  tenantId: string;
  baseUrl: string;
  credential: TokenCredential;
  pacer: Pacer;
  transport: Transport;
  retry: RetryPolicy;
  clock?: Clock;
  scope?: string;
  timeoutMs?: number;
}

type Json = Record<string, unknown>;

export class TeamsBridgeClient implements TeamsAdminBridge {
  readonly tenantId: string;
  private readonly clock: Clock;

  constructor(private readonly options: TeamsBridgeOptions) {
    this.tenantId = options.tenantId;
    this.clock = options.clock ?? systemClock;
  }

  async listDialPlans(): Promise<TenantDialPlan[]> {
    const body = await this.call('GET', `/dialPlans`, 'list dial plans');
    return values(body).map(toDialPlan);
  }

  async listApplicationInstances(): Promise<ApplicationInstance[]> {
    const body = await this.call('GET', `/applicationInstances`, 'list application instances');
    return values(body).map(toApplicationInstance);
  }

  async listPolicies(policyType: string): Promise<TeamsPolicy[]> {
    const body = await this.call('GET', `/policies/${encodeURIComponent(policyType)}`, `list ${policyType}`);
    return values(body).map((raw) => toPolicy(policyType, raw));
  }

  async grantPolicy(userId: string, policyType: string, policyName: string | null): Promise<void> {
    const name = policyName === null ? null : policyName.replace(/^Tag:/i, '');
    // Granting what the user already holds changes nothing, so a lost reply may be repeated.
    await this.call('POST', `/policyAssignments`, `grant ${policyType}`, { userId, policyType, policyName: name });
  }

  private async call(method: 'GET' | 'POST', path: string, operation: string, body?: unknown): Promise<unknown> {
    const url = `${this.options.baseUrl.replace(/\/+$/, '')}/tenants/${encodeURIComponent(this.tenantId)}${path}`;
    const { pacer, retry } = this.options;
    for (let attempt = 0; ; attempt++) {
      const release = await pacer.acquire({ resourceUnits: 0, writes: 0, teamsAdmin: 1 });
      let token: string;
      try {
        const accessToken = await this.options.credential.getToken(this.options.scope ?? TEAMS_ADMIN_SCOPE);
        if (!accessToken) throw new GraphTransientError(`${operation}: no access token for the Teams bridge`);
        token = accessToken.token;
      } catch (error) {
        release();
        throw tokenFailure(error);
      }
      let response: Response;
      try {
        response = await this.options.transport({
          method,
          url,
          headers: {
            authorization: `Bearer ${token}`,
            accept: 'application/json',
            ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
          },
          body: body !== undefined ? JSON.stringify(body) : undefined,
        });
      } catch (error) {
        release();
        if (error instanceof TransportError && attempt < retry.maxRetries) {
          await this.clock.sleep(backoffDelay(attempt, retry));
          continue;
        }
        if (error instanceof GraphTransientError) throw error;
        throw new GraphTransientError(`${operation}: ${error instanceof Error ? error.message : String(error)}`);
      }
      release();
      const text = await response.text();
      const parsed = text ? safeJson(text) : undefined;
      if (response.ok) return parsed;
      const transient = response.status === 429 || response.status === 503 || response.status === 504;
      const after = transient ? parseRetryAfter(response.headers.get('retry-after'), this.clock.now()) : undefined;
      // The bridge's tenant waits out a Retry-After whether or not this call goes again.
      if (after !== undefined) pacer.holdUntilTime(this.clock.now() + after);
      if (response.status === 429) pacer.noteThrottled();
      // A grant repeated after a 504 is harmless: granting what the user holds changes nothing.
      if (transient && attempt < retry.maxRetries) {
        await this.clock.sleep(after ?? backoffDelay(attempt, retry));
        continue;
      }
      throw toMicrosoftError({ status: response.status, ...readErrorBody(parsed), headers: response.headers }, { operation, write: method === 'POST' });
    }
  }
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** `{ value: [...] }`, a bare array, or a single object (ConvertTo-Json of one item). */
function values(body: unknown): Json[] {
  const list = Array.isArray(body) ? body : body && typeof body === 'object' && 'value' in body ? (body as Json).value : body ? [body] : [];
  const items = Array.isArray(list) ? list : list ? [list] : [];
  return items.filter((v): v is Json => typeof v === 'object' && v !== null);
}

/** Reads a PowerShell property whichever case it was serialised in. */
function prop(raw: Json, name: string): unknown {
  if (name in raw) return raw[name];
  const camel = name[0].toLowerCase() + name.slice(1);
  return raw[camel];
}

const text = (v: unknown): string | null => (typeof v === 'string' ? v : null);

function nameOf(identity: string): string {
  return identity.replace(/^Tag:/i, '');
}

function toDialPlan(raw: Json): TenantDialPlan {
  const identity = text(prop(raw, 'Identity')) ?? '';
  const rules = prop(raw, 'NormalizationRules');
  return {
    identity,
    name: nameOf(identity),
    simpleName: text(prop(raw, 'SimpleName')),
    description: text(prop(raw, 'Description')),
    normalizationRules: (Array.isArray(rules) ? rules : []).filter((r): r is Json => typeof r === 'object' && r !== null).map(toRule),
  };
}

function toRule(raw: Json): DialPlanNormalizationRule {
  const priority = prop(raw, 'Priority');
  return {
    name: text(prop(raw, 'Name')),
    pattern: text(prop(raw, 'Pattern')) ?? '',
    translation: text(prop(raw, 'Translation')) ?? '',
    isInternalExtension: prop(raw, 'IsInternalExtension') === true,
    priority: typeof priority === 'number' ? priority : null,
    description: text(prop(raw, 'Description')),
  };
}

function toApplicationInstance(raw: Json): ApplicationInstance {
  const phone = text(prop(raw, 'PhoneNumber'));
  return {
    objectId: text(prop(raw, 'ObjectId')) ?? '',
    userPrincipalName: text(prop(raw, 'UserPrincipalName')),
    displayName: text(prop(raw, 'DisplayName')),
    applicationId: text(prop(raw, 'ApplicationId')),
    phoneNumber: phone ? phone.replace(/^tel:/i, '') : null,
  };
}

function toPolicy(policyType: string, raw: Json): TeamsPolicy {
  const identity = text(prop(raw, 'Identity')) ?? '';
  return { policyType, identity, name: nameOf(identity), description: text(prop(raw, 'Description')) };
}
