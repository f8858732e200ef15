import { QUEUES } from '../../config/queues';
import { provisionMessageId, type ProvisioningQueue, type ProvisionUserMessage } from '../../provisioning/messages';
import { sendInBatches } from './client';

/** The provisioning queue on Service Bus: MessageId is the idempotency key, so repeats are dropped by duplicate detection. */
export class ServiceBusProvisioningQueue implements ProvisioningQueue {
  constructor(private readonly env: Record<string, string | undefined> = process.env) {}

  async send(messages: readonly ProvisionUserMessage[]): Promise<void> {
    await sendInBatches(
      QUEUES.userProvisioning.name,
      messages.map((m) => ({
        messageId: provisionMessageId(m),
        body: m,
        contentType: 'application/json',
        subject: m.reason,
        applicationProperties: { customerId: m.customerId, reason: m.reason },
      })),
      this.env,
    );
  }
}
