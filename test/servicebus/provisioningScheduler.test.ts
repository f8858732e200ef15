import { ServiceBusClient } from '@azure/service-bus';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBroker, type LocalBroker } from '../../local/servicebus/broker';
import { brokerQueues } from '../../local/servicebus/queues';
import { ServiceBusProvisioningScheduler } from '../../shared/adapters/servicebus/provisioningScheduler';
import { QUEUES, SERVICE_BUS_CONNECTION } from '../../shared/config/queues';
import { numberCheckMessage, numberCheckNow, provisionMessageId, scheduleNumberCheck, type ProvisionUserMessage } from '../../shared/provisioning';
import type { ProvisioningDeps } from '../../shared/provisioning/ports';

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

  it('never schedules a check for a moment already past, whose check may have run under the same id', async () => {
    const receiver = client.createReceiver(QUEUES.numberChecks.name);
    /** The next check to arrive within `wait`, completed (none: an empty list). */
    const drain = async (wait = 1_000) => {
      const got: ProvisionUserMessage[] = [];
      for (const m of await receiver.receiveMessages(1, { maxWaitTimeInMs: wait })) {
        await receiver.completeMessage(m);
        got.push(m.body as ProvisionUserMessage);
      }
      return got;
    };
    try {
      while ((await drain()).length > 0);
      // The check of a moment that has just passed runs (a user of the customer fell due then)…
      const passed = new Date(Date.now() - 1_000);
      await scheduler.schedule([numberCheckMessage('c2', 'early', passed)], passed);
      expect(await drain(5_000)).toHaveLength(1);
      // …and a pass that waited for its quota stores an assignment due in that same moment, after it.
      const deps = { queue: scheduler } as unknown as ProvisioningDeps;
      await scheduleNumberCheck(deps, 'c2', 'late', passed);
      const late = await drain(15_000);
      expect(late).toEqual([expect.objectContaining({ customerId: 'c2', reason: 'number-check' })]);
      expect(Date.parse(late[0].observedAt!)).toBeGreaterThan(passed.getTime());
      // The reconciler's check at once shares no moment's id.
      const now = new Date();
      expect(provisionMessageId(numberCheckNow('c2', 'lost', now))).not.toBe(provisionMessageId(numberCheckMessage('c2', 'lost', now)));
      await scheduler.send([numberCheckNow('c2', 'lost', now)]);
      expect(await drain(5_000)).toHaveLength(1);
    } finally {
      await receiver.close();
    }
  });
});
