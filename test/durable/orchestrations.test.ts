import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { VirtualClock } from '../../local/host/clock';
import { EventType } from '../../local/durable';
import { startAzurite } from '../support/azurite';
import { controls } from './fixtures/controls';
import { runToEnd, startDurableHost, type DurableHost } from './harness';

let azurite: Awaited<ReturnType<typeof startAzurite>>;
let env: DurableHost;

beforeAll(async () => {
  azurite = await startAzurite();
  env = await startDurableHost(azurite.connectionString);
});

afterAll(async () => {
  await env?.host.stop();
  await azurite?.stop();
});

describe('Durable orchestrations through the local host', () => {
  it('fans out 1,000 activities and fans the results back in', async () => {
    const id = await env.durable.startNew('FanOut', { input: '1000' });
    const status = await env.durable.waitForCompletion(id, 150_000);
    expect(status.runtimeStatus).toBe('Completed');
    expect(status.output).toEqual({ count: 1000, first: 'ITEM-0', last: 'ITEM-999', joined: expect.any(Number) });
    const history = (await env.durable.storage.loadHistory(id, (await env.durable.storage.getInstance(id))!.executionId)).events;
    expect(history.filter((e) => e.EventType === EventType.TaskScheduled)).toHaveLength(1000);
    expect(history.filter((e) => e.EventType === EventType.TaskCompleted)).toHaveLength(1000);
    // host.json: maxConcurrentActivityFunctions is 10.
    expect(controls().maxInFlight).toBeLessThanOrEqual(10);
    expect(controls().maxInFlight).toBeGreaterThan(1);
  }, 180_000);

  it('retries a failing activity with backoff on durable timers, then succeeds', async () => {
    const id = await env.durable.startNew('Retrying', { input: JSON.stringify({ key: 'twice', failures: 2, attempts: 3 }) });
    const status = await runToEnd(env, id, 1_000);
    expect(status.runtimeStatus).toBe('Completed');
    expect(status.output).toBe('ok after 3 attempts');
    const { events } = await env.durable.storage.loadHistory(id, (await env.durable.storage.getInstance(id))!.executionId);
    // TaskScheduled(0) TaskFailed(0) TimerCreated(1) TimerFired(1) TaskScheduled(2) ... as the SDK numbers them.
    expect(events.filter((e) => e.EventType === EventType.TaskScheduled).map((e) => e.EventId)).toEqual([0, 2, 4]);
    const timers = events.filter((e) => e.EventType === EventType.TimerCreated);
    expect(timers.map((e) => e.EventId)).toEqual([1, 3]);
    const delays = timers.map((t) => Date.parse(t.FireAt!) - Date.parse(t.Timestamp));
    expect(delays).toEqual([1_000, 2_000]);
  });

  it('surfaces the last failure when the attempts run out', async () => {
    const id = await env.durable.startNew('Retrying', { input: JSON.stringify({ key: 'always', failures: 99, attempts: 3 }) });
    const status = await runToEnd(env, id, 1_000);
    expect(status.runtimeStatus).toBe('Failed');
    expect(String(status.output)).toContain("Orchestrator function 'Retrying' failed");
    expect(String(status.output)).toContain('flaky failure 3 for always');
    expect(controls().attempts.get('always')).toBe(3);
  });

  it('fires a durable timer when virtual time reaches it', async () => {
    const clock = env.clock as VirtualClock;
    const id = await env.durable.startNew('Sleeper');
    await env.durable.idle();
    expect(await env.durable.getStatus(id)).toMatchObject({ runtimeStatus: 'Running', customStatus: { phase: 'sleeping' } });
    const startedAt = clock.now();
    await clock.advance(59 * 60_000);
    await env.durable.idle();
    expect((await env.durable.getStatus(id))?.runtimeStatus).toBe('Running');
    await clock.advance(60_000);
    const status = await env.durable.waitForCompletion(id);
    expect(status.output).toEqual({ before: new Date(startedAt).toISOString(), after: new Date(startedAt + 60 * 60_000).toISOString() });
  });

  it('splits a timer longer than six days into chained timers, as the SDK expects', async () => {
    const clock = env.clock as VirtualClock;
    const startedAt = clock.now();
    const id = await env.durable.startNew('Sleeper', { input: String(10 * 24) });
    const status = await runToEnd(env, id, 24 * 60 * 60_000);
    expect(status.output).toMatchObject({ before: new Date(startedAt).toISOString() });
    const { events } = await env.durable.storage.loadHistory(id, (await env.durable.storage.getInstance(id))!.executionId);
    const fired = events.filter((e) => e.EventType === EventType.TimerFired).map((e) => Date.parse(e.FireAt!) - startedAt);
    const day = 24 * 60 * 60_000;
    // 3-day links while more than six days remain, then the rest in one.
    expect(fired).toEqual([3 * day, 6 * day, 10 * day]);
  });

  it('takes an external event that wins over its timeout', async () => {
    const id = await env.durable.startNew('Approval');
    await env.durable.idle();
    expect(await env.durable.raiseEvent(id, 'Approve', JSON.stringify({ by: 'alice' }))).toBe('accepted');
    const status = await env.durable.waitForCompletion(id);
    expect(status.output).toEqual({ approved: { by: 'alice' } });
  });

  it('times out when the event does not come', async () => {
    const id = await env.durable.startNew('Approval');
    const status = await runToEnd(env, id, 6 * 60 * 60_000);
    expect(status.output).toEqual({ approved: false, reason: 'timed out' });
    expect(await env.durable.raiseEvent(id, 'Approve', '"late"')).toBe('gone');
  });

  it('buffers an event that arrives before the orchestrator waits for it', async () => {
    const c = controls();
    let release!: () => void;
    c.prepareGate = new Promise<void>((resolve) => (release = resolve));
    const started = new Promise<void>((resolve) => (c.prepareStarted = resolve));
    const id = await env.durable.startNew('Approval', { input: JSON.stringify({ prepare: true }) });
    await started;
    await env.durable.raiseEvent(id, 'Approve', '"early"');
    release();
    const status = await env.durable.waitForCompletion(id);
    expect(status.output).toEqual({ approved: 'early' });
    c.prepareGate = undefined;
  });

  it('runs sub-orchestrations and reports their results and failures to the parent', async () => {
    const id = await env.durable.startNew('Parent', { instanceId: 'parent-1' });
    const status = await env.durable.waitForCompletion(id);
    expect(status.runtimeStatus).toBe('Completed');
    expect(status.output).toEqual({
      first: { n: 1, upper: 'CHILD-1', parent: 'parent-1' },
      second: { n: 2, upper: 'CHILD-2', parent: 'parent-1' },
      failureMentionsChild: true,
    });
    expect((await env.durable.getStatus('parent-1-child-1'))?.runtimeStatus).toBe('Completed');
    const children = await env.durable.listInstances({ instanceIdPrefix: 'parent-1:' }, 10);
    expect(children.items.map((s) => s.runtimeStatus).sort()).toEqual(['Completed', 'Failed']);
  });

  it('retries a failing sub-orchestration as a new child instance per attempt', async () => {
    const id = await env.durable.startNew('ParentWithRetry', { instanceId: 'retrying-parent' });
    const status = await runToEnd(env, id, 1_000);
    expect(status.output).toBe('gave up after retries');
    const children = await env.durable.listInstances({ instanceIdPrefix: 'retrying-parent:' }, 10);
    expect(children.items.map((s) => [s.instanceId, s.runtimeStatus])).toEqual([
      ['retrying-parent:0', 'Failed'],
      ['retrying-parent:2', 'Failed'],
    ]);
  });

  it('continues as new with a fresh history and carries unprocessed events over', async () => {
    const id = await env.durable.startNew('Accumulate', { input: '0' });
    for (let i = 0; i < 3; i++) await env.durable.raiseEvent(id, 'Add', '1');
    const status = await env.durable.waitForCompletion(id);
    expect(status.runtimeStatus).toBe('Completed');
    expect(status.output).toBe(3);
    const record = (await env.durable.storage.getInstance(id))!;
    const { events } = await env.durable.storage.loadHistory(id, record.executionId);
    expect(events.find((e) => e.EventType === EventType.ExecutionStarted)?.Input).toBe('3');
  });

  it('fails a non-deterministic orchestrator and names both activities', async () => {
    const id = await env.durable.startNew('Drifting');
    const status = await env.durable.waitForCompletion(id);
    expect(status.runtimeStatus).toBe('Failed');
    expect(String(status.output)).toMatch(/Non-deterministic/);
    expect(String(status.output)).toContain("activity 'Alpha'");
    expect(String(status.output)).toContain("activity 'Beta'");
  });

  it('terminates a waiting instance', async () => {
    const id = await env.durable.startNew('Approval');
    await env.durable.idle();
    expect(await env.durable.terminate(id, 'no longer needed')).toBe('accepted');
    const status = await env.durable.waitForCompletion(id);
    expect(status.runtimeStatus).toBe('Terminated');
    expect(status.output).toBe('no longer needed');
  });
});
