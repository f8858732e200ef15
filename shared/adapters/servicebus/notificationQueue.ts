/** The "graph-notifications" queue on Service Bus; message ids come from the notification's content. */
import { QUEUES } from '../../config/queues';
import type { QueuedNotification } from '../../notifications/model';
import type { NotificationQueue } from '../../notifications/ports';
import { sendInBatches } from './client';

export class ServiceBusNotificationQueue implements NotificationQueue {
  constructor(private readonly env: Record<string, string | undefined> = process.env) {}

  async send(messages: readonly QueuedNotification[]): Promise<void> {
    if (messages.length === 0) return;
    await sendInBatches(
      QUEUES.graphNotifications.name,
      messages.map((m) => ({
        messageId: m.messageId,
        body: m.body,
        contentType: 'application/json',
        subject: m.body.kind,
        applicationProperties: { customerId: m.body.customerId },
      })),
      this.env,
    );
  }
}
