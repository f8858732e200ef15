import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../../local/demo/scenario';
import { isDue, nextOccurrence } from '../../shared/sync/schedule';
import { syncDeps } from '../../shared/app/sync';
import { runSync, seedDemoCustomer, startTestStack, waitForRun, type RunView, type TestStack } from '../support/stack';

describe('schedules', () => {
  const at = (s: string) => new Date(s);
  it('a nightly schedule is due once its occurrence has passed since the last start', () => {
    expect(isDue('0 0 2 * * *', at('2026-03-01T01:00:00Z'), at('2026-03-01T01:59:59Z'))).toBe(false);
    expect(isDue('0 0 2 * * *', at('2026-03-01T01:00:00Z'), at('2026-03-01T02:00:00Z'))).toBe(true);
    expect(isDue('0 0 2 * * *', at('2026-03-01T02:00:00Z'), at('2026-03-02T01:00:00Z'))).toBe(false);
  });
  it('reads day-of-month AND day-of-week as Azure does', () => {
    expect(nextOccurrence('0 0 0 13 * Fri', at('2026-01-01T00:00:00Z'))?.toISOString()).toBe('2026-02-13T00:00:00.000Z');
  });
});

describe('the scheduler timer', () => {
  let t: TestStack;
  let customerId: string;

  beforeAll(async () => {
    t = await startTestStack({ users: 50 });
    customerId = await seedDemoCustomer(t);
  });
  afterAll(async () => {
    await t?.stop();
  });

  const fireScheduler = async () => {
    const res = await t.api.request('POST', '/admin/functions/syncScheduler', {}, 'master');
    expect(res.status).toBe(202);
  };
  const runs = async () => (await t.api.json<{ value: RunView[] }>('GET', `/customers/${customerId}/sync-runs`)).value;

  it('starts nothing before a schedule comes round, then starts the due sync', async () => {
    await runSync(t, customerId, 'full');
    expect(await runs()).toHaveLength(1);
    await fireScheduler();
    await new Promise((r) => setTimeout(r, 500));
    expect(await runs()).toHaveLength(1);

    // The nightly full sync last started two days ago: due now.
    const deps = syncDeps();
    const full = await deps.definitions.get(customerId, 'full');
    await deps.definitions.put({ ...full!, lastStartedAt: new Date(Date.now() - 2 * 86_400_000).toISOString() });
    await fireScheduler();
    const started = await waitFor('a scheduled run', async () => {
      const list = await runs();
      return list.length === 2 ? list[0] : undefined;
    });
    expect(started.kind).toBe('full');
    expect(started).toMatchObject({ trigger: 'schedule' });
    const done = await waitForRun(t, customerId, started.runId);
    expect(done.status).toBe('succeeded');
    expect((await deps.definitions.get(customerId, 'full'))?.lastRunId).toBe(started.runId);
  });
});
