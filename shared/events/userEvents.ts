/**
 * Building and sending user state change events. An event is derived from the state before a change and the
 * state after it; its id from what caused it (a transaction, a sync run) and the state reached, so a repeat
 * of the same change (a redelivered message, a retried activity) yields the same id and the queue's
 * duplicate detection drops it, while a later, different change of the same user is a new event.
 */
import { createHash } from 'node:crypto';
import { eventState, userEventType, type UserRecord, type UserState } from '../domain';
import type { UserEvent, UserEventPublisher } from '../ports/events';

export interface ChangeOf {
  customerId: string;
  userId: string;
  /** The record's attributes (for the user's name in the event). */
  attributes?: UserRecord['attributes'];
  before: UserState | undefined;
  after: UserState | undefined;
  numberBefore?: string;
  numberAfter?: string;
  /** What made the change: a transaction id, or a sync run and the user's observed version. */
  causeId: string;
  cause: string;
  transactionId?: string;
  at: Date;
}

/** The event for a change, or undefined when the visible state did not change. */
export function userEvent(change: ChangeOf): UserEvent | undefined {
  const type = userEventType(change.before, change.after);
  if (!type) return undefined;
  const to = eventState(change.after);
  const id = createHash('sha256')
    .update([change.customerId, change.userId, change.causeId, type, to.state, to.siteId ?? ''].join('\u0000'))
    .digest('base64url')
    .slice(0, 40);
  const a: Partial<UserRecord['attributes']> = change.attributes ?? {};
  return {
    id: `user-${id}`,
    type,
    customerId: change.customerId,
    userId: change.userId,
    ...(typeof a.userPrincipalName === 'string' ? { userPrincipalName: a.userPrincipalName } : {}),
    ...(typeof a.displayName === 'string' ? { displayName: a.displayName } : {}),
    at: change.at.toISOString(),
    from: eventState(change.before),
    to,
    ...(change.numberAfter ? { number: change.numberAfter } : {}),
    ...(change.numberBefore && change.numberBefore !== change.numberAfter ? { previousNumber: change.numberBefore } : {}),
    ...(change.transactionId ? { transactionId: change.transactionId } : {}),
    cause: change.cause,
  };
}

/** Publishes the events of these changes (none for a change that is no event); no publisher wired, nothing. */
export async function publishChanges(publisher: UserEventPublisher | undefined, changes: readonly ChangeOf[]): Promise<number> {
  if (!publisher) return 0;
  const events = changes.map(userEvent).filter((e): e is UserEvent => e !== undefined);
  if (events.length > 0) await publisher.publish(events);
  return events.length;
}
