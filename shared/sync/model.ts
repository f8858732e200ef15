/**
 * The pull sync's own records: which syncs a customer has and when they run, and what each run did.
 */
import { z } from 'zod';
import type { NumberReport } from '../inventory/reconcile';

export const SYNC_KINDS = ['full', 'delta', 'staging'] as const;
export type SyncKind = (typeof SYNC_KINDS)[number];

export const ENTITY_TYPES = ['dialPlans', 'policies', 'licenses', 'resourceAccounts', 'users'] as const;
export type EntityType = (typeof ENTITY_TYPES)[number];

export interface EntityCounts {
  added: number;
  changed: number;
  unchanged: number;
  deleted: number;
  /** Deletions held back by the delete guard. */
  held: number;
}

export const zeroCounts = (): EntityCounts => ({ added: 0, changed: 0, unchanged: 0, deleted: 0, held: 0 });

export function addCounts(a: EntityCounts, b: Partial<EntityCounts>): EntityCounts {
  return {
    added: a.added + (b.added ?? 0),
    changed: a.changed + (b.changed ?? 0),
    unchanged: a.unchanged + (b.unchanged ?? 0),
    deleted: a.deleted + (b.deleted ?? 0),
    held: a.held + (b.held ?? 0),
  };
}

export type SyncTrigger = 'schedule' | 'operator' | 'onboarding' | 'notification';
/** `partial`: some entity type failed and another synced; `failed`: none synced. */
export type RunStatus = 'running' | 'succeeded' | 'held' | 'partial' | 'failed';

/** What one entity type did in a run; each stands alone, so one that fails leaves the others whole. */
export interface EntityOutcome {
  status: 'running' | 'succeeded' | 'held' | 'skipped' | 'failed';
  /** Why it failed, was skipped, or holds deletions. */
  reason?: string;
}

/** A failure as an entity type's reason: its first line, at most 500 characters. */
export function failureReason(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).split('\n')[0].slice(0, 500);
}

export const runningEntities = (): Record<EntityType, EntityOutcome> =>
  Object.fromEntries(ENTITY_TYPES.map((t) => [t, { status: 'running' }])) as Record<EntityType, EntityOutcome>;

/**
 * The run's status from its entity types: failed when none synced and one failed, partial when one failed
 * and another synced, held when deletions wait for an operator, succeeded otherwise (skipped types, with
 * their reason, do not fail a run).
 */
export function runStatusOf(entities: Record<EntityType, EntityOutcome>): Exclude<RunStatus, 'running'> {
  const outcomes = Object.values(entities);
  const synced = outcomes.filter((e) => e.status === 'succeeded' || e.status === 'held').length;
  if (outcomes.some((e) => e.status === 'failed' || e.status === 'running')) return synced > 0 ? 'partial' : 'failed';
  return outcomes.some((e) => e.status === 'held') ? 'held' : 'succeeded';
}

/** One run of a sync, as operators see it. */
export interface SyncRun {
  customerId: string;
  runId: string;
  kind: SyncKind;
  /** What the users family did: a full read or a delta round. */
  mode: 'full' | 'delta';
  trigger: SyncTrigger;
  status: RunStatus;
  startedAt: string;
  finishedAt?: string;
  counts: Record<EntityType, EntityCounts>;
  /** What each entity type did: succeeded, held, skipped or failed, with the reason. */
  entities: Record<EntityType, EntityOutcome>;
  /** Why a delta run became a full resync (an expired or reset delta token). */
  resync?: string;
  /** Why deletions were held; an operator may allow them. */
  heldReason?: string;
  /** Users handed to flow-through provisioning. */
  handedOff: number;
  /** The number inventory brought in line with what the read saw in Teams. */
  numbers?: NumberReport;
  /** Held deletions of users this run saw again in Microsoft: released, nothing deleted. */
  holdsReleased?: HoldsReleased;
  errors: string[];
}

export interface HoldsReleased {
  count: number;
  /** The first of them. */
  userIds: string[];
}

export interface SyncDefinition {
  customerId: string;
  kind: SyncKind;
  /** Six-field NCRONTAB, UTC. */
  schedule: string;
  enabled: boolean;
  /** When the scheduler last started (or tried to start) it. */
  lastStartedAt?: string;
  lastRunId?: string;
  /** The last time a due run was skipped, and why. */
  lastSkipped?: { at: string; reason: string };
}

/**
 * A customer's default syncs, created by its first sync: a nightly full pull, a frequent delta, and a
 * staging re-check that stays off until enabled (as staging itself is opt-in).
 */
export const DEFAULT_SYNCS: ReadonlyArray<Pick<SyncDefinition, 'kind' | 'schedule' | 'enabled'>> = [
  { kind: 'full', schedule: '0 0 2 * * *', enabled: true },
  { kind: 'delta', schedule: '0 */15 * * * *', enabled: true },
  { kind: 'staging', schedule: '0 0 */4 * * *', enabled: false },
];

const ncrontabField = /^[\d*/,\-A-Za-z?]+$/;
export const syncDefinitionUpdateSchema = z
  .object({
    schedule: z
      .string()
      .max(120)
      .refine((s) => {
        const fields = s.trim().split(/\s+/);
        return fields.length === 6 && fields.every((f) => ncrontabField.test(f));
      }, 'a six-field NCRONTAB expression: second minute hour day month day-of-week')
      .optional(),
    enabled: z.boolean().optional(),
  })
  .strict();
export type SyncDefinitionUpdate = z.infer<typeof syncDefinitionUpdateSchema>;

/** Instance id of a sync's orchestration: one per customer and kind, so runs of a kind never overlap. */
export function syncInstanceId(customerId: string, kind: SyncKind): string {
  return `sync:${kind}:${customerId}`;
}

/** What the start path knows of a sync's orchestration: its runtime status and the run it serves. */
export interface RunInstance {
  active: boolean;
  runtimeStatus: string;
  runId?: string;
}

/**
 * A run as operators, clients and the start path see it. Its record is written by the orchestration's last
 * activity, a moment before the orchestration itself completes; until it has, the run reads `running`, so
 * a run never reads finished while a new start of its kind would be refused. A record still `running`
 * whose orchestration has ended (failed, terminated, purged, or replaced by a later run) reads `failed`,
 * with the reason: nothing will finish it any more.
 */
export function runAsSeen(run: SyncRun, instance: RunInstance | undefined): SyncRun {
  const ours = instance !== undefined && instance.runId === run.runId;
  if (ours && instance.active) return run.status === 'running' ? run : { ...run, status: 'running', finishedAt: undefined };
  if (run.status !== 'running') return run;
  const why = !ours
    ? 'its orchestration is gone: the run was never finished'
    : `its orchestration ended (${instance.runtimeStatus}) before the run was finished`;
  return { ...run, status: 'failed', errors: [...run.errors, why] };
}

/** A run recorded before entity outcomes were kept reads with outcomes taken from its status. */
export function withEntityOutcomes(run: SyncRun): SyncRun {
  if (run.entities) return run;
  const status: EntityOutcome['status'] = run.status === 'running' ? 'running' : run.status === 'failed' ? 'failed' : 'succeeded';
  return { ...run, entities: Object.fromEntries(ENTITY_TYPES.map((t) => [t, { status }])) as Record<EntityType, EntityOutcome> };
}

/**
 * The last run's outcome for a catalog type, kept in the customer's sync state so provisioning can say why
 * an item it needs (a dial plan) is missing: the type failed or was skipped, and the reason.
 */
export interface CatalogOutcomeRecord extends EntityOutcome {
  runId: string;
  at: string;
}

export const catalogOutcomeKey = (type: Exclude<EntityType, 'users'>): string => `catalogOutcome:${type}`;

/** Sync state key of the last Teams pass read to its end. */
export const TEAMS_PASS_KEY = 'teamsPass';

/** A Teams pass read to its end: every user its run synced without a Teams row is not in Teams. */
export interface TeamsPassRecord {
  /** Start of the run whose Teams pass this was (the `syncedAt` it gave the users). */
  runStartedAt: string;
  completedAt: string;
}
