/**
 * The quotas the emulator enforces when asked to (figures and sources: ./limits.ts, docs/limits.md):
 * identity and access resource units and writes per app + tenant, and requests per second per app +
 * tenant on the Teams administration routes and on the Teams admin bridge. A refused request gets the 429
 * Microsoft sends, with Retry-After in whole seconds.
 */
import { bridgeError, type EmuResponse } from './http';
import { tooManyRequests } from './faults';
import {
  BRIDGE_REQUESTS_PER_SECOND,
  PER_SECOND_BURST_MS,
  TEAMS_ADMIN_REQUESTS_PER_SECOND,
  WRITES_PER_150S,
  resourceUnitsPer10s,
  retryAfterSeconds,
} from './limits';

export interface QuotaSettings {
  /** Resource units per 10 s per app+tenant; default by tenant size: 3,500 (<50 users), 5,000 (50–500), 8,000. */
  readUnitsPer10s?: number;
  /** Writes per 150 s per app+tenant; default 3,000. */
  writesPer150s?: number;
  /** Requests per second per app+tenant on /admin/teams/* (default 30, assumed). */
  teamsAdminPerSecond?: number;
  /** Requests per second per app+tenant on the Teams admin bridge (default 30, assumed). */
  bridgePerSecond?: number;
}

export type QuotaClass = 'identity' | 'teamsAdmin' | 'bridge';

interface Bucket { tokens: number; last: number }

type Charge = { ok: true; ru: number } | { ok: false; response: EmuResponse };

export class Quotas {
  private readonly ru = new Map<string, Bucket>();
  private readonly writes = new Map<string, Bucket>();
  private readonly teams = new Map<string, Bucket>();
  private readonly bridge = new Map<string, Bucket>();

  constructor(private readonly clock: () => number, public settings: QuotaSettings = {}) {}

  reset(): void {
    for (const map of [this.ru, this.writes, this.teams, this.bridge]) map.clear();
  }

  /** Spends an identity request's cost or answers the 429 Microsoft would send. */
  charge(appId: string, tenantId: string, tenantUsers: number, cost: { ru: number; write: number }): Charge {
    const now = this.clock();
    const key = `${appId}/${tenantId}`;
    const ruCap = this.settings.readUnitsPer10s ?? resourceUnitsPer10s(tenantUsers);
    const wCap = this.settings.writesPer150s ?? WRITES_PER_150S;
    const ru = refill(this.ru, key, now, ruCap, ruCap / 10_000);
    const w = refill(this.writes, key, now, wCap, wCap / 150_000);
    let waitMs = 0;
    let info = '';
    if (ru.tokens < cost.ru) {
      waitMs = (cost.ru - ru.tokens) / (ruCap / 10_000);
      info = 'ResourceUnitLimitExceeded';
    }
    if (cost.write > 0 && w.tokens < cost.write) {
      const wWait = (cost.write - w.tokens) / (wCap / 150_000);
      if (wWait > waitMs) {
        waitMs = wWait;
        info = 'WriteLimitExceeded';
      }
    }
    if (waitMs > 0) {
      return {
        ok: false,
        response: tooManyRequests({
          'retry-after': String(retryAfterSeconds(waitMs)),
          'x-ms-throttle-scope': `Tenant_Application/${cost.write ? 'ReadWrite' : 'Read'}/${appId}/${tenantId}`,
          'x-ms-throttle-information': info,
        }),
      };
    }
    ru.tokens -= cost.ru;
    w.tokens -= cost.write;
    return { ok: true, ru: cost.ru };
  }

  /** One request on Graph's Teams administration routes. */
  chargeTeamsAdmin(appId: string, tenantId: string): Charge {
    const wait = this.perSecond(this.teams, `${appId}/${tenantId}`, this.settings.teamsAdminPerSecond ?? TEAMS_ADMIN_REQUESTS_PER_SECOND);
    if (wait === 0) return { ok: true, ru: 0 };
    return { ok: false, response: tooManyRequests({ 'retry-after': String(retryAfterSeconds(wait)) }) };
  }

  /** One request to the Teams admin bridge; refused in the bridge's own error shape. */
  chargeBridge(appId: string, tenantId: string): Charge {
    const wait = this.perSecond(this.bridge, `${appId}/${tenantId}`, this.settings.bridgePerSecond ?? BRIDGE_REQUESTS_PER_SECOND);
    if (wait === 0) return { ok: true, ru: 0 };
    const response = bridgeError(429, 'TooManyRequests', 'Too many requests to the Teams admin service. Retry later.');
    response.headers = { 'retry-after': String(retryAfterSeconds(wait)) };
    return { ok: false, response };
  }

  /** Takes one request from a per-second bucket; 0 when admitted, else the ms until one is available. */
  private perSecond(map: Map<string, Bucket>, key: string, perSecond: number): number {
    const now = this.clock();
    const capacity = Math.max(1, (perSecond * PER_SECOND_BURST_MS) / 1000);
    const bucket = refill(map, key, now, capacity, perSecond / 1000);
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return 0;
    }
    return (1 - bucket.tokens) / (perSecond / 1000);
  }
}

function refill(map: Map<string, Bucket>, key: string, now: number, cap: number, perMs: number): Bucket {
  let b = map.get(key);
  if (!b) map.set(key, (b = { tokens: cap, last: now }));
  b.tokens = Math.min(cap, b.tokens + (now - b.last) * perMs);
  b.last = now;
  return b;
}

/** Identity resources whose GET has a base cost of its own in Microsoft's table. */
export type IdentityResource = 'users' | 'subscribedSkus' | 'groupMembers' | 'memberOf' | 'other';

const BASE_COST: Record<IdentityResource, number> = { users: 2, subscribedSkus: 3, groupMembers: 3, memberOf: 2, other: 1 };

/** Cost of an identity request per Microsoft's table: base by resource, adjusted by query options. */
export function requestCost(method: string, resource: IdentityResource, query: URLSearchParams): { ru: number; write: number } {
  if (method !== 'GET') return { ru: 1, write: 1 };
  let ru = BASE_COST[resource];
  if (query.has('$select')) ru -= 1;
  if (query.has('$expand')) ru += 1;
  const top = Number(query.get('$top'));
  if (query.has('$top') && top < 20) ru -= 1;
  return { ru: Math.max(1, ru), write: 0 };
}
