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
import { provisionUserMessageSchema } from './messages';
import type { ProvisioningDeps } from './ports';
import { giveUpAtDeadLetter, provisionUser, type ProvisionResult } from './provisionUser';
import { checkNumberAssignments, type NumberCheckResult } from './numberChecks';

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

export async function handleProvisioningMessage(deps: ProvisioningDeps, body: unknown, delivery: DeliveryInfo = {}): Promise<ProvisionResult | NumberCheckResult> {
  const parsed = provisionUserMessageSchema.safeParse(typeof body === 'string' ? tryJson(body) : body);
  if (!parsed.success) {
    const reason = `invalid provisioning message: ${parsed.error.issues.map((i) => `${i.path.join('.') || '(body)'}: ${i.message}`).join('; ')}`;
    await recordPoison(deps.storage.syncState, delivery, reason);
    throw new PoisonMessageError(reason);
  }
  try {
    if (parsed.data.reason === 'number-check') return await checkNumberAssignments(deps, parsed.data.customerId);
    return await provisionUser(deps, parsed.data);
  } catch (error) {
    const reason = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    await recordPoison(deps.storage.syncState, delivery, reason).catch(() => undefined);
    // The last delivery: Service Bus dead-letters the message when this throws. The user does not wait
    // for a message that will not come: it needs attention with the reason, and its work is no longer open
    // (the reconciler would only send it again to fail the same way).
    if (delivery.deliveryCount !== undefined && delivery.maxDeliveryCount !== undefined && delivery.deliveryCount >= delivery.maxDeliveryCount) {
      await giveUpAtDeadLetter(deps, parsed.data, delivery.deliveryCount, reason).catch(() => undefined);
    }
    throw error;
  }
}

async function recordPoison(store: KeyValueStore, delivery: DeliveryInfo, reason: string): Promise<void> {
  if (!delivery.messageId) return;
  const record: PoisonRecord = { messageId: delivery.messageId, reason, at: new Date().toISOString(), ...(delivery.deliveryCount !== undefined ? { deliveryCount: delivery.deliveryCount } : {}) };
  await store.put(POISON_SCOPE, delivery.messageId, record);
}

export async function poisonRecord(store: KeyValueStore, messageId: string): Promise<PoisonRecord | undefined> {
  return (await store.get<PoisonRecord>(POISON_SCOPE, messageId))?.value;
}

function tryJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}
