/**
 * What provisioning needs from the outside: storage, the customer's Microsoft tenant, the queue it sends
 * retries and new work on, and the dead-letter queue operators look into. Function files wire adapters in.
 */
import type { Customer } from '../domain';
import type { UserEventPublisher } from '../ports/events';
import type { MicrosoftTenant, TeamsAdminBridge } from '../ports/microsoft';
import type { Storage } from '../ports/storage';
import type { ProvisioningQueue, ProvisionUserMessage } from './messages';

/** The customer's tenant as provisioning uses it. */
export interface ProvisioningMicrosoft {
  tenant: MicrosoftTenant;
  /** Dial plans are granted through the Teams admin bridge; absent = dial plans cannot be applied. */
  bridge?: TeamsAdminBridge;
  /** Entra group ids the user is a direct member of (read before group changes, so repeats write nothing). */
  userGroupIds(userId: string): Promise<string[]>;
  /**
   * When a queued user's provisioning should start, if this tenant's quota here is already spoken for by
   * the users in progress; undefined (or absent): now. `turnsTaken`: the turns the user has waited already.
   */
  turnAt?(turnsTaken: number): Date | undefined;
}

/** Resolves a customer's tenant; @throws when the customer has no usable tenant connection. */
export type MicrosoftConnector = (customer: Customer) => ProvisioningMicrosoft;

/** The provisioning queue with delayed delivery, for retries with backoff. */
export interface ProvisioningScheduler extends ProvisioningQueue {
  /** Enqueues for delivery at `at`; each message's id is `messageId(message)`. */
  schedule(messages: readonly ProvisionUserMessage[], at: Date): Promise<void>;
  /** When the oldest message still in the queue (waiting, locked or scheduled) was enqueued; undefined when empty. */
  oldestQueuedAt(): Promise<Date | undefined>;
}

/** The customer's synced licenses (SKUs with their service plans), as the sync stored them. */
export interface LicenseCatalog {
  list(customerId: string, type: 'licenses'): Promise<Array<{ id: string; data: unknown }>>;
}

export interface ProvisioningDeps {
  storage: Storage;
  microsoft: MicrosoftConnector;
  queue: ProvisioningScheduler;
  /** What a license just granted brings in Teams is read from it; absent, Teams is asked. */
  catalog?: LicenseCatalog;
  /** Where each user state change is published (docs/events.md); absent, none is. */
  events?: UserEventPublisher;
  now?: () => Date;
  retry?: Partial<RetryPolicy>;
  /** Hand-offs of a customer in the provisioning queue at once (default HANDOFF_WINDOW). */
  handOffWindow?: number;
}

export interface RetryPolicy {
  /** Attempts in all (the first delivery included) before the user is left needing attention. */
  maxAttempts: number;
  /** Delay before retry n (1-based) is baseDelayMs * 2^(n-1), capped, with up to 20% jitter. */
  baseDelayMs: number;
  maxDelayMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { maxAttempts: 6, baseDelayMs: 30_000, maxDelayMs: 15 * 60_000 };

/** A message in a dead-letter queue, as an operator sees it. */
export interface DeadLetteredMessage {
  messageId: string;
  sequenceNumber: string;
  deadLetterReason?: string;
  deadLetterErrorDescription?: string;
  enqueuedAt?: string;
  deliveryCount?: number;
  body: unknown;
}

export interface DeadLetterQueue {
  /** Oldest first, without taking them off the queue. */
  peek(queueName: string, top: number): Promise<DeadLetteredMessage[]>;
  /**
   * Sends each matching dead-lettered message back to its queue under a new id and completes it in the
   * dead-letter queue. Returns the ids of the messages replayed.
   */
  replay(queueName: string, messageIds: readonly string[]): Promise<string[]>;
}
