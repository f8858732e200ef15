/**
 * One queue (or its dead-letter sub-queue) as Service Bus keeps it: sequence numbers, peek-lock with lock
 * expiry and renewal, delivery counting with MaxDeliveryCount, duplicate detection on MessageId, scheduled
 * messages, time-to-live. Knows nothing of AMQP links; the broker turns its state into frames.
 */
import { randomUUID } from 'node:crypto';
import type { Message } from 'rhea';
import type { Clock } from '../host/clock';
import { Deque } from './deque';

export type MessageState = 'available' | 'locked' | 'scheduled' | 'gone';

export interface StoredMessage {
  readonly sequenceNumber: number;
  /** When the message became active (for a scheduled message: when it was due). */
  enqueuedAt: number;
  /** The message as sent (broker-assigned message_id included), with properties changed by settlements. */
  message: Message;
  /** Times the message has been handed to a receiver. The wire delivery_count is the prior count. */
  deliveries: number;
  state: MessageState;
  scheduledAt?: number;
  expiresAt?: number;
  deadLetterSource?: string;
  lock?: MessageLock;
  cancelSchedule?: () => void;
}

export type LockEnd = 'completed' | 'abandoned' | 'dead-lettered' | 'expired';

export interface MessageLock {
  readonly token: string;
  readonly message: StoredMessage;
  lockedUntil: number;
  cancelExpiry: () => void;
  /** Set by whoever handed the message out, to tidy its delivery when the lock ends by any path. */
  onEnd?: (how: LockEnd) => void;
}

export type Settlement =
  | { kind: 'complete' }
  | { kind: 'abandon'; propertiesToModify?: Record<string, unknown> }
  | { kind: 'deadLetter'; reason?: string; description?: string; propertiesToModify?: Record<string, unknown> };

export interface EntityStats {
  /** Messages in the entity (available, locked or scheduled). */
  active: number;
  available: number;
  locked: number;
  scheduled: number;
  accepted: number;
  duplicatesDropped: number;
  delivered: number;
  completed: number;
  abandoned: number;
  deadLettered: number;
  expired: number;
  lockExpiries: number;
}

/**
 * Where an entity reports what must survive its process: a message added (sent, scheduled, dead-lettered
 * into it), changed (its delivery count or properties), or gone (completed, expired, cancelled, moved).
 * Locks are not reported: after a restart every message is available again, as when locks expire.
 */
export interface EntityJournal {
  added(entity: QueueEntity, stored: StoredMessage): void;
  /** `what` says whether only the delivery count changed, or the message's properties too. */
  changed(entity: QueueEntity, stored: StoredMessage, what: 'deliveries' | 'message'): void;
  removed(entity: QueueEntity, stored: StoredMessage): void;
}

/** A message as kept on disk. */
export interface RestoredMessage {
  sequenceNumber: number;
  enqueuedAt: number;
  message: Message;
  deliveries: number;
  scheduledAt?: number;
  deadLetterSource?: string;
}

export interface EntityOptions {
  /** The queue name, or `<queue>/$DeadLetterQueue`. */
  path: string;
  lockDurationMs: number;
  maxDeliveryCount: number;
  duplicateDetectionWindowMs?: number;
  deadLetterQueue?: QueueEntity;
  clock: Clock;
}

/** Service Bus application property names for dead-letter details. */
export const DEAD_LETTER_REASON = 'DeadLetterReason';
export const DEAD_LETTER_DESCRIPTION = 'DeadLetterErrorDescription';
export const MAX_DELIVERY_COUNT_EXCEEDED = 'MaxDeliveryCountExceeded';
export const TTL_EXPIRED = 'TTLExpiredException';

export class QueueEntity {
  readonly path: string;
  readonly lockDurationMs: number;
  readonly maxDeliveryCount: number;
  readonly deadLetterQueue?: QueueEntity;
  /** Called whenever a message becomes available, so the broker can feed waiting receivers. */
  onAvailable: () => void = () => undefined;
  /** Set by a persistent broker. */
  journal?: EntityJournal;

  private readonly clock: Clock;
  readonly duplicateDetectionWindowMs?: number;
  private readonly ready = new Deque<StoredMessage>(1024);
  /** Every message still in the entity, in sequence order (Map keeps insertion order): for peek. */
  private readonly active = new Map<number, StoredMessage>();
  private readonly locks = new Map<string, MessageLock>();
  private readonly seenIds = new Map<string, number>();
  private readonly seenOrder = new Deque<{ id: string; at: number }>();
  private nextSequence = 1;
  private counts = { available: 0, locked: 0, scheduled: 0 };
  private readonly totals = { accepted: 0, duplicatesDropped: 0, delivered: 0, completed: 0, abandoned: 0, deadLettered: 0, expired: 0, lockExpiries: 0 };

  constructor(options: EntityOptions) {
    this.path = options.path;
    this.lockDurationMs = options.lockDurationMs;
    this.maxDeliveryCount = options.maxDeliveryCount;
    this.duplicateDetectionWindowMs = options.duplicateDetectionWindowMs;
    this.deadLetterQueue = options.deadLetterQueue;
    this.clock = options.clock;
  }

  /**
   * Accepts a sent message. Returns its sequence number, or undefined when duplicate detection drops it
   * (Service Bus accepts the send and discards the copy).
   */
  accept(message: Message, scheduledAt?: number): number | undefined {
    if (message.message_id === undefined || message.message_id === null || message.message_id === '') message.message_id = randomUUID();
    if (this.isDuplicate(String(message.message_id))) {
      this.totals.duplicatesDropped++;
      return undefined;
    }
    const now = this.clock.now();
    const annotated = message.message_annotations?.['x-opt-scheduled-enqueue-time'] as Date | number | undefined;
    const at = scheduledAt ?? (annotated === undefined ? undefined : new Date(annotated).getTime());
    const stored: StoredMessage = {
      sequenceNumber: this.nextSequence++,
      enqueuedAt: now,
      message,
      deliveries: 0,
      state: 'available',
    };
    this.totals.accepted++;
    this.active.set(stored.sequenceNumber, stored);
    if (at !== undefined && at > now) stored.scheduledAt = at;
    this.journal?.added(this, stored);
    this.schedule(stored);
    return stored.sequenceNumber;
  }

  /** Puts back a message kept on disk (a restart): available, or scheduled when not due yet. */
  restore(saved: RestoredMessage): void {
    const stored: StoredMessage = {
      sequenceNumber: saved.sequenceNumber,
      enqueuedAt: saved.enqueuedAt,
      message: saved.message,
      deliveries: saved.deliveries,
      state: 'available',
      ...(saved.scheduledAt !== undefined ? { scheduledAt: saved.scheduledAt } : {}),
      ...(saved.deadLetterSource !== undefined ? { deadLetterSource: saved.deadLetterSource } : {}),
    };
    this.nextSequence = Math.max(this.nextSequence, saved.sequenceNumber + 1);
    this.active.set(stored.sequenceNumber, stored);
    this.schedule(stored);
  }

  /** The highest sequence number given so far. */
  get highestSequence(): number {
    return this.nextSequence - 1;
  }

  /** Sequence numbers go on after the highest ever given, even to messages long gone (a restart). */
  restoreSequence(highest: number): void {
    this.nextSequence = Math.max(this.nextSequence, highest + 1);
  }

  /** Remembers a message id for duplicate detection, as first seen at `at` (a restart). */
  restoreSeen(messageId: string, at: number): void {
    if (this.duplicateDetectionWindowMs === undefined || this.seenIds.has(messageId)) return;
    this.seenIds.set(messageId, at);
    this.seenOrder.pushBack({ id: messageId, at });
  }

  /** Message ids within the duplicate detection window, with when they were first seen. */
  seen(): Array<{ id: string; at: number }> {
    return [...this.seenIds.entries()].map(([id, at]) => ({ id, at }));
  }

  /** Every message in the entity, for a snapshot. */
  messages(): StoredMessage[] {
    return [...this.active.values()];
  }

  private schedule(stored: StoredMessage): void {
    const now = this.clock.now();
    const at = stored.scheduledAt;
    if (at !== undefined && at > now) {
      stored.state = 'scheduled';
      this.counts.scheduled++;
      stored.cancelSchedule = this.clock.schedule(at, () => {
        if (stored.state !== 'scheduled') return;
        this.counts.scheduled--;
        stored.cancelSchedule = undefined;
        stored.enqueuedAt = this.clock.now();
        this.makeAvailable(stored, false);
      });
    } else {
      this.makeAvailable(stored, false);
    }
  }

  /** Removes scheduled messages before they are due; unknown or already active ones are ignored, as in Service Bus. */
  cancelScheduled(sequenceNumbers: number[]): void {
    for (const sequenceNumber of sequenceNumbers) {
      const stored = this.active.get(sequenceNumber);
      if (!stored || stored.state !== 'scheduled') continue;
      stored.cancelSchedule?.();
      this.counts.scheduled--;
      this.remove(stored);
      this.journal?.removed(this, stored);
    }
  }

  /** Next deliverable message, or undefined. Expired messages are dropped on the way. */
  take(): StoredMessage | undefined {
    for (;;) {
      const stored = this.ready.shift();
      if (!stored) return undefined;
      if (stored.state !== 'available') continue;
      this.counts.available--;
      if (stored.expiresAt !== undefined && stored.expiresAt <= this.clock.now()) {
        this.totals.expired++;
        this.remove(stored);
        this.journal?.removed(this, stored);
        continue;
      }
      return stored;
    }
  }

  get availableCount(): number {
    return this.counts.available;
  }

  /** Hands a taken message out under a peek-lock. */
  lock(stored: StoredMessage): MessageLock {
    stored.deliveries++;
    this.journal?.changed(this, stored, 'deliveries');
    this.totals.delivered++;
    stored.state = 'locked';
    this.counts.locked++;
    const lock: MessageLock = {
      token: randomUUID(),
      message: stored,
      lockedUntil: this.clock.now() + this.lockDurationMs,
      cancelExpiry: () => undefined,
    };
    stored.lock = lock;
    this.locks.set(lock.token, lock);
    this.armExpiry(lock);
    return lock;
  }

  /** Hands a taken message out in receive-and-delete mode: it leaves the entity now. */
  deliverAndDelete(stored: StoredMessage): void {
    stored.deliveries++;
    this.totals.delivered++;
    this.totals.completed++;
    this.remove(stored);
    this.journal?.removed(this, stored);
  }

  /** Settles a locked message. Returns false when the lock is lost (expired, or already settled). */
  settle(token: string, settlement: Settlement): boolean {
    const lock = this.locks.get(token);
    if (!lock) return false;
    const stored = lock.message;
    switch (settlement.kind) {
      case 'complete':
        this.endLock(lock, 'completed');
        this.totals.completed++;
        this.remove(stored);
        this.journal?.removed(this, stored);
        return true;
      case 'abandon':
        this.endLock(lock, 'abandoned');
        this.totals.abandoned++;
        if (mergeProperties(stored.message, settlement.propertiesToModify)) this.journal?.changed(this, stored, 'message');
        this.returnOrDeadLetter(stored);
        return true;
      case 'deadLetter':
        this.endLock(lock, 'dead-lettered');
        this.deadLetter(stored, settlement.reason, settlement.description, settlement.propertiesToModify);
        return true;
    }
  }

  /** Extends a lock by the entity's lock duration from now. */
  renew(token: string): number | undefined {
    const lock = this.locks.get(token);
    if (!lock) return undefined;
    lock.cancelExpiry();
    lock.lockedUntil = this.clock.now() + this.lockDurationMs;
    this.armExpiry(lock);
    return lock.lockedUntil;
  }

  hasLock(token: string): boolean {
    return this.locks.has(token);
  }

  /** Messages from `fromSequenceNumber` on, without locking them (scheduled and locked ones included, as in Service Bus). */
  peek(fromSequenceNumber: number, count: number): StoredMessage[] {
    const out: StoredMessage[] = [];
    for (const [sequenceNumber, stored] of this.active) {
      if (sequenceNumber < fromSequenceNumber) continue;
      out.push(stored);
      if (out.length >= count) break;
    }
    return out;
  }

  stats(): EntityStats {
    return { active: this.active.size, ...this.counts, ...this.totals };
  }

  /** Cancels every timer; the entity is unusable afterwards. */
  dispose(): void {
    for (const lock of this.locks.values()) lock.cancelExpiry();
    for (const stored of this.active.values()) stored.cancelSchedule?.();
    this.locks.clear();
  }

  /** Stores a message dead-lettered by the parent queue, keeping its identity and history. */
  private acceptDeadLettered(from: StoredMessage, source: string): void {
    const stored: StoredMessage = {
      sequenceNumber: this.nextSequence++,
      enqueuedAt: from.enqueuedAt,
      message: from.message,
      deliveries: from.deliveries,
      state: 'available',
      deadLetterSource: source,
    };
    this.totals.accepted++;
    this.active.set(stored.sequenceNumber, stored);
    this.journal?.added(this, stored);
    this.makeAvailable(stored, false);
  }

  private deadLetter(stored: StoredMessage, reason?: string, description?: string, propertiesToModify?: Record<string, unknown>): void {
    this.totals.deadLettered++;
    this.remove(stored);
    // Moved: gone from here first, then added to the dead-letter queue (a crash between loses nothing that
    // matters: the move is redone as at-least-once delivery would redo it).
    this.journal?.removed(this, stored);
    mergeProperties(stored.message, propertiesToModify);
    const properties = { ...(stored.message.application_properties ?? {}) };
    if (reason !== undefined) properties[DEAD_LETTER_REASON] = reason;
    if (description !== undefined) properties[DEAD_LETTER_DESCRIPTION] = description;
    stored.message.application_properties = properties;
    // A dead-letter queue has no dead-letter queue of its own: Service Bus keeps the message where it is.
    if (this.deadLetterQueue) this.deadLetterQueue.acceptDeadLettered(stored, this.path);
    else this.acceptDeadLettered(stored, stored.deadLetterSource ?? this.path);
  }

  private returnOrDeadLetter(stored: StoredMessage): void {
    if (stored.deliveries >= this.maxDeliveryCount && this.deadLetterQueue) {
      this.deadLetter(stored, MAX_DELIVERY_COUNT_EXCEEDED, `Message could not be consumed after ${this.maxDeliveryCount} delivery attempts.`);
      return;
    }
    // Back to the head: Service Bus serves the lowest sequence number first, which a returned message usually is.
    this.makeAvailable(stored, true);
  }

  private armExpiry(lock: MessageLock): void {
    lock.cancelExpiry = this.clock.schedule(lock.lockedUntil, () => {
      if (this.locks.get(lock.token) !== lock) return;
      this.totals.lockExpiries++;
      this.endLock(lock, 'expired');
      this.returnOrDeadLetter(lock.message);
    });
  }

  private endLock(lock: MessageLock, how: LockEnd): void {
    lock.cancelExpiry();
    this.locks.delete(lock.token);
    lock.message.lock = undefined;
    lock.message.state = 'gone';
    this.counts.locked--;
    lock.onEnd?.(how);
  }

  private makeAvailable(stored: StoredMessage, front: boolean): void {
    stored.state = 'available';
    const ttl = stored.message.ttl;
    if (typeof ttl === 'number' && ttl > 0 && stored.expiresAt === undefined) stored.expiresAt = stored.enqueuedAt + ttl;
    this.counts.available++;
    if (front) this.ready.pushFront(stored);
    else this.ready.pushBack(stored);
    this.onAvailable();
  }

  private remove(stored: StoredMessage): void {
    stored.state = 'gone';
    this.active.delete(stored.sequenceNumber);
  }

  private isDuplicate(messageId: string): boolean {
    if (this.duplicateDetectionWindowMs === undefined) return false;
    const now = this.clock.now();
    for (let oldest = this.seenOrder.peekFront(); oldest && oldest.at <= now - this.duplicateDetectionWindowMs; oldest = this.seenOrder.peekFront()) {
      this.seenOrder.shift();
      if (this.seenIds.get(oldest.id) === oldest.at) this.seenIds.delete(oldest.id);
    }
    if (this.seenIds.has(messageId)) return true;
    this.seenIds.set(messageId, now);
    this.seenOrder.pushBack({ id: messageId, at: now });
    return false;
  }
}

/** Abandon and dead-letter may carry properties to change; Service Bus applies them to the application properties. */
function mergeProperties(message: Message, properties: Record<string, unknown> | undefined): boolean {
  if (!properties || Object.keys(properties).length === 0) return false;
  message.application_properties = { ...(message.application_properties ?? {}), ...properties };
  return true;
}
