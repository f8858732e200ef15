/** Profile choice by flow-through criteria: the first entry whose criteria match wins. */
import { compileCriteria, type UserAttributes } from './criteria';
import type { MacroContext } from './macros';
import type { FlowThroughCriteria, FlowThroughEntry, ModelFilterCriteria } from './schemas';

export type ProfileChoice =
  | { kind: 'profile'; profileId: string; role?: string; entryIndex: number }
  | { kind: 'none'; reason: 'no-entry-matches' | 'no-criteria' };

/**
 * @param criteriaById model filter criteria referenced by the entries. An entry whose criteria are missing
 *   or not of usage Flow Through Provisioning is skipped (the API refuses such entries when saved).
 * @param macros the context of the site the user was placed at.
 */
export function chooseProfile(
  attributes: UserAttributes,
  flowThrough: FlowThroughCriteria | undefined,
  criteriaById: ReadonlyMap<string, ModelFilterCriteria>,
  macros: MacroContext = {},
): ProfileChoice {
  if (!flowThrough || flowThrough.entries.length === 0) return { kind: 'none', reason: 'no-criteria' };
  for (const [entryIndex, entry] of flowThrough.entries.entries()) {
    const criteria = usableCriteria(entry, criteriaById);
    if (criteria && compileCriteria(criteria.criteria, macros)(attributes)) {
      return { kind: 'profile', profileId: entry.profileId, entryIndex, ...(entry.role ? { role: entry.role } : {}) };
    }
  }
  return { kind: 'none', reason: 'no-entry-matches' };
}

function usableCriteria(entry: FlowThroughEntry, criteriaById: ReadonlyMap<string, ModelFilterCriteria>): ModelFilterCriteria | undefined {
  const c = criteriaById.get(entry.criteriaId);
  return c && c.usage === 'Flow Through Provisioning' ? c : undefined;
}

/**
 * Why a user stays at customer level instead of flowing through: a disabled account or a guest, unless the
 * global setting lets them through. Undefined when the user may flow through.
 */
export function flowThroughExclusion(attributes: UserAttributes, allowDisabledAndGuests: boolean): string | undefined {
  if (allowDisabledAndGuests) return undefined;
  if (attributes.accountEnabled === false) return 'the account is disabled: disabled accounts stay at customer level (global setting flowThroughDisabledAndGuests)';
  if (typeof attributes.userType === 'string' && attributes.userType.toLowerCase() === 'guest') return 'a guest: guests stay at customer level (global setting flowThroughDisabledAndGuests)';
  return undefined;
}
