/**
 * Change-notification subscriptions for users: creation with the validation handshake, renewal,
 * reauthorization, deletion, delivery of change notifications (batched per endpoint, retried) and of
 * lifecycle notifications.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { graphError, isRecord, ok, noContent, type EmuResponse } from './http';
import type { Counters } from './faults';
import type { UserChangeKind } from './state';

/** Users and other directory resources: at most 41,760 minutes. */
export const MAX_USER_SUBSCRIPTION_MINUTES = 41_760;
export const MAX_SUBSCRIPTIONS_PER_APP_TENANT = 100;

export interface Subscription {
  id: string;
  resource: string;
  applicationId: string;
  changeType: string;
  clientState: string | null;
  notificationUrl: string;
  lifecycleNotificationUrl: string | null;
  expirationDateTime: string;
  creatorId: string;
  latestSupportedTlsVersion: string;
  includeResourceData: boolean;
  tenantId: string;
  /** Set by a reauthorizationRequired lifecycle event until the client reauthorizes or renews. */
  reauthorizationRequired: boolean;
}

export type LifecycleEvent = 'reauthorizationRequired' | 'subscriptionRemoved' | 'missed';

export interface NotificationOptions {
  /** Time the subscriber has to answer the validation request (Graph: 10 s). */
  validationTimeoutMs: number;
  /** Time a subscriber has to answer a notification (Graph: 3 s). */
  deliveryTimeoutMs: number;
  /** Attempts per notification POST before it is dropped. */
  deliveryAttempts: number;
  retryDelayMs: number;
  /** Notifications per POST at most. */
  maxBatch: number;
}

export interface DeliveryRecord {
  url: string;
  subscriptionIds: string[];
  attempt: number;
  status: number | 'timeout' | 'error';
  lifecycle: boolean;
}

interface Pending { sub: Subscription; items: Array<Record<string, unknown>> }

function isLocalHttp(url: URL): boolean {
  return url.protocol === 'http:' && ['localhost', '127.0.0.1', '[::1]'].includes(url.hostname);
}

/** A change notification about a user, as Graph delivers it to a subscription's notificationUrl. */
export function userChangeNotification(s: Pick<Subscription, 'id' | 'expirationDateTime' | 'clientState' | 'tenantId'>, userId: string, changeType: 'updated' | 'deleted', sequenceNumber?: number) {
  return {
    subscriptionId: s.id, subscriptionExpirationDateTime: s.expirationDateTime, clientState: s.clientState, changeType,
    resource: `Users/${userId}`, tenantId: s.tenantId,
    resourceData: { '@odata.type': '#Microsoft.Graph.User', '@odata.id': `Users/${userId}`, id: userId, organizationId: s.tenantId, ...(sequenceNumber === undefined ? {} : { sequenceNumber }) },
  };
}

export class SubscriptionHub {
  readonly subscriptions = new Map<string, Subscription>();
  readonly deliveries: DeliveryRecord[] = [];
  private readonly queues = new Map<string, Pending>();
  private readonly inFlight = new Set<Promise<void>>();
  private readonly timers = new Map<NodeJS.Timeout, () => void>();
  private flushScheduled = false;
  private stopped = false;

  constructor(private readonly clock: () => number, private readonly counters: Counters, readonly options: NotificationOptions) {}

  private active(s: Subscription): boolean {
    return Date.parse(s.expirationDateTime) > this.clock();
  }

  list(tenantId?: string, appId?: string): Subscription[] {
    return [...this.subscriptions.values()].filter((s) => (!tenantId || s.tenantId === tenantId) && (!appId || s.applicationId === appId) && this.active(s));
  }

  view(s: Subscription): Record<string, unknown> {
    const { tenantId: _t, reauthorizationRequired: _r, ...rest } = s;
    return { ...rest, notificationQueryOptions: null, notificationUrlAppId: null, encryptionCertificate: null, encryptionCertificateId: null, lifecycleNotificationUrl: s.lifecycleNotificationUrl };
  }

  private validateExpiration(value: unknown): { ok: true; iso: string } | { ok: false; response: EmuResponse } {
    const ms = typeof value === 'string' ? Date.parse(value) : NaN;
    if (Number.isNaN(ms)) return { ok: false, response: graphError(400, 'InvalidRequest', "expirationDateTime is a required property for subscription creation.") };
    const now = this.clock();
    if (ms <= now) return { ok: false, response: graphError(400, 'InvalidRequest', 'Subscription expiration can only be in the future.') };
    if (ms > now + MAX_USER_SUBSCRIPTION_MINUTES * 60_000) {
      return { ok: false, response: graphError(400, 'InvalidRequest', `Subscription expiration can only be ${MAX_USER_SUBSCRIPTION_MINUTES} minutes in the future.`) };
    }
    return { ok: true, iso: new Date(ms).toISOString() };
  }

  async create(tenantId: string, appId: string, body: unknown, userExists: (id: string) => boolean): Promise<EmuResponse> {
    if (!isRecord(body)) return graphError(400, 'InvalidRequest', 'Request body is required.');
    const { changeType, notificationUrl, resource, clientState, lifecycleNotificationUrl } = body;
    if (typeof changeType !== 'string' || !changeType) return graphError(400, 'InvalidRequest', "changeType is a required property for subscription creation.");
    for (const t of changeType.split(',')) {
      if (t !== 'updated' && t !== 'deleted') return graphError(400, 'InvalidRequest', `Invalid 'changeType' attribute: '${t}'.`);
    }
    if (typeof resource !== 'string' || !/^\/?users(\/[^/]+)?$/.test(resource)) {
      return graphError(400, 'InvalidRequest', `Resource '${String(resource)}' is not supported by this emulator; use 'users' or 'users/{id}'.`);
    }
    const single = /^\/?users\/([^/]+)$/.exec(resource);
    if (single && !userExists(single[1])) return graphError(404, 'ResourceNotFound', `Resource '${single[1]}' does not exist.`);
    for (const [name, value] of [['notificationUrl', notificationUrl], ['lifecycleNotificationUrl', lifecycleNotificationUrl]] as const) {
      if (value === undefined || value === null) {
        if (name === 'notificationUrl') return graphError(400, 'InvalidRequest', 'notificationUrl is a required property for subscription creation.');
        continue;
      }
      let url: URL;
      try {
        url = new URL(String(value));
      } catch {
        return graphError(400, 'InvalidRequest', `Invalid ${name}: '${String(value)}'.`);
      }
      if (url.protocol !== 'https:' && !isLocalHttp(url)) return graphError(400, 'InvalidRequest', `The ${name} must be an https URL.`);
    }
    if (clientState !== undefined && clientState !== null && (typeof clientState !== 'string' || clientState.length > 128)) {
      return graphError(400, 'InvalidRequest', 'clientState must be a string of at most 128 characters.');
    }
    const exp = this.validateExpiration(body.expirationDateTime);
    if (!exp.ok) return exp.response;
    if (this.list(tenantId, appId).length >= MAX_SUBSCRIPTIONS_PER_APP_TENANT) {
      return graphError(403, 'ExtensionError', `Subscription limit of ${MAX_SUBSCRIPTIONS_PER_APP_TENANT} per application per tenant for resource 'users' has been reached.`);
    }
    for (const url of [notificationUrl, lifecycleNotificationUrl]) {
      if (typeof url !== 'string') continue;
      const failure = await this.handshake(url);
      if (failure) return graphError(400, 'ValidationError', `Subscription validation request failed. ${failure}`);
    }
    const sub: Subscription = {
      id: randomUUID(), resource: resource.replace(/^\//, ''), applicationId: appId, changeType,
      clientState: typeof clientState === 'string' ? clientState : null,
      notificationUrl: String(notificationUrl),
      lifecycleNotificationUrl: typeof lifecycleNotificationUrl === 'string' ? lifecycleNotificationUrl : null,
      expirationDateTime: exp.iso, creatorId: appId, latestSupportedTlsVersion: typeof body.latestSupportedTlsVersion === 'string' ? body.latestSupportedTlsVersion : 'v1_2',
      includeResourceData: false, tenantId, reauthorizationRequired: false,
    };
    this.subscriptions.set(sub.id, sub);
    return ok({ '@odata.context': 'https://graph.microsoft.com/v1.0/$metadata#subscriptions/$entity', ...this.view(sub) }, 201);
  }

  /** POSTs ?validationToken=… and expects the decoded token back as text/plain within the timeout. */
  private async handshake(notificationUrl: string): Promise<string | null> {
    const token = `Validation: Testing client application reachability for subscription Request-Id: ${randomUUID()} ${randomBytes(6).toString('base64')}`;
    const url = new URL(notificationUrl);
    url.searchParams.set('validationToken', token);
    this.counters.notification('validations');
    try {
      const res = await fetch(url, {
        method: 'POST', headers: { 'content-type': 'text/plain; charset=utf-8' }, body: '',
        signal: AbortSignal.timeout(this.options.validationTimeoutMs),
      });
      const text = await res.text();
      if (res.status !== 200) return `Response status code does not indicate success: ${res.status}.`;
      if (!(res.headers.get('content-type') ?? '').toLowerCase().startsWith('text/plain')) return 'Response content type is not text/plain.';
      if (text !== token) return 'Validation token mismatch.';
      return null;
    } catch (e) {
      return (e as Error).name === 'TimeoutError' ? 'Validation request timed out.' : `Validation request failed: ${(e as Error).message}.`;
    }
  }

  find(tenantId: string, appId: string, id: string): Subscription | undefined {
    const s = this.subscriptions.get(id);
    return s && s.tenantId === tenantId && s.applicationId === appId && this.active(s) ? s : undefined;
  }

  private notFound(id: string): EmuResponse {
    return graphError(404, 'ResourceNotFound', `The object was not found. Subscription Id: ${id}`);
  }

  get(tenantId: string, appId: string, id: string): EmuResponse {
    const s = this.find(tenantId, appId, id);
    return s ? ok({ '@odata.context': 'https://graph.microsoft.com/v1.0/$metadata#subscriptions/$entity', ...this.view(s) }) : this.notFound(id);
  }

  patch(tenantId: string, appId: string, id: string, body: unknown): EmuResponse {
    const s = this.find(tenantId, appId, id);
    if (!s) return this.notFound(id);
    if (!isRecord(body)) return graphError(400, 'InvalidRequest', 'Request body is required.');
    if (body.lifecycleNotificationUrl !== undefined) {
      return graphError(400, 'InvalidRequest', 'lifecycleNotificationUrl can only be set when the subscription is created.');
    }
    if (body.expirationDateTime !== undefined) {
      const exp = this.validateExpiration(body.expirationDateTime);
      if (!exp.ok) return exp.response;
      s.expirationDateTime = exp.iso;
      s.reauthorizationRequired = false;
    }
    if (typeof body.notificationUrl === 'string') s.notificationUrl = body.notificationUrl;
    return ok({ '@odata.context': 'https://graph.microsoft.com/v1.0/$metadata#subscriptions/$entity', ...this.view(s) });
  }

  reauthorize(tenantId: string, appId: string, id: string): EmuResponse {
    const s = this.find(tenantId, appId, id);
    if (!s) return this.notFound(id);
    s.reauthorizationRequired = false;
    return noContent();
  }

  delete(tenantId: string, appId: string, id: string): EmuResponse {
    const s = this.find(tenantId, appId, id);
    if (!s) return this.notFound(id);
    this.subscriptions.delete(id);
    return noContent();
  }

  /** Queues change notifications for every subscription watching this user. */
  notifyUserChange(tenantId: string, userId: string, kind: UserChangeKind): void {
    // Creation, soft deletion and restore arrive as `updated`; only permanent deletion is `deleted`.
    const changeType = kind === 'hardDeleted' ? 'deleted' : 'updated';
    for (const s of this.subscriptions.values()) {
      if (s.tenantId !== tenantId || !this.active(s)) continue;
      if (s.resource !== 'users' && s.resource !== `users/${userId}`) continue;
      if (!s.changeType.split(',').includes(changeType)) continue;
      const item = userChangeNotification(s, userId, changeType, this.clock());
      const q = this.queues.get(s.notificationUrl) ?? { sub: s, items: [] };
      q.items.push(item);
      this.queues.set(s.notificationUrl, q);
    }
    this.scheduleFlush();
  }

  private scheduleFlush(): void {
    if (this.flushScheduled || this.stopped || this.queues.size === 0) return;
    this.flushScheduled = true;
    setImmediate(() => {
      this.flushScheduled = false;
      const queues = [...this.queues.entries()];
      this.queues.clear();
      for (const [url, q] of queues) {
        for (let i = 0; i < q.items.length; i += this.options.maxBatch) {
          this.track(this.deliver(url, { value: q.items.slice(i, i + this.options.maxBatch) }, false));
        }
      }
    });
  }

  /** Sends a lifecycle notification; subscriptionRemoved also removes the subscription. */
  async triggerLifecycle(subscriptionId: string, event: LifecycleEvent): Promise<void> {
    const s = this.subscriptions.get(subscriptionId);
    if (!s) throw new Error(`No subscription ${subscriptionId}`);
    if (!s.lifecycleNotificationUrl) throw new Error(`Subscription ${subscriptionId} has no lifecycleNotificationUrl`);
    if (event === 'reauthorizationRequired') s.reauthorizationRequired = true;
    if (event === 'subscriptionRemoved') this.subscriptions.delete(s.id);
    const item = {
      subscriptionId: s.id, subscriptionExpirationDateTime: s.expirationDateTime, tenantId: s.tenantId, clientState: s.clientState,
      lifecycleEvent: event, resource: s.resource, resourceData: null,
    };
    this.counters.notification('lifecycle');
    await this.track(this.deliver(s.lifecycleNotificationUrl, { value: [item] }, true));
  }

  private track(p: Promise<void>): Promise<void> {
    this.inFlight.add(p);
    void p.finally(() => this.inFlight.delete(p));
    return p;
  }

  private async deliver(url: string, payload: { value: Array<Record<string, unknown>> }, lifecycle: boolean): Promise<void> {
    const ids = [...new Set(payload.value.map((v) => String(v.subscriptionId)))];
    const body = JSON.stringify(payload);
    for (let attempt = 1; attempt <= this.options.deliveryAttempts && !this.stopped; attempt++) {
      let status: DeliveryRecord['status'];
      try {
        const res = await fetch(url, {
          method: 'POST', headers: { 'content-type': 'application/json; charset=utf-8' }, body,
          signal: AbortSignal.timeout(this.options.deliveryTimeoutMs),
        });
        await res.arrayBuffer();
        status = res.status;
      } catch (e) {
        status = (e as Error).name === 'TimeoutError' ? 'timeout' : 'error';
      }
      this.deliveries.push({ url, subscriptionIds: ids, attempt, status, lifecycle });
      if (typeof status === 'number' && status >= 200 && status < 300) {
        if (!lifecycle) this.counters.notification('delivered');
        return;
      }
      if (attempt < this.options.deliveryAttempts) await this.wait(this.options.retryDelayMs * attempt);
    }
    this.counters.notification('failed');
  }

  private wait(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        this.timers.delete(t);
        resolve();
      }, ms);
      t.unref();
      this.timers.set(t, resolve);
    });
  }

  /** Resolves once every queued and in-flight delivery has finished (tests use it instead of sleeping). */
  async idle(): Promise<void> {
    for (;;) {
      if (this.flushScheduled) await new Promise((r) => setImmediate(r));
      if (this.inFlight.size === 0 && !this.flushScheduled && this.queues.size === 0) return;
      await Promise.allSettled([...this.inFlight]);
    }
  }

  stop(): void {
    this.stopped = true;
    // Pending retries end now; their deliveries see `stopped` and give up.
    for (const [t, resolve] of this.timers) {
      clearTimeout(t);
      resolve();
    }
    this.timers.clear();
  }
}
