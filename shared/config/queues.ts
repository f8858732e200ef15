/**
 * Every Service Bus queue the code uses, with the entity settings it relies on. The local broker declares
 * queues from this list and the Bicep declares the same (checked by the consistency test).
 */
export interface QueueSpec {
  name: string;
  description: string;
  /** Deliveries before Service Bus dead-letters a message (MaxDeliveryCount). */
  maxDeliveryCount: number;
  /** Peek-lock duration, ISO 8601. */
  lockDuration: string;
  /** Duplicate detection on MessageId within this window, ISO 8601; undefined = off. */
  duplicateDetectionWindow?: string;
}

export const QUEUES = {
  userProvisioning: {
    name: 'user-provisioning',
    description: 'One message per user to place and provision; MessageId is the idempotency key.',
    maxDeliveryCount: 10,
    lockDuration: 'PT1M',
    duplicateDetectionWindow: 'PT10M',
  },
  numberChecks: {
    name: 'number-checks',
    description:
      'Scheduled looks at the number assignments Teams finishes on its own, one per customer per moment; a queue of their own so that a provisioning backlog never holds back users already provisioned.',
    maxDeliveryCount: 10,
    lockDuration: 'PT1M',
    duplicateDetectionWindow: 'PT10M',
  },
  graphNotifications: {
    name: 'graph-notifications',
    description: 'Accepted Microsoft Graph change notifications, processed off the webhook request path.',
    maxDeliveryCount: 10,
    lockDuration: 'PT1M',
    duplicateDetectionWindow: 'PT10M',
  },
  userEvents: {
    name: 'user-events',
    description: "User state change events for a service provider's own workflow (docs/events.md); MessageId is the event id.",
    maxDeliveryCount: 10,
    lockDuration: 'PT1M',
    // A change repeated by a retry hours later (provisioning backs off up to 15 minutes a try) is still dropped.
    duplicateDetectionWindow: 'P1D',
  },
} as const satisfies Record<string, QueueSpec>;

export const ALL_QUEUES: readonly QueueSpec[] = Object.values(QUEUES);

/** The queues a user's provisioning travels through: both empty means no provisioning work is waiting. */
export const PROVISIONING_QUEUES: readonly QueueSpec[] = [QUEUES.userProvisioning, QUEUES.numberChecks];

/** The app setting that names the Service Bus connection (`connection` on triggers and senders). */
export const SERVICE_BUS_CONNECTION = 'ServiceBusConnection';
