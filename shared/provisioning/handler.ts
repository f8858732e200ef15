/**
 * The Service Bus trigger's use case. The host hands the function only the body and completes the message
 * when it returns, abandons it when it throws; a message is dead-lettered by Service Bus once its delivery
 * count passes MaxDeliveryCount. So:
 * - a body that is not a provisioning message is recorded as poison with its reason (by message id) and
 *   the handler throws on every delivery: it reaches the dead-letter queue after exactly MaxDeliveryCount
 *   deliveries, and the dead-letter listing shows the recorded reason beside Service Bus's own;
 * - an unexpected error is recorded the same way and thrown, so Service Bus redelivers it;
 * - everything the use case handles (including transient Microsoft failures, retried by a new scheduled
 *   message) returns normally and the message is completed.
 */
import type { KeyValueStore } from '../ports/storage';
import { customerContext } from './customerContext';
import { provisionUserMessageSchema, type ProvisionReason, type ProvisionUserMessage } from './messages';
import type { ProvisioningDeps } from './ports';
import { giveUpAtDeadLetter, provisionUser, type ProvisionResult } from './provisionUser';
import { checkNumberAssignments, type NumberCheckResult } from './numberChecks';
import { releaseHandOff, type HandOffWindowDeps } from './handOffWindow';

export const POISON_SCOPE = 'poison-messages';

export interface PoisonRecord {
  messageId: string;
  reason: string;
  deliveryCount?: number;
  at: string;
}

export class PoisonMessageError extends Error {
  override name = 'PoisonMessageError';
}

export interface DeliveryInfo {
  messageId?: string;
  deliveryCount?: number;
  /** The queue's MaxDeliveryCount: a failure on that delivery sends the message to the dead-letter queue. */
  maxDeliveryCount?: number;
}

/** The message went back to the queue for a later turn (its tenant's quota was spoken for here). */
export interface TurnResult {
  kind: 'later-turn';
  turn: number;
  at: string;
}

export async function handleProvisioningMessage(deps: ProvisioningDeps, body: unknown, delivery: DeliveryInfo = {}): Promise<ProvisionResult | NumberCheckResult | TurnResult> {
  const parsed = provisionUserMessageSchema.safeParse(typeof body === 'string' ? tryJson(body) : body);
  if (!parsed.success) {
    const reason = `invalid provisioning message: ${parsed.error.issues.map((i) => `${i.path.join('.') || '(body)'}: ${i.message}`).join('; ')}`;
    await recordPoison(deps.storage.syncState, delivery, reason);
    throw new PoisonMessageError(reason);
  }
  try {
    if (parsed.data.reason === 'number-check') return await checkNumberAssignments(deps, parsed.data.customerId);
    const later = await laterTurn(deps, parsed.data);
    if (later) return later;
    const result = await provisionUser(deps, parsed.data);
    // A retry is this hand-off's next message: its place in the customer's window stays taken.
    if (result.kind !== 'retry-scheduled') await releaseHandOff(windowDeps(deps), parsed.data);
    return result;
  } catch (error) {
    const reason = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    await recordPoison(deps.storage.syncState, delivery, reason).catch(() => undefined);
    // The last delivery: Service Bus dead-letters the message when this throws. The user does not wait
    // for a message that will not come: it needs attention with the reason, and its work is no longer open
    // (the reconciler would only send it again to fail the same way).
    if (delivery.deliveryCount !== undefined && delivery.maxDeliveryCount !== undefined && delivery.deliveryCount >= delivery.maxDeliveryCount) {
      await giveUpAtDeadLetter(deps, parsed.data, delivery.deliveryCount, reason).catch(() => undefined);
      await releaseHandOff(windowDeps(deps), parsed.data).catch(() => undefined);
    }
    throw error;
  }
}

/**
 * Bulk causes (a sync's hand-offs, notifications, re-checks) wait in the queue, not in a handler, while
 * their tenant's quota is spoken for by the users in progress: the message goes back for a later turn and
 * the handler takes the next one, often another customer's. An operator's own request (Quick User, a move,
 * an offboarding, a replay) keeps its place.
 */
async function laterTurn(deps: ProvisioningDeps, message: ProvisionUserMessage): Promise<TurnResult | undefined> {
  if (!waitsItsTurn(message)) return undefined;
  let at: Date | undefined;
  try {
    const ctx = await customerContext(deps.storage, message.customerId, (deps.now?.() ?? new Date()).getTime());
    at = deps.microsoft(ctx.customer).turnAt?.(message.turn ?? 0);
  } catch {
    return undefined; // no customer or no tenant connection: provisioning records why
  }
  if (!at) return undefined;
  const turn = (message.turn ?? 0) + 1;
  await deps.queue.schedule([{ ...message, turn }], at);
  return { kind: 'later-turn', turn, at: at.toISOString() };
}

const WAITS_ITS_TURN: ReadonlySet<ProvisionReason> = new Set(['sync-add', 'sync-update', 'notification', 'staging-recheck', 'leaver']);
/** A cause sent back this often goes ahead regardless: a turn estimate never starves it. */
export const MAX_TURNS = 20;

export function waitsItsTurn(message: Pick<ProvisionUserMessage, 'reason' | 'turn'>): boolean {
  return WAITS_ITS_TURN.has(message.reason) && (message.turn ?? 0) < MAX_TURNS;
}

async function recordPoison(store: KeyValueStore, delivery: DeliveryInfo, reason: string): Promise<void> {
  if (!delivery.messageId) return;
  const record: PoisonRecord = { messageId: delivery.messageId, reason, at: new Date().toISOString(), ...(delivery.deliveryCount !== undefined ? { deliveryCount: delivery.deliveryCount } : {}) };
  await store.put(POISON_SCOPE, delivery.messageId, record);
}

export async function poisonRecord(store: KeyValueStore, messageId: string): Promise<PoisonRecord | undefined> {
  return (await store.get<PoisonRecord>(POISON_SCOPE, messageId))?.value;
}

function windowDeps(deps: ProvisioningDeps): HandOffWindowDeps {
  return { store: deps.storage.syncState, queue: deps.queue, ...(deps.now ? { now: deps.now } : {}), size: deps.handOffWindow };
}

function tryJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}
