import { ServiceBusClient, type ServiceBusMessage, type ServiceBusReceivedMessage } from '@azure/service-bus';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBroker, type LocalBroker } from '../../local/servicebus/broker';
import { brokerQueues } from '../../local/servicebus/queues';
import { ALL_QUEUES } from '../../shared/config/queues';

// Test-only queues: short locks so expiry is observable without long waits.
const WORK = { name: 'work', maxDeliveryCount: 3, lockDuration: 'PT30S', duplicateDetectionWindow: 'PT1M' };
const BULK = { name: 'bulk', maxDeliveryCount: 10, lockDuration: 'PT30S' };
const POISON = { name: 'poison', maxDeliveryCount: 3, lockDuration: 'PT30S' };
const SCHEDULED = { name: 'scheduled', maxDeliveryCount: 10, lockDuration: 'PT30S' };
const PEEK = { name: 'peek', maxDeliveryCount: 10, lockDuration: 'PT30S' };
const RENEW = { name: 'renew', maxDeliveryCount: 10, lockDuration: 'PT1S' };
const DRAIN = { name: 'drain', maxDeliveryCount: 10, lockDuration: 'PT30S' };
const PROPS = { name: 'props', maxDeliveryCount: 10, lockDuration: 'PT30S' };
const RAD = { name: 'rad', maxDeliveryCount: 10, lockDuration: 'PT30S' };
const DLQ = { name: 'dlq', maxDeliveryCount: 10, lockDuration: 'PT30S' };
const DUP = { name: 'dup', maxDeliveryCount: 10, lockDuration: 'PT30S', duplicateDetectionWindow: 'PT1M' };

let broker: LocalBroker;
let client: ServiceBusClient;

beforeAll(async () => {
  broker = await startBroker({ queues: [...brokerQueues(), WORK, BULK, POISON, SCHEDULED, PEEK, RENEW, DRAIN, PROPS, RAD, DLQ, DUP] });
  client = new ServiceBusClient(broker.connectionString, { retryOptions: { maxRetries: 1, retryDelayInMs: 100, timeoutInMs: 10_000 } });
});

afterAll(async () => {
  await client?.close();
  await broker?.stop();
});

async function drain(queue: string, expected: number, subQueueType?: 'deadLetter'): Promise<ServiceBusReceivedMessage[]> {
  const receiver = client.createReceiver(queue, { subQueueType });
  const got: ServiceBusReceivedMessage[] = [];
  try {
    while (got.length < expected) {
      const batch = await receiver.receiveMessages(expected - got.length, { maxWaitTimeInMs: 2_000 });
      if (batch.length === 0) break;
      for (const m of batch) await receiver.completeMessage(m);
      got.push(...batch);
    }
  } finally {
    await receiver.close();
  }
  return got;
}

describe('local Service Bus broker with the real SDK', () => {
  it('declares the configured queues', () => {
    for (const q of ALL_QUEUES) expect(broker.stats(q.name).active).toBe(0);
    expect(broker.connectionString).toMatch(/^Endpoint=sb:\/\/127\.0\.0\.1:\d+;SharedAccessKeyName=[^;]+;SharedAccessKey=[^;]+;UseDevelopmentEmulator=true$/);
  });

  it('checks the shared access key name and key, as Service Bus does', async () => {
    const forged = (replace: (parts: Record<string, string>) => void) => {
      const parts = Object.fromEntries(broker.connectionString.split(';').map((p) => [p.slice(0, p.indexOf('=')), p.slice(p.indexOf('=') + 1)]));
      replace(parts);
      return Object.entries(parts).map(([k, v]) => `${k}=${v}`).join(';');
    };
    const attempts = [
      forged((p) => (p.SharedAccessKey = Buffer.alloc(32, 7).toString('base64'))),
      forged((p) => (p.SharedAccessKeyName = 'SomeOtherPolicy')),
    ];
    for (const connectionString of attempts) {
      const outsider = new ServiceBusClient(connectionString, { retryOptions: { maxRetries: 0, timeoutInMs: 5_000 } });
      try {
        await expect(outsider.createSender(WORK.name).sendMessages({ body: 'intrusion' })).rejects.toMatchObject({ code: 'UnauthorizedAccess' });
        await expect(outsider.createReceiver(WORK.name).receiveMessages(1, { maxWaitTimeInMs: 500 })).rejects.toMatchObject({ code: 'UnauthorizedAccess' });
      } finally {
        await outsider.close();
      }
    }
    expect(broker.stats(WORK.name).accepted).toBe(0);
  });

  it('carries 10,000 messages sent in batches with no loss and no duplicate', async () => {
    const total = 10_000;
    const sender = client.createSender(BULK.name);
    let next = 0;
    while (next < total) {
      const batch = await sender.createMessageBatch();
      while (next < total && batch.tryAddMessage({ body: { n: next }, messageId: `m-${next}` })) next++;
      await sender.sendMessages(batch);
    }
    await sender.close();
    expect(broker.stats(BULK.name).active).toBe(total);

    const receiver = client.createReceiver(BULK.name);
    const seen = new Set<number>();
    let duplicates = 0;
    while (seen.size < total) {
      const batch = await receiver.receiveMessages(500, { maxWaitTimeInMs: 2_000 });
      if (batch.length === 0) break;
      for (const m of batch) {
        const n = (m.body as { n: number }).n;
        if (seen.has(n)) duplicates++;
        seen.add(n);
      }
      await Promise.all(batch.map((m) => receiver.completeMessage(m)));
    }
    await receiver.close();
    expect(duplicates).toBe(0);
    expect(seen.size).toBe(total);
    expect(broker.stats(BULK.name).active).toBe(0);
  });

  it('sends single messages, arrays and batches; assigns a message id when the sender gives none', async () => {
    const sender = client.createSender(WORK.name);
    await sender.sendMessages({ body: 'single' });
    await sender.sendMessages([{ body: 'a1' }, { body: 'a2' }]);
    const batch = await sender.createMessageBatch();
    batch.tryAddMessage({ body: 'b1' });
    await sender.sendMessages(batch);
    await sender.close();
    const got = await drain(WORK.name, 4);
    expect(got.map((m) => m.body).sort()).toEqual(['a1', 'a2', 'b1', 'single']);
    for (const m of got) {
      expect(typeof m.messageId).toBe('string');
      expect(m.deliveryCount).toBe(0); // the wire count of prior deliveries
      expect(m.sequenceNumber?.toNumber()).toBeGreaterThan(0);
      expect(m.enqueuedTimeUtc).toBeInstanceOf(Date);
      expect(m.lockedUntilUtc).toBeInstanceOf(Date);
    }
  });

  it('carries message properties through', async () => {
    const sent: ServiceBusMessage = {
      body: { hello: 'world' },
      messageId: 'props-1',
      correlationId: 'corr-1',
      subject: 'greeting',
      contentType: 'application/json',
      to: 'someone',
      replyTo: 'reply-queue',
      sessionId: 'session-9',
      replyToSessionId: 'reply-session',
      timeToLive: 60_000,
      applicationProperties: { tenant: 'contoso', attempt: 2, flag: true },
    };
    const sender = client.createSender(PROPS.name);
    await sender.sendMessages(sent);
    await sender.close();
    const [m] = await drain(PROPS.name, 1);
    expect(m.body).toEqual({ hello: 'world' });
    expect(m.messageId).toBe('props-1');
    expect(m.correlationId).toBe('corr-1');
    expect(m.subject).toBe('greeting');
    expect(m.contentType).toBe('application/json');
    expect(m.to).toBe('someone');
    expect(m.replyTo).toBe('reply-queue');
    expect(m.sessionId).toBe('session-9');
    expect(m.replyToSessionId).toBe('reply-session');
    expect(m.timeToLive).toBe(60_000);
    expect(m.expiresAtUtc!.getTime() - m.enqueuedTimeUtc!.getTime()).toBe(60_000);
    expect(m.applicationProperties).toEqual({ tenant: 'contoso', attempt: 2, flag: true });
  });

  it('drops a message whose time-to-live has passed before delivery', async () => {
    const sender = client.createSender(RAD.name);
    await sender.sendMessages([{ body: 'short-lived', timeToLive: 50 }, { body: 'kept' }]);
    await sender.close();
    await new Promise((r) => setTimeout(r, 200));
    const receiver = client.createReceiver(RAD.name, { receiveMode: 'receiveAndDelete' });
    const got = await receiver.receiveMessages(2, { maxWaitTimeInMs: 1_000 });
    await receiver.close();
    expect(got.map((m) => m.body)).toEqual(['kept']);
    expect(broker.stats(RAD.name).expired).toBe(1);
  });

  it('abandon redelivers with a higher delivery count; dead-letter keeps reason and description; the DLQ is completable', async () => {
    const sender = client.createSender(DLQ.name);
    await sender.sendMessages({ body: 'x', messageId: 'dl-1' });
    await sender.close();
    const receiver = client.createReceiver(DLQ.name);
    const [first] = await receiver.receiveMessages(1, { maxWaitTimeInMs: 2_000 });
    expect(first.deliveryCount).toBe(0);
    await receiver.abandonMessage(first);
    const [second] = await receiver.receiveMessages(1, { maxWaitTimeInMs: 2_000 });
    expect(second.messageId).toBe('dl-1');
    expect(second.deliveryCount).toBe(1);
    await receiver.deadLetterMessage(second, { deadLetterReason: 'BadOrder', deadLetterErrorDescription: 'order 7 is invalid' });
    await receiver.close();
    expect(broker.stats(DLQ.name).deadLetterCount).toBe(1);

    const [dead] = await drain(DLQ.name, 1, 'deadLetter');
    expect(dead.messageId).toBe('dl-1');
    expect(dead.deadLetterReason).toBe('BadOrder');
    expect(dead.deadLetterErrorDescription).toBe('order 7 is invalid');
    expect(dead.deadLetterSource).toBe(DLQ.name);
    expect(broker.stats(DLQ.name).deadLetterCount).toBe(0);
  });

  it('dead-letters a poison message after maxDeliveryCount with MaxDeliveryCountExceeded', async () => {
    const sender = client.createSender(POISON.name);
    await sender.sendMessages({ body: 'poison', messageId: 'p-1' });
    await sender.close();
    const receiver = client.createReceiver(POISON.name);
    const counts: number[] = [];
    for (;;) {
      const [m] = await receiver.receiveMessages(1, { maxWaitTimeInMs: 1_000 });
      if (!m) break;
      counts.push(m.deliveryCount!);
      await receiver.abandonMessage(m);
    }
    await receiver.close();
    expect(counts).toEqual([0, 1, 2]);
    const [dead] = await drain(POISON.name, 1, 'deadLetter');
    expect(dead.messageId).toBe('p-1');
    expect(dead.deadLetterReason).toBe('MaxDeliveryCountExceeded');
    expect(dead.deadLetterErrorDescription).toContain('3 delivery attempts');
  });

  it('drops duplicates of a MessageId within the detection window', async () => {
    const sender = client.createSender(DUP.name);
    await sender.sendMessages({ body: 'first', messageId: 'dup-1' });
    await sender.sendMessages({ body: 'second', messageId: 'dup-1' });
    await sender.sendMessages([{ body: 'third', messageId: 'dup-1' }, { body: 'other', messageId: 'dup-2' }]);
    await sender.close();
    const got = await drain(DUP.name, 2);
    expect(got.map((m) => m.body).sort()).toEqual(['first', 'other']);
    expect(broker.stats(DUP.name).active).toBe(0);
    expect(broker.stats(DUP.name).duplicatesDropped).toBeGreaterThanOrEqual(2);
  });

  it('delivers a scheduled message no earlier than scheduled, and cancels a schedule', async () => {
    const sender = client.createSender(SCHEDULED.name);
    // Both moments fixed before anything is sent, far enough apart that a slow send or cancel on a busy
    // machine cannot turn their order round (the broker delivers by scheduled time, as Service Bus does).
    const at = new Date(Date.now() + 3_000);
    const annotated = new Date(at.getTime() - 1_500);
    const [keep, cancel] = await sender.scheduleMessages([{ body: 'later', messageId: 's-1' }, { body: 'never', messageId: 's-2' }], at);
    expect(keep.toNumber()).toBeGreaterThan(0);
    await sender.cancelScheduledMessages(cancel);
    await sender.sendMessages({ body: 'by-annotation', messageId: 's-3', scheduledEnqueueTimeUtc: annotated });
    await sender.sendMessages({ body: 'now', messageId: 's-0' });
    await sender.close();

    const receiver = client.createReceiver(SCHEDULED.name);
    const got: Array<{ body: unknown; at: number }> = [];
    while (got.length < 3) {
      const batch = await receiver.receiveMessages(3, { maxWaitTimeInMs: 3_000 });
      if (batch.length === 0) break;
      for (const m of batch) {
        got.push({ body: m.body, at: Date.now() });
        await receiver.completeMessage(m);
      }
    }
    // Anything that would still arrive (the cancelled one must not).
    const late = await receiver.receiveMessages(1, { maxWaitTimeInMs: 800 });
    await receiver.close();
    expect(late).toHaveLength(0);
    expect(got.map((g) => g.body)).toEqual(['now', 'by-annotation', 'later']);
    expect(got.find((g) => g.body === 'later')!.at).toBeGreaterThanOrEqual(at.getTime());
    expect(got.find((g) => g.body === 'by-annotation')!.at).toBeGreaterThanOrEqual(annotated.getTime());
  });

  it('peeks without locking, from the start and onwards', async () => {
    const sender = client.createSender(PEEK.name);
    await sender.sendMessages([1, 2, 3, 4].map((n) => ({ body: n, messageId: `peek-${n}` })));
    await sender.close();
    const receiver = client.createReceiver(PEEK.name);
    const firstTwo = await receiver.peekMessages(2);
    const rest = await receiver.peekMessages(10);
    const none = await receiver.peekMessages(10);
    expect(firstTwo.map((m) => m.body)).toEqual([1, 2]);
    expect(rest.map((m) => m.body)).toEqual([3, 4]);
    expect(none).toHaveLength(0);
    expect(firstTwo[0].lockToken).toBeUndefined();
    const again = await receiver.peekMessages(4, { fromSequenceNumber: firstTwo[0].sequenceNumber });
    expect(again.map((m) => m.body)).toEqual([1, 2, 3, 4]);
    await receiver.close();
    expect(broker.stats(PEEK.name).available).toBe(4);
    await drain(PEEK.name, 4);
  });

  it('renews a lock so that it outlives the lock duration', async () => {
    const sender = client.createSender(RENEW.name);
    await sender.sendMessages({ body: 'long work', messageId: 'r-1' });
    await sender.close();
    const receiver = client.createReceiver(RENEW.name, { maxAutoLockRenewalDurationInMs: 0 });
    const [m] = await receiver.receiveMessages(1, { maxWaitTimeInMs: 2_000 });
    const before = m.lockedUntilUtc!.getTime();
    for (let i = 0; i < 3; i++) {
      await new Promise((r) => setTimeout(r, 500));
      const until = await receiver.renewMessageLock(m);
      expect(until.getTime()).toBeGreaterThan(before);
    }
    // 1.5 s after receipt with a 1 s lock: still ours.
    await receiver.completeMessage(m);
    await receiver.close();
    expect(broker.stats(RENEW.name).lockExpiries).toBe(0);
    expect(broker.stats(RENEW.name).completed).toBe(1);
  });

  it('redelivers when a lock expires, and refuses the late settlement with lock lost', async () => {
    const sender = client.createSender(RENEW.name);
    await sender.sendMessages({ body: 'slow', messageId: 'x-1' });
    await sender.close();
    const receiver = client.createReceiver(RENEW.name, { maxAutoLockRenewalDurationInMs: 0 });
    const [m] = await receiver.receiveMessages(1, { maxWaitTimeInMs: 2_000 });
    expect(m.deliveryCount).toBe(0);
    const [again] = await receiver.receiveMessages(1, { maxWaitTimeInMs: 5_000 });
    expect(again.messageId).toBe('x-1');
    expect(again.deliveryCount).toBe(1);
    await expect(receiver.completeMessage(m)).rejects.toMatchObject({ code: 'MessageLockLost' });
    await receiver.completeMessage(again);
    await receiver.close();
  });

  it('receive-and-delete removes on delivery', async () => {
    const sender = client.createSender(RAD.name);
    await sender.sendMessages([{ body: 1 }, { body: 2 }, { body: 3 }]);
    await sender.close();
    const receiver = client.createReceiver(RAD.name, { receiveMode: 'receiveAndDelete' });
    const got: unknown[] = [];
    while (got.length < 3) {
      const batch = await receiver.receiveMessages(3, { maxWaitTimeInMs: 2_000 });
      if (batch.length === 0) break;
      got.push(...batch.map((m) => m.body));
    }
    await receiver.close();
    expect(got.sort()).toEqual([1, 2, 3]);
    expect(broker.stats(RAD.name).active).toBe(0);
  });

  it('receiveMessages(10) getting 1, then completing it (credit drain, settlement after the link closes)', async () => {
    const sender = client.createSender(DRAIN.name);
    await sender.sendMessages({ body: 'only', messageId: 'd-1' });
    await sender.close();
    const receiver = client.createReceiver(DRAIN.name);
    const got = await receiver.receiveMessages(10, { maxWaitTimeInMs: 3_000 });
    expect(got.map((m) => m.body)).toEqual(['only']);
    await receiver.completeMessage(got[0]);
    expect(broker.stats(DRAIN.name).active).toBe(0);
    // The same receiver keeps working after the drain.
    const s2 = client.createSender(DRAIN.name);
    await s2.sendMessages({ body: 'next', messageId: 'd-2' });
    await s2.close();
    const more = await receiver.receiveMessages(10, { maxWaitTimeInMs: 3_000 });
    expect(more.map((m) => m.body)).toEqual(['next']);
    await receiver.completeMessage(more[0]);
    await receiver.close();
  });

  it('subscribe() receives and completes', async () => {
    const sender = client.createSender(PROPS.name);
    await sender.sendMessages([{ body: 'sub-1' }, { body: 'sub-2' }]);
    await sender.close();
    const receiver = client.createReceiver(PROPS.name);
    const got: unknown[] = [];
    await new Promise<void>((resolve, reject) => {
      const subscription = receiver.subscribe({
        processMessage: async (m) => {
          got.push(m.body);
          if (got.length === 2) void subscription.close().then(resolve);
        },
        processError: async (args) => reject(args.error),
      });
    });
    await receiver.close();
    expect(got.sort()).toEqual(['sub-1', 'sub-2']);
    expect(broker.stats(PROPS.name).active).toBe(0);
  });

  it('refuses an unknown queue with not-found', async () => {
    const sender = client.createSender('no-such-queue');
    await expect(sender.sendMessages({ body: 1 })).rejects.toMatchObject({ code: 'MessagingEntityNotFound' });
    await sender.close();
    const receiver = client.createReceiver('no-such-queue');
    await expect(receiver.receiveMessages(1, { maxWaitTimeInMs: 1_000 })).rejects.toMatchObject({ code: 'MessagingEntityNotFound' });
    await receiver.close();
  });

  it('refuses what it does not support with not-implemented: sessions, topics, deferral', async () => {
    await expect(client.acceptSession(WORK.name, 'session-1')).rejects.toThrow(/not supported/);
    const topicReceiver = client.createReceiver('topic', 'sub');
    await expect(topicReceiver.receiveMessages(1, { maxWaitTimeInMs: 1_000 })).rejects.toThrow(/not supported/);
    await topicReceiver.close();

    const sender = client.createSender(WORK.name);
    await sender.sendMessages({ body: 'defer-me', messageId: 'def-1' });
    await sender.close();
    const receiver = client.createReceiver(WORK.name);
    const [m] = await receiver.receiveMessages(1, { maxWaitTimeInMs: 2_000 });
    await expect(receiver.deferMessage(m)).rejects.toThrow(/not supported/);
    await expect(receiver.receiveDeferredMessages([m.sequenceNumber!])).rejects.toThrow(/not supported/);
    await receiver.close();
  });
});
