import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seedDemoCustomer, startTestStack, type RunView, type TestStack } from '../support/stack';

let t: TestStack;
let customerId: string;

beforeAll(async () => {
  // Each activity's result reaches its orchestrator 25 ms late, as Azure's queues can make it: the moment
  // between a run's last write and its orchestration's end is wide enough to be hit every time.
  t = await startTestStack({ users: 10, durable: { deliveryDelayMs: 25 } });
  customerId = await seedDemoCustomer(t);
}, 180_000);
afterAll(async () => {
  await t?.stop();
});

/** Polls a run with no pause between reads, so the first read that is no longer `running` is seen at once. */
async function firstFinishedRead(runId: string, timeoutMs = 120_000): Promise<RunView> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const run = await t.api.json<RunView>('GET', `/customers/${customerId}/sync-runs/${runId}`);
    if (run.status !== 'running') return run;
    if (Date.now() > deadline) throw new Error(`run ${runId} still running after ${timeoutMs} ms`);
  }
}

async function start(kind: 'full' | 'delta'): Promise<{ status: number; runId?: string; detail?: string }> {
  const res = await t.api.request('POST', `/customers/${customerId}/syncs/${kind}/run`);
  const body = (await res.json()) as { runId?: string; detail?: string };
  return { status: res.status, runId: body.runId, detail: body.detail };
}

describe('a run reads finished only when it is', () => {
  // Fifty runs one after another take a minute on a quiet machine and several on a busy one: the budget is
  // the loaded machine's, the check (no 409, ever) stays exact.
  it('a sync started the instant the previous run reads succeeded always starts (50 times, no 409)', async () => {
    let previous = await start('full');
    expect(previous.status).toBe(202);
    const refusals: string[] = [];
    for (let i = 0; i < 50; i++) {
      const done = await firstFinishedRead(previous.runId!);
      expect(done.status).toBe('succeeded');
      // Every fifth round follows a full sync, the others a delta: both windows are covered.
      const kind = i % 5 === 4 ? 'full' : 'delta';
      const next = await start(kind);
      if (next.status !== 202) refusals.push(`round ${i} (${kind} after ${done.kind}): ${next.status} ${next.detail}`);
      expect(next.status, refusals.join('\n')).toBe(202);
      previous = next;
    }
    expect(await firstFinishedRead(previous.runId!)).toMatchObject({ status: 'succeeded' });
  }, 600_000);
});

describe('runs whose orchestration ends without finishing them', () => {
  it('a terminated sync reads failed with the reason, and the next start works', async () => {
    const started = await start('full');
    expect(started.status).toBe(202);
    const instanceId = `sync:full:${customerId}`;
    await t.stack.durable!.terminate(instanceId, 'stopped by a test');
    await t.stack.durable!.waitForCompletion(instanceId);
    const run = await t.api.json<RunView>('GET', `/customers/${customerId}/sync-runs/${started.runId}`);
    expect(run.status).toBe('failed');
    expect(run.errors.join('\n')).toMatch(/orchestration ended \(Terminated\) before the run was finished/);
    const next = await start('full');
    expect(next.status).toBe(202);
    expect(await firstFinishedRead(next.runId!)).toMatchObject({ status: 'succeeded' });
    // The listing agrees: the terminated run failed, and none of this customer's runs still runs.
    const runs = await t.api.json<{ value: RunView[] }>('GET', `/customers/${customerId}/sync-runs?top=100`);
    expect(runs.value.find((r) => r.runId === started.runId)?.status).toBe('failed');
    expect(runs.value.filter((r) => r.status === 'running')).toEqual([]);
  }, 240_000);
});
