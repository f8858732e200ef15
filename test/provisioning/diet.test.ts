/**
 * Provisioning's requests to Microsoft after a real sync: the user, its licenses and its Teams side are
 * planned from what the sync stored, nothing of them is read again, number assignments are not polled but
 * checked later in bulk, and what goes to Microsoft stays within a quarter of what the plans had to write.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { forgetCustomerContexts } from '../../shared/provisioning';
import { minimumWrites, requestsByBudget } from '../../bench/support/provisionFigures';
import { seedCustomer, startWorld, syncAdd, type World } from './world';

let world: World;
const CUSTOMER = 'diet';

beforeAll(async () => {
  world = await startWorld({ users: 80, seed: 'diet' });
}, 120_000);
afterAll(async () => {
  await world?.stop();
});

describe('the requests a provisioned user costs', () => {
  it('reads nothing the sync stored, checks numbers in bulk, and stays within 1.25 × what the plans write', async () => {
    await seedCustomer(world, { customerId: CUSTOMER, settings: { moveAndFlowThrough: 'yes', addSync: 'no', updateSync: 'no', addSyncCriteriaId: 'ft', preventDuplicateNumbers: 'no' } });
    const run = await world.api('POST', `/customers/${CUSTOMER}/syncs/full/run`);
    expect(run.status).toBe(202);
    for (let status = 'running'; status === 'running'; ) {
      await new Promise((r) => setTimeout(r, 200));
      status = (await world.api('GET', `/customers/${CUSTOMER}/sync-runs/${run.body.runId}`)).body.status;
    }
    await world.storage.globalSettings.put(CUSTOMER, { moveAndFlowThrough: 'yes', addSync: 'yes', updateSync: 'no', addSyncCriteriaId: 'ft', preventDuplicateNumbers: 'no', deleteThresholds: {} });
    forgetCustomerContexts(CUSTOMER);

    const control = world.stack.graph!.control;
    control.resetCounters();
    const tables0 = world.stack.tables!.requestsByKind();
    await world.queue.send(syncAdd(CUSTOMER, world.users.map((u) => u.id), '2026-02-01T00:00:00.000Z'));
    await world.idle(240_000);
    const tables = Object.fromEntries(Object.entries(world.stack.tables!.requestsByKind()).map(([kind, n]) => [kind, n - (tables0[kind] ?? 0)]));

    const states: Record<string, number> = {};
    for await (const { value } of world.storage.users.list(CUSTOMER)) states[value.state.kind] = (states[value.state.kind] ?? 0) + 1;
    expect(states.provisioning ?? 0).toBe(0);
    expect(states.provisioned).toBeGreaterThan(40);

    const counters = control.counters();
    // Nothing the sync had just read is read again.
    for (const route of ['users.get', 'users.memberOf', 'subscribedSkus.list', 'teams.userConfigurations.get', 'teams.userConfigurations.list']) {
      expect(counters.requests[route] ?? 0, route).toBe(0);
    }
    // Number assignments are not polled while users wait: a look when Teams has had its usual time, in bulk.
    // An operation still running then is looked at once more after a backoff, and a check message may be
    // delivered twice (at least once): two looks per assignment at most, where inline polling costs many.
    const assignments = counters.requests['teams.assignNumber'] ?? 0;
    expect(assignments).toBeGreaterThan(0);
    expect((counters.requests['teams.operations.get'] ?? 0) + (counters.requests['teams.numberAssignments.list'] ?? 0)).toBeLessThanOrEqual(2 * assignments);

    // Table Storage: a sync's hand-off creates its transaction outright (no read that finds nothing), and
    // concurrent number checks claim the due assignments in batches instead of failing row by row.
    expect(tables['Transactions point-read 404'] ?? 0).toBe(0);
    expect(tables['PendingNumberAssignments upsert/replace 412'] ?? 0).toBeLessThanOrEqual(assignments / 4);
    expect(Object.keys(tables).filter((kind) => kind.includes('query(scan)'))).toEqual([]);

    const minimum = minimumWrites(await world.storage.transactions.listRecent(CUSTOMER, 1_000));
    const sent = requestsByBudget(counters);
    // The Teams policy ids are resolved once per process: a small tenant pays them, a large one does not.
    const policyIds = counters.requests['teams.policy.getPolicyId'] ?? 0;
    expect((sent.total - policyIds) / minimum.total).toBeLessThanOrEqual(1.25);
  }, 300_000);
});
