/**
 * The message each user travels on through the "user-provisioning" queue. Every producer (the sync's
 * hand-off, overbuild, Quick User, change notifications, the staging re-check, a replay) sends this shape,
 * and the MessageId is an idempotency key: the same cause for the same user state yields the same id, so
 * Service Bus duplicate detection drops a repeat and the handler treats a redelivery as a repeat.
 */
import { z } from 'zod';

/**
 * Why a message was sent. `number-check` is not about one user: it checks the customer's pending number
 * assignments that are due (the user named is one of them), many in one go. `offboard`: an operator takes the
 * user back to customer level; `leaver`: the customer's leaver setting does (the user is disabled or
 * soft-deleted in Microsoft); `restore`: an offboarded leaver came back and returns to its old site with its
 * number; `move`: an operator moves a placed user with its services to another site.
 */
export const PROVISION_REASONS = ['sync-add', 'sync-update', 'overbuild', 'quick-user', 'notification', 'staging-recheck', 'replay', 'number-check', 'offboard', 'leaver', 'restore', 'move'] as const;
export type ProvisionReason = (typeof PROVISION_REASONS)[number];

export const lineRequestSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('none') }),
  z.object({ kind: z.literal('next-available') }),
  z.object({ kind: z.literal('explicit'), number: z.string().regex(/^\+[1-9]\d{6,14}$/, 'an E.164 number such as +14255550100') }),
]);
export type LineRequest = z.infer<typeof lineRequestSchema>;

export const provisionUserMessageSchema = z.object({
  customerId: z.string().min(1).max(200),
  userId: z.string().min(1).max(200),
  reason: z.enum(PROVISION_REASONS),
  /** The transaction the operator follows (Quick User, overbuild); the handler creates one otherwise. */
  transactionId: z.string().min(1).max(200).optional(),
  /** Operator's choices: the site (overbuild, Quick User) and what to give the user there. */
  siteId: z.string().min(1).max(200).optional(),
  quickAddGroupId: z.string().min(1).max(200).optional(),
  /** A move: the profile the user gets at the new site (absent: the one it has, else flow-through's choice). */
  profileId: z.string().min(1).max(200).optional(),
  line: lineRequestSchema.optional(),
  /** Overbuild: move only, or move and provision. */
  provision: z.boolean().optional(),
  /** Version of the user's synced state that caused this message (its syncedAt), for ordering. */
  observedAt: z.string().optional(),
  requestedAt: z.string(),
  /** Retries of a transient failure so far (0 or absent on the first send); each retry is a new message. */
  attempt: z.number().int().min(0).max(100).optional(),
  /** When the reconciler sent this cause again (it was lost): a new message for the same transaction. */
  resentAt: z.string().optional(),
  /**
   * Times this cause was sent back to wait for a later turn (the tenant's quota in the handling instance
   * was spoken for); each is a new message, nothing of the work had started.
   */
  turn: z.number().int().min(0).max(10_000).optional(),
});
export type ProvisionUserMessage = z.infer<typeof provisionUserMessageSchema>;

/** The cause a message carries (one user state, once), however often and however it is sent: its transaction's identity. */
export function provisionCauseId(message: Pick<ProvisionUserMessage, 'customerId' | 'userId' | 'reason' | 'transactionId' | 'observedAt'>): string {
  const cause = message.transactionId ?? message.observedAt ?? 'latest';
  return `${message.reason}:${message.customerId}:${message.userId}:${cause}`.slice(0, 128);
}

/**
 * A sync's hand-off's own mark in its message id: when it was handed off. A page read again (its activity run
 * again after its host died) hands the same cause off again, later: that is a new message, which the handler
 * settles as the work already done or under way. Were it dropped as a duplicate of the first, the place the
 * customer's window counted for it would never be given back.
 */
export function handOffMark(message: Pick<ProvisionUserMessage, 'reason' | 'requestedAt'>): string {
  return isSyncHandOff(message) ? `~h${(Date.parse(message.requestedAt) || 0).toString(36)}` : '';
}

/** The hand-off mark a message id (a transaction's trigger) carries; none in one sent before ids carried it. */
export function handOffMarkOf(messageId: string | undefined): string | undefined {
  return /(~h[0-9a-z]+)(?:~[rt][0-9a-z]+)*$/.exec(messageId ?? '')?.[1];
}

/** Deterministic id: one send of one cause; a resend of the same send (after a kill, a lost race) is dropped as its duplicate. */
export function provisionMessageId(message: Pick<ProvisionUserMessage, 'customerId' | 'userId' | 'reason' | 'transactionId' | 'observedAt' | 'requestedAt' | 'attempt' | 'resentAt' | 'turn'>): string {
  // One check per customer per moment (observedAt): the users whose assignments fall due together share it.
  if (message.reason === 'number-check') return `number-check:${message.customerId}:${message.observedAt ?? 'now'}`.slice(0, 128);
  const id = provisionCauseId(message);
  // A retry, or a resend of a lost message, is a new message for the same cause: it must not be dropped as
  // a duplicate of the last one.
  const base = message.attempt ? `${id.slice(0, 120)}#${message.attempt}` : id;
  // A later hand-off, or a later turn, likewise.
  const suffix = `${handOffMark(message)}${message.resentAt ? `~r${Date.parse(message.resentAt).toString(36)}` : ''}${message.turn ? `~t${message.turn.toString(36)}` : ''}`;
  return suffix ? `${base.slice(0, 128 - suffix.length)}${suffix}` : base;
}

/** The sync's hand-offs are marked on the user's row; every other cause is tracked in the open-work index. */
export function isSyncHandOff(message: Pick<ProvisionUserMessage, 'reason'>): message is ProvisionUserMessage & { reason: 'sync-add' | 'sync-update' } {
  return message.reason === 'sync-add' || message.reason === 'sync-update';
}

/** Whether a user's pending hand-off is the one this message carries (a newer one, from a later sync, is not). */
export function carriesHandOff(record: { handoff?: { reason: string; observedAt?: string } }, message: Pick<ProvisionUserMessage, 'reason' | 'observedAt'>): boolean {
  return isSyncHandOff(message) && record.handoff !== undefined && record.handoff.reason === message.reason && record.handoff.observedAt === message.observedAt;
}

/** Scope of a customer's open-work index: provisioning started (or asked for) and not finished. */
export function openWorkScope(customerId: string): string {
  return `open-provisioning:${customerId}`;
}

/** An entry of the open-work index: the message that started the work, so a lost one can be sent again. */
export interface OpenWork {
  transactionId: string;
  message: ProvisionUserMessage;
  since: string;
}

/** Sends provisioning messages; implemented on Service Bus. */
export interface ProvisioningQueue {
  /** Sends in batches; a message whose id was sent within the duplicate window is dropped by the broker. */
  send(messages: readonly ProvisionUserMessage[]): Promise<void>;
}
