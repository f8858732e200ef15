/**
 * The demo job run by `npm start -- --once`: drives the running stack the way an operator would,
 * over HTTP, and reports each step. It grows as the product does.
 */
import type { Endpoints } from '../stack';

export interface ScenarioStep {
  name: string;
  ok: boolean;
  detail: string;
  ms: number;
}

export interface ScenarioReport {
  startedAt: string;
  finishedAt: string;
  ok: boolean;
  steps: ScenarioStep[];
  [section: string]: unknown;
}

export class ScenarioRecorder {
  readonly steps: ScenarioStep[] = [];
  private readonly startedAt = new Date();
  readonly extra: Record<string, unknown> = {};

  constructor(private readonly onStep: (step: ScenarioStep) => void = () => {}) {}

  /** Runs one step; a failure is recorded with its reason and the scenario goes on where it can. */
  async step<T>(name: string, work: () => Promise<{ value: T; detail: string }>): Promise<T | undefined> {
    const started = Date.now();
    try {
      const { value, detail } = await work();
      this.push({ name, ok: true, detail, ms: Date.now() - started });
      return value;
    } catch (err) {
      this.push({ name, ok: false, detail: err instanceof Error ? err.message : String(err), ms: Date.now() - started });
      return undefined;
    }
  }

  private push(step: ScenarioStep): void {
    this.steps.push(step);
    this.onStep(step);
  }

  report(): ScenarioReport {
    return {
      startedAt: this.startedAt.toISOString(),
      finishedAt: new Date().toISOString(),
      ok: this.steps.every((s) => s.ok),
      steps: this.steps,
      ...this.extra,
    };
  }
}

export class ApiClient {
  constructor(private readonly endpoints: Endpoints) {}

  async request(method: string, path: string, body?: unknown, key: 'function' | 'master' = 'function'): Promise<Response> {
    const url = path.startsWith('/admin/') ? `${this.endpoints.hostUrl}${path}` : `${this.endpoints.apiUrl}${path}`;
    return fetch(url, {
      method,
      headers: {
        'x-functions-key': key === 'master' ? this.endpoints.masterKey : this.endpoints.functionKey,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  }

  async json<T>(method: string, path: string, body?: unknown, key: 'function' | 'master' = 'function'): Promise<T> {
    const res = await this.request(method, path, body, key);
    const text = await res.text();
    if (!res.ok) throw new Error(`${method} ${path} answered ${res.status}: ${text.slice(0, 300)}`);
    return (text ? JSON.parse(text) : undefined) as T;
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 30_000, intervalMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(intervalMs);
  }
}

interface HealthBody {
  status: string;
  heartbeat?: { count: number; at: string };
}

interface Counts {
  added: number;
  changed: number;
  unchanged: number;
  deleted: number;
  held: number;
}

export interface SyncRunView {
  runId: string;
  status: string;
  mode: string;
  startedAt: string;
  finishedAt?: string;
  counts: Record<string, Counts>;
  handedOff: number;
  errors: string[];
}

/** What the demo job needs to know about the stack it drives. */
export interface DemoContext {
  endpoints: Endpoints;
  /** The demo tenant's app registration, when the stack runs the Graph emulator. */
  tenant?: { tenantId: string; clientId: string; credentialReference: string };
  /** Users in the demo tenant (for the progress bar). */
  expectedUsers?: number;
  /** Messages still waiting or in flight on the provisioning queue (the local broker knows). */
  provisioningBacklog?: () => number;
  /** Shows progress of long steps; returns a function that ends it. */
  progress?: (label: string, total: number) => { update(value: number): void; stop(): void };
}

export async function runDemoScenario(context: DemoContext, recorder: ScenarioRecorder): Promise<ScenarioReport> {
  const { endpoints } = context;
  const api = new ApiClient(endpoints);
  await recorder.step('health endpoint answers', async () => {
    const body = await api.json<HealthBody>('GET', '/health');
    return { value: body, detail: `status ${body.status}` };
  });
  const before = (await api.json<HealthBody>('GET', '/health').catch(() => undefined))?.heartbeat?.count ?? 0;
  await recorder.step('heartbeat timer writes to Table Storage', async () => {
    const res = await api.request('POST', '/admin/functions/heartbeat', {}, 'master');
    if (res.status !== 202) throw new Error(`admin run answered ${res.status}`);
    const beat = await waitFor('the heartbeat to be recorded', async () => {
      const body = await api.json<HealthBody>('GET', '/health');
      return body.heartbeat && body.heartbeat.count > before ? body.heartbeat : undefined;
    });
    return { value: beat, detail: `heartbeat ${beat.count} recorded at ${beat.at}` };
  });
  if (!context.tenant) return recorder.report();

  const { applyDemoCustomer, DEMO_CUSTOMER_ID } = await import('./customer');
  const customerId = DEMO_CUSTOMER_ID;
  await recorder.step('onboard the demo customer with its whole configuration', async () => {
    const report = await applyDemoCustomer({ apiUrl: endpoints.apiUrl, functionKey: endpoints.functionKey }, context.tenant!, { customerId });
    const s = report.summary;
    return { value: report, detail: `${s.created} created, ${s.updated} updated, ${s.unchanged} unchanged (sites, defaults, criteria, Quick Add Groups, profiles, numbers)` };
  });

  const run = await recorder.step('first full sync of the demo tenant', async () => {
    // Onboarding starts the first sync; a customer already onboarded (a persisted run) gets a fresh one.
    let runs = await api.json<{ value: SyncRunView[] }>('GET', `/customers/${customerId}/sync-runs?top=1`);
    let runId = runs.value[0]?.runId;
    if (!runId || runs.value[0].status !== 'running') {
      const started = await api.request('POST', `/customers/${customerId}/syncs/full/run`);
      if (started.status === 202) runId = ((await started.json()) as { runId: string }).runId;
      else if (started.status !== 409) throw new Error(`starting the sync answered ${started.status}`);
      runs = await api.json<{ value: SyncRunView[] }>('GET', `/customers/${customerId}/sync-runs?top=1`);
      runId ??= runs.value[0]?.runId;
    }
    const bar = context.progress?.('full sync', context.expectedUsers ?? 0);
    const done = await waitFor(
      'the first sync',
      async () => {
        const r = await api.json<SyncRunView>('GET', `/customers/${customerId}/sync-runs/${runId}`);
        const u = r.counts.users;
        bar?.update(u.added + u.changed + u.unchanged);
        return r.status === 'running' ? undefined : r;
      },
      30 * 60_000,
      200,
    );
    bar?.stop();
    if (done.status !== 'succeeded') throw new Error(`the sync ended ${done.status}: ${done.errors.join('; ')}`);
    const u = done.counts.users;
    const seconds = ((Date.parse(done.finishedAt ?? done.startedAt) - Date.parse(done.startedAt)) / 1000).toFixed(1);
    return {
      value: done,
      detail: `${u.added} users added, ${done.counts.licenses.added} licenses, ${done.counts.dialPlans.added} dial plans, ${done.counts.policies.added} policies in ${seconds} s; ${done.handedOff} users handed to flow-through`,
    };
  });
  if (run) {
    recorder.extra.sync = {
      runId: run.runId,
      status: run.status,
      startedAt: run.startedAt,
      finishedAt: run.finishedAt,
      seconds: (Date.parse(run.finishedAt ?? run.startedAt) - Date.parse(run.startedAt)) / 1000,
      counts: run.counts,
      handedOff: run.handedOff,
      errors: run.errors,
    };
  }
  if (run && run.handedOff > 0 && context.provisioningBacklog) {
    await recorder.step('flow-through provisioning of the synced users', async () => {
      const bar = context.progress?.('provisioning', run.handedOff);
      const backlog = context.provisioningBacklog!;
      let settledFor = 0;
      await waitFor(
        'provisioning to settle',
        async () => {
          const left = backlog();
          bar?.update(run.handedOff - Math.min(run.handedOff, left));
          // Settled once the queue stays empty (retries are scheduled messages, counted in the backlog).
          settledFor = left === 0 ? settledFor + 1 : 0;
          return settledFor >= 3 ? true : undefined;
        },
        60 * 60_000,
        250,
      );
      bar?.stop();
      const summary = await api.json<CustomerSummaryView>('GET', `/customers/${customerId}/summary`);
      recorder.extra.provisioning = summary;
      const p = summary.provisioning;
      const sites = Object.entries(summary.bySite).map(([site, n]) => `${site} ${n}`).join(', ');
      return {
        value: summary,
        detail: [
          `${summary.byState.provisioned} provisioned, ${summary.byState.staged} staged, ${summary.byState['needs-attention']} need attention, ${summary.byState['at-customer']} left at customer`,
          `by site: ${sites || 'none'}`,
          `${p.numbersAssigned} numbers assigned, ${p.numbersRecordedInUse} held numbers recorded (${p.duplicatesFlagged} duplicates flagged, ${p.duplicatesPrevented} prevented), ${p.licensesAssigned} users licensed`,
        ].join('; '),
      };
    });
  }
  await newHireThroughNotifications(context, recorder, api, customerId);
  return recorder.report();
}

interface SubscriptionCounters {
  subscriptionId: string;
  expiresAt: string;
  accepted: number;
  dropped: number;
  processed: number;
  coalesced: number;
}

/** The emulator's control API over HTTPS, trusting its own CA. */
async function control<T>(endpoints: Endpoints, method: string, path: string, body?: unknown): Promise<T> {
  const https = await import('node:https');
  const { readFileSync } = await import('node:fs');
  const url = new URL(`${endpoints.graphControlUrl}${path}`);
  const payload = body === undefined ? undefined : JSON.stringify(body);
  return new Promise<T>((resolve, reject) => {
    const req = https.request(url, { method, ca: readFileSync(endpoints.graphCaFile), headers: payload ? { 'content-type': 'application/json' } : {} }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        if ((res.statusCode ?? 500) >= 300) reject(new Error(`${method} ${url.pathname} answered ${res.statusCode}: ${text.slice(0, 300)}`));
        else resolve((text ? JSON.parse(text) : undefined) as T);
      });
    });
    req.on('error', reject);
    req.end(payload);
  });
}

/**
 * Between syncs: HR creates a new hire in the tenant; Graph notifies the webhook, and flow-through places the
 * user at its office with a number. Reports the seconds that took and what the webhook counted.
 */
async function newHireThroughNotifications(context: DemoContext, recorder: ScenarioRecorder, api: ApiClient, customerId: string): Promise<void> {
  const { endpoints, tenant } = context;
  if (!tenant || !endpoints.graphControlUrl || !endpoints.graphCaFile) return;
  const subscribed = await recorder.step('the demo customer is subscribed to change notifications', async () => {
    const repair = await api.json<{ action: string; subscriptionId: string; expiresAt: string }>('POST', `/customers/${customerId}/subscriptions/repair`);
    return { value: repair, detail: `subscription ${repair.subscriptionId} (${repair.action}), expires ${repair.expiresAt}` };
  });
  if (!subscribed) return;
  const { DEMO_OFFICES } = await import('./tenant');
  const office = DEMO_OFFICES[0];
  const nick = `new.hire.${Date.now().toString(36)}`;
  const hire = await recorder.step('a new hire created in the tenant is provisioned at its site, between syncs', async () => {
    const started = Date.now();
    const user = await control<{ id: string; userPrincipalName: string }>(endpoints, 'POST', `/tenants/${tenant.tenantId}/users`, {
      mailNickname: nick,
      displayName: 'New Hire',
      givenName: 'New',
      surname: 'Hire',
      city: office.city,
      country: office.country,
      officeLocation: office.officeLocation,
      // Flow-through gives engineers Direct Routing on E3 with Teams Phone: the seats the demo keeps free.
      department: 'Engineering',
      jobTitle: 'Software Engineer',
    });
    const done = await waitFor(
      'the new hire to be provisioned',
      async () => {
        const page = await api.json<{ items: Array<{ userId: string; state: { kind: string; siteId?: string }; number?: string }> }>('GET', `/customers/${customerId}/users?search=${encodeURIComponent(nick)}`);
        const u = page.items[0];
        return u && ((u.state.kind === 'provisioned' && u.number) || u.state.kind === 'needs-attention' || u.state.kind === 'staged') ? u : undefined;
      },
      120_000,
      100,
    );
    const seconds = (Date.now() - started) / 1000;
    if (done.state.kind !== 'provisioned') throw new Error(`the new hire ended ${done.state.kind} after ${seconds.toFixed(1)} s`);
    return { value: { ...done, upn: user.userPrincipalName, seconds }, detail: `${user.userPrincipalName} provisioned at ${done.state.siteId} with ${done.number} ${seconds.toFixed(1)} s after HR created it` };
  });
  const counters = await recorder.step('change notifications counted by the webhook', async () => {
    const view = (await api.json<{ value: SubscriptionCounters[] }>('GET', `/customers/${customerId}/subscriptions`)).value[0];
    if (!view) throw new Error('the customer holds no subscription');
    return { value: view, detail: `${view.accepted} accepted, ${view.dropped} dropped, ${view.processed} processed (${view.coalesced} covered by another read of the same user)` };
  });
  recorder.extra.notifications = {
    ...(hire ? { newHire: { userId: hire.userId, userPrincipalName: hire.upn, siteId: hire.state.siteId, number: hire.number, seconds: hire.seconds } } : {}),
    ...(counters ? { subscriptionId: counters.subscriptionId, expiresAt: counters.expiresAt, accepted: counters.accepted, dropped: counters.dropped, processed: counters.processed, coalesced: counters.coalesced } : {}),
  };
}

interface CustomerSummaryView {
  users: number;
  byState: Record<string, number>;
  bySite: Record<string, number>;
  unplaced: Record<string, number>;
  needsAttention: Record<string, number>;
  provisioning: Record<string, number>;
}
