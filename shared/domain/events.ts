/**
 * User state change events: what a service provider's own workflow (a welcome email, a ticket) hangs on.
 * One event per change of a user's visible state, named by what happened; a write that leaves the state as it
 * was is no event. The shape is documented in docs/events.md.
 */
import type { UserState } from './user';

export const USER_EVENT_TYPES = ['placed', 'provisioned', 'staged', 'needs-attention', 'moved', 'offboarded', 'deleted'] as const;
export type UserEventType = (typeof USER_EVENT_TYPES)[number];

/** The CloudEvents `type` of each event. */
export const userEventTypeName = (type: UserEventType): string => `sitesync.user.${type}`;

/** A state as an event shows it: its kind and, where it has them, the site, profile and reason. */
export interface EventState {
  state: UserState['kind'] | 'deleted';
  siteId?: string;
  profileId?: string;
  reason?: string;
}

export function eventState(state: UserState | undefined): EventState {
  if (!state) return { state: 'deleted' };
  return {
    state: state.kind,
    ...('siteId' in state && state.siteId ? { siteId: state.siteId } : {}),
    ...('profileId' in state ? { profileId: state.profileId } : {}),
    ...('reason' in state && state.reason ? { reason: state.reason } : {}),
  };
}

/**
 * What a change from `before` to `after` is, or undefined when the visible state did not change (the same
 * kind at the same site). `after` undefined: the user's record is gone (deleted in Microsoft).
 *
 * - a user leaving its site for customer level is `offboarded`; for another site, `moved`;
 * - a user reaching a site from customer level, or changing state at its site, is named by its new state
 *   (`placed` for at-site);
 * - a user at customer level that needs attention is `needs-attention`; one merely given another reason to
 *   stay at customer level is no event, nor is waiting in `provisioning` for Teams to finish a number.
 */
export function userEventType(before: UserState | undefined, after: UserState | undefined): UserEventType | undefined {
  if (!after) return before ? 'deleted' : undefined;
  const from = before && 'siteId' in before ? before.siteId : undefined;
  const to = 'siteId' in after ? after.siteId : undefined;
  if (before && before.kind === after.kind && from === to) return undefined;
  if (from && !to) return after.kind === 'needs-attention' ? 'needs-attention' : 'offboarded';
  if (from && to && from !== to) return 'moved';
  switch (after.kind) {
    // At customer level is no event; waiting for Teams to finish a number is told once the user reaches its state.
    case 'at-customer':
    case 'provisioning':
      return undefined;
    case 'at-site':
      return 'placed';
    default:
      return after.kind;
  }
}
