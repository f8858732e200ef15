import { ServiceBusClient } from '@azure/service-bus';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalHost } from '../../local/host/host';
import { loadFunctionApp } from '../../local/host/load';
import { startLocalServiceBus, type LocalServiceBus } from '../../local/servicebus/trigger';
import { calls, concurrency } from './fixtures/recorder';

const QUEUES = [
  { name: 'flaky', maxDeliveryCount: 5, lockDuration: 'PT30S' },
  { name: 'always-fails', maxDeliveryCount: 3, lockDuration: 'PT30S' },
  { name: 'slow', maxDeliveryCount: 5, lockDuration: 'PT30S' },
  { name: 'batch', maxDeliveryCount: 5, lockDuration: 'PT30S' },
  { name: 'long', maxDeliveryCount: 5, lockDuration: 'PT1S' },
];

let bus: LocalServiceBus;
let host: LocalHost;
let client: ServiceBusClient;
const logs: Array<{ level: string; source: string; message: string }> = [];

async function until(condition: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 400 && !condition(); i++) await new Promise((r) => setTimeout(r, 25));
  if (!condition()) throw new Error(`gave up waiting for ${what}`);
}

beforeAll(async () => {
  const registry = await loadFunctionApp(path.join(__dirname, 'fixtures', 'app'));
  bus = await startLocalServiceBus({ queues: QUEUES });
  host = await LocalHost.start({
    registry,
    hostJson: { version: '2.0', extensions: { serviceBus: { maxConcurrentCalls: 2, maxAutoLockRenewalDuration: '00:01:00' } } },
    settings: bus.settings,
    keys: { functionKey: 'f', masterKey: 'm' },
    extensions: [bus.extension],
    enableTimers: false,
    logger: (level, source, message) => logs.push({ level, source, message }),
  });
  client = new ServiceBusClient(bus.broker.connectionString);
});

afterAll(async () => {
  await client?.close();
  await host?.stop();
  await bus?.broker.stop();
});

describe('Service Bus triggers in the local host', () => {
  it('serves its connection string as an endpoint', () => {
    expect(host.endpoints()).toEqual({ serviceBusConnectionString: bus.broker.connectionString });
  });

  it('redelivers after a throw with deliveryCount 1, 2, 3 and completes on success; metadata as the host gives it', async () => {
    const sender = client.createSender('flaky');
    await sender.sendMessages({
      body: { orderId: 7 },
      messageId: 'order-7',
      correlationId: 'corr-7',
      subject: 'order',
      contentType: 'application/json',
      applicationProperties: { TenantId: 'contoso' },
    });
    await sender.close();
    await until(() => (calls.flaky?.length ?? 0) >= 3 && bus.broker.stats('flaky').completed === 1, 'three deliveries and a completion');
    expect(calls.flaky.map((c) => c.metadata.deliveryCount)).toEqual([1, 2, 3]);
    expect(calls.flaky[0].input).toEqual({ orderId: 7 });
    const metadata = calls.flaky[2].metadata;
    expect(metadata).toMatchObject({
      messageId: 'order-7',
      correlationId: 'corr-7',
      subject: 'order',
      label: 'order',
      contentType: 'application/json',
      applicationProperties: { tenantId: 'contoso' },
      userProperties: { tenantId: 'contoso' },
    });
    expect(typeof metadata.lockToken).toBe('string');
    expect(typeof metadata.sequenceNumber).toBe('number');
    expect(new Date(metadata.enqueuedTimeUtc as string).getTime()).toBeGreaterThan(0);
    expect(typeof metadata.expiresAtUtc).toBe('string');
    expect(bus.broker.stats('flaky').active).toBe(0);
  });

  it('parses a JSON text body as the host does', async () => {
    const sender = client.createSender('flaky');
    await sender.sendMessages({ body: '{"fromText":true}', messageId: 'text-1', applicationProperties: {} });
    await sender.close();
    await until(() => calls.flaky.some((c) => c.metadata.messageId === 'text-1' && c.metadata.deliveryCount === 3), 'the text message');
    expect(calls.flaky.find((c) => c.metadata.messageId === 'text-1')!.input).toEqual({ fromText: true });
  });

  it('leaves a message that always fails in the dead-letter queue after maxDeliveryCount', async () => {
    const sender = client.createSender('always-fails');
    await sender.sendMessages({ body: 'bad', messageId: 'bad-1' });
    await sender.close();
    await until(() => bus.broker.stats('always-fails').deadLetterCount === 1, 'the dead-letter');
    expect(calls.alwaysFails.map((c) => c.metadata.deliveryCount)).toEqual([1, 2, 3]);
    const dlq = client.createReceiver('always-fails', { subQueueType: 'deadLetter' });
    const [dead] = await dlq.receiveMessages(1, { maxWaitTimeInMs: 2_000 });
    expect(dead.messageId).toBe('bad-1');
    expect(dead.deadLetterReason).toBe('MaxDeliveryCountExceeded');
    await dlq.completeMessage(dead);
    await dlq.close();
  });

  it('runs no more than maxConcurrentCalls at once', async () => {
    const sender = client.createSender('slow');
    await sender.sendMessages(Array.from({ length: 12 }, (_, i) => ({ body: { i }, messageId: `slow-${i}` })));
    await sender.close();
    await until(() => (calls.slow?.length ?? 0) === 12 && bus.broker.stats('slow').completed === 12, 'twelve completions');
    expect(concurrency.max).toBeLessThanOrEqual(2);
    expect(concurrency.max).toBeGreaterThan(0);
    expect(new Set(calls.slow.map((c) => (c.input as { i: number }).i)).size).toBe(12);
  });

  it("hands a batch to a cardinality 'many' function with …Array metadata", async () => {
    const sender = client.createSender('batch');
    await sender.sendMessages([{ body: { n: 1 }, messageId: 'b-1' }, { body: { n: 2 }, messageId: 'b-2' }, { body: { n: 3 }, messageId: 'b-3' }]);
    await sender.close();
    await until(() => bus.broker.stats('batch').completed === 3, 'the batch to complete');
    const inputs = calls.batch.flatMap((c) => c.input as unknown[]);
    expect(inputs).toEqual([{ n: 1 }, { n: 2 }, { n: 3 }]);
    const ids = calls.batch.flatMap((c) => c.metadata.messageIdArray as string[]);
    expect(ids).toEqual(['b-1', 'b-2', 'b-3']);
    expect(calls.batch.flatMap((c) => c.metadata.deliveryCountArray as number[])).toEqual([1, 1, 1]);
  });

  it('renews the lock while a function runs longer than the lock duration', async () => {
    const sender = client.createSender('long');
    await sender.sendMessages({ body: 'long job', messageId: 'long-1' });
    await sender.close();
    await until(() => bus.broker.stats('long').completed === 1, 'the long job to complete');
    expect(calls.long.map((c) => c.metadata.deliveryCount)).toEqual([1]);
    expect(bus.broker.stats('long').lockExpiries).toBe(0);
  });

  it('stops receiving on stop and waits for running handlers', async () => {
    concurrency.current = 0;
    const sender = client.createSender('slow');
    await sender.sendMessages({ body: { i: 99 }, messageId: 'slow-99' });
    await sender.close();
    await until(() => concurrency.current > 0 || calls.slow.length === 13, 'the handler to start');
    await host.stop();
    expect(concurrency.current).toBe(0);
    // Every settlement went through: no lock lost, no receive error along the way.
    expect(logs.filter((l) => l.level === 'warning')).toEqual([]);
    expect(logs.filter((l) => l.level === 'error').every((l) => /transient failure|poison/.test(l.message))).toBe(true);
    expect(bus.broker.stats('slow').completed).toBe(13);
    const sender2 = client.createSender('slow');
    await sender2.sendMessages({ body: { i: 100 }, messageId: 'slow-100' });
    await sender2.close();
    await new Promise((r) => setTimeout(r, 200));
    expect(bus.broker.stats('slow').available).toBe(1);
  });
});
