/** The dead-letter view of a queue: what is there, why, and a way to send it back. */
import type { KeyValueStore } from '../ports/storage';
import { poisonRecord } from './handler';
import type { DeadLetteredMessage, DeadLetterQueue } from './ports';

export interface DeadLetterView extends DeadLetteredMessage {
  /** What the handler recorded on its last failed delivery (e.g. why the body is invalid). */
  handlerReason?: string;
}

export async function listDeadLetters(deps: { deadLetters: DeadLetterQueue; store: KeyValueStore }, queueName: string, top = 50): Promise<DeadLetterView[]> {
  const messages = await deps.deadLetters.peek(queueName, Math.min(Math.max(top, 1), 250));
  return Promise.all(
    messages.map(async (m) => {
      const record = await poisonRecord(deps.store, m.messageId);
      return record ? { ...m, handlerReason: record.reason } : m;
    }),
  );
}

export async function replayDeadLetters(deps: { deadLetters: DeadLetterQueue }, queueName: string, messageIds: readonly string[]): Promise<string[]> {
  return deps.deadLetters.replay(queueName, messageIds);
}
