/**
 * Resource accounts: the Teams identities of auto attendants and call queues. Entra keeps each as "a
 * disabled user object" whose department Teams sets to "Microsoft Communication Application Instance";
 * Teams lists it with `accountType: resourceAccount` (Microsoft Learn, "Manage resource accounts in
 * Microsoft Teams"; Graph v1.0 teamsUserConfiguration). They are synced as their own entity type, never
 * placed or provisioned as people, and the service numbers they hold are `Used-Utility` in the inventory.
 */
import type { AttributeValue } from './criteria';
import { canonicalJson } from './canonicalJson';
import type { NumberEntry } from './numbers';

export const RESOURCE_ACCOUNT_DEPARTMENT = 'Microsoft Communication Application Instance';
export const RESOURCE_ACCOUNT_TYPE = 'resourceAccount';

/** Application ids of what a resource account serves (New-CsOnlineApplicationInstance -ApplicationId). */
export const RESOURCE_ACCOUNT_APPLICATIONS: Readonly<Record<string, ResourceAccountKind>> = {
  'ce933385-9390-45d1-9512-c8d228074e07': 'auto-attendant',
  '11cd3e2e-fccb-42ad-ad00-878b93575e07': 'call-queue',
};

export type ResourceAccountKind = 'auto-attendant' | 'call-queue' | 'unknown';

export interface ResourceAccount {
  /** The Entra object id. */
  id: string;
  userPrincipalName: string | null;
  displayName: string | null;
  kind: ResourceAccountKind;
  applicationId: string | null;
  /** Service numbers assigned to it in Teams, E.164. */
  numbers: string[];
}

/**
 * Whether a directory user is a resource account: by its Entra department, or by its Teams account type
 * when the Teams side is known. Either is enough; neither makes it a person.
 */
export function isResourceAccount(attributes: { department?: AttributeValue }, teamsAccountType?: string | null): boolean {
  return attributes.department === RESOURCE_ACCOUNT_DEPARTMENT || teamsAccountType === RESOURCE_ACCOUNT_TYPE;
}

export function resourceAccountKind(applicationId: string | null | undefined): ResourceAccountKind {
  return (applicationId && RESOURCE_ACCOUNT_APPLICATIONS[applicationId.toLowerCase()]) || 'unknown';
}

const PREFIX = 'resource account ';
const KIND_LABEL: Record<ResourceAccountKind, string> = { 'auto-attendant': 'auto attendant', 'call-queue': 'call queue', unknown: 'auto attendant or call queue' };

/** Why a number is Used-Utility: the resource account holding it, and what it serves. */
export function resourceAccountReason(account: Pick<ResourceAccount, 'id' | 'userPrincipalName' | 'kind'>): string {
  return `${PREFIX}${account.userPrincipalName ?? account.id} (${KIND_LABEL[account.kind]})`;
}

/** Whether an entry was marked Used-Utility for a resource account (so the sync may release it again). */
export function heldForResourceAccount(entry: Pick<NumberEntry, 'status' | 'reason'>): boolean {
  return entry.status === 'Used-Utility' && (entry.reason ?? '').startsWith(PREFIX);
}

/**
 * The entry of a number a resource account holds: `Used-Utility` with the account as the reason, whatever it
 * read before (Teams has it on the account, so no user can be given it). Same object when nothing changes.
 */
export function markUsedByResourceAccount(entry: NumberEntry, reason: string, now: Date): NumberEntry {
  if (entry.status === 'Used-Utility' && entry.reason === reason) return entry;
  const { coolingUntil: _c, userId: _u, heldBy: _h, ...rest } = entry;
  const next: NumberEntry = {
    ...rest,
    status: 'Used-Utility',
    everUsed: true,
    usedSince: entry.status === 'Used-Utility' ? entry.usedSince : now.toISOString(),
    reason,
    reasonAt: now.toISOString(),
  };
  return canonicalJson(next) === canonicalJson(entry) ? entry : next;
}
