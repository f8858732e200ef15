/** Reading the "user-events" queue as a service provider's workflow would: every message, with its id. */
import { ServiceBusClient } from '@azure/service-bus';
import { QUEUES } from '../../shared/config/queues';
import { SERVICE_BUS_CONNECTION } from '../../shared/config/queues';

export interface ReceivedEvent {
  messageId: string;
  subject?: string;
  contentType?: string;
  body: {
    specversion: string;
    id: string;
    type: string;
    source: string;
    subject: string;
    time: string;
    data: { customerId: string; userId: string; from: { state: string; siteId?: string }; to: { state: string; siteId?: string; reason?: string }; number?: string; previousNumber?: string; transactionId?: string; cause: string };
  };
}

export class EventReader {
  private readonly client: ServiceBusClient;
  /** Every event received so far, oldest first. */
  readonly all: ReceivedEvent[] = [];

  constructor(settings: Record<string, string>) {
    this.client = new ServiceBusClient(settings[SERVICE_BUS_CONNECTION]);
  }

  /** Takes whatever the queue holds now (waits briefly for stragglers); returns what was new. */
  async drain(waitMs = 300): Promise<ReceivedEvent[]> {
    const receiver = this.client.createReceiver(QUEUES.userEvents.name, { receiveMode: 'receiveAndDelete' });
    const got: ReceivedEvent[] = [];
    try {
      for (;;) {
        const batch = await receiver.receiveMessages(100, { maxWaitTimeInMs: waitMs });
        if (batch.length === 0) break;
        for (const m of batch) got.push({ messageId: String(m.messageId), subject: m.subject, contentType: m.contentType, body: m.body as ReceivedEvent['body'] });
      }
    } finally {
      await receiver.close();
    }
    this.all.push(...got);
    return got;
  }

  /** Events of one user, oldest first. */
  of(userId: string): ReceivedEvent[] {
    return this.all.filter((e) => e.body.data.userId === userId);
  }

  async close(): Promise<void> {
    await this.client.close();
  }
}
