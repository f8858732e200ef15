/**
 * User state change events on the "user-events" queue, each a CloudEvents 1.0 JSON document (structured
 * mode) whose id is the message id: Service Bus duplicate detection drops a repeat of the same change.
 */
import type { ServiceBusMessage } from '@azure/service-bus';
import { QUEUES } from '../../config/queues';
import { userEventTypeName } from '../../domain';
import type { UserEvent, UserEventPublisher } from '../../ports/events';
import { sendInBatches } from './client';

export const CLOUD_EVENTS_CONTENT_TYPE = 'application/cloudevents+json; charset=utf-8';

/** The CloudEvent of a user event (docs/events.md). */
export function cloudEventOf(event: UserEvent): Record<string, unknown> {
  const { id, type, at, customerId, userId, ...data } = event;
  return {
    specversion: '1.0',
    id,
    type: userEventTypeName(type),
    source: `/customers/${encodeURIComponent(customerId)}`,
    subject: `users/${encodeURIComponent(userId)}`,
    time: at,
    datacontenttype: 'application/json',
    data: { customerId, userId, ...data },
  };
}

export class ServiceBusUserEvents implements UserEventPublisher {
  constructor(private readonly env: Record<string, string | undefined> = process.env) {}

  async publish(events: readonly UserEvent[]): Promise<void> {
    const messages: ServiceBusMessage[] = events.map((e) => ({
      messageId: e.id,
      body: cloudEventOf(e),
      contentType: CLOUD_EVENTS_CONTENT_TYPE,
      subject: userEventTypeName(e.type),
      applicationProperties: { customerId: e.customerId, userId: e.userId, type: e.type },
    }));
    await sendInBatches(QUEUES.userEvents.name, messages, this.env);
  }
}
