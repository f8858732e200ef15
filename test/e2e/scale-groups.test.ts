import os from 'node:os';
import { afterAll, describe, expect, it } from 'vitest';
import { startLocalRuntime, type LocalRuntime } from '../../local/stack';
import { QUEUES } from '../../shared/config/queues';

let rt: LocalRuntime | undefined;

afterAll(async () => {
  await rt?.stop();
});

describe('the app split by scale groups (npm start -- --scale-groups)', () => {
  it('runs one process per group, the HTTP group answering and the others yielding the cores to it', async () => {
    rt = await startLocalRuntime({ scaleGroups: true, enableTimers: false, graph: { emulator: { users: 10, seed: 'scale-groups' } } });
    const byName = new Map(rt.instances.map((i) => [i.name, i]));
    // Every Service Bus trigger in a group of its own, the number checks apart from the users waiting.
    for (const name of ['http-1', 'durable-1', 'provisionUser-1', 'checkNumbers-1', 'graphNotificationProcessor-1']) expect(byName.has(name), name).toBe(true);
    expect(byName.get('checkNumbers-1')!.groups).toEqual(['function:checkNumbers']);
    for (const instance of rt.instances) {
      expect(os.getPriority(instance.process.pid), instance.name).toBe(instance.groups?.includes('http') ? 0 : 10);
    }
    // The front door reaches the HTTP group.
    const health = await fetch(`${rt.endpoints.apiUrl}/health`);
    expect([200, 503]).toContain(health.status);
    expect(await health.json()).toHaveProperty('status');
    expect(rt.broker.stats(QUEUES.numberChecks.name).active).toBe(0);
  }, 120_000);
});
