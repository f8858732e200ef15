import { ServiceBusClient } from '@azure/service-bus';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBroker, type LocalBroker } from '../../local/servicebus/broker';
import { brokerQueues } from '../../local/servicebus/queues';
import { ServiceBusProvisioningScheduler } from '../../shared/adapters/servicebus/provisioningScheduler';
import { QUEUES, SERVICE_BUS_CONNECTION } from '../../shared/config/queues';
import { numberCheckMessage, provisionMessageId, type ProvisionUserMessage } from '../../shared/provisioning';

let broker: LocalBroker;
let client: ServiceBusClient;
let scheduler: ServiceBusProvisioningScheduler;

beforeAll(async () => {
  broker = await startBroker({ queues: brokerQueues() });
  client = new ServiceBusClient(broker.connectionString);
  scheduler = new ServiceBusProvisioningScheduler(provisionMessageId, { [SERVICE_BUS_CONNECTION]: broker.connectionString });
});

afterAll(async () => {
  await client?.close();
  await broker?.stop();
});

const at = '2026-12-05T00:00:00.000Z';
const userMessage = (userId: string): ProvisionUserMessage => ({ customerId: 'c1', userId, reason: 'sync-add', observedAt: at, requestedAt: at });

describe('the provisioning scheduler on Service Bus', () => {
  it('puts number checks on a queue of their own, so that a check that falls due is not behind every user waiting', async () => {
    const backlog = Array.from({ length: 300 }, (_, i) => userMessage(`u${i}`));
    await scheduler.send(backlog);
    await scheduler.schedule([numberCheckMessage('c1', 'u0', new Date())], new Date());
    // The check is the head of its queue while the 300 users still wait in theirs.
    const receiver = client.createReceiver(QUEUES.numberChecks.name);
    try {
      const [check] = await receiver.receiveMessages(1, { maxWaitTimeInMs: 5_000 });
      expect(check?.body).toMatchObject({ customerId: 'c1', reason: 'number-check' });
      await receiver.completeMessage(check!);
    } finally {
      await receiver.close();
    }
    expect(broker.stats(QUEUES.userProvisioning.name).active).toBe(300);
    expect(broker.activeIn([QUEUES.numberChecks])).toBe(0);
  });

  it('sends a mixed list each to its queue, and the checks the reconciler sends again as well', async () => {
    const before = broker.stats(QUEUES.userProvisioning.name).active;
    await scheduler.send([userMessage('v1'), numberCheckMessage('c1', 'v1', new Date(Date.now() + 60_000)), userMessage('v2')]);
    expect(broker.stats(QUEUES.userProvisioning.name).active).toBe(before + 2);
    expect(broker.stats(QUEUES.numberChecks.name).active).toBe(1);
  });
});
