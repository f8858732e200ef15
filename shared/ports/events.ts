/**
 * Where user state change events go: a Service Bus queue that a service provider's own workflow reads
 * (docs/events.md). Each event's id is its message id, so a repeat of the same change is dropped by the
 * queue's duplicate detection and recognised by a consumer.
 */
import type { EventState, UserEventType } from '../domain';

export interface UserEvent {
  /** Deterministic for one change: the same transaction reaching the same state gives the same id. */
  id: string;
  type: UserEventType;
  customerId: string;
  userId: string;
  userPrincipalName?: string;
  displayName?: string;
  /** ISO instant the change was recorded. */
  at: string;
  from: EventState;
  to: EventState;
  /** The number the user holds after the change, and the one it gave up, if any. */
  number?: string;
  previousNumber?: string;
  /** The transaction that made the change, when one did (follow it for the steps). */
  transactionId?: string;
  /** What caused it: flow-through, overbuild, quick-user, move, offboard, leaver, restore, sync. */
  cause: string;
}

export interface UserEventPublisher {
  /** Sends each event as one message; resolves once the queue has them. */
  publish(events: readonly UserEvent[]): Promise<void>;
}
