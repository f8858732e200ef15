/**
 * What bench:provision reports, from the emulator's counters and the users' transactions: the requests
 * sitesync sent per quota, and the least each user's plan had to write.
 */
import type { CountersSnapshot } from '../../local/graph-emulator';
import type { TransactionRecord } from '../../shared/domain';

/** The quotas a provisioned user spends, per minute per app and tenant (docs/limits.md). */
export const BUDGET_RATES_PER_MINUTE = {
  /** 3,000 writes per 150 s: documented. */
  identityWrites: (3_000 / 150) * 60,
  /** 30 requests per second on /admin/teams/*: assumed. */
  teams: 30 * 60,
  /** 30 requests per second on the bridge: assumed. */
  bridge: 30 * 60,
} as const;

export type Budget = keyof typeof BUDGET_RATES_PER_MINUTE;

const IDENTITY = /^(users|subscribedSkus|groups)\./;

/** Requests sitesync sent, by kind and by quota: every $batch item counts, as Microsoft counts it. */
export function requestsByBudget(counters: CountersSnapshot): { byKind: Record<string, number>; total: number; http: number } {
  const sum = (keys: string[], from: Record<string, number>) => keys.reduce((n, k) => n + (from[k] ?? 0), 0);
  const kinds = Object.keys(counters.requests);
  const identity = kinds.filter((k) => IDENTITY.test(k));
  const teams = kinds.filter((k) => k.startsWith('teams.'));
  const bridge = kinds.filter((k) => k.startsWith('bridge.'));
  const other = kinds.filter((k) => !IDENTITY.test(k) && !k.startsWith('teams.') && !k.startsWith('bridge.') && k !== 'batch' && k !== 'batch.items');
  const identityWrites = sum(identity, counters.writes);
  const teamsWrites = sum(teams, counters.writes);
  const byKind = {
    identityReads: sum(identity, counters.requests) - identityWrites,
    identityWrites,
    teamsReads: sum(teams, counters.requests) - teamsWrites,
    teamsWrites,
    bridge: sum(bridge, counters.requests),
    ...(other.length > 0 ? { other: sum(other, counters.requests) } : {}),
  };
  const total = Object.values(byKind).reduce((n, v) => n + v, 0);
  const http = total - (counters.requests['batch.items'] ?? 0) + (counters.requests.batch ?? 0);
  return { byKind, total, http };
}

/**
 * The writes the users' plans needed, from their transactions: usage location and licenses (identity),
 * every policy in one request and the number (Teams), the dial plan (bridge), and one write per group
 * joined or left (identity). A step counts once per transaction, whatever its retries; a step skipped
 * needed no write.
 */
export function minimumWrites(transactions: readonly TransactionRecord[]): Record<Budget, number> & { total: number } {
  const out = { identityWrites: 0, teams: 0, bridge: 0 };
  for (const t of transactions) {
    const attempted = t.steps.filter((s) => s.result !== 'skipped');
    const has = (name: string) => attempted.some((s) => s.name === name);
    if (has('usage-location')) out.identityWrites++;
    if (has('licenses')) out.identityWrites++;
    if (attempted.some((s) => s.name.startsWith('policy:'))) out.teams++;
    if (has('dial-plan')) out.bridge++;
    const numbers = new Set(attempted.filter((s) => s.name === 'number' && /assign/i.test(s.detail ?? '')).map((s) => /\+\d+/.exec(s.detail ?? '')?.[0] ?? s.detail));
    out.teams += numbers.size;
    const groups = new Set(attempted.filter((s) => s.name === 'groups').flatMap((s) => (s.detail ?? '').split(/\s+/).filter((g) => /^[+-]/.test(g))));
    out.identityWrites += groups.size;
  }
  return { ...out, total: out.identityWrites + out.teams + out.bridge };
}
