/**
 * The rest of a user's life once it is placed: leaving (disabled in Microsoft, soft-deleted, or out of the
 * sync filter), being offboarded back to customer level, coming back, and moving between sites. Pure rules;
 * the use cases in shared/lifecycle apply them.
 */
import type { LeaverSettings } from './schemas';
import type { NumberEntry } from './numbers';
import type { NumberType } from './schemas';
import { effectiveStatus } from './numbers';

export const LEAVER_REASONS = ['disabled', 'soft-deleted', 'outside-filter'] as const;
export type LeaverReason = (typeof LEAVER_REASONS)[number];

/** A user seen leaving, and when it is due to be offboarded (per the customer's leaver setting). */
export interface Leaver {
  reason: LeaverReason;
  /** ISO instant the sync first saw it leave. */
  since: string;
  /** ISO instant it is offboarded (offboard-after-days), absent when kept or offboarded at once. */
  offboardAt?: string;
}

/** Where an offboarded leaver was, so that it can come back there. */
export interface ReturnTo {
  siteId: string;
  profileId?: string;
  number?: string;
  lineType?: NumberType;
  /** ISO instant of the offboarding. */
  offboardedAt: string;
}

/** Why a user is a leaver now, from what Microsoft shows; undefined when it is not (any more). */
export function leaverReasonOf(input: { accountEnabled?: unknown; softDeleted: boolean; outsideFilter: boolean }): LeaverReason | undefined {
  if (input.softDeleted) return 'soft-deleted';
  if (input.outsideFilter) return 'outside-filter';
  if (input.accountEnabled === false) return 'disabled';
  return undefined;
}

const DAY_MS = 86_400_000;

/** What the leaver setting says for a user seen leaving at `since`. */
export function leaverSchedule(settings: LeaverSettings, since: Date): { kind: 'keep' } | { kind: 'offboard'; at: Date } {
  switch (settings.action) {
    case 'keep':
      return { kind: 'keep' };
    case 'offboard-at-once':
      return { kind: 'offboard', at: since };
    case 'offboard-after-days':
    default:
      return { kind: 'offboard', at: new Date(since.getTime() + (settings.afterDays ?? 1) * DAY_MS) };
  }
}

const REASON_TEXT: Record<LeaverReason, string> = {
  disabled: 'disabled in Microsoft',
  'soft-deleted': 'deleted in Microsoft (restorable)',
  'outside-filter': "no longer in the customer's sync filter",
};

export function describeLeaver(leaver: Pick<Leaver, 'reason' | 'since'>): string {
  return `${REASON_TEXT[leaver.reason]} since ${leaver.since}`;
}

/**
 * Whether a returning user may have its old number back: the number is Available, or still cooling from
 * this user's own release, or already kept (Reserved or Used) for it. Cooling exists for exactly this: no one
 * else was given the number meanwhile.
 */
export function numberFreeFor(entry: NumberEntry, userId: string, now: Date): boolean {
  if ((entry.status === 'Reserved' || entry.status === 'Used') && entry.userId === userId) return true;
  if (entry.status === 'Cooling' && entry.userId === userId) return true;
  return effectiveStatus(entry, now) === 'Available';
}

/** The entry kept for a returning user until provisioning assigns it again. */
export function keepForReturn(entry: NumberEntry, userId: string, now: Date): NumberEntry {
  if (entry.status === 'Reserved' && entry.userId === userId) return entry;
  const { coolingUntil: _c, ...rest } = entry;
  return { ...rest, status: 'Reserved', userId, reason: 'kept for a returning user until its line is assigned again', reasonAt: now.toISOString(), usedSince: now.toISOString() };
}

/** Policies and a dial plan by name, as site defaults and Quick Add Groups give them (names normalized). */
export interface PolicySet {
  teamsPolicies: Partial<Record<string, string | undefined>>;
  dialPlan?: string;
}

/**
 * What leaving a site takes away from a user: the old site's Teams policies and dial plan the user still
 * holds directly (as the site gave them), unless where it goes sets the same type again — the new site or
 * the profile's Quick Add Group on a move, nothing when offboarded to customer level. The tenant's Global
 * (or a group's) policy applies again to what is taken away.
 */
export function leftBehind(
  oldSite: PolicySet,
  direct: ReadonlyMap<string, string>,
  next: readonly PolicySet[] = [],
  dialPlanType = 'TenantDialPlan',
): { policyTypes: string[]; dialPlan?: string } {
  const setAgain = new Set(next.flatMap((p) => Object.entries(p.teamsPolicies).filter(([, name]) => name).map(([type]) => type.toLowerCase())));
  const policyTypes = Object.entries(oldSite.teamsPolicies)
    .filter(([type, name]) => name && direct.get(type.toLowerCase()) === name && !setAgain.has(type.toLowerCase()))
    .map(([type]) => type);
  const dialPlanAgain = next.some((p) => p.dialPlan);
  const dialPlan = oldSite.dialPlan && !dialPlanAgain && direct.get(dialPlanType.toLowerCase()) === oldSite.dialPlan ? oldSite.dialPlan : undefined;
  return { policyTypes, ...(dialPlan ? { dialPlan } : {}) };
}
