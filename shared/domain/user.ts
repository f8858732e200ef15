/**
 * The user record kept at customer level, its visible states, and the transaction log of what was done
 * to it. Every user ends in a state an operator can see.
 */
import { z } from 'zod';
import type { AttributeValue } from './criteria';
import type { WantedLine } from './lines';
import type { Leaver, ReturnTo } from './lifecycle';

/** The Microsoft user attributes the sync stores (Graph names). */
export const SYNCED_USER_FIELDS = [
  'userPrincipalName',
  'displayName',
  'givenName',
  'surname',
  'mail',
  'department',
  'jobTitle',
  'officeLocation',
  'city',
  'country',
  'usageLocation',
  'businessPhones',
  'mobilePhone',
  'assignedLicenses',
  'licenseDisabledPlans',
  'accountEnabled',
  'onPremisesSyncEnabled',
  'employeeId',
  'employeeType',
  'companyName',
  'userType',
] as const;
export type SyncedUserField = (typeof SYNCED_USER_FIELDS)[number];

/**
 * A user as the sync reads it from Microsoft; `assignedLicenses` is the list of SKU ids, and
 * `licenseDisabledPlans` the service plans turned off in them, as `<skuId>/<servicePlanId>`.
 */
export type MicrosoftUser = { id: string } & Partial<Record<SyncedUserField, AttributeValue>>;

export type UserState =
  | { kind: 'at-customer'; /** Why placement left the user here, when it ran. */ reason?: string }
  | { kind: 'at-site'; siteId: string }
  | { kind: 'provisioned'; siteId: string; profileId: string }
  | {
      kind: 'staged';
      siteId: string;
      profileId: string;
      /** ISO instant. */ since: string;
      /** The line chosen for the user (an operator's explicit number, or the next available), given once Teams knows the user. */
      line?: WantedLine;
    }
  | { kind: 'needs-attention'; reason: string; siteId?: string }
  /** Everything is done but what Microsoft finishes on its own (a number assignment); checked shortly. */
  | { kind: 'provisioning'; siteId: string; profileId: string; /** ISO instant. */ since: string; waitingFor: string };

export type UserStateKind = UserState['kind'];

/** The user's Teams side as the sync last saw it. */
export interface TeamsState {
  /** False while Teams does not know the user yet (licensed users appear with a delay). */
  present: boolean;
  enterpriseVoice: boolean;
  numbers: string[];
  accountType: string | null;
  featureTypes: string[];
  /** Effective policy name per policy type. */
  policies: Record<string, string>;
  /**
   * The policies (and dial plan, as `TenantDialPlan`) assigned to the user directly, by type: what
   * provisioning gave and may change. Absent when stored before it was kept.
   */
  direct?: Record<string, string>;
  /** The user's primary number, when it has one. */
  primaryNumber?: string;
}

/**
 * A hand-off to provisioning that has not finished: written with the user's row by the sync that hands the
 * user off (so the two cannot part), cleared when provisioning of that cause ends. The reconciler sends it
 * again when it is neither queued nor being worked on (a message lost, a host killed in between).
 */
export interface PendingHandOff {
  reason: 'sync-add' | 'sync-update';
  /** The synced state that caused it (the run's start). */
  observedAt: string;
  requestedAt: string;
}

export interface UserRecord {
  customerId: string;
  /** The Entra object id. */
  userId: string;
  attributes: MicrosoftUser;
  state: UserState;
  role?: string;
  /** The number held, as recorded in the inventory. */
  number?: string;
  /** Other sites whose criteria matched when the user was placed (overlapping criteria to fix). */
  alsoMatchedSites?: string[];
  /** ISO instant of the last sync that saw the user. */
  syncedAt?: string;
  /** Set while the user is soft-deleted in Microsoft (restorable): kept, with its number, until restored or purged. */
  removed?: { kind: 'soft'; at: string };
  teams?: TeamsState;
  /** The Entra groups provisioning has made the user a member of (so a later plan does not join them again). */
  groups?: string[];
  lastTransactionId?: string;
  handoff?: PendingHandOff;
  /** Set while the user is a leaver (disabled or soft-deleted in Microsoft): why, since when, and when it is offboarded. */
  leaver?: Leaver;
  /** Where an offboarded leaver was, so that it comes back there when restored (its number still free). */
  returnTo?: ReturnTo;
}

export function siteOf(state: UserState): string | undefined {
  return 'siteId' in state ? state.siteId : undefined;
}

// ---------------------------------------------------------------------------------------------
// Transactions

export type TransactionKind = 'provision' | 'overbuild' | 'quick-user' | 'sync' | 'move' | 'notification' | 'offboard';
export type StepResult = 'ok' | 'skipped' | 'failed';
export type TransactionOutcome = 'running' | 'succeeded' | 'partially-failed' | 'failed';

export interface TransactionStep {
  name: string;
  result: StepResult;
  detail?: string;
  /** ISO instant. */
  at: string;
}

export interface TransactionRecord {
  /** Newest-first sortable; see `newTransactionId`. */
  id: string;
  customerId: string;
  kind: TransactionKind;
  userId?: string;
  /** What triggered it (message id, operator, schedule); repeats of the same trigger share it. */
  trigger?: string;
  startedAt: string;
  finishedAt?: string;
  outcome: TransactionOutcome;
  steps: TransactionStep[];
  /** The user's state and number when the transaction began: what its state change event starts from, on every repeat. */
  from?: { state: UserState; number?: string };
}

const transactionStepSchema = z.object({
  name: z.string(),
  result: z.enum(['ok', 'skipped', 'failed']),
  detail: z.string().optional(),
  at: z.string(),
});

/** Validates a transaction read back from storage or served by the API. */
export const transactionRecordSchema: z.ZodType<TransactionRecord> = z.object({
  id: z.string().min(1),
  customerId: z.string().min(1),
  kind: z.enum(['provision', 'overbuild', 'quick-user', 'sync', 'move', 'notification', 'offboard']),
  userId: z.string().optional(),
  trigger: z.string().optional(),
  startedAt: z.string(),
  finishedAt: z.string().optional(),
  outcome: z.enum(['running', 'succeeded', 'partially-failed', 'failed']),
  steps: z.array(transactionStepSchema),
  from: z.object({ state: z.lazy(() => userStateSchema), number: z.string().optional() }).optional(),
});

const wantedLineSchema = z.union([
  z.object({ kind: z.literal('explicit'), number: z.string(), type: z.enum(['DirectRouting', 'CallingPlan', 'OperatorConnect', 'TeamsPhoneMobile']) }),
  z.object({ kind: z.literal('nextAvailable'), type: z.enum(['DirectRouting', 'CallingPlan', 'OperatorConnect', 'TeamsPhoneMobile']) }),
]);

/** A user's state as stored and served. */
export const userStateSchema: z.ZodType<UserState> = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('at-customer'), reason: z.string().optional() }),
  z.object({ kind: z.literal('at-site'), siteId: z.string() }),
  z.object({ kind: z.literal('provisioned'), siteId: z.string(), profileId: z.string() }),
  z.object({ kind: z.literal('provisioning'), siteId: z.string(), profileId: z.string(), since: z.string(), waitingFor: z.string() }),
  z.object({ kind: z.literal('staged'), siteId: z.string(), profileId: z.string(), since: z.string(), line: wantedLineSchema.optional() }),
  z.object({ kind: z.literal('needs-attention'), reason: z.string(), siteId: z.string().optional() }),
]);

const MAX_TIME = 8_640_000_000_000_000; // largest ECMAScript time value

/**
 * Ids sort newest first as plain strings (storage lists them in key order): the inverted start time,
 * zero-padded, then a unique part.
 */
export function newTransactionId(startedAt: Date, unique: string): string {
  return `${(MAX_TIME - startedAt.getTime()).toString().padStart(16, '0')}-${unique}`;
}

/** The outcome once every step is known: one failed step among successes is a partial failure. */
export function transactionOutcome(steps: readonly TransactionStep[]): Exclude<TransactionOutcome, 'running'> {
  const failed = steps.filter((s) => s.result === 'failed').length;
  if (failed === 0) return 'succeeded';
  return failed === steps.length ? 'failed' : 'partially-failed';
}
