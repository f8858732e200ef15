import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../../local/demo/scenario';
import { runSync, seedDemoCustomer, startTestStack, waitForRun, type RunView, type TestStack } from '../support/stack';

const USERS = 5_000;
/** Each test waits up to 240 s for its run (a loaded machine): the test's own limit leaves room for that. */
const RUN_BUDGET_MS = 300_000;
let t: TestStack;

/** Each customer's stored users as comparable lines: id and synced attributes, sorted. */
async function snapshot(customerId: string): Promise<string[]> {
  const lines: string[] = [];
  for await (const { value } of t.storage.users.list(customerId)) lines.push(`${value.userId} ${JSON.stringify(value.attributes)} ${JSON.stringify(value.teams ?? null)}`);
  return lines.sort();
}

beforeAll(async () => {
  t = await startTestStack({ users: USERS, seed: 'resilience' });
});
afterAll(async () => {
  await t?.stop();
});

describe(`a ${USERS}-user tenant`, () => {
  let reference: string[];

  it('a full sync gives exact counts', async () => {
    const customerId = await seedDemoCustomer(t, 'reference');
    const run = await runSync(t, customerId, 'full', 240_000);
    expect(run.errors).toEqual([]);
    expect(run.counts.users).toEqual({ added: USERS, changed: 0, unchanged: 0, deleted: 0, held: 0 });
    reference = await snapshot(customerId);
    expect(reference).toHaveLength(USERS);
  }, RUN_BUDGET_MS);

  it('10% 429s and 2% 5xx from Microsoft give the same end state', async () => {
    const customerId = await seedDemoCustomer(t, 'faulty');
    t.stack.graph!.control.setFaults({
      seed: 42,
      rules: [
        { route: 'GET /*', status: 429, rate: 0.1, retryAfterSeconds: 0.2 },
        { route: 'GET /*', status: 503, rate: 0.02 },
        { route: '/teamsbridge/*', status: 429, rate: 0.1, retryAfterSeconds: 0.2 },
      ],
    });
    let run: RunView;
    try {
      run = await runSync(t, customerId, 'full', 240_000);
    } finally {
      t.stack.graph!.control.clearFaults();
    }
    expect(run.errors).toEqual([]);
    expect(run.counts.users).toEqual({ added: USERS, changed: 0, unchanged: 0, deleted: 0, held: 0 });
    expect(t.stack.graph!.counters.snapshot().faultsInjected).toBeGreaterThan(0);
    expect(await snapshot(customerId)).toEqual(reference);
  }, RUN_BUDGET_MS);

  it('a host stopped and restarted mid-sync resumes and reaches the same end state', async () => {
    const customerId = await seedDemoCustomer(t, 'restarted');
    const started = await t.api.json<{ runId: string }>('POST', `/customers/${customerId}/syncs/full/run`);
    // Wait until some pages are written, then stop the host as a crash or a deployment would.
    await waitFor('the first pages', async () => {
      const run = await t.api.json<RunView>('GET', `/customers/${customerId}/sync-runs/${started.runId}`);
      return run.counts.users.added > 0 ? run : undefined;
    }, 120_000, 20);
    await t.stack.restartHost();
    const run = await waitForRun(t, customerId, started.runId, 240_000);
    expect(run.errors).toEqual([]);
    expect(run.status).toBe('succeeded');
    expect(run.counts.users).toEqual({ added: USERS, changed: 0, unchanged: 0, deleted: 0, held: 0 });
    expect(await snapshot(customerId)).toEqual(reference);
  }, RUN_BUDGET_MS);
});
