/**
 * The control surface tests and `npm start` use to change the world behind Graph: users, faults, quotas,
 * counters, lifecycle events. The same methods are served over HTTP under `/_control`.
 */
import { timingSafeEqual } from 'node:crypto';
import { generateDemoTenant, type DemoApp, type DemoNumberAssignment, type DemoSku, type DemoTeamsUserConfiguration, type DemoTenant, type DemoTenantSpec, type DemoUser } from '../demo/tenant';
import type { Arrival, Counters, CountersSnapshot, FaultSettings, Faults } from './faults';
import type { Quotas, QuotaSettings } from './quotas';
import { bridgeError, isRecord, parseJsonBody, type EmuRequest, type EmuResponse } from './http';
import { ServiceError, TenantState } from './state';
import type { LocalKeyVault } from './keyVault';
import type { DeliveryRecord, LifecycleEvent, Subscription, SubscriptionHub } from './subscriptions';

export interface TenantSummary { tenantId: string; displayName: string; domain: string; users: number; apps: DemoApp[] }

export type ControlUser = DemoUser & { deletedDateTime: string | null };

export class EmulatorControl {
  constructor(
    private readonly tenantsById: Map<string, TenantState>,
    private readonly register: (tenant: DemoTenant) => TenantState,
    private readonly faults: Faults,
    private readonly quotas: Quotas,
    private readonly quotaSwitch: { enabled: boolean },
    private readonly counterStore: Counters,
    private readonly hub: SubscriptionHub,
    private readonly latency: { ms: number },
    private readonly vault: LocalKeyVault,
  ) {}

  /** Puts a secret in the local Key Vault (a new version when it exists). */
  setVaultSecret(name: string, value: string): void {
    this.vault.setSecret(name, value);
  }

  deleteVaultSecret(name: string): void {
    this.vault.deleteSecret(name);
  }

  /** Lets an app read the local Key Vault's secrets (Azure's "Key Vault Secrets User" role). */
  grantVaultRead(tenantId: string, clientId: string): void {
    this.state(tenantId);
    this.vault.grantRead(tenantId, clientId);
  }

  /** The tenant's live state, for assertions beyond the methods below. */
  state(tenantId: string): TenantState {
    const t = this.tenantsById.get(tenantId);
    if (!t) throw new ServiceError(404, 'TenantNotFound', `Tenant '${tenantId}' is not served by this emulator.`);
    return t;
  }

  tenants(): TenantSummary[] {
    return [...new Set(this.tenantsById.values())].map((t) => this.summary(t));
  }

  private summary(t: TenantState): TenantSummary {
    return { tenantId: t.tenantId, displayName: t.displayName, domain: t.domain, users: t.activeCount, apps: [...t.apps.values()] };
  }

  /** Adds a tenant generated from a spec, or a ready one (the emulator then owns and mutates it). */
  addTenant(tenant: DemoTenantSpec | DemoTenant): TenantSummary {
    const data = 'users' in tenant && Array.isArray(tenant.users) ? (tenant as DemoTenant) : generateDemoTenant(tenant as DemoTenantSpec);
    return this.summary(this.register(data));
  }

  addApp(tenantId: string, app: DemoApp): void {
    this.state(tenantId).apps.set(app.clientId, { ...app, roles: [...app.roles] });
  }

  /** Replaces an app's granted permissions (e.g. to test 403s). */
  setAppRoles(tenantId: string, clientId: string, roles: string[]): void {
    const app = this.state(tenantId).apps.get(clientId);
    if (!app) throw new ServiceError(404, 'AppNotFound', `No app '${clientId}' in tenant '${tenantId}'.`);
    app.roles = [...roles];
  }

  getUser(tenantId: string, idOrUpn: string): ControlUser | undefined {
    const t = this.state(tenantId);
    const rec = t.byId.get(idOrUpn) ?? t.byUpn.get(idOrUpn.toLowerCase());
    return rec ? { ...rec.u, deletedDateTime: rec.deletedDateTime } : undefined;
  }

  addUser(tenantId: string, user: Partial<DemoUser>): DemoUser {
    return { ...this.state(tenantId).addUser(user) };
  }

  updateUser(tenantId: string, idOrUpn: string, changes: Partial<DemoUser>): DemoUser {
    const t = this.state(tenantId);
    t.updateUser(idOrUpn, changes as Record<string, unknown>);
    return { ...t.requireUser(idOrUpn).u };
  }

  softDeleteUser(tenantId: string, id: string): void {
    this.state(tenantId).softDelete(id);
  }

  restoreUser(tenantId: string, id: string): DemoUser {
    return { ...this.state(tenantId).restore(id) };
  }

  hardDeleteUser(tenantId: string, id: string): void {
    this.state(tenantId).hardDelete(id);
  }

  /** What Teams does some time after licensing: the user's Teams configuration appears. */
  provisionTeamsUser(tenantId: string, userId: string): DemoTeamsUserConfiguration {
    return this.state(tenantId).provisionTeamsUser(userId);
  }

  teamsUser(tenantId: string, userId: string): DemoTeamsUserConfiguration | undefined {
    return this.state(tenantId).teams.get(userId);
  }

  numbers(tenantId: string): DemoNumberAssignment[] {
    return this.state(tenantId).numbers;
  }

  skus(tenantId: string): DemoSku[] {
    return [...this.state(tenantId).skus.values()];
  }

  groupMembers(tenantId: string, groupId: string): string[] {
    return [...this.state(tenantId).requireGroup(groupId).members];
  }

  /** Invalidates every delta token of the tenant: the next delta call answers 410 resyncRequired. */
  resetDelta(tenantId: string): void {
    this.state(tenantId).deltaGeneration++;
  }

  setFaults(settings: FaultSettings): void {
    this.faults.set(settings);
  }

  clearFaults(): void {
    this.faults.clear();
  }

  faultRules(): ReturnType<Faults['list']> {
    return this.faults.list();
  }

  setQuotas(enabled: boolean, settings?: QuotaSettings): void {
    this.quotaSwitch.enabled = enabled;
    if (settings) this.quotas.settings = { ...settings };
    this.quotas.reset();
  }

  /** Latency added to every call from now on. */
  setLatency(ms: number): void {
    if (!Number.isFinite(ms) || ms < 0) throw new RangeError('latency must be 0 or more milliseconds');
    this.latency.ms = ms;
  }

  latencyMs(): number {
    return this.latency.ms;
  }

  /** Keeps (or stops keeping) the arrival time of every request a quota class saw. */
  recordArrivals(on: boolean): void {
    this.counterStore.recordArrivals(on);
  }

  arrivals(): Arrival[] {
    return this.counterStore.arrivalLog();
  }

  counters(): CountersSnapshot {
    return this.counterStore.snapshot();
  }

  resetCounters(): void {
    this.counterStore.reset();
  }

  subscriptions(tenantId?: string): Subscription[] {
    return this.hub.list(tenantId).map((s) => ({ ...s }));
  }

  triggerLifecycle(subscriptionId: string, event: LifecycleEvent): Promise<void> {
    return this.hub.triggerLifecycle(subscriptionId, event);
  }

  /** Resolves when all queued notifications have been delivered (or given up on). */
  notificationsIdle(): Promise<void> {
    return this.hub.idle();
  }

  deliveries(): DeliveryRecord[] {
    return [...this.hub.deliveries];
  }
}

const LIFECYCLE = new Set(['reauthorizationRequired', 'subscriptionRemoved', 'missed']);

/**
 * `/_control/...` over HTTP, for the local runtime's tools. It changes the world behind Graph and shows
 * subscriptions' clientState, so it needs the emulator's own key (`x-emulator-key`), which no Graph client has.
 */
export async function handleControl(req: EmuRequest, control: EmulatorControl, controlKey: string): Promise<EmuResponse> {
  if (!keyMatches(req.headers['x-emulator-key'], controlKey)) {
    return bridgeError(401, 'Unauthorized', "The emulator's control API needs its key in the x-emulator-key header.");
  }
  let seg: string[];
  try {
    seg = req.path.split('/').filter(Boolean).slice(1).map(decodeURIComponent);
  } catch {
    return bridgeError(400, 'BadRequest', 'The request path is not valid percent-encoding.');
  }
  const m = req.method;
  const body = parseJsonBody(req);
  if (!body.ok) return bridgeError(400, 'BadRequest', 'The body is not valid JSON.');
  const b: Record<string, unknown> = isRecord(body.value) ? body.value : {};
  const json = (v: unknown, status = 200): EmuResponse => ({ status, json: v });
  try {
    if (seg[0] === 'vault' && seg[1] === 'secrets' && seg.length === 3) {
      if (m === 'PUT') {
        if (typeof b.value !== 'string' || b.value === '') return bridgeError(400, 'BadRequest', 'value is required.');
        control.setVaultSecret(seg[2], b.value);
        return { status: 204 };
      }
      if (m === 'DELETE') {
        control.deleteVaultSecret(seg[2]);
        return { status: 204 };
      }
    }
    if (seg[0] === 'tenants') {
      if (seg.length === 1 && m === 'GET') return json({ value: control.tenants() });
      if (seg.length === 1 && m === 'POST') {
        if (typeof b.seed !== 'string' && typeof b.seed !== 'number') return bridgeError(400, 'BadRequest', 'seed and users are required.');
        return json(control.addTenant(b as unknown as DemoTenantSpec), 201);
      }
      const t = seg[1];
      if (seg.length === 3 && seg[2] === 'apps' && m === 'POST') {
        control.addApp(t, b as unknown as DemoApp);
        return { status: 204 };
      }
      if (seg.length === 3 && seg[2] === 'deltaReset' && m === 'POST') {
        control.resetDelta(t);
        return { status: 204 };
      }
      if (seg[2] === 'users') {
        if (seg.length === 3 && m === 'POST') return json(control.addUser(t, b as Partial<DemoUser>), 201);
        const id = seg[3];
        if (seg.length === 4 && m === 'GET') {
          const u = control.getUser(t, id);
          return u ? json(u) : bridgeError(404, 'NotFound', `No user '${id}'.`);
        }
        if (seg.length === 4 && m === 'PATCH') return json(control.updateUser(t, id, b as Partial<DemoUser>));
        if (seg.length === 4 && m === 'DELETE') {
          control.hardDeleteUser(t, id);
          return { status: 204 };
        }
        if (seg.length === 5 && m === 'POST' && seg[4] === 'softDelete') {
          control.softDeleteUser(t, id);
          return { status: 204 };
        }
        if (seg.length === 5 && m === 'POST' && seg[4] === 'restore') return json(control.restoreUser(t, id));
        if (seg.length === 5 && m === 'POST' && seg[4] === 'teams') return json(control.provisionTeamsUser(t, id));
        if (seg.length === 5 && m === 'GET' && seg[4] === 'teams') {
          const cfg = control.teamsUser(t, id);
          return cfg ? json(cfg) : bridgeError(404, 'NotFound', `User '${id}' is not in Teams.`);
        }
      }
      if (seg.length === 3 && seg[2] === 'numbers' && m === 'GET') return json({ value: control.numbers(t) });
      if (seg.length === 3 && seg[2] === 'skus' && m === 'GET') return json({ value: control.skus(t) });
    }
    if (seg[0] === 'faults' && seg.length === 1) {
      if (m === 'GET') return json(control.faultRules());
      if (m === 'PUT') {
        if (!Array.isArray(b.rules)) return bridgeError(400, 'BadRequest', 'rules must be an array.');
        control.setFaults(b as unknown as FaultSettings);
        return { status: 204 };
      }
      if (m === 'DELETE') {
        control.clearFaults();
        return { status: 204 };
      }
    }
    if (seg[0] === 'quotas' && seg.length === 1 && m === 'PUT') {
      const { enabled, ...settings } = b;
      control.setQuotas(enabled !== false, settings as QuotaSettings);
      return { status: 204 };
    }
    if (seg[0] === 'latency' && seg.length === 1) {
      if (m === 'GET') return json({ ms: control.latencyMs() });
      if (m === 'PUT') {
        if (typeof b.ms !== 'number') return bridgeError(400, 'BadRequest', 'ms must be a number of milliseconds.');
        control.setLatency(b.ms);
        return { status: 204 };
      }
    }
    if (seg[0] === 'arrivals' && seg.length === 1) {
      if (m === 'GET') return json({ value: control.arrivals() });
      if (m === 'PUT') {
        control.recordArrivals(b.enabled !== false);
        return { status: 204 };
      }
    }
    if (seg[0] === 'counters') {
      if (seg.length === 1 && m === 'GET') return json(control.counters());
      if ((seg.length === 2 && seg[1] === 'reset' && m === 'POST') || (seg.length === 1 && m === 'DELETE')) {
        control.resetCounters();
        return { status: 204 };
      }
    }
    if (seg[0] === 'subscriptions') {
      if (seg.length === 1 && m === 'GET') return json({ value: control.subscriptions(req.query.get('tenantId') ?? undefined) });
      if (seg.length === 3 && seg[2] === 'lifecycle' && m === 'POST') {
        if (typeof b.event !== 'string' || !LIFECYCLE.has(b.event)) return bridgeError(400, 'BadRequest', 'event must be reauthorizationRequired, subscriptionRemoved or missed.');
        await control.triggerLifecycle(seg[1], b.event as LifecycleEvent);
        return { status: 204 };
      }
    }
    if (seg[0] === 'notifications' && seg[1] === 'idle' && m === 'POST') {
      await control.notificationsIdle();
      return { status: 204 };
    }
    if (seg[0] === 'deliveries' && m === 'GET') return json({ value: control.deliveries() });
  } catch (e) {
    if (e instanceof ServiceError) return bridgeError(e.status, e.code, e.message);
    if (e instanceof Error) return bridgeError(400, 'BadRequest', e.message);
    throw e;
  }
  return bridgeError(404, 'NotFound', `No control route for ${m} ${req.path}.`);
}

function keyMatches(presented: string | undefined, expected: string): boolean {
  const a = Buffer.from(presented ?? '');
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}
