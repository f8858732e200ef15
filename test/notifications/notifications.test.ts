/**
 * Change notifications end to end on the local stack: Graph emulator → webhook → queue → reconcile →
 * flow-through provisioning or deletion, plus the handshake, forged input, lifecycle events and renewal.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { QUEUES } from '../../shared/config/queues';
import { waitFor } from '../../local/demo/scenario';
import { DEMO_OFFICES } from '../../local/demo/tenant';
import { notificationDeps } from '../../shared/app/notifications';
import { ensureSubscription, renewSubscriptions, type NotificationDeps } from '../../shared/notifications';
import { createMicrosoftTenant } from '../../shared/adapters/graph';
import { readSettings } from '../../shared/config/settings';
import { changeNotification, CUSTOMER, findUser, startNotificationWorld, type NotificationWorld } from './support';
import { runSync } from '../support/stack';

const QUEUE = QUEUES.graphNotifications.name;
let w: NotificationWorld;

beforeAll(async () => {
  w = await startNotificationWorld();
}, 90_000);

afterAll(async () => {
  await w?.stop();
});

describe('subscriptions', () => {
  it('onboarding subscribes the customer to its users; the listing never shows the clientState', async () => {
    const graph = w.graphSubscription();
    expect(graph.resource).toBe('users');
    expect(graph.changeType).toBe('updated,deleted');
    expect(graph.notificationUrl).toBe(`${w.stack.endpoints.apiUrl}/graph/notifications`);
    expect(graph.lifecycleNotificationUrl).toBe(`${w.stack.endpoints.apiUrl}/graph/lifecycle`);
    expect(graph.clientState!.length).toBeGreaterThanOrEqual(43);
    const res = await w.api.request('GET', `/customers/${CUSTOMER}/subscriptions`);
    const text = await res.text();
    expect(res.status).toBe(200);
    expect(text).not.toContain(graph.clientState!);
    const [view] = (JSON.parse(text) as { value: Array<Record<string, unknown>> }).value;
    expect(view).toMatchObject({ subscriptionId: graph.id, resource: 'users', changeType: 'updated,deleted', expiresAt: graph.expirationDateTime });
    expect(Object.keys(view).some((k) => /clientState/i.test(k))).toBe(false);
  });
});

describe('changes', () => {
  it('a new hire created in the tenant is provisioned at its site with a number', async () => {
    const office = DEMO_OFFICES.find((o) => o.key === 'CHI')!;
    const upn = `new.hire.${Date.now()}@${w.stack.graph!.control.tenants()[0].domain}`;
    w.stack.graph!.control.addUser(w.tenantId, { userPrincipalName: upn, displayName: 'New Hire', city: office.city, country: office.country, department: 'Sales', jobTitle: 'Account Executive' });
    const user = await waitFor('the new hire to be provisioned', async () => {
      const u = await findUser(w, upn);
      return u?.state.kind === 'provisioned' && u.number ? u : undefined;
    }, 60_000, 200);
    expect(user.state.siteId).toBe('site-chi');
    expect(user.number!.startsWith(office.phonePrefix)).toBe(true);
    const teams = w.stack.graph!.control.teamsUser(w.tenantId, user.userId)!;
    expect(teams.telephoneNumbers.map((n) => n.telephoneNumber)).toEqual([user.number]);
  });
});

describe('deletions', () => {
  const someUser = async (skip: Set<string>) => {
    const page = await w.api.json<{ items: Array<{ userId: string; removed?: unknown }> }>('GET', `/customers/${CUSTOMER}/users?top=100`);
    const u = page.items.find((i) => !i.removed && !skip.has(i.userId) && w.stack.graph!.control.getUser(w.tenantId, i.userId)?.deletedDateTime === null);
    if (!u) throw new Error('no user left to delete');
    skip.add(u.userId);
    return u.userId;
  };
  const used = new Set<string>();

  it('a soft delete marks the user and keeps it; a restore clears the mark', async () => {
    const userId = await someUser(used);
    w.stack.graph!.control.softDeleteUser(w.tenantId, userId);
    await waitFor('the soft delete', async () => ((await w.storage.users.get(CUSTOMER, userId))?.value.removed?.kind === 'soft' ? true : undefined), 30_000, 100);
    w.stack.graph!.control.restoreUser(w.tenantId, userId);
    await waitFor('the restore', async () => {
      const u = await w.storage.users.get(CUSTOMER, userId);
      return u && !u.value.removed ? true : undefined;
    }, 30_000, 100);
  });

  it('a hard delete within the threshold removes the user; beyond it the deletion is held with the reason', async () => {
    const first = await someUser(used);
    w.stack.graph!.control.hardDeleteUser(w.tenantId, first);
    await waitFor('the hard delete', async () => ((await w.storage.users.get(CUSTOMER, first)) ? undefined : true), 30_000, 100);

    const settings = await w.storage.globalSettings.get(CUSTOMER);
    await w.storage.globalSettings.put(CUSTOMER, { ...settings!.value, deleteThresholds: { users: { maxCount: 1, maxShare: null } } });
    const second = await someUser(used);
    w.stack.graph!.control.hardDeleteUser(w.tenantId, second);
    const held = await waitFor('the held deletion', async () => {
      const list = await w.api.json<{ value: Array<{ id: string; heldReason?: string; removal: string }> }>('GET', `/customers/${CUSTOMER}/held-deletions`);
      return list.value.find((d) => d.id === second);
    }, 30_000, 100);
    expect(held.removal).toBe('hard');
    expect(held.heldReason).toMatch(/more than the limit of 1/);
    expect(await w.storage.users.get(CUSTOMER, second)).toBeDefined();
    await w.storage.globalSettings.put(CUSTOMER, settings!.value);
  });

  it('deletions held from notifications stay held through a later delta that sees the same removals under the threshold', async () => {
    const settings = await w.storage.globalSettings.get(CUSTOMER);
    await w.storage.globalSettings.put(CUSTOMER, { ...settings!.value, deleteThresholds: { users: { maxCount: 0, maxShare: null } } });
    const victims = [await someUser(used), await someUser(used), await someUser(used)];
    for (const id of victims) w.stack.graph!.control.hardDeleteUser(w.tenantId, id);
    const heldIds = async () => (await w.api.json<{ value: Array<{ id: string; runId: string }> }>('GET', `/customers/${CUSTOMER}/held-deletions`)).value;
    await waitFor('the three held deletions', async () => {
      const list = await heldIds();
      return victims.every((id) => list.some((d) => d.id === id && d.runId === 'notifications')) ? true : undefined;
    }, 30_000, 100);
    await w.idle([QUEUES.graphNotifications]);
    // Three removals are well within this threshold: only the holds stand between them and storage.
    await w.storage.globalSettings.put(CUSTOMER, { ...settings!.value, deleteThresholds: { users: { maxCount: 10, maxShare: null } } });
    const run = await runSync(w, CUSTOMER, 'delta');
    expect(run.status).not.toBe('failed');
    for (const id of victims) expect(await w.storage.users.get(CUSTOMER, id), id).toBeDefined();
    const list = await heldIds();
    for (const id of victims) expect(list.find((d) => d.id === id)?.runId, id).toBe('notifications');
    // Allowing them is the only way they go: Microsoft no longer shows them, so they are deleted then.
    const allowed = await w.api.json<{ applied: { users: number }; present: string[] }>('POST', `/customers/${CUSTOMER}/held-deletions/allow`, { userIds: victims });
    expect(allowed).toMatchObject({ applied: { users: 3 }, present: [] });
    for (const id of victims) expect(await w.storage.users.get(CUSTOMER, id), id).toBeUndefined();
    await w.storage.globalSettings.put(CUSTOMER, settings!.value);
  });
});

describe('forged notifications', () => {
  it('a wrong clientState, another tenant or an unknown subscription changes nothing and is counted', async () => {
    await w.idle([QUEUES.graphNotifications]);
    const sub = w.graphSubscription();
    const page = await w.api.json<{ items: Array<{ userId: string; removed?: unknown }> }>('GET', `/customers/${CUSTOMER}/users?top=5`);
    const victim = page.items.find((u) => !u.removed)!.userId;
    const before = (await w.subscriptions())[0];
    const brokerBefore = w.stack.broker.stats(QUEUE).accepted;
    const forged = [
      changeNotification(sub, victim, 'deleted', { clientState: 'forged-client-state' }),
      changeNotification(sub, victim, 'deleted', { clientState: `${sub.clientState}x` }),
      changeNotification(sub, victim, 'deleted', { tenantId: '11111111-2222-3333-4444-555555555555', resourceData: { id: victim, organizationId: '11111111-2222-3333-4444-555555555555' } }),
      changeNotification(sub, victim, 'deleted', { clientState: undefined }),
      changeNotification({ ...sub, id: '00000000-0000-0000-0000-000000000000' }, victim, 'deleted'),
    ];
    const res = await w.post('notifications', { value: forged });
    expect(res.status).toBe(202);
    await w.idle([QUEUES.graphNotifications]);
    expect(w.stack.broker.stats(QUEUE).accepted).toBe(brokerBefore);
    expect(await w.storage.users.get(CUSTOMER, victim)).toBeDefined();
    const after = (await w.subscriptions())[0];
    expect(after.dropped - before.dropped).toBe(4);
    expect(after.accepted).toBe(before.accepted);
  });
});

describe('the webhook endpoints', () => {
  const tokens = [
    'Validation: Testing client application reachability for subscription Request-Id: 3c7f1f0e-1b2c-4d5e-8f90-1234567890ab',
    '<script>alert("x")</script>',
    'a&b=c&amp;d',
    'ünïcødé ✓ 日本語 🚀',
    '%41%20already%2520encoded+plus',
  ];

  it.each(['notifications', 'lifecycle'] as const)('answers the validation handshake on %s with the decoded token as text/plain', async (path) => {
    for (const token of tokens) {
      const res = await w.post(path, '', { query: `?validationToken=${encodeURIComponent(token)}`, contentType: 'text/plain; charset=utf-8' });
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
      expect(res.headers.get('x-content-type-options')).toBe('nosniff');
      expect(await res.text()).toBe(token);
    }
    const long = await w.post(path, '', { query: `?validationToken=${'a'.repeat(5_000)}` });
    expect(long.status).toBe(400);
    expect(long.headers.get('content-type')).toMatch(/problem\+json/);
    expect((await w.post(path, '', { query: '?validationToken=' })).status).toBe(400);
  });

  it('refuses malformed bodies with 400 problem+json', async () => {
    for (const body of ['{not json', '[]', '{"value": "x"}', '{}', 'null', JSON.stringify({ value: new Array(1_001).fill({}) })]) {
      const res = await w.post('notifications', body);
      expect(res.status, body.slice(0, 20)).toBe(400);
      expect(res.headers.get('content-type')).toMatch(/problem\+json/);
    }
    // Items that are not notifications are dropped one by one; the POST is still acknowledged.
    expect((await w.post('notifications', { value: [1, 'x', null, {}] })).status).toBe(202);
  });
});

describe('lifecycle events', () => {
  const deltaRunsByNotification = async () =>
    (await w.api.json<{ value: Array<{ runId: string; trigger: string; kind: string }> }>('GET', `/customers/${CUSTOMER}/sync-runs?top=50`)).value.filter((r) => r.trigger === 'notification');

  it('reauthorizationRequired renews the subscription', async () => {
    const sub = w.graphSubscription();
    const before = (await w.subscriptions())[0].lastRenewedAt;
    await w.stack.graph!.control.triggerLifecycle(sub.id, 'reauthorizationRequired');
    const renewed = await waitFor('the renewal', async () => {
      const view = (await w.subscriptions())[0];
      return view.lastRenewedAt && view.lastRenewedAt !== before ? view : undefined;
    }, 30_000, 100);
    expect(renewed.subscriptionId).toBe(sub.id);
    expect(renewed.lastLifecycleEvent?.event).toBe('reauthorizationRequired');
    expect(w.stack.graph!.control.state(w.tenantId)).toBeDefined();
    expect(w.graphSubscription().reauthorizationRequired).toBe(false);
  });

  it('subscriptionRemoved recreates the subscription and runs a delta sync', async () => {
    const sub = w.graphSubscription();
    const runsBefore = (await deltaRunsByNotification()).length;
    await w.stack.graph!.control.triggerLifecycle(sub.id, 'subscriptionRemoved');
    const views = await waitFor('a new subscription', async () => {
      const v = await w.subscriptions();
      return v.length === 1 && v[0].subscriptionId !== sub.id ? v : undefined;
    }, 30_000, 100);
    expect(w.graphSubscription().id).toBe(views[0].subscriptionId);
    const runs = await waitFor('the delta sync', async () => {
      const r = await deltaRunsByNotification();
      return r.length > runsBefore ? r : undefined;
    }, 30_000, 100);
    expect(runs[0].kind).toBe('delta');
  });

  it('missed runs a delta sync', async () => {
    await waitFor('the previous delta sync to end', async () => {
      const runs = await w.api.json<{ value: Array<{ status: string }> }>('GET', `/customers/${CUSTOMER}/sync-runs?top=1`);
      return runs.value[0]?.status !== 'running' ? true : undefined;
    }, 60_000, 100);
    const runsBefore = (await deltaRunsByNotification()).length;
    await w.stack.graph!.control.triggerLifecycle(w.graphSubscription().id, 'missed');
    await waitFor('the delta sync', async () => ((await deltaRunsByNotification()).length > runsBefore ? true : undefined), 30_000, 100);
  });
});

describe('renewal', () => {
  const DAY = 86_400_000;
  /** The use case under a controlled clock, asking Graph for one-hour lifetimes so renewals fall within Graph's limit. */
  const at = (offsetMs: number): NotificationDeps => {
    const deps = notificationDeps();
    return { ...deps, now: () => new Date(Date.now() + offsetMs), settings: { ...deps.settings, lifetimeMinutes: 60 } };
  };

  it('renews once less than a quarter of the lifetime is left, not before', async () => {
    const id = w.graphSubscription().id;
    expect((await renewSubscriptions(at(DAY))).outcomes.find((o) => o.customerId === CUSTOMER)?.action).toBe('unchanged');
    const renewed = (await renewSubscriptions(at(23 * DAY))).outcomes.find((o) => o.customerId === CUSTOMER)!;
    expect(renewed.action).toBe('renewed');
    expect(renewed.subscriptionId).toBe(id);
    expect(Math.abs(Date.parse(renewed.expiresAt) - (Date.now() + 23 * DAY + 3_600_000))).toBeLessThan(60_000);
    expect(w.graphSubscription().expirationDateTime).toBe(renewed.expiresAt);
    // The record now lives an hour: 50 minutes in, a quarter is no longer left.
    expect((await ensureSubscription(at(23 * DAY + 10 * 60_000), CUSTOMER)).action).toBe('unchanged');
    expect((await ensureSubscription(at(23 * DAY + 50 * 60_000), CUSTOMER)).action).toBe('renewed');
  });

  it('recreates a subscription Graph no longer has, through the repair call and through the timer', async () => {
    const demo = w.stack.demo!;
    const tenant = createMicrosoftTenant({ tenantId: demo.tenantId, clientId: demo.clientId, credentialRef: `env:${demo.secretSetting}` }, readSettings());
    const first = w.graphSubscription().id;
    await tenant.deleteSubscription(first);
    const repaired = await w.api.json<{ action: string; subscriptionId: string; removed: string[] }>('POST', `/customers/${CUSTOMER}/subscriptions/repair`);
    expect(repaired).toMatchObject({ action: 'recreated', removed: [first] });
    expect(w.graphSubscription().id).toBe(repaired.subscriptionId);
    expect((await w.api.json<{ action: string }>('POST', `/customers/${CUSTOMER}/subscriptions/repair`)).action).toBe('unchanged');

    await tenant.deleteSubscription(repaired.subscriptionId);
    const res = await w.api.request('POST', '/admin/functions/graphSubscriptionRenewal', {}, 'master');
    expect(res.status).toBe(202);
    const views = await waitFor('the timer to recreate it', async () => {
      const v = await w.subscriptions();
      return v.length === 1 && v[0].subscriptionId !== repaired.subscriptionId ? v : undefined;
    }, 30_000, 100);
    expect(w.graphSubscription().id).toBe(views[0].subscriptionId);
  });
});

describe('a burst', () => {
  it('acknowledges 5,000 notifications and loses none: each is processed or dropped as a repeat', async () => {
    await w.idle([QUEUES.graphNotifications]);
    const sub = w.graphSubscription();
    const page = await w.api.json<{ items: Array<{ userId: string; removed?: unknown }> }>('GET', `/customers/${CUSTOMER}/users?top=100`);
    const users = page.items.filter((u) => !u.removed).map((u) => u.userId);
    const before = (await w.subscriptions())[0];
    const broker = w.stack.broker.stats(QUEUE);
    const TOTAL = 5_000;
    const REPEAT_EVERY = 10;
    // Every tenth notification repeats the one before it word for word, as Graph's retries do.
    const items = Array.from({ length: TOTAL }, (_, i) => {
      const n = i % REPEAT_EVERY === REPEAT_EVERY - 1 ? i - 1 : i;
      return changeNotification(sub, users[n % users.length], 'updated', { resourceData: { id: users[n % users.length], organizationId: sub.tenantId, sequenceNumber: n } });
    });
    const batches: unknown[][] = [];
    for (let i = 0; i < items.length; i += 50) batches.push(items.slice(i, i + 50));
    let next = 0;
    const statuses: number[] = [];
    await Promise.all(Array.from({ length: 8 }, async () => {
      while (next < batches.length) {
        const res = await w.post('notifications', { value: batches[next++] });
        statuses.push(res.status);
        await res.arrayBuffer();
      }
    }));
    expect(statuses.every((s) => s === 202)).toBe(true);
    // Losing none is the point here, not speed (bench:webhook measures that): a busy machine takes minutes.
    await w.idle([QUEUES.graphNotifications], 360_000);
    const after = w.stack.broker.stats(QUEUE);
    const repeats = TOTAL / REPEAT_EVERY;
    const queued = after.accepted - broker.accepted;
    const deduplicated = after.duplicatesDropped - broker.duplicatesDropped;
    expect(queued + deduplicated).toBe(TOTAL);
    expect(deduplicated).toBe(repeats);
    expect(after.completed - broker.completed).toBe(queued);
    expect(after.deadLettered).toBe(broker.deadLettered);
    const view = (await w.subscriptions())[0];
    expect(view.accepted - before.accepted).toBe(TOTAL);
    expect(view.processed - before.processed).toBe(queued);
    expect(view.dropped).toBe(before.dropped);
  }, 420_000);
});
