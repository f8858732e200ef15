/**
 * The local stack with the demo customer onboarded through the API (which subscribes it to change
 * notifications and runs its first sync), and helpers to post to the webhook as Graph would.
 */
import { PROVISIONING_QUEUES } from '../../shared/config/queues';
import { applyDemoCustomer } from '../../local/demo/customer';
import { waitFor } from '../../local/demo/scenario';
import type { Subscription } from '../../local/graph-emulator';
import { userChangeNotification } from '../../local/graph-emulator/subscriptions';
import { startTestStack, type TestStack } from '../support/stack';

export const CUSTOMER = 'demo';

export interface NotificationWorld extends TestStack {
  tenantId: string;
  /** The emulator's side of the customer's live subscription (holds the clientState, as Graph does). */
  graphSubscription(): Subscription;
  post(path: 'notifications' | 'lifecycle', body: unknown, init?: { query?: string; contentType?: string }): Promise<Response>;
  /** Until the queue holds nothing (available, locked or scheduled) a few checks in a row. */
  idle(queues: readonly { name: string }[], timeoutMs?: number): Promise<void>;
  subscriptions(): Promise<SubscriptionView[]>;
}

export interface SubscriptionView {
  subscriptionId: string;
  expiresAt: string;
  lastRenewedAt?: string;
  accepted: number;
  dropped: number;
  processed: number;
  coalesced: number;
  lastNotificationAt?: string;
  lastLifecycleEvent?: { event: string; at: string };
  [field: string]: unknown;
}

export async function startNotificationWorld(users = 24): Promise<NotificationWorld> {
  const t = await startTestStack({ users, seed: 'notifications' });
  const demo = t.stack.demo!;
  const world: NotificationWorld = {
    ...t,
    tenantId: demo.tenantId,
    graphSubscription() {
      const subs = t.stack.graph!.control.subscriptions(demo.tenantId);
      if (subs.length !== 1) throw new Error(`expected one subscription in the emulator, found ${subs.length}`);
      return subs[0];
    },
    async post(path, body, init = {}) {
      return fetch(`${t.stack.endpoints.apiUrl}/graph/${path}${init.query ?? ''}`, {
        method: 'POST',
        headers: { 'content-type': init.contentType ?? 'application/json; charset=utf-8' },
        body: typeof body === 'string' ? body : JSON.stringify(body),
      });
    },
    async idle(queues, timeoutMs = 60_000) {
      let quiet = 0;
      await waitFor(`${queues.map((q) => q.name).join(', ')} to settle`, async () => {
        quiet = t.stack.broker.activeIn(queues) === 0 ? quiet + 1 : 0;
        return quiet >= 3 ? true : undefined;
      }, timeoutMs, 100);
    },
    async subscriptions() {
      return (await t.api.json<{ value: SubscriptionView[] }>('GET', `/customers/${CUSTOMER}/subscriptions`)).value;
    },
  };
  await applyDemoCustomer(
    { apiUrl: t.stack.endpoints.apiUrl, functionKey: t.stack.endpoints.functionKey },
    { tenantId: demo.tenantId, clientId: demo.clientId, credentialReference: `env:${demo.secretSetting}` },
    { customerId: CUSTOMER, directRoutingNumbers: 400 },
  );
  await waitFor('the first sync', async () => {
    const runs = await t.api.json<{ value: Array<{ status: string }> }>('GET', `/customers/${CUSTOMER}/sync-runs?top=1`);
    return runs.value[0] && runs.value[0].status !== 'running' ? runs.value[0] : undefined;
  }, 60_000, 200);
  await world.idle(PROVISIONING_QUEUES);
  return world;
}

export interface UserView {
  userId: string;
  state: { kind: string; siteId?: string };
  number?: string;
  attributes: Record<string, unknown>;
}

export async function findUser(t: TestStack, search: string): Promise<UserView | undefined> {
  const page = await t.api.json<{ items: UserView[] }>('GET', `/customers/${CUSTOMER}/users?search=${encodeURIComponent(search)}`);
  return page.items[0];
}

/** A change notification as Graph sends it for a user (`extra` overrides its fields). */
export function changeNotification(sub: Subscription, userId: string, changeType: 'updated' | 'deleted', extra: Record<string, unknown> = {}) {
  return { ...userChangeNotification(sub, userId, changeType), ...extra };
}
