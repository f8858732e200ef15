import { ServiceBusClient } from '@azure/service-bus';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalHost } from '../../local/host/host';
import { loadFunctionApp } from '../../local/host/load';
import { EventLoopHealth, type HealthProbe } from '../../local/host/concurrency';
import { ServiceBusExtension, startLocalServiceBus, type LocalServiceBus } from '../../local/servicebus/trigger';
import { concurrency } from './fixtures/recorder';

const QUEUES = [
  { name: 'steady', maxDeliveryCount: 5, lockDuration: 'PT30S' },
  { name: 'busy', maxDeliveryCount: 5, lockDuration: 'PT30S' },
];

/** The event loop's canary, with a switch the test can hold on to say the host is unhealthy. */
const forced = { unhealthy: false };

let bus: LocalServiceBus;
let host: LocalHost;
let client: ServiceBusClient;

async function until(condition: () => boolean, what: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`gave up waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

async function send(queue: string, count: number): Promise<void> {
  const sender = client.createSender(queue);
  for (let i = 0; i < count; i += 50) await sender.sendMessages(Array.from({ length: Math.min(50, count - i) }, (_, k) => ({ body: { n: i + k } })));
  await sender.close();
}

beforeAll(async () => {
  const registry = await loadFunctionApp(path.join(__dirname, 'fixtures', 'dynamic'));
  bus = await startLocalServiceBus({ queues: QUEUES });
  const extension = new ServiceBusExtension({
    broker: bus.broker,
    healthProbe: (): HealthProbe => {
      const loop = new EventLoopHealth();
      return { throttled: () => loop.throttled() || forced.unhealthy, stop: () => loop.stop() };
    },
  });
  host = await LocalHost.start({
    registry,
    hostJson: { version: '2.0', concurrency: { dynamicConcurrencyEnabled: true }, extensions: { serviceBus: { maxConcurrentCalls: 100 } } },
    settings: bus.settings,
    keys: { functionKey: 'f', masterKey: 'm' },
    extensions: [extension],
    enableTimers: false,
  });
  bus = { ...bus, extension };
  client = new ServiceBusClient(bus.broker.connectionString);
}, 60_000);

afterAll(async () => {
  await client?.close();
  await host?.stop();
  await bus?.broker.stop();
});

describe('Service Bus triggers with dynamic concurrency (host.json concurrency.dynamicConcurrencyEnabled)', () => {
  it('a function waiting on I/O starts at one at a time and is given more while the host stays healthy', async () => {
    concurrency.max = 0;
    await send('steady', 400);
    await until(() => (bus.extension.concurrencyReport().steady?.current ?? 0) >= 3, 'the concurrency of steady to grow');
    // Never more at once than the host allowed; maxConcurrentCalls (100) is not what limits it.
    const report = bus.extension.concurrencyReport().steady;
    expect(concurrency.max).toBeLessThanOrEqual(report.peak);
    expect(report.increases).toBeGreaterThanOrEqual(2);
    await until(() => bus.broker.stats('steady').completed === 400, 'every steady message to finish');
  }, 90_000);

  it('runs at most one message at a time while the host is unhealthy, comes down, and carries on once healthy again', async () => {
    const asked = bus.extension.concurrencyReport().steady.throttledAsks;
    forced.unhealthy = true;
    try {
      // Once the listener has been refused, no receive of its is in flight: from then on it runs one
      // message at a time at most (never starved, never more).
      await until(() => bus.extension.concurrencyReport().steady.throttledAsks > asked, 'the listener to be refused');
      concurrency.max = 0;
      const grown = bus.extension.concurrencyReport().steady.current;
      const before = bus.broker.stats('steady').completed;
      await send('steady', 50);
      await until(() => bus.extension.concurrencyReport().steady.decreases > 0 || grown === 1, 'a decrease');
      expect(concurrency.max).toBeLessThanOrEqual(1);
      forced.unhealthy = false;
      await until(() => bus.broker.stats('steady').completed === before + 50, 'the held messages to finish once healthy');
    } finally {
      forced.unhealthy = false;
    }
  }, 90_000);

  it("a function that holds the event loop trips the loop's canary, and still finishes every message", async () => {
    const throttledBefore = bus.extension.concurrencyReport().busy?.throttledAsks ?? 0;
    await send('busy', 20);
    await until(() => bus.broker.stats('busy').completed === 20, 'every busy message to finish');
    expect(bus.extension.concurrencyReport().busy.throttledAsks).toBeGreaterThan(throttledBefore);
  }, 90_000);
});
