/**
 * Change notifications end to end on the local stack: Graph emulator → webhook → queue → reconcile →
 * flow-through provisioning or deletion, plus the handshake, forged input, lifecycle events and renewal.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { QUEUES } from '../../shared/config/queues';
import { waitFor } from '../../local/demo/scenario';
import { DEMO_OFFICES } from '../../local/demo/tenant';
import { changeNotification, CUSTOMER, findUser, startNotificationWorld, type NotificationWorld } from './support';

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
