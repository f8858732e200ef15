/**
 * Overbuild: every customer-level user whose attributes match an overbuild-enabled site's move-user
 * criteria is moved there (and provisioned when asked). A failure stops nothing and rolls nothing back;
 * each user's result is recorded in its own transaction, and the run is summarised.
 *
 * The orchestration calls `selectOverbuildUsers` once, then `overbuildUsers` on chunks of the matches.
 */
import { z } from 'zod';
import { isResourceAccount, place, siteOf, type UserState } from '../domain';
import type { Storage } from '../ports/storage';
import { customerContext, placementFor } from './customerContext';
import type { ProvisionUserMessage } from './messages';
import type { ProvisioningDeps } from './ports';
import { provisionUser } from './provisionUser';

export const overbuildRequestSchema = z.object({
  /** One site; absent = every overbuild-enabled site. */
  siteId: z.string().min(1).max(200).optional(),
  /** Move and provision (true) or move only. */
  provision: z.boolean().default(false),
  /** Run again every so many minutes (stored as the customer's overbuild schedule); 0 removes it. */
  repeatEveryMinutes: z.number().int().min(0).max(525_600).optional(),
});
export type OverbuildRequest = z.infer<typeof overbuildRequestSchema>;

export interface OverbuildInput {
  customerId: string;
  overbuildId: string;
  siteId?: string;
  provision: boolean;
  startedAt: string;
}

export interface UserResult {
  userId: string;
  reason: string;
}

export interface OverbuildSelection {
  total: number;
  matched: Array<{ userId: string; siteId: string }>;
  unmatched: { count: number; users: UserResult[] };
}

export interface OverbuildChunkResult {
  moved: number;
  provisioned: number;
  staged: number;
  /** Transient failures: a retry is scheduled on the provisioning queue. */
  pending: UserResult[];
  failed: UserResult[];
}

export interface OverbuildSummary extends OverbuildChunkResult {
  customerId: string;
  overbuildId: string;
  siteId?: string;
  provision: boolean;
  /** Customer-level users considered. */
  total: number;
  unmatched: { count: number; users: UserResult[] };
  startedAt: string;
}

/** The most unmatched or failed users listed by name in a summary (the counts are always whole). */
export const LISTED_USERS = 500;

export class OverbuildSiteError extends Error {
  override name = 'OverbuildSiteError';
}

/** Customer-level users and where overbuild would move them. */
export async function selectOverbuildUsers(storage: Storage, customerId: string, siteId?: string): Promise<OverbuildSelection> {
  const ctx = await customerContext(storage, customerId);
  const rules = siteId === undefined ? ctx.placement : placementFor(ctx, siteId);
  if (siteId !== undefined && rules.sites.length === 0) throw new OverbuildSiteError(`site ${siteId} is not enabled for overbuild with Microsoft users and move-user criteria`);
  const selection: OverbuildSelection = { total: 0, matched: [], unmatched: { count: 0, users: [] } };
  for await (const { value: user } of storage.users.list(customerId)) {
    if (!isAtCustomer(user.state) || isResourceAccount(user.attributes, user.teams?.accountType)) continue;
    selection.total++;
    const placement = place(user.attributes, rules);
    if (placement.kind === 'site') selection.matched.push({ userId: user.userId, siteId: placement.siteId });
    else {
      selection.unmatched.count++;
      if (selection.unmatched.users.length < LISTED_USERS) {
        selection.unmatched.users.push({ userId: user.userId, reason: placement.reason === 'no-site-enabled' ? 'no site is enabled for overbuild' : "no site's move-user criteria match" });
      }
    }
  }
  return selection;
}

export function isAtCustomer(state: UserState): boolean {
  return siteOf(state) === undefined;
}

/** Moves (and provisions) a chunk of matched users, each through the provisioning use case. */
export async function overbuildUsers(deps: ProvisioningDeps, input: OverbuildInput, users: Array<{ userId: string; siteId: string }>): Promise<OverbuildChunkResult> {
  const result: OverbuildChunkResult = { moved: 0, provisioned: 0, staged: 0, pending: [], failed: [] };
  const count = (state: UserState, userId: string) => {
    if (state.kind === 'needs-attention') result.failed.push({ userId, reason: state.reason });
    else if (state.kind === 'provisioning') {
      result.moved++;
      result.pending.push({ userId, reason: state.waitingFor });
    }
    else if (state.kind === 'at-customer') result.failed.push({ userId, reason: state.reason ?? 'not moved' });
    else {
      result.moved++;
      if (state.kind === 'provisioned') result.provisioned++;
      if (state.kind === 'staged') result.staged++;
    }
  };
  await Promise.all(
    users.map(async ({ userId, siteId }) => {
      const message: ProvisionUserMessage = {
        customerId: input.customerId, userId, reason: 'overbuild', siteId, provision: input.provision,
        observedAt: input.overbuildId, requestedAt: input.startedAt,
      };
      try {
        const outcome = await provisionUser(deps, message);
        if (outcome.kind === 'done' || outcome.kind === 'pending') count(outcome.state, userId);
        else if (outcome.kind === 'retry-scheduled') result.pending.push({ userId, reason: outcome.reason });
        else {
          // A repeat of this chunk (activity retried): the user's recorded state tells what happened.
          const user = await deps.storage.users.get(input.customerId, userId);
          if (outcome.reason === 'already done' && user) count(user.value.state, userId);
          else result.failed.push({ userId, reason: outcome.reason });
        }
      } catch (error) {
        result.failed.push({ userId, reason: error instanceof Error ? error.message : String(error) });
      }
    }),
  );
  return result;
}

export function summarise(input: OverbuildInput, selection: OverbuildSelection, chunks: readonly OverbuildChunkResult[]): OverbuildSummary {
  const failed = chunks.flatMap((c) => c.failed);
  const pending = chunks.flatMap((c) => c.pending);
  return {
    customerId: input.customerId,
    overbuildId: input.overbuildId,
    ...(input.siteId ? { siteId: input.siteId } : {}),
    provision: input.provision,
    startedAt: input.startedAt,
    total: selection.total,
    moved: chunks.reduce((s, c) => s + c.moved, 0),
    provisioned: chunks.reduce((s, c) => s + c.provisioned, 0),
    staged: chunks.reduce((s, c) => s + c.staged, 0),
    pending: pending.slice(0, LISTED_USERS),
    failed: failed.slice(0, LISTED_USERS),
    unmatched: selection.unmatched,
  };
}

// ── Repeat schedules ──────────────────────────────────────────────────────────────────────────────

export const OVERBUILD_SCHEDULES_KEY = 'overbuild-schedules';

export interface OverbuildSchedule {
  siteId?: string;
  provision: boolean;
  everyMinutes: number;
  /** ISO instant of the next run. */
  nextRunAt: string;
}

/** Stores (or with everyMinutes 0 removes) the customer's repeat of this overbuild. */
export async function saveOverbuildSchedule(storage: Storage, customerId: string, request: OverbuildRequest, now: Date): Promise<void> {
  if (request.repeatEveryMinutes === undefined) return;
  for (let attempt = 0; attempt < 5; attempt++) {
    const current = await storage.syncState.get<OverbuildSchedule[]>(customerId, OVERBUILD_SCHEDULES_KEY);
    const others = (current?.value ?? []).filter((s) => s.siteId !== request.siteId);
    const next = request.repeatEveryMinutes > 0
      ? [...others, { ...(request.siteId ? { siteId: request.siteId } : {}), provision: request.provision, everyMinutes: request.repeatEveryMinutes, nextRunAt: new Date(now.getTime() + request.repeatEveryMinutes * 60_000).toISOString() }]
      : others;
    try {
      await storage.syncState.put(customerId, OVERBUILD_SCHEDULES_KEY, next, current?.etag);
      return;
    } catch (error) {
      if (attempt === 4) throw error;
    }
  }
}

/**
 * Schedules due now, across customers, each claimed by moving its next run forward (a conditional write,
 * so two timer instances never start the same run).
 */
export async function claimDueOverbuilds(storage: Storage, now: Date): Promise<Array<{ customerId: string; schedule: OverbuildSchedule }>> {
  const due: Array<{ customerId: string; schedule: OverbuildSchedule }> = [];
  for (const { value: customer } of await storage.customers.list()) {
    const current = await storage.syncState.get<OverbuildSchedule[]>(customer.id, OVERBUILD_SCHEDULES_KEY);
    if (!current) continue;
    const ready = current.value.filter((s) => Date.parse(s.nextRunAt) <= now.getTime());
    if (ready.length === 0) continue;
    const next = current.value.map((s) => (ready.includes(s) ? { ...s, nextRunAt: new Date(now.getTime() + s.everyMinutes * 60_000).toISOString() } : s));
    try {
      await storage.syncState.put(customer.id, OVERBUILD_SCHEDULES_KEY, next, current.etag);
      due.push(...ready.map((schedule) => ({ customerId: customer.id, schedule })));
    } catch {
      // another instance claimed them
    }
  }
  return due;
}

export function overbuildInstanceId(customerId: string, at: Date): string {
  return `${overbuildInstancePrefix(customerId)}${at.getTime().toString(36)}`.slice(0, 100);
}

/** What each overbuild instance id of the customer starts with; its start time (base 36) follows. */
export function overbuildInstancePrefix(customerId: string): string {
  return `overbuild-${customerId}-`.replace(/[^A-Za-z0-9_-]/g, '_');
}
