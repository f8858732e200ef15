/**
 * What the sync needs to decide about a user it fetched again, and whether it may apply deletions.
 */
import type { AttributeValue } from './criteria';
import type { DeleteThreshold, SyncEntityType } from './schemas';
import { SYNCED_USER_FIELDS, type MicrosoftUser, type SyncedUserField } from './user';

/**
 * The synced fields whose value differs, in SYNCED_USER_FIELDS order. A field absent from the fresh user (not
 * selected, or `Prefer: return=minimal`) is not a change; an explicit null is.
 */
export function changedFields(stored: MicrosoftUser | undefined, fresh: MicrosoftUser): SyncedUserField[] {
  return SYNCED_USER_FIELDS.filter((f) => fresh[f] !== undefined && !sameValue(stored?.[f], fresh[f]));
}

/**
 * Whether a change touches a field the customer's move-user criteria read: the user may belong elsewhere now.
 * @param placementAttributes lower-cased attribute names those criteria read (see `criteriaAttributes`).
 */
export function readsPlacement(changed: readonly SyncedUserField[], placementAttributes: ReadonlySet<string>): boolean {
  return changed.some((f) => placementAttributes.has(f.toLowerCase()));
}

/** The stored user with the fresh values laid over it (absent fresh fields keep their stored values). */
export function mergeUser(stored: MicrosoftUser | undefined, fresh: MicrosoftUser): MicrosoftUser {
  const merged: MicrosoftUser = { ...(stored ?? {}), id: fresh.id };
  for (const f of SYNCED_USER_FIELDS) if (fresh[f] !== undefined) merged[f] = fresh[f];
  return merged;
}

function sameValue(a: AttributeValue, b: AttributeValue): boolean {
  if (Array.isArray(a) && Array.isArray(b)) {
    // Order of multi-valued attributes (licenses, phones) carries no meaning.
    const x = [...a].sort();
    const y = [...b].sort();
    return x.length === y.length && x.every((v, i) => v === y[i]);
  }
  return (a ?? null) === (b ?? null);
}

export type DeleteDecision =
  | { allow: true }
  | { allow: false; reason: string; pending: number; total: number };

/**
 * The delete guard: deletions pending for one entity type against the stored total. Held (the whole batch,
 * never a part) when they exceed either the count or the share limit, so an empty or truncated read from
 * Microsoft cannot wipe a tenant.
 */
export function guardDeletes(entityType: SyncEntityType, pending: number, total: number, threshold: DeleteThreshold): DeleteDecision {
  if (pending <= 0) return { allow: true };
  if (threshold.maxCount !== null && pending > threshold.maxCount) {
    return { allow: false, pending, total, reason: `${pending} ${entityType} deletions pending, more than the limit of ${threshold.maxCount}` };
  }
  const share = total > 0 ? pending / total : 1;
  if (threshold.maxShare !== null && share > threshold.maxShare) {
    return {
      allow: false,
      pending,
      total,
      reason: `${pending} of ${total} ${entityType} (${formatShare(share)}) would be deleted, more than the limit of ${formatShare(threshold.maxShare)}`,
    };
  }
  return { allow: true };
}

function formatShare(share: number): string {
  return `${Math.round(share * 1000) / 10}%`;
}
