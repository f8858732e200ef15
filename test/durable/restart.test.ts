import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EventType } from '../../local/durable';
import { SystemClock, VirtualClock } from '../../local/host/clock';
import { startAzurite } from '../support/azurite';
import { controls } from './fixtures/controls';
import { startDurableHost, type DurableHost } from './harness';

const SIZE = 300;
let azurite: Awaited<ReturnType<typeof startAzurite>>;
const hosts: DurableHost[] = [];

beforeAll(async () => {
  azurite = await startAzurite();
});

afterAll(async () => {
  for (const env of hosts) await env.host.stop();
  await azurite?.stop();
});

async function completedItems(env: DurableHost, instanceId: string): Promise<string[]> {
  const record = await env.durable.storage.getInstance(instanceId);
  if (!record) return [];
  const { events } = await env.durable.storage.loadHistory(instanceId, record.executionId);
  const scheduled = new Map(events.filter((e) => e.EventType === EventType.TaskScheduled).map((e) => [e.EventId, JSON.parse(e.Input!) as string]));
  return events.filter((e) => e.EventType === EventType.TaskCompleted).map((e) => scheduled.get(e.TaskScheduledId!)!);
}

describe('Durable restart', () => {
  it('resumes a fan-out on a new host over the same storage and ends as an uninterrupted run does', async () => {
    const c = controls();
    let releaseOld!: () => void;
    const oldGate = new Promise<void>((resolve) => (releaseOld = resolve));
    let reachedMidway!: () => void;
    const midway = new Promise<void>((resolve) => (reachedMidway = resolve));
    c.onProcess = (count) => {
      if (count === SIZE / 2) {
        c.gate = oldGate; // the activities still running when the host stops never finish there
        reachedMidway();
      }
    };

    // Each test has a task hub of its own: workers on one hub share its instances (and these run on other clocks).
    const first = await startDurableHost(azurite.connectionString, { clock: new SystemClock(), hubName: 'RestartFanOut' });
    hosts.push(first);
    const id = await first.durable.startNew('FanOut', { instanceId: 'fan-out-restart', input: String(SIZE) });
    await midway;
    // Let the first host record some completions, then stop it mid fan-out.
    while ((await completedItems(first, id)).length === 0) await new Promise((resolve) => setTimeout(resolve, 20));
    await first.host.stop();
    const recorded = await completedItems(first, id);
    expect(recorded.length).toBeGreaterThan(0);
    expect(recorded.length).toBeLessThan(SIZE);
    expect((await first.durable.storage.getInstance(id))?.runtimeStatus).toBe('Running');

    c.gate = undefined;
    c.onProcess = undefined;
    const second = await startDurableHost(azurite.connectionString, { clock: new SystemClock(), hubName: 'RestartFanOut' });
    hosts.push(second);
    releaseOld(); // the abandoned invocations finish now; their results must not count
    const resumed = await second.durable.waitForCompletion(id, 30_000);

    const reference = await second.durable.startNew('FanOut', { input: String(SIZE) });
    const uninterrupted = await second.durable.waitForCompletion(reference, 30_000);
    expect(resumed.runtimeStatus).toBe('Completed');
    expect(resumed.output).toEqual(uninterrupted.output);

    // At-least-once, not more: an activity whose completion was recorded before the stop did not run again.
    for (const item of recorded) expect(c.perItem.get(item)).toBe(2); // once in each fan-out
    const history = await completedItems(second, id);
    expect(new Set(history).size).toBe(SIZE);
  });

  it('re-arms a durable timer after a restart', async () => {
    const clock = new VirtualClock(Date.UTC(2026, 2, 1));
    const first = await startDurableHost(azurite.connectionString, { clock, hubName: 'RestartTimer' });
    hosts.push(first);
    const id = await first.durable.startNew('Sleeper', { instanceId: 'sleeper-restart' });
    await first.durable.idle();
    await first.host.stop();

    const second = await startDurableHost(azurite.connectionString, { clock, hubName: 'RestartTimer' });
    hosts.push(second);
    await clock.advance(60 * 60_000);
    const status = await second.durable.waitForCompletion(id);
    expect(status.output).toEqual({ before: '2026-03-01T00:00:00.000Z', after: '2026-03-01T01:00:00.000Z' });
  });
});
