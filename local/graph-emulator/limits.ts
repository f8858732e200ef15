/**
 * Every figure the emulator answers with: Microsoft's documented quotas, and the assumptions where
 * Microsoft documents none. Each is listed with its source, or as assumed, in docs/limits.md; change
 * one here and there together.
 */

/** Identity and access resource units per 10 s per app + tenant, by tenant size (documented). */
export const RESOURCE_UNITS_PER_10S = { S: 3_500, M: 5_000, L: 8_000 } as const;

/** Tenant size bands for the resource-unit quota: S under 50 users, M 50 to 500, L above (documented). */
export function resourceUnitsPer10s(tenantUsers: number): number {
  return tenantUsers < 50 ? RESOURCE_UNITS_PER_10S.S : tenantUsers <= 500 ? RESOURCE_UNITS_PER_10S.M : RESOURCE_UNITS_PER_10S.L;
}

/** Identity and access writes per 150 s per app + tenant (documented). */
export const WRITES_PER_150S = 3_000;

/**
 * Requests per second per app + tenant on Graph's Teams administration routes (`/admin/teams/*`).
 * Assumed: Microsoft's Teams service limits table does not list these resources; 30 is the figure of its
 * "other API calls for Microsoft Teams" row.
 */
export const TEAMS_ADMIN_REQUESTS_PER_SECOND = 30;

/** Requests per second per app + tenant on the Teams admin bridge (Teams PowerShell). Assumed. */
export const BRIDGE_REQUESTS_PER_SECOND = 30;

/**
 * How much of a per-second quota may be spent at once: one second's worth. Assumed: Microsoft states
 * the Teams figures as requests per second and documents no bucket size.
 */
export const PER_SECOND_BURST_MS = 1_000;

/** Time an assignNumber or unassignNumber operation takes to finish. Assumed: Microsoft documents none. */
export const NUMBER_OPERATION_MS = 5_000;

/** Latency added to every call. Assumed: none by default (tests); the benchmarks set 150 ms. */
export const DEFAULT_LATENCY_MS = 0;

/**
 * Retry-After in whole seconds, never zero: RFC 9110 defines delay-seconds as an integer, and Microsoft's
 * throttling guidance asks to wait "the number of seconds" given (its fractional sample was corrected).
 */
export function retryAfterSeconds(waitMs: number): number {
  return Math.max(1, Math.ceil(waitMs / 1000));
}
