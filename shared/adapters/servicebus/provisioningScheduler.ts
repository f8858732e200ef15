/**
 * The provisioning queue with delayed delivery (retries with backoff) and its dead-letter queue, on
 * Service Bus. Message ids come from the caller's rule, so duplicate detection drops repeats of a cause.
 * Number checks go to a queue of their own: a scheduled message joins the back of its queue when it falls
 * due, and behind thousands of users waiting to be provisioned a check would wait for all of them.
 */
import type { ServiceBusMessage, ServiceBusReceivedMessage } from '@azure/service-bus';
import { QUEUES } from '../../config/queues';
import type { ProvisionUserMessage } from '../../provisioning/messages';
import type { DeadLetteredMessage, DeadLetterQueue, ProvisioningScheduler } from '../../provisioning/ports';
import { sendInBatches, sender, serviceBusClient } from './client';

export class ServiceBusProvisioningScheduler implements ProvisioningScheduler {
  constructor(
    private readonly messageId: (message: ProvisionUserMessage) => string,
    private readonly env: Record<string, string | undefined> = process.env,
  ) {}

  private toMessage(m: ProvisionUserMessage): ServiceBusMessage {
    return {
      messageId: this.messageId(m),
      body: m,
      contentType: 'application/json',
      subject: m.reason,
      applicationProperties: { customerId: m.customerId, reason: m.reason },
    };
  }

  async send(messages: readonly ProvisionUserMessage[]): Promise<void> {
    for (const [queue, some] of byQueue(messages)) await sendInBatches(queue, some.map((m) => this.toMessage(m)), this.env);
  }

  async schedule(messages: readonly ProvisionUserMessage[], at: Date): Promise<void> {
    for (const [queue, some] of byQueue(messages)) await sender(queue, this.env).scheduleMessages(some.map((m) => this.toMessage(m)), at);
  }

  async oldestQueuedAt(): Promise<Date | undefined> {
    // A fresh receiver peeks from the head: the lowest sequence number still in the queue, scheduled included.
    const receiver = serviceBusClient(this.env).createReceiver(QUEUES.userProvisioning.name);
    try {
      const [head] = await receiver.peekMessages(1);
      return head?.enqueuedTimeUtc;
    } finally {
      await receiver.close();
    }
  }
}

/** The messages per queue: number checks to theirs, everything else to the provisioning queue. */
function byQueue(messages: readonly ProvisionUserMessage[]): Map<string, ProvisionUserMessage[]> {
  const queues = new Map<string, ProvisionUserMessage[]>();
  for (const m of messages) {
    const queue = m.reason === 'number-check' ? QUEUES.numberChecks.name : QUEUES.userProvisioning.name;
    let some = queues.get(queue);
    if (!some) queues.set(queue, (some = []));
    some.push(m);
  }
  return queues;
}

/** Peeks and replays `<queue>/$DeadLetterQueue` with the SDK. */
export class ServiceBusDeadLetterQueue implements DeadLetterQueue {
  constructor(private readonly env: Record<string, string | undefined> = process.env) {}

  async peek(queueName: string, top: number): Promise<DeadLetteredMessage[]> {
    const receiver = serviceBusClient(this.env).createReceiver(queueName, { subQueueType: 'deadLetter' });
    try {
      return (await receiver.peekMessages(top)).map(view);
    } finally {
      await receiver.close();
    }
  }

  async replay(queueName: string, messageIds: readonly string[]): Promise<string[]> {
    const wanted = new Set(messageIds);
    const receiver = serviceBusClient(this.env).createReceiver(queueName, { subQueueType: 'deadLetter', receiveMode: 'peekLock' });
    const replayed: string[] = [];
    try {
      for (let round = 0; round < 20 && replayed.length < wanted.size; round++) {
        const batch = await receiver.receiveMessages(50, { maxWaitTimeInMs: 1_000 });
        if (batch.length === 0) break;
        for (const message of batch) {
          const id = String(message.messageId ?? '');
          if (!wanted.has(id) || replayed.includes(id)) {
            await receiver.abandonMessage(message);
            continue;
          }
          // A new id: the original may still be inside the duplicate-detection window.
          await sender(queueName, this.env).sendMessages({
            body: message.body,
            contentType: message.contentType,
            subject: message.subject,
            messageId: `${id.slice(0, 100)}~replay~${Date.now().toString(36)}`,
            applicationProperties: { ...(message.applicationProperties ?? {}), replayOf: id },
          });
          await receiver.completeMessage(message);
          replayed.push(id);
        }
      }
    } finally {
      await receiver.close();
    }
    return replayed;
  }
}

function view(m: ServiceBusReceivedMessage): DeadLetteredMessage {
  return {
    messageId: String(m.messageId ?? ''),
    sequenceNumber: m.sequenceNumber?.toString() ?? '',
    ...(m.deadLetterReason ? { deadLetterReason: m.deadLetterReason } : {}),
    ...(m.deadLetterErrorDescription ? { deadLetterErrorDescription: m.deadLetterErrorDescription } : {}),
    ...(m.enqueuedTimeUtc ? { enqueuedAt: m.enqueuedTimeUtc.toISOString() } : {}),
    deliveryCount: m.deliveryCount,
    body: m.body,
  };
}
