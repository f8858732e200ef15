/**
 * One Graph subscription per customer on its tenant's users. Created at onboarding, repaired on request,
 * renewed by a timer well before Graph lets it lapse, recreated when Graph no longer has it.
 */
import { GraphNotFoundError, type GraphSubscription, type MicrosoftTenant } from '../ports/microsoft';
import { NotFoundError } from '../ports/storage';
import { clientStateHash, newClientState } from './clientState';
import { nowOf, type NotificationDeps } from './deps';
import { renewalDue, subscriptionView, USER_CHANGE_TYPES, USERS_RESOURCE, type SubscriptionRecord, type SubscriptionView } from './model';

export class WebhookNotConfiguredError extends Error {
  override name = 'WebhookNotConfiguredError';
  constructor() {
    super('SITESYNC_WEBHOOK_BASE_URL is not set: Graph has no URL to send change notifications to.');
  }
}

export type SubscriptionAction = 'created' | 'renewed' | 'unchanged' | 'recreated';

export interface SubscriptionOutcome {
  customerId: string;
  action: SubscriptionAction;
  subscriptionId: string;
  expiresAt: string;
  /** Subscriptions dropped on the way: gone from Graph, pointing elsewhere, or one too many. */
  removed: string[];
}

function urls(deps: NotificationDeps): { notificationUrl: string; lifecycleUrl: string } {
  const { notificationUrl, lifecycleUrl } = deps.settings;
  if (!notificationUrl || !lifecycleUrl) throw new WebhookNotConfiguredError();
  return { notificationUrl, lifecycleUrl };
}

async function save(deps: NotificationDeps, record: SubscriptionRecord): Promise<void> {
  await deps.subscriptions.store.put(record);
  deps.subscriptions.remember(record);
}

async function drop(deps: NotificationDeps, subscriptionId: string): Promise<void> {
  await deps.subscriptions.store.remove(subscriptionId);
  deps.subscriptions.forget(subscriptionId);
}

/**
 * The customer is being deleted: its subscriptions go from Graph, when Graph can still be reached with the
 * customer's app (otherwise each lapses on its own, and its notifications find nothing here), and from
 * storage, clientState hash and all. Returns the ids removed.
 */
export async function removeSubscriptions(deps: NotificationDeps, customerId: string): Promise<string[]> {
  const records = await deps.subscriptions.store.listForCustomer(customerId);
  if (records.length === 0) return [];
  const tenant = await deps.microsoft.forCustomer(customerId).then(
    (access) => access.tenant,
    () => undefined,
  );
  for (const record of records) {
    await tenant?.deleteSubscription(record.subscriptionId).catch(() => undefined);
    await drop(deps, record.subscriptionId);
  }
  return records.map((r) => r.subscriptionId);
}

/** A new subscription with a fresh clientState; the clientState leaves this function only towards Graph. */
export async function createSubscription(deps: NotificationDeps, customerId: string, tenant: MicrosoftTenant): Promise<SubscriptionRecord> {
  const { notificationUrl, lifecycleUrl } = urls(deps);
  const customer = await deps.storage.customers.get(customerId);
  if (!customer) throw new NotFoundError(`customer "${customerId}" does not exist`);
  const now = nowOf(deps);
  const clientState = newClientState();
  const created = await tenant.createSubscription({
    resource: USERS_RESOURCE,
    changeType: USER_CHANGE_TYPES,
    notificationUrl,
    lifecycleNotificationUrl: lifecycleUrl,
    expirationDateTime: new Date(now.getTime() + deps.settings.lifetimeMinutes * 60_000).toISOString(),
    clientState,
  });
  const record: SubscriptionRecord = {
    subscriptionId: created.id,
    customerId,
    tenantId: customer.value.tenantId,
    resource: USERS_RESOURCE,
    changeType: USER_CHANGE_TYPES,
    clientStateHash: clientStateHash(clientState),
    expiresAt: created.expirationDateTime,
    createdAt: now.toISOString(),
    lifetimeMinutes: deps.settings.lifetimeMinutes,
  };
  await save(deps, record);
  return record;
}

/** Renews (which also reauthorizes); a subscription Graph no longer knows is recreated. */
export async function renewSubscription(
  deps: NotificationDeps,
  record: SubscriptionRecord,
  tenant: MicrosoftTenant,
): Promise<{ action: 'renewed' | 'recreated'; record: SubscriptionRecord }> {
  const now = nowOf(deps);
  const expiresAt = new Date(now.getTime() + deps.settings.lifetimeMinutes * 60_000).toISOString();
  try {
    const renewed = await tenant.renewSubscription(record.subscriptionId, expiresAt);
    const next: SubscriptionRecord = { ...record, expiresAt: renewed.expirationDateTime || expiresAt, lastRenewedAt: now.toISOString(), lifetimeMinutes: deps.settings.lifetimeMinutes };
    await save(deps, next);
    return { action: 'renewed', record: next };
  } catch (error) {
    if (!(error instanceof GraphNotFoundError)) throw error;
    await drop(deps, record.subscriptionId);
    return { action: 'recreated', record: await createSubscription(deps, record.customerId, tenant) };
  }
}

/** Drops the stored subscription and makes a new one (Graph removed it). */
export async function recreateSubscription(deps: NotificationDeps, customerId: string, subscriptionId: string): Promise<SubscriptionRecord> {
  const { tenant } = await deps.microsoft.forCustomer(customerId);
  await tenant.deleteSubscription(subscriptionId);
  await drop(deps, subscriptionId);
  const others = (await deps.subscriptions.store.listForCustomer(customerId)).filter((r) => r.subscriptionId !== subscriptionId);
  // A concurrent repair may have made one already.
  if (others.length > 0) return others[0];
  return createSubscription(deps, customerId, tenant);
}

/**
 * Makes the customer hold exactly one live subscription that points at this app, renewed when due:
 * the onboarding listener, the repair call and the renewal timer all come here. Idempotent.
 */
export async function ensureSubscription(deps: NotificationDeps, customerId: string): Promise<SubscriptionOutcome> {
  const { notificationUrl } = urls(deps);
  const { tenant } = await deps.microsoft.forCustomer(customerId);
  const records = (await deps.subscriptions.store.listForCustomer(customerId)).sort((a, b) => b.expiresAt.localeCompare(a.expiresAt));
  const live = new Map<string, GraphSubscription>((await tenant.listSubscriptions()).map((s) => [s.id, s]));
  const removed: string[] = [];
  let current: SubscriptionRecord | undefined;
  for (const record of records) {
    const graph = live.get(record.subscriptionId);
    if (graph && graph.notificationUrl === notificationUrl && !current) {
      current = record;
      continue;
    }
    // Gone from Graph, pointing at another address, or a second one: one per customer is enough.
    if (graph) await tenant.deleteSubscription(record.subscriptionId);
    await drop(deps, record.subscriptionId);
    removed.push(record.subscriptionId);
  }
  let action: SubscriptionAction = 'unchanged';
  if (!current) {
    current = await createSubscription(deps, customerId, tenant);
    action = removed.length > 0 ? 'recreated' : 'created';
  } else if (renewalDue(current, nowOf(deps), deps.settings.renewWhenLeft)) {
    const renewed = await renewSubscription(deps, current, tenant);
    current = renewed.record;
    action = renewed.action;
  }
  return { customerId, action, subscriptionId: current.subscriptionId, expiresAt: current.expiresAt, removed };
}

export interface RenewalReport {
  outcomes: SubscriptionOutcome[];
  failed: Array<{ customerId: string; error: string }>;
}

/** The timer: every customer with a Microsoft app registration keeps one live, renewed subscription. */
export async function renewSubscriptions(deps: NotificationDeps): Promise<RenewalReport> {
  const report: RenewalReport = { outcomes: [], failed: [] };
  urls(deps);
  for (const { value: customer } of await deps.storage.customers.list()) {
    if (!customer.clientId || !customer.credentialRef) continue;
    try {
      report.outcomes.push(await ensureSubscription(deps, customer.id));
    } catch (error) {
      report.failed.push({ customerId: customer.id, error: error instanceof Error ? `${error.name}: ${error.message}` : String(error) });
    }
  }
  return report;
}

/** What operators see: ids, expiry, renewals and counters; never the clientState. */
export async function customerSubscriptions(deps: NotificationDeps, customerId: string): Promise<SubscriptionView[]> {
  if (!(await deps.storage.customers.get(customerId))) throw new NotFoundError(`customer "${customerId}" does not exist`);
  await deps.counters.flush().catch(() => undefined);
  const records = await deps.subscriptions.store.listForCustomer(customerId);
  return Promise.all(records.map(async (r) => subscriptionView(r, await deps.subscriptions.store.activity(r.subscriptionId))));
}
