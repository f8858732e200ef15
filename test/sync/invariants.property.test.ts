/**
 * Random sequences of what happens in a tenant (users added, moved, soft- and hard-deleted, restored;
 * numbers taken and given up in Teams; reads cut short) and of what sitesync and its operators do (full and
 * delta syncs, flow-through, overbuild, Quick User, allow and discard of held deletions, prevent duplicate
 * numbers switched), against the local host, the Graph emulator and Azurite, started once for the file.
 * After every step, once the stack is quiet, the invariants that keep a customer's tenant safe are checked.
 *
 * A modest search by default; SITESYNC_PROPERTY_RUNS and SITESYNC_PROPERTY_STEPS raise it, and
 * SITESYNC_PROPERTY_SEED replays a reported sequence.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../../local/demo/scenario';
import { DEMO_OFFICES } from '../../local/demo/tenant';
import { createMicrosoftTenant } from '../../shared/adapters/graph';
import { QUEUES, PROVISIONING_QUEUES } from '../../shared/config/queues';
import { readSettings } from '../../shared/config/settings';
import type { MicrosoftTenant } from '../../shared/ports/microsoft';
import { syncInstanceId } from '../../shared/sync/model';
import { CUSTOMER, startNotificationWorld, type NotificationWorld } from '../notifications/support';
import { waitForRun, type RunView } from '../support/stack';

const RUNS = Number(process.env.SITESYNC_PROPERTY_RUNS ?? 2);
const STEPS = Number(process.env.SITESYNC_PROPERTY_STEPS ?? 6);
const SEED = process.env.SITESYNC_PROPERTY_SEED ? Number(process.env.SITESYNC_PROPERTY_SEED) : undefined;

let w: NotificationWorld;
let admin: MicrosoftTenant;
const control = () => w.stack.graph!.control;

type Step =
  | { kind: 'sync'; mode: 'full' | 'delta' }
  | { kind: 'truncatedRead'; share: number }
  | { kind: 'addUser'; office: number; sales: boolean }
  | { kind: 'moveUser'; pick: number; office: number }
  | { kind: 'softDelete'; pick: number; count: number }
  | { kind: 'hardDelete'; pick: number; count: number }
  | { kind: 'restore'; pick: number }
  | { kind: 'takeNumber'; pick: number; number: number }
  | { kind: 'giveUpNumber'; pick: number }
  | { kind: 'overbuild' }
  | { kind: 'quickUser'; pick: number; office: number }
  | { kind: 'allow'; pick: number; all: boolean }
  | { kind: 'discard'; pick: number; all: boolean }
  | { kind: 'preventDuplicates'; on: boolean }
  | { kind: 'threshold'; maxCount: number };

const pick = fc.nat(10_000);
const office = fc.nat(DEMO_OFFICES.length - 1);
const stepArb: fc.Arbitrary<Step> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('sync' as const), mode: fc.constantFrom('full' as const, 'delta' as const) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('truncatedRead' as const), share: fc.double({ min: 0.1, max: 0.5, noNaN: true }) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('addUser' as const), office, sales: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('moveUser' as const), pick, office }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('softDelete' as const), pick, count: fc.integer({ min: 1, max: 4 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('hardDelete' as const), pick, count: fc.integer({ min: 1, max: 4 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('restore' as const), pick }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('takeNumber' as const), pick, number: pick }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('giveUpNumber' as const), pick }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('overbuild' as const) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('quickUser' as const), pick, office }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('allow' as const), pick, all: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('discard' as const), pick, all: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('preventDuplicates' as const), on: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('threshold' as const), maxCount: fc.integer({ min: 0, max: 5 }) }) },
);

beforeAll(async () => {
  w = await startNotificationWorld(30);
  const demo = w.stack.demo!;
  process.env[demo.secretSetting] = w.stack.settings[demo.secretSetting];
  admin = createMicrosoftTenant({ tenantId: demo.tenantId, clientId: demo.clientId, credentialRef: `env:${demo.secretSetting}` }, readSettings(w.stack.settings));
  await setThreshold(2);
  await quiet();
  snapshotRead();
}, 240_000);
afterAll(async () => {
  await w?.stop();
});

// ── Microsoft as the emulator holds it ─────────────────────────────────────────────────────────────

const users = () => [...control().state(w.tenantId).byId.values()];
const active = () => users().filter((r) => r.deletedDateTime === null).map((r) => r.u.id).sort();
const softDeleted = () => users().filter((r) => r.deletedDateTime !== null).map((r) => r.u.id).sort();
const of = <T>(list: readonly T[], n: number): T | undefined => (list.length === 0 ? undefined : list[n % list.length]);

/** Number → the users Teams shows holding it. */
function holdings(): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const [userId, cfg] of control().state(w.tenantId).teams) for (const n of cfg.telephoneNumbers) out.set(n.telephoneNumber, [...(out.get(n.telephoneNumber) ?? []), userId]);
  return out;
}
const duplicatePairs = () => new Set([...holdings()].filter(([, holders]) => holders.length > 1).flatMap(([n, holders]) => holders.map((h) => `${n}|${h}`)));

/** What Microsoft showed at the last complete read: each holding the inventory must reflect while it lasts. */
let lastRead = new Map<string, string[]>();
function snapshotRead(): void {
  lastRead = holdings();
}

// ── sitesync ───────────────────────────────────────────────────────────────────────────────────────

async function storedIds(): Promise<Set<string>> {
  const out = new Set<string>();
  for await (const { value } of w.storage.users.list(CUSTOMER)) out.add(value.userId);
  return out;
}
const heldDeletions = async () => (await w.api.json<{ value: Array<{ entityType: string; id: string }> }>('GET', `/customers/${CUSTOMER}/held-deletions`)).value;
const preventOn = async () => (await w.api.json<{ preventDuplicateNumbers: boolean }>('GET', `/customers/${CUSTOMER}/global-settings/effective`)).preventDuplicateNumbers;

async function setThreshold(maxCount: number): Promise<void> {
  const settings = await w.storage.globalSettings.get(CUSTOMER);
  await w.storage.globalSettings.put(CUSTOMER, { ...settings!.value, deleteThresholds: { users: { maxCount, maxShare: null } } });
}

async function setPrevent(on: boolean): Promise<void> {
  const path = `${w.stack.endpoints.apiUrl}/customers/${CUSTOMER}/global-settings`;
  const headers = { 'x-functions-key': w.stack.endpoints.functionKey, 'content-type': 'application/json' };
  const current = (await (await fetch(path, { headers })).json()) as Record<string, unknown>;
  const res = await fetch(path, { method: 'PUT', headers: { ...headers, 'if-match': '*' }, body: JSON.stringify({ ...current, preventDuplicateNumbers: on ? 'yes' : 'no' }) });
  expect(res.status, await res.clone().text()).toBeLessThan(300);
}

async function sync(mode: 'full' | 'delta'): Promise<RunView> {
  await quiet();
  const res = await w.api.request('POST', `/customers/${CUSTOMER}/syncs/${mode}/run`);
  expect(res.status, await res.clone().text()).toBe(202);
  const { runId } = (await res.json()) as { runId: string };
  const run = await waitForRun(w, CUSTOMER, runId, 180_000);
  // A run never reads finished while its orchestration runs.
  const instance = await w.stack.durable!.getStatus(syncInstanceId(CUSTOMER, mode));
  expect(['Completed', 'Failed', 'Terminated'], `run ${runId} reads ${run.status} while its orchestration is ${instance?.runtimeStatus}`).toContain(instance?.runtimeStatus);
  return run;
}

/** No run running, no notification or provisioning message in flight. */
async function quiet(): Promise<void> {
  await waitFor('runs to finish', async () => {
    const runs = await w.api.json<{ value: Array<{ status: string }> }>('GET', `/customers/${CUSTOMER}/sync-runs?top=20`);
    return runs.value.every((r) => r.status !== 'running') ? true : undefined;
  }, 180_000, 200);
  await control().notificationsIdle();
  await w.idle([QUEUES.graphNotifications], 120_000);
  await w.idle(PROVISIONING_QUEUES, 120_000);
}

// ── steps ──────────────────────────────────────────────────────────────────────────────────────────

async function apply(step: Step): Promise<void> {
  const cities = DEMO_OFFICES;
  switch (step.kind) {
    case 'sync': {
      const before = holdings();
      const run = await sync(step.mode);
      if (step.mode === 'full' && run.status !== 'failed') lastRead = before;
      return;
    }
    case 'truncatedRead': {
      // Microsoft's listing misses a share of the users for one read (they vanish and come back).
      const missing = active().slice(0, Math.max(1, Math.floor(active().length * step.share)));
      for (const id of missing) control().softDeleteUser(w.tenantId, id);
      await sync('full');
      for (const id of missing) control().restoreUser(w.tenantId, id);
      return;
    }
    case 'addUser': {
      const o = cities[step.office];
      control().addUser(w.tenantId, { displayName: `Hire ${Date.now()}`, city: o.city, country: o.country, department: step.sales ? 'Sales' : 'Engineering', jobTitle: step.sales ? 'Account Executive' : 'Engineer' });
      return;
    }
    case 'moveUser': {
      const id = of(active(), step.pick);
      const o = cities[step.office];
      if (id) control().updateUser(w.tenantId, id, { city: o.city, country: o.country });
      return;
    }
    case 'softDelete':
    case 'hardDelete': {
      // A few users at once: past the threshold, change notifications hold the rest.
      const ids = active();
      for (let i = 0; i < step.count && ids.length > 0; i++) {
        const [id] = ids.splice((step.pick + i) % ids.length, 1);
        if (step.kind === 'softDelete') control().softDeleteUser(w.tenantId, id);
        else control().hardDeleteUser(w.tenantId, id);
      }
      return;
    }
    case 'restore': {
      const id = of(softDeleted(), step.pick);
      if (id) control().restoreUser(w.tenantId, id);
      return;
    }
    case 'takeNumber': {
      // A number of the inventory nobody holds in Teams, taken in Teams by a voice user without one.
      const held = holdings();
      const free = (await w.storage.numbers.listAll(CUSTOMER)).map((e) => e.value.number).filter((n) => !held.has(n)).sort();
      const teams = control().state(w.tenantId).teams;
      const voice = active().filter((id) => teams.get(id)?.featureTypes.includes('PhoneSystem') && teams.get(id)?.telephoneNumbers.length === 0);
      const number = of(free, step.number);
      const userId = of(voice, step.pick);
      if (number && userId) await admin.assignNumber({ userId, number, numberType: 'directRouting', assignmentCategory: 'primary' }).catch(() => undefined);
      return;
    }
    case 'giveUpNumber': {
      const taken = [...holdings()].flatMap(([n, holders]) => holders.map((h) => ({ n, h })));
      const one = of(taken, step.pick);
      if (one) await admin.unassignNumber({ number: one.n, numberType: 'directRouting', userId: one.h }).catch(() => undefined);
      return;
    }
    case 'overbuild': {
      const res = await w.api.request('POST', `/customers/${CUSTOMER}/overbuilds`, { provision: true });
      expect(res.status, await res.clone().text()).toBeLessThan(300);
      const { id } = (await res.json()) as { id: string };
      await waitFor('the overbuild', async () => {
        const ob = await w.api.json<{ runtimeStatus: string }>('GET', `/customers/${CUSTOMER}/overbuilds/${encodeURIComponent(id)}`);
        return ['Completed', 'Failed', 'Terminated'].includes(ob.runtimeStatus) ? true : undefined;
      }, 180_000, 200);
      return;
    }
    case 'quickUser': {
      const stored = [...(await storedIds())];
      const userId = of(stored.filter((id) => active().includes(id)), step.pick);
      const sites = await w.api.json<{ items: Array<{ id: string }> }>('GET', `/customers/${CUSTOMER}/sites`);
      const site = of(sites.items, step.office);
      if (!userId || !site) return;
      const res = await w.api.request('POST', `/customers/${CUSTOMER}/quick-user`, { userId, siteId: site.id, quickAddGroupId: 'teams-phone-dr-e5', line: { kind: 'nextAvailable' } });
      // 202 accepted; 4xx refusals (a user being provisioned, no seats) change nothing.
      expect(res.status, await res.clone().text()).toBeLessThan(500);
      return;
    }
    case 'allow':
    case 'discard': {
      const held = (await heldDeletions()).filter((d) => d.entityType === 'users');
      const one = of(held, step.pick);
      if (!step.all && !one) return;
      const res = await w.api.request('POST', `/customers/${CUSTOMER}/held-deletions/${step.kind}`, step.all ? { all: true } : { userIds: [one!.id] });
      expect(res.status, await res.clone().text()).toBe(200);
      return;
    }
    case 'preventDuplicates':
      return setPrevent(step.on);
    case 'threshold':
      return setThreshold(step.maxCount);
  }
}

// ── invariants ─────────────────────────────────────────────────────────────────────────────────────

interface Before {
  stored: Set<string>;
  duplicates: Set<string>;
  prevent: boolean;
}

async function checkInvariants(step: Step, before: Before): Promise<void> {
  const where = JSON.stringify(step);
  const now = holdings();
  const activeNow = new Set(active());
  // No number is Available while Microsoft shows a user holding it (as the last complete read saw, and still).
  const entries = (await w.storage.numbers.listAll(CUSTOMER)).map((e) => e.value);
  for (const e of entries) {
    const holders = (lastRead.get(e.number) ?? []).filter((h) => now.get(e.number)?.includes(h));
    if (holders.length > 0) expect(e.status, `${where}: ${e.number} held in Teams by ${holders.join(', ')}`).not.toBe('Available');
  }
  // With prevent duplicate numbers on, sitesync never assigns a number someone already holds.
  if (before.prevent && step.kind !== 'preventDuplicates') {
    const fresh = [...duplicatePairs()].filter((p) => !before.duplicates.has(p));
    expect(fresh, `${where}: new duplicate holdings in Teams`).toEqual([]);
  }
  // No user present in Microsoft is ever deleted from storage.
  const stored = await storedIds();
  for (const id of before.stored) if (activeNow.has(id)) expect(stored.has(id), `${where}: ${id} is in Microsoft but was deleted from storage`).toBe(true);
  // Every held deletion names a user Microsoft does not show.
  for (const d of await heldDeletions()) if (d.entityType === 'users') expect(activeNow.has(d.id), `${where}: hold on ${d.id}, present in Microsoft`).toBe(false);
  // At most one run per customer and kind is running, and (the stack being quiet) none is.
  const runs = await w.api.json<{ value: Array<{ kind: string; status: string }> }>('GET', `/customers/${CUSTOMER}/sync-runs?top=100`);
  expect(runs.value.filter((r) => r.status === 'running'), where).toEqual([]);
}

const seen = { steps: {} as Record<string, number>, mostHeld: 0 };

describe('random sequences keep the tenant safe', () => {
  it(`holds every invariant after each of ${STEPS} steps, ${RUNS} sequence(s)`, async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(stepArb, { minLength: STEPS, maxLength: STEPS }), async (steps) => {
        for (const step of steps) {
          await quiet();
          const before: Before = { stored: await storedIds(), duplicates: duplicatePairs(), prevent: await preventOn() };
          await apply(step);
          await quiet();
          await checkInvariants(step, before);
          seen.steps[step.kind] = (seen.steps[step.kind] ?? 0) + 1;
          seen.mostHeld = Math.max(seen.mostHeld, (await heldDeletions()).length);
        }
      }),
      // The stack is shared by every sequence: a failing one is reported as it ran, not shrunk.
      { numRuns: RUNS, endOnFailure: true, ...(SEED !== undefined ? { seed: SEED } : {}) },
    );
    // What the search covered, for whoever raises it.
    console.log(`property: ${JSON.stringify(seen.steps)}; at most ${seen.mostHeld} deletion(s) held at once`);
  }, 60_000 + RUNS * STEPS * 90_000);
});
