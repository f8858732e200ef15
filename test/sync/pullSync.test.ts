import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { UserRecord } from '../../shared/domain';
import { runSync, seedDemoCustomer, startTestStack, waitForRun, type TestStack } from '../support/stack';

let t: TestStack;
let customerId: string;
let tenantId: string;

const control = () => t.stack.graph!.control;
/** Active users of the emulated tenant, in a stable order. */
const tenantUserIds = () =>
  [...control().state(tenantId).byId.values()].filter((r) => r.deletedDateTime === null).map((r) => r.u.id).sort();

async function storedUsers(): Promise<Map<string, UserRecord>> {
  const out = new Map<string, UserRecord>();
  for await (const { value } of t.storage.users.list(customerId)) out.set(value.userId, value);
  return out;
}

beforeAll(async () => {
  t = await startTestStack({ users: 300 });
  customerId = await seedDemoCustomer(t);
  tenantId = t.stack.demo!.tenantId;
});
afterAll(async () => {
  await t?.stop();
});

describe('pull sync through the local host, the emulator, Azurite and the broker', () => {
  it('a first full sync imports every user and the catalog, and creates the default syncs', async () => {
    const run = await runSync(t, customerId, 'full');
    expect(run.errors).toEqual([]);
    expect(run.status).toBe('succeeded');
    expect(run.counts.users).toMatchObject({ added: 300, changed: 0, unchanged: 0, deleted: 0 });
    expect(run.counts.licenses.added).toBeGreaterThan(0);
    expect(run.counts.dialPlans.added).toBeGreaterThan(0);
    expect(run.counts.policies.added).toBeGreaterThan(0);
    const syncs = await t.api.json<{ value: Array<{ kind: string; enabled: boolean }> }>('GET', `/customers/${customerId}/syncs`);
    expect(syncs.value.map((s) => `${s.kind}:${s.enabled}`).sort()).toEqual(['delta:true', 'full:true', 'staging:false']);
    const stored = await storedUsers();
    expect([...stored.keys()].sort()).toEqual(tenantUserIds());
    // Joined with their Teams configuration.
    expect([...stored.values()].some((u) => u.teams?.present && u.teams.numbers.length > 0)).toBe(true);
  });

  it('a second full sync finds every user unchanged', async () => {
    const run = await runSync(t, customerId, 'full');
    expect(run.counts.users).toMatchObject({ added: 0, changed: 0, unchanged: 300, deleted: 0 });
    expect(run.counts.licenses).toMatchObject({ added: 0, changed: 0 });
  });

  it('a delta sync brings adds, changes, a soft and a hard deletion, and nothing else', async () => {
    const ids = tenantUserIds();
    const added = [1, 2, 3].map((i) => control().addUser(tenantId, { displayName: `New Hire ${i}`, city: 'Seattle', department: 'Sales' }).id);
    control().updateUser(tenantId, ids[10], { department: 'Changed Department' });
    control().updateUser(tenantId, ids[11], { jobTitle: 'Changed Title' });
    control().softDeleteUser(tenantId, ids[20]);
    control().hardDeleteUser(tenantId, ids[21]);
    const run = await runSync(t, customerId, 'delta');
    expect(run.errors).toEqual([]);
    expect(run.mode).toBe('delta');
    expect(run.counts.users).toMatchObject({ added: 3, changed: 2, deleted: 2, held: 0 });
    const stored = await storedUsers();
    for (const id of added) expect(stored.has(id)).toBe(true);
    expect(stored.get(ids[10])?.attributes.department).toBe('Changed Department');
    expect(stored.get(ids[20])?.removed?.kind).toBe('soft');
    expect(stored.has(ids[21])).toBe(false);
  });

  it('a restored user comes back on the next delta', async () => {
    const ids = [...(await storedUsers()).values()].filter((u) => u.removed).map((u) => u.userId);
    expect(ids).toHaveLength(1);
    control().restoreUser(tenantId, ids[0]);
    const run = await runSync(t, customerId, 'delta');
    expect(run.counts.users.added).toBe(1);
    expect((await storedUsers()).get(ids[0])?.removed).toBeUndefined();
  });

  it('an expired delta token leads to a full resync, recorded in the run', async () => {
    control().resetDelta(tenantId);
    control().updateUser(tenantId, tenantUserIds()[30], { city: 'Chicago' });
    const run = await runSync(t, customerId, 'delta');
    expect(run.status).toBe('succeeded');
    expect(run.mode).toBe('full');
    expect(run.resync).toMatch(/delta link was refused/);
    expect(run.counts.users.changed).toBe(1);
    expect(run.counts.users.unchanged).toBe(tenantUserIds().length - 1);
    // The resync keeps a fresh delta link: the next delta works again.
    const next = await runSync(t, customerId, 'delta');
    expect(next.mode).toBe('delta');
  });

  it('the delete guard holds a mass deletion whole, then releases it on an operator\'s word', async () => {
    const victims = tenantUserIds().slice(100, 160);
    for (const id of victims) control().hardDeleteUser(tenantId, id);
    const run = await runSync(t, customerId, 'delta');
    expect(run.status).toBe('held');
    expect(run.heldReason).toMatch(/60 users deletions pending/);
    expect(run.counts.users).toMatchObject({ deleted: 0, held: 60 });
    const stored = await storedUsers();
    for (const id of victims) expect(stored.has(id)).toBe(true);
    const held = await t.api.json<{ value: unknown[] }>('GET', `/customers/${customerId}/held-deletions`);
    expect(held.value).toHaveLength(60);
    const allowed = await t.api.json<{ applied: Record<string, number> }>('POST', `/customers/${customerId}/held-deletions/allow`, { all: true });
    expect(allowed.applied.users).toBe(60);
    const after = await storedUsers();
    for (const id of victims) expect(after.has(id)).toBe(false);
    const runAfter = await t.api.json<{ status: string; counts: { users: { deleted: number; held: number } } }>('GET', `/customers/${customerId}/sync-runs/${run.runId}`);
    expect(runAfter).toMatchObject({ status: 'succeeded', counts: { users: { deleted: 60, held: 0 } } });
  });

  it('refuses a second run of the same kind while one is going, and records the skip', async () => {
    const first = await t.api.json<{ runId: string }>('POST', `/customers/${customerId}/syncs/full/run`);
    const second = await t.api.request('POST', `/customers/${customerId}/syncs/full/run`);
    expect(second.status).toBe(409);
    expect(second.headers.get('content-type')).toContain('application/problem+json');
    const delta = await t.api.request('POST', `/customers/${customerId}/syncs/delta/run`);
    expect(delta.status).toBe(409);
    await waitForRun(t, customerId, first.runId);
    const syncs = await t.api.json<{ value: Array<{ kind: string; lastSkipped?: { reason: string } }> }>('GET', `/customers/${customerId}/syncs`);
    expect(syncs.value.find((s) => s.kind === 'full')?.lastSkipped?.reason).toMatch(/still going/);
  });

  it('lists runs newest first and answers 404 for unknown ones', async () => {
    const runs = await t.api.json<{ value: Array<{ runId: string; startedAt: string }> }>('GET', `/customers/${customerId}/sync-runs?top=5`);
    expect(runs.value).toHaveLength(5);
    const times = runs.value.map((r) => r.startedAt);
    expect([...times].sort().reverse()).toEqual(times);
    expect((await t.api.request('GET', `/customers/${customerId}/sync-runs/nope`)).status).toBe(404);
    expect((await t.api.request('POST', `/customers/nobody/syncs/full/run`)).status).toBe(404);
    expect((await t.api.request('POST', `/customers/${customerId}/syncs/weekly/run`)).status).toBe(404);
    expect((await t.api.request('GET', `/customers/${customerId}/sync-runs?top=abc`)).status).toBe(400);
  });

  it('a staging run re-checks every staged user through provisioning and is recorded', async () => {
    const staged = [...(await storedUsers()).values()].slice(0, 3);
    for (const u of staged) {
      const current = await t.storage.users.get(customerId, u.userId);
      await t.storage.users.update({ ...current!.value, state: { kind: 'staged', siteId: 'nowhere', profileId: 'p', since: new Date().toISOString() } }, current!.etag);
    }
    const run = await runSync(t, customerId, 'staging');
    expect(run).toMatchObject({ kind: 'staging', status: 'succeeded', handedOff: 3 });
  });

  it('schedules are editable and validated', async () => {
    const res = await t.api.request('PATCH', `/customers/${customerId}/syncs/staging`, { enabled: true, schedule: '0 30 */2 * * *' });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ kind: 'staging', enabled: true, schedule: '0 30 */2 * * *' });
    expect((await t.api.request('PATCH', `/customers/${customerId}/syncs/staging`, { schedule: '*/5 * * * *' })).status).toBe(400);
    expect((await t.api.request('PATCH', `/customers/${customerId}/syncs/staging`, { enabled: 'yes' })).status).toBe(400);
    expect((await t.api.request('PATCH', `/customers/${customerId}/syncs/staging`, { bogus: 1 })).status).toBe(400);
  });

  it('brings the number inventory in line once the Teams side is read, while the users pass still reads', async () => {
    // Microsoft slow to list users (1.5 s a page): the Teams pass ends first.
    control().setFaults({ rules: [{ route: 'GET /users', latencyMs: 1_500 }] });
    try {
      const run = await runSync(t, customerId, 'full');
      expect(run.status).toBe('succeeded');
      expect(run.numbers?.held).toBeGreaterThan(0);
    } finally {
      control().clearFaults();
    }
    const { durableClientUrl, durableSystemKey } = t.stack.endpoints;
    const res = await fetch(`${durableClientUrl}/instances/${encodeURIComponent(`sync:full:${customerId}`)}?showHistory=true&showHistoryOutput=true&code=${encodeURIComponent(durableSystemKey)}`);
    const history = ((await res.json()) as { historyEvents: Array<{ EventType: string; FunctionName?: string; Timestamp: string; ScheduledTime?: string; Result?: unknown }> }).historyEvents;
    const completed = (name: string) => history.filter((e) => e.EventType === 'TaskCompleted' && e.FunctionName === name);
    const users = completed('syncUsersPages');
    const teams = completed('syncTeamsPages');
    expect(users.length > 0 && teams.length > 0).toBe(true);
    // The Teams pass's last activity reconciled the inventory itself (no step of its own), and ended before
    // the users pass's last one did.
    const lastTeams = teams[teams.length - 1];
    const result = typeof lastTeams.Result === 'string' ? JSON.parse(lastTeams.Result) : lastTeams.Result;
    expect((result as { numbers?: { held: number } }).numbers?.held).toBeGreaterThan(0);
    expect(completed('syncNumbers')).toHaveLength(0);
    expect(Date.parse(lastTeams.Timestamp)).toBeLessThan(Date.parse(users[users.length - 1].Timestamp));
    // The deletions wait for both.
    const [deletions] = completed('syncUserDeletions');
    expect(Date.parse(deletions.ScheduledTime!)).toBeGreaterThanOrEqual(Math.max(Date.parse(lastTeams.Timestamp), Date.parse(users[users.length - 1].Timestamp)));
  });

});

