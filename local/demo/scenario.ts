/**
 * The demo job run by `npm start`: drives the running stack the way an operator would, over HTTP, and
 * reports each step truthfully (report.ts). On the emulator's demo tenant it onboards the demo customer
 * with its whole configuration, syncs, provisions and follows a new hire through change notifications; on
 * an operator's own tenant (`--graph-url`) it onboards the tenant with no sites and flow-through off, so
 * the job reads the tenant and changes nothing in it.
 */
import type { Endpoints } from '../stack';
import { ApiClient, waitFor } from './api';
import { ScenarioRecorder, StepSkipped, type ScenarioReport } from './report';

export { ScenarioRecorder, StepSkipped, type ScenarioReport, type ScenarioStep } from './report';
export { ApiClient, waitFor } from './api';

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

export type EntityType = 'users' | 'licenses' | 'dialPlans' | 'policies' | 'resourceAccounts';
const ENTITY_LABELS: Record<EntityType, string> = { users: 'users', licenses: 'licenses', dialPlans: 'dial plans', policies: 'policies', resourceAccounts: 'resource accounts' };

export interface EntityOutcome {
  status: 'running' | 'succeeded' | 'failed' | 'skipped' | 'held';
  reason?: string;
}

export interface SyncRunView {
  runId: string;
  status: string;
  mode: string;
  startedAt: string;
  finishedAt?: string;
  counts: Record<string, Counts>;
  entities?: Partial<Record<EntityType, EntityOutcome>>;
  handedOff: number;
  errors: string[];
}

type DemoTenant = { kind: 'demo'; tenantId: string; clientId: string; credentialReference: string };
type OwnTenant = { kind: 'own'; customerId: string; tenantId: string; clientId: string; credentialReference: string };

/** What the demo job needs to know about the stack it drives. */
export interface DemoContext {
  endpoints: Endpoints;
  /** The emulator's demo tenant, or the operator's own tenant behind --graph-url. */
  tenant?: DemoTenant | OwnTenant;
  /** Where the app reaches Graph, and where Graph would send change notifications. */
  graphBaseUrl?: string;
  webhookBaseUrl?: string;
  /** Users in the demo tenant (for the progress bar). */
  expectedUsers?: number;
  /** Messages still waiting or in flight on the provisioning queue (the local broker knows). */
  provisioningBacklog?: () => number;
  /** Shows progress of long steps; returns a function that ends it. */
  progress?: (label: string, total: number) => { update(value: number): void; stop(): void };
}

export async function runDemoScenario(context: DemoContext, recorder: ScenarioRecorder): Promise<ScenarioReport> {
  const { endpoints, tenant } = context;
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
  if (!tenant) return recorder.report();

  const customerId = tenant.kind === 'own' ? tenant.customerId : (await import('./customer')).DEMO_CUSTOMER_ID;
  const onboarded = await onboard(recorder, endpoints, api, tenant, customerId);
  if (!onboarded) return recorder.report();
  const run = await firstSync(context, recorder, api, customerId, tenant.kind === 'own' ? 'your tenant' : 'the demo tenant');
  if (run) {
    recorder.extra.sync = {
      runId: run.runId,
      status: run.status,
      startedAt: run.startedAt,
      finishedAt: run.finishedAt,
      seconds: (Date.parse(run.finishedAt ?? run.startedAt) - Date.parse(run.startedAt)) / 1000,
      counts: run.counts,
      entities: run.entities,
      handedOff: run.handedOff,
      errors: run.errors,
    };
  }
  await flowThrough(context, recorder, api, customerId, run);
  const hired = await changeNotifications(context, recorder, api, customerId);
  // The move and the leaver are users of the tenant as generated, never the hire (its id is new each run):
  // every run of the same tenant then moves and offboards the same users.
  await restOfLife(context, recorder, api, customerId, run, new Set(hired ? [hired] : []));
  return recorder.report();
}

async function onboard(recorder: ScenarioRecorder, endpoints: Endpoints, api: ApiClient, tenant: DemoTenant | OwnTenant, customerId: string): Promise<boolean> {
  if (tenant.kind === 'demo') {
    const { applyDemoCustomer } = await import('./customer');
    const done = await recorder.step('onboard the demo customer with its whole configuration', async () => {
      const report = await applyDemoCustomer({ apiUrl: endpoints.apiUrl, functionKey: endpoints.functionKey }, tenant, { customerId });
      const s = report.summary;
      return { value: report, detail: `${s.created} created, ${s.updated} updated, ${s.unchanged} unchanged (sites, defaults, criteria, Quick Add Groups, profiles, numbers)` };
    });
    return done !== undefined;
  }
  const done = await recorder.step(`onboard your tenant as customer "${customerId}"`, async () => {
    // The customer alone: no sites, no criteria, flow-through off. The secret stays where it is; the
    // customer holds only the reference.
    const body = { customer: { name: 'Own tenant', tenantId: tenant.tenantId, clientId: tenant.clientId, credentialRef: tenant.credentialReference } };
    const report = await api.json<{ summary: { created: number; updated: number; unchanged: number } }>('PUT', `/customers/${customerId}/configuration`, body);
    const s = report.summary;
    const what = s.created > 0 ? 'onboarded' : s.updated > 0 ? 'updated' : 'already onboarded';
    return { value: report, detail: `tenant ${tenant.tenantId}, app ${tenant.clientId}: ${what}; no sites and flow-through off: its users, licenses and Teams settings are only read` };
  });
  return done !== undefined;
}

/** The entity types in the order they are reported, with what each did. */
export function entityOutcomes(run: SyncRunView): Array<{ type: EntityType; outcome: EntityOutcome; counts: Counts }> {
  const types: EntityType[] = ['users', 'licenses', 'dialPlans', 'policies', 'resourceAccounts'];
  return types.map((type) => {
    const counts = run.counts[type] ?? { added: 0, changed: 0, unchanged: 0, deleted: 0, held: 0 };
    const notSynced = run.errors.find((e) => e.startsWith(`${type} not synced: `));
    const outcome: EntityOutcome = run.entities?.[type] ?? (notSynced ? { status: 'skipped', reason: notSynced.slice(`${type} not synced: `.length) } : { status: run.status === 'failed' ? 'failed' : 'succeeded' });
    return { type, outcome, counts };
  });
}

function describeEntity(type: EntityType, outcome: EntityOutcome, c: Counts): string {
  const label = ENTITY_LABELS[type];
  if (outcome.status === 'skipped') return `${label} skipped (${outcome.reason ?? 'no reason given'})`;
  if (outcome.status === 'failed') return `${label} FAILED (${outcome.reason ?? 'no reason given'})`;
  const seen = c.added + c.changed + c.unchanged;
  const parts = [`${c.added} added`];
  if (c.changed) parts.push(`${c.changed} changed`);
  if (c.unchanged) parts.push(`${c.unchanged} unchanged`);
  if (c.deleted) parts.push(`${c.deleted} deleted`);
  if (c.held) parts.push(`${c.held} deletions held${outcome.reason ? `: ${outcome.reason}` : ''}`);
  return `${seen} ${label} (${parts.join(', ')})`;
}

async function firstSync(context: DemoContext, recorder: ScenarioRecorder, api: ApiClient, customerId: string, what: string): Promise<SyncRunView | undefined> {
  let finished: SyncRunView | undefined;
  await recorder.step(`first full sync of ${what}`, async () => {
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
    finished = done;
    const seconds = ((Date.parse(done.finishedAt ?? done.startedAt) - Date.parse(done.startedAt)) / 1000).toFixed(1);
    const entities = entityOutcomes(done).map((e) => describeEntity(e.type, e.outcome, e.counts));
    const detail = `run ${done.status}: ${entities.join('; ')}; ${seconds} s; ${done.handedOff} users handed to flow-through`;
    // Skipped types do not fail the run; a type that failed does (the run is then partial or failed).
    return { value: done, detail, failed: done.status !== 'succeeded' && done.status !== 'held' };
  });
  return finished;
}

interface UserView {
  userId: string;
  attributes: Record<string, unknown>;
  state: { kind: string; siteId?: string; reason?: string };
  number?: string;
}

/** Users stopped by a check, by reason, each with a few names: "reason: 20 (a, b, c and 17 more)". */
function stoppedByCheck(users: readonly UserView[]): string {
  const byReason = new Map<string, string[]>();
  for (const u of users) {
    const reason = u.state.reason ?? 'no reason recorded';
    const name = String(u.attributes.userPrincipalName ?? u.userId);
    byReason.set(reason, [...(byReason.get(reason) ?? []), name]);
  }
  return [...byReason.entries()]
    .sort((a, b) => b[1].length - a[1].length)
    .map(([reason, names]) => `${reason}: ${names.length} (${names.slice(0, 3).join(', ')}${names.length > 3 ? ` and ${names.length - 3} more` : ''})`)
    .join('; ');
}

async function flowThrough(context: DemoContext, recorder: ScenarioRecorder, api: ApiClient, customerId: string, run: SyncRunView | undefined): Promise<void> {
  const name = 'flow-through provisioning of the synced users';
  if (!run) return recorder.skip(name, 'the sync did not finish, so no user was handed to flow-through');
  if (run.handedOff === 0) {
    return recorder.skip(
      name,
      context.tenant?.kind === 'own'
        ? 'flow-through is off for this customer, so no user was changed (give it sites and switch flow-through on through the API to provision)'
        : 'the sync handed no user to flow-through',
    );
  }
  if (!context.provisioningBacklog) return recorder.skip(name, 'the provisioning queue cannot be watched from here');
  await recorder.step(name, async () => {
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
    const stopped = summary.byState['needs-attention'] > 0 ? await api.all<UserView>(`/customers/${customerId}/users?state=needs-attention&top=500`) : [];
    recorder.extra.provisioning = summary;
    const p = summary.provisioning;
    const sites = Object.entries(summary.bySite).map(([site, n]) => `${site} ${n}`).join(', ');
    const reached = summary.byState.provisioned + summary.byState.staged;
    return {
      value: summary,
      detail: [
        `${summary.byState.provisioned} provisioned, ${summary.byState.staged} staged, ${summary.byState['needs-attention']} stopped by a check, ${summary.byState['at-customer']} left at customer (no site matched)`,
        `by site: ${sites || 'none'}`,
        `${p.numbersAssigned} numbers assigned, ${p.numbersRecordedInUse} held numbers recorded (${p.duplicatesFlagged} duplicates flagged, ${p.duplicatesPrevented} prevented), ${p.licensesAssigned} users licensed`,
        ...(stopped.length > 0 ? [`stopped: ${stoppedByCheck(stopped)}`] : []),
      ].join('; '),
      // Every user stopped and none provisioned: the step did not provision anyone.
      failed: reached === 0,
    };
  });
}

interface SubscriptionCounters {
  subscriptionId: string;
  expiresAt: string;
  accepted: number;
  dropped: number;
  processed: number;
  coalesced: number;
}

const LOOPBACK = /^(localhost|127\.\d+\.\d+\.\d+|\[::1\])$/i;
const isLoopback = (url: string | undefined) => (url ? LOOPBACK.test(new URL(url).hostname) : false);

/** The emulator's control API over HTTPS, trusting its own CA. */
async function control<T>(endpoints: Endpoints, method: string, path: string, body?: unknown): Promise<T> {
  const https = await import('node:https');
  const { readFileSync } = await import('node:fs');
  const url = new URL(`${endpoints.graphControlUrl}${path}`);
  const payload = body === undefined ? undefined : JSON.stringify(body);
  return new Promise<T>((resolve, reject) => {
    const headers: Record<string, string> = { 'x-emulator-key': endpoints.graphControlKey ?? '' };
    if (payload) headers['content-type'] = 'application/json';
    const req = https.request(url, { method, ca: readFileSync(endpoints.graphCaFile), headers }, (res) => {
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
 * Between syncs: the customer is subscribed to Graph's change notifications; on the emulator HR creates a
 * new hire, Graph notifies the webhook and flow-through places the user at its office with a number.
 */
/** Returns the id of the user it hired, if it hired one. */
async function changeNotifications(context: DemoContext, recorder: ScenarioRecorder, api: ApiClient, customerId: string): Promise<string | undefined> {
  const { endpoints, tenant } = context;
  const subscribeStep = `${tenant?.kind === 'own' ? 'your tenant' : 'the demo customer'} is subscribed to change notifications`;
  const hireStep = 'a new hire created in the tenant is provisioned at its site, between syncs';
  const countersStep = 'change notifications counted by the webhook';
  const subscribed = await recorder.step(subscribeStep, async () => {
    if (!isLoopback(context.graphBaseUrl) && isLoopback(context.webhookBaseUrl)) {
      throw new StepSkipped(
        `Graph at ${context.graphBaseUrl} cannot deliver notifications to ${context.webhookBaseUrl}, a loopback address of this machine; set SITESYNC_WEBHOOK_BASE_URL to a public HTTPS URL that reaches it`,
      );
    }
    const repair = await api.json<{ action: string; subscriptionId: string; expiresAt: string }>('POST', `/customers/${customerId}/subscriptions/repair`);
    return { value: repair, detail: `subscription ${repair.subscriptionId} (${repair.action}), expires ${repair.expiresAt}` };
  });
  if (!subscribed) {
    recorder.skip(hireStep, 'the customer holds no subscription, so no notification can arrive');
    recorder.skip(countersStep, 'the customer holds no subscription');
    return undefined;
  }
  if (!tenant || tenant.kind !== 'demo' || !endpoints.graphControlUrl || !endpoints.graphCaFile) {
    recorder.skip(hireStep, `creating a user needs the Graph emulator's control API, which ${context.graphBaseUrl ?? 'this endpoint'} does not have: create one in the tenant and watch GET /api/customers/${customerId}/users`);
    recorder.skip(countersStep, 'the job created no user, so no notification was expected');
    return undefined;
  }
  const { DEMO_OFFICES } = await import('./tenant');
  const office = DEMO_OFFICES[0];
  const nick = `new.hire.${Date.now().toString(36)}`;
  const hire = await recorder.step(hireStep, async () => {
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
    let seen: UserView | undefined;
    const done = await waitFor(
      'the new hire to be provisioned',
      async () => {
        const page = await api.json<{ items: UserView[] }>('GET', `/customers/${customerId}/users?search=${encodeURIComponent(nick)}`);
        const u = (seen = page.items[0] ?? seen);
        return u && ((u.state.kind === 'provisioned' && u.number) || u.state.kind === 'needs-attention' || u.state.kind === 'staged') ? u : undefined;
      },
      120_000,
      100,
    ).catch((error: Error) => {
      // Where the hire stood says which part stalled: never stored (the notification), or stored and waiting.
      throw new Error(`${error.message}; ${seen ? `it was last seen ${seen.state.kind}${seen.state.reason ? `: ${seen.state.reason}` : ''}` : 'it was never stored'}`);
    });
    const seconds = (Date.now() - started) / 1000;
    if (done.state.kind !== 'provisioned') throw new Error(`the new hire ended ${done.state.kind} after ${seconds.toFixed(1)} s${done.state.reason ? `: ${done.state.reason}` : ''}`);
    return { value: { ...done, upn: user.userPrincipalName, seconds }, detail: `${user.userPrincipalName} provisioned at ${done.state.siteId} with ${done.number} ${seconds.toFixed(1)} s after HR created it` };
  });
  const counters = await recorder.step(countersStep, async () => {
    const view = (await api.json<{ value: SubscriptionCounters[] }>('GET', `/customers/${customerId}/subscriptions`)).value[0];
    if (!view) throw new Error('the customer holds no subscription');
    if (view.accepted === 0) throw new Error('the webhook accepted no notification');
    return { value: view, detail: `${view.accepted} accepted, ${view.dropped} dropped, ${view.processed} processed (${view.coalesced} covered by another read of the same user)` };
  });
  recorder.extra.notifications = {
    ...(hire ? { newHire: { userId: hire.userId, userPrincipalName: hire.upn, siteId: hire.state.siteId, number: hire.number, seconds: hire.seconds } } : {}),
    ...(counters ? { subscriptionId: counters.subscriptionId, expiresAt: counters.expiresAt, accepted: counters.accepted, dropped: counters.dropped, processed: counters.processed, coalesced: counters.coalesced } : {}),
  };
  return hire?.userId;
}

/** Resource accounts counted; on the demo tenant, a move between sites and a leaver offboarded. */
async function restOfLife(context: DemoContext, recorder: ScenarioRecorder, api: ApiClient, customerId: string, run: SyncRunView | undefined, avoid: ReadonlySet<string>): Promise<void> {
  const { resourceAccountsStep, moveStep, leaverStep } = await import('./lifecycle');
  const moveName = 'a user moved between sites, as the preview said';
  const leaverName = 'a leaver disabled in the tenant is offboarded';
  if (!run) {
    recorder.skip('resource accounts counted apart from people', 'the sync did not finish');
    recorder.skip(moveName, 'the sync did not finish');
    return recorder.skip(leaverName, 'the sync did not finish');
  }
  const { endpoints, tenant } = context;
  await resourceAccountsStep(recorder, api, customerId, tenant?.kind === 'demo');
  if (!tenant || tenant.kind !== 'demo' || !endpoints.graphControlUrl || !endpoints.graphCaFile) {
    recorder.skip(moveName, 'the job changes nothing in your own tenant: move a user with POST /api/customers/{c}/users/{u}/move after GET …/move-preview');
    return recorder.skip(leaverName, "disabling a user needs the Graph emulator's control API; the customer's global setting leavers says what becomes of yours");
  }
  if (run.handedOff === 0) {
    recorder.skip(moveName, 'no user was provisioned, so none is at a site to move');
    return recorder.skip(leaverName, 'no user was provisioned, so none can leave a site');
  }
  await moveStep(recorder, api, customerId, avoid);
  const subscriptions = (await api.json<{ value: unknown[] }>('GET', `/customers/${customerId}/subscriptions`)).value;
  if (subscriptions.length === 0) return recorder.skip(leaverName, 'the customer holds no subscription, so the change would be seen at the next sync only');
  await leaverStep(recorder, api, customerId, avoid, async (userId) => {
    await control(endpoints, 'PATCH', `/tenants/${tenant.tenantId}/users/${encodeURIComponent(userId)}`, { accountEnabled: false });
  });
}

interface CustomerSummaryView {
  users: number;
  byState: Record<string, number>;
  bySite: Record<string, number>;
  unplaced: Record<string, number>;
  needsAttention: Record<string, number>;
  provisioning: Record<string, number>;
}
