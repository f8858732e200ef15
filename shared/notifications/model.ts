/**
 * Change notifications from Microsoft Graph: the subscription each customer holds on its tenant's users,
 * the messages the webhook puts on the "graph-notifications" queue, and the rules for renewing.
 */
import { z } from 'zod';

/** Graph's longest lifetime for a subscription on users (and other directory resources): under 29 days. */
export const MAX_USER_SUBSCRIPTION_MINUTES = 41_760;
/** Asked lifetime: a little under the maximum, so a clock ahead of Graph's is not refused. */
export const DEFAULT_LIFETIME_MINUTES = MAX_USER_SUBSCRIPTION_MINUTES - 30;
/** Renew once less than this share of the lifetime is left. */
export const RENEW_WHEN_LEFT = 0.25;
/** Users support only `updated` (creation, change, soft delete, restore) and `deleted` (permanent). */
export const USER_CHANGE_TYPES = 'updated,deleted';
export const USERS_RESOURCE = 'users';
/** Graph's validation tokens are a couple of hundred characters; anything far longer is not Graph. */
export const MAX_VALIDATION_TOKEN_CHARS = 1_024;
export const NOTIFICATION_PATH = 'graph/notifications';
export const LIFECYCLE_PATH = 'graph/lifecycle';

export const LIFECYCLE_EVENTS = ['reauthorizationRequired', 'subscriptionRemoved', 'missed'] as const;
export type LifecycleEvent = (typeof LIFECYCLE_EVENTS)[number];

/** One customer's subscription as kept server-side. The clientState itself is never kept: only its hash. */
export interface SubscriptionRecord {
  subscriptionId: string;
  customerId: string;
  /** The customer's tenant: a notification naming another tenant is dropped. */
  tenantId: string;
  resource: string;
  changeType: string;
  /** SHA-256 of the clientState, base64url. */
  clientStateHash: string;
  expiresAt: string;
  createdAt: string;
  lastRenewedAt?: string;
  /** The lifetime asked for at creation and on each renewal, in minutes. */
  lifetimeMinutes: number;
}

export interface NotificationCounts {
  /** Notifications that passed the checks and were queued. */
  accepted: number;
  /** Notifications refused (unknown subscription, clientState or tenant mismatch, malformed item). */
  dropped: number;
  /** Queue messages handled to the end. */
  processed: number;
  /** Of those, the ones a later read of the user had already covered. */
  coalesced: number;
}

export interface SubscriptionActivity extends NotificationCounts {
  lastNotificationAt?: string;
  lastLifecycleEvent?: { event: string; at: string };
}

export const zeroNotificationCounts = (): NotificationCounts => ({ accepted: 0, dropped: 0, processed: 0, coalesced: 0 });

/** What operators see of a subscription: never the clientState, nor its hash. */
export interface SubscriptionView extends SubscriptionActivity {
  subscriptionId: string;
  resource: string;
  changeType: string;
  expiresAt: string;
  createdAt: string;
  lastRenewedAt?: string;
}

export function subscriptionView(record: SubscriptionRecord, activity: SubscriptionActivity): SubscriptionView {
  return {
    subscriptionId: record.subscriptionId,
    resource: record.resource,
    changeType: record.changeType,
    expiresAt: record.expiresAt,
    createdAt: record.createdAt,
    ...(record.lastRenewedAt ? { lastRenewedAt: record.lastRenewedAt } : {}),
    ...activity,
  };
}

/** Due for renewal once less than `renewWhenLeft` of its lifetime is left (or already expired). */
export function renewalDue(record: Pick<SubscriptionRecord, 'expiresAt' | 'lifetimeMinutes'>, now: Date, renewWhenLeft = RENEW_WHEN_LEFT): boolean {
  const left = Date.parse(record.expiresAt) - now.getTime();
  return !(left > record.lifetimeMinutes * 60_000 * renewWhenLeft);
}

const id = z.string().min(1).max(200);

/** The queue message: one per accepted notification; the clientState is never carried. */
export const notificationMessageSchema = z.discriminatedUnion('kind', [
  z.object({
    kind: z.literal('change'),
    customerId: id,
    subscriptionId: id,
    userId: id,
    changeType: z.enum(['created', 'updated', 'deleted']),
    /** When the webhook accepted it: a read of the user begun later already shows this change. */
    receivedAt: z.string(),
  }),
  z.object({
    kind: z.literal('lifecycle'),
    customerId: id,
    subscriptionId: id,
    event: z.enum(LIFECYCLE_EVENTS),
    receivedAt: z.string(),
  }),
]);
export type NotificationMessage = z.infer<typeof notificationMessageSchema>;
export type ChangeMessage = Extract<NotificationMessage, { kind: 'change' }>;
export type LifecycleMessage = Extract<NotificationMessage, { kind: 'lifecycle' }>;

export interface QueuedNotification {
  /** Derived from the notification's content: a repeat of it is dropped by duplicate detection. */
  messageId: string;
  body: NotificationMessage;
}
