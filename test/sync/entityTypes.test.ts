/**
 * Each entity type of a sync stands alone: with the Teams admin bridge answering 500 to every call, dial
 * plans and policies fail with the reason while users and licenses sync, every user is handed to
 * flow-through, the run reads `partial`, and a user whose site needs a dial plan is told why it got none.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applyDemoCustomer } from '../../local/demo/customer';
import { waitFor } from '../../local/demo/scenario';
import { PROVISIONING_QUEUES } from '../../shared/config/queues';
import { startTestStack, waitForRun, type RunView, type TestStack } from '../support/stack';

const USERS = 40;
let t: TestStack;

beforeAll(async () => {
  t = await startTestStack({ users: USERS, seed: 'bridge-down' });
});
afterAll(async () => {
  await t?.stop();
});

interface Outcome {
  status: string;
  reason?: string;
}

describe('one entity type failing leaves the others whole', () => {
  it('the bridge answering 500 on every call: partial run, users all synced and handed off, dial plans and policies failed with the reason', async () => {
    const emulator = t.stack.graph!;
    emulator.control.setFaults({ rules: [{ route: '/teamsbridge/*', status: 500 }] });
    const demo = t.stack.demo!;
    const customerId = 'bridge-down';
    await applyDemoCustomer(
      { apiUrl: t.stack.endpoints.apiUrl, functionKey: t.stack.endpoints.functionKey },
      { tenantId: demo.tenantId, clientId: demo.clientId, credentialReference: `env:${demo.secretSetting}` },
      { customerId },
    );
    // Onboarding started the first sync.
    const first = await waitFor('the first run', async () => (await t.api.json<{ value: RunView[] }>('GET', `/customers/${customerId}/sync-runs?top=1`)).value[0]);
    const run = (await waitForRun(t, customerId, first.runId, 240_000)) as RunView & { entities: Record<string, Outcome> };

    expect(run.status).toBe('partial');
    expect(run.entities.users).toEqual({ status: 'succeeded' });
    expect(run.entities.licenses).toEqual({ status: 'succeeded' });
    for (const type of ['dialPlans', 'policies']) {
      expect(run.entities[type].status, type).toBe('failed');
      expect(run.entities[type].reason, type).toMatch(/500/);
    }
    expect(run.counts.users.added).toBe(USERS);
    expect(run.handedOff).toBe(USERS);
    expect(run.errors.join('\n')).toMatch(/dialPlans failed: .*500/);

    // Flow-through goes on without the bridge; a user whose site needs a dial plan says why it has none.
    await waitFor('provisioning to settle', async () => (t.stack.broker.activeIn(PROVISIONING_QUEUES) === 0 ? true : undefined), 240_000, 250);
    const stopped = await t.api.json<{ items: Array<{ state: { kind: string; reason?: string } }> }>('GET', `/customers/${customerId}/users?state=needs-attention&top=100`);
    const reasons = stopped.items.map((u) => u.state.reason ?? '');
    expect(reasons.some((r) => /dial plan DP-\w+ is not granted: the tenant's dial plans could not be synced \(failed: .*500/.test(r)), reasons.join('\n')).toBe(true);
  }, 300_000);
});
