/**
 * The local Durable Functions runtime, a worker of a task hub shared with any number of others, as the
 * Durable extension's Azure Storage provider runs it: orchestrations run where their control queue's
 * lease is held (`partitions.ts`, `orchestrations.ts`), activities run wherever a worker receives them
 * from the shared work-item queue (`activities.ts`), and everything between them travels through queues
 * in Table Storage (`taskHubQueue.ts`), so that no orchestration runs on two workers at once and a worker
 * that dies has its partitions and its activities taken over by the others. The orchestrators run with the
 * SDK's own replay over histories in Table Storage; the Durable client HTTP API is served by every worker,
 * and by hosts that only start and query orchestrations (`role: 'client'`, Flex Consumption's HTTP group).
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import os from 'node:os';
import type { HostExtension, LocalHost } from '../host/host';
import type { ExecutionLog } from '../host/executionLog';
import type { BindingMetadata } from '../host/registry';
import { ActivityWorker } from './activities';
import { BadRequestError, InstanceConflictError, NotFoundError } from './errors';
import { DurableHttpApi } from './httpApi';
import { completedId, EVENT_TYPE_NAMES, EventType, scheduledKind, type HistoryEvent } from './history';
import type { ControlMessage, Outbound, WorkItem } from './messages';
import { OrchestrationWorker, parseJson } from './orchestrations';
import { controlQueueFor, controlQueueName, TablePartitionManager, workItemQueueName } from './partitions';
import { durableSettings, type DurableSettings, type DurableSettingsOverrides } from './settings';
import { DurableStore, InstanceExistsError, TERMINAL_STATUSES, type InstanceQuery, type InstanceRecord, type RuntimeStatus } from './store';
import { TaskHubQueues } from './taskHubQueue';

export interface DurableExtensionOptions {
  /** Table Storage connection string (Azurite locally). */
  connectionString: string;
  /** Task hub; defaults to host.json extensions.durableTask.hubName, then "TestHubName" as Core Tools does. */
  hubName?: string;
  /** Override host.json extensions.durableTask.maxConcurrentActivityFunctions (default 10). */
  maxConcurrentActivityFunctions?: number;
  /** Override host.json extensions.durableTask.maxConcurrentOrchestratorFunctions (default 10). */
  maxConcurrentOrchestratorFunctions?: number;
  /**
   * How long stop() waits for running activities. Default 0: they are abandoned, as without
   * useGracefulShutdown in Azure; their messages are visible again at once and they run again.
   */
  shutdownGraceMs?: number;
  /**
   * How long an activity's result waits before its orchestrator sees it. Default 0. In Azure the result
   * travels through a control queue whose polling backs off to maxQueuePollingInterval (30 s by default)
   * when idle, so an orchestration may complete well after its last activity; tests widen the window to
   * prove nothing relies on it being short.
   */
  deliveryDelayMs?: number;
  /** `worker` (default) runs orchestrations and activities; `client` only starts, queries and signals them. */
  role?: 'worker' | 'client';
  /** This worker's name in the lease table (default: host name, process id and a counter). */
  workerId?: string;
  /** Settings over host.json's and Azure's (partitions, visibility timeouts, polling, lease periods; `settings.ts`). */
  settings?: DurableSettingsOverrides;
  /** Records every episode's begin and end (`host/executionLog.ts`). */
  executionLog?: ExecutionLog;
}

/** The status shape of the Durable HTTP API (and of `DurableOrchestrationStatus`). */
export interface OrchestrationStatus {
  name: string;
  instanceId: string;
  runtimeStatus: RuntimeStatus;
  input: unknown;
  customStatus: unknown;
  output: unknown;
  createdTime: string;
  lastUpdatedTime: string;
  historyEvents?: Array<Record<string, unknown>>;
}

let workerCounter = 0;

export class DurableExtension implements HostExtension {
  readonly name = 'durable';
  private host?: LocalHost;
  private store?: DurableStore;
  private queues?: TaskHubQueues;
  private hub = '';
  private config?: DurableSettings;
  private orchestrations?: OrchestrationWorker;
  private activities?: ActivityWorker;
  private partitions?: TablePartitionManager;
  private readonly completionWaiters = new Map<string, Array<(status: OrchestrationStatus) => void>>();
  private readonly idleWaiters: Array<() => void> = [];
  private busyCount = 0;
  private stopping = false;
  private api?: DurableHttpApi;
  readonly workerId: string;

  constructor(private readonly options: DurableExtensionOptions) {
    this.workerId = options.workerId ?? `${os.hostname()}:${process.pid}:${++workerCounter}`;
  }

  get hubName(): string {
    return this.hub;
  }

  /** The storage adapter (for tests and benchmarks that count writes). */
  get storage(): DurableStore {
    if (!this.store) throw new Error('The Durable extension has not started');
    return this.store;
  }

  /** The task hub's queues (tests and benchmarks). */
  get taskHubQueues(): TaskHubQueues {
    if (!this.queues) throw new Error('The Durable extension has not started');
    return this.queues;
  }

  get settings(): DurableSettings {
    if (!this.config) throw new Error('The Durable extension has not started');
    return this.config;
  }

  /** Control queues whose lease this worker holds. */
  ownedPartitions(): string[] {
    return this.partitions?.owned() ?? [];
  }

  // ---- HostExtension ----

  async start(host: LocalHost): Promise<void> {
    this.host = host;
    const durable = host.hostJson.extensions?.durableTask;
    this.hub = this.options.hubName ?? durable?.hubName ?? 'TestHubName';
    this.config = durableSettings(host.hostJson, {
      ...this.options.settings,
      ...(this.options.maxConcurrentActivityFunctions ? { maxConcurrentActivityFunctions: this.options.maxConcurrentActivityFunctions } : {}),
      ...(this.options.maxConcurrentOrchestratorFunctions ? { maxConcurrentOrchestratorFunctions: this.options.maxConcurrentOrchestratorFunctions } : {}),
    });
    this.store = new DurableStore(this.options.connectionString, this.hub);
    this.queues = new TaskHubQueues(this.options.connectionString, this.hub);
    await Promise.all([this.store.init(), this.queues.init()]);
    this.api = new DurableHttpApi(this, host, this.hub);
    await this.api.listen();
    // Core Tools sets this; without it the SDK rewrites management URLs to localhost:7071.
    if (!process.env.WEBSITE_HOSTNAME || process.env.WEBSITE_HOSTNAME === ownedHostname) {
      ownedHostname = new URL(host.publicUrl).host;
      process.env.WEBSITE_HOSTNAME = ownedHostname;
    }
    if ((this.options.role ?? 'worker') === 'client') return;

    const settings = this.config;
    const log = this.options.executionLog;
    const busy = (delta: 1 | -1) => this.busy(delta);
    this.orchestrations = new OrchestrationWorker({
      host,
      hub: this.hub,
      workerId: this.workerId,
      settings,
      store: this.store,
      queues: this.queues,
      send: (outbound) => this.send(outbound),
      cancelTimer: (instanceId, id) => this.queues!.deleteById(controlQueueFor(this.hub, instanceId, settings.partitionCount), id),
      // An episode starts only while the lease has a few seconds left (a quarter of its period).
      holds: (queue) => this.partitions?.holds(queue, Math.min(5_000, settings.leaseIntervalMs / 4)) ?? false,
      finished: (record) => this.notifyFinished(record),
      busy,
      log,
    });
    this.activities = new ActivityWorker({
      host,
      queue: workItemQueueName(this.hub),
      settings,
      queues: this.queues,
      send: (outbound) => this.send(outbound),
      deliveryDelayMs: this.options.deliveryDelayMs ?? 0,
      shutdownGraceMs: this.options.shutdownGraceMs ?? 0,
      busy,
    });
    this.partitions = new TablePartitionManager(
      this.options.connectionString,
      this.hub,
      this.workerId,
      settings,
      {
        acquired: (queue) => this.orchestrations?.acquired(queue),
        drain: (queue) => this.orchestrations?.drain(queue) ?? Promise.resolve(),
        lost: (queue) => this.orchestrations?.lost(queue),
      },
      (level, message) => host.log(level, 'durable', message),
    );
    this.activities.start();
    await this.partitions.start();
  }

  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    await this.partitions?.stop();
    await this.orchestrations?.stop();
    await this.activities?.stop();
    await this.api?.close();
    this.releaseIdleWaiters();
  }

  inputFor(binding: BindingMetadata): unknown {
    if (binding.type !== 'durableClient' && binding.type !== 'orchestrationClient') return undefined;
    return this.http().clientInputData();
  }

  async handleHttp(req: IncomingMessage, res: ServerResponse, url: URL): Promise<boolean> {
    return this.api ? this.api.handle(req, res, url) : false;
  }

  endpoints(): Record<string, string> {
    return this.host ? { durableClientUrl: this.http().webhookBaseUrl(), durableRpcUrl: this.http().rpcBaseUrl() } : {};
  }

  // ---- Management operations (the HTTP API and tests use these) ----

  /** Starts an orchestration; refuses (InstanceConflictError) while an instance with that id is Pending or Running. */
  async startNew(name: string, options: { instanceId?: string; input?: string } = {}): Promise<string> {
    this.assertRunning();
    const fn = this.host!.registry.get(name);
    if (!fn || fn.trigger.type !== 'orchestrationTrigger') throw new NotFoundError(`The function '${name}' doesn't exist, is disabled, or is not an orchestrator function.`);
    assertJson(options.input, 'The orchestrator input');
    const instanceId = options.instanceId ?? randomUUID().replace(/-/g, '');
    const existing = await this.storage.readInstance(instanceId);
    if (existing && !TERMINAL_STATUSES.has(existing.record.runtimeStatus)) throw conflict(instanceId, existing.record.runtimeStatus);
    const now = this.host!.clock.now();
    const input = options.input === '' ? undefined : options.input;
    const record: InstanceRecord = { instanceId, name, runtimeStatus: 'Pending', input, createdTime: now, lastUpdatedTime: now, executionId: randomUUID().replace(/-/g, '') };
    // As the Azure Storage provider does: the instance row first (Pending), then its ExecutionStarted message.
    try {
      await this.storage.createInstance(record, existing?.etag);
    } catch (err) {
      if (err instanceof InstanceExistsError) throw conflict(instanceId);
      throw err;
    }
    await this.send([{ to: 'control', instanceId, message: { kind: 'start', instanceId, executionId: record.executionId, name, input } }]);
    return instanceId;
  }

  async getStatus(instanceId: string, options: { showHistory?: boolean; showHistoryOutput?: boolean; showInput?: boolean } = {}): Promise<OrchestrationStatus | undefined> {
    const record = await this.storage.getInstance(instanceId);
    if (!record) return undefined;
    const status = toStatus(record, options.showInput !== false);
    if (options.showHistory) {
      const { events } = await this.storage.loadHistory(instanceId, record.executionId);
      status.historyEvents = summarizeHistory(events, options.showHistoryOutput === true);
    }
    return status;
  }

  async listInstances(query: InstanceQuery, pageSize: number, continuationToken?: string): Promise<{ items: OrchestrationStatus[]; continuationToken?: string }> {
    const after = continuationToken ? Buffer.from(continuationToken, 'base64url').toString('utf8') : undefined;
    const page = await this.storage.queryInstances(query, pageSize, after);
    return {
      items: page.items.map((r) => toStatus(r, true)),
      continuationToken: page.next === undefined ? undefined : Buffer.from(page.next, 'utf8').toString('base64url'),
    };
  }

  /** Delivers an external event; 'gone' when the instance has already finished. */
  async raiseEvent(instanceId: string, eventName: string, data: string | undefined): Promise<'accepted' | 'gone' | 'not-found'> {
    this.assertRunning();
    assertJson(data, 'The event data');
    const record = await this.storage.getInstance(instanceId);
    if (!record) return 'not-found';
    if (TERMINAL_STATUSES.has(record.runtimeStatus)) return 'gone';
    const now = this.host!.clock.now();
    await this.send([
      { to: 'control', instanceId, message: { kind: 'event', instanceId, event: { EventType: EventType.EventRaised, EventId: -1, IsPlayed: false, Timestamp: new Date(now).toISOString(), Name: eventName, Input: data } } },
    ]);
    return 'accepted';
  }

  async terminate(instanceId: string, reason: string): Promise<'accepted' | 'gone' | 'not-found'> {
    this.assertRunning();
    const record = await this.storage.getInstance(instanceId);
    if (!record) return 'not-found';
    if (TERMINAL_STATUSES.has(record.runtimeStatus)) return 'gone';
    await this.send([{ to: 'control', instanceId, message: { kind: 'terminate', instanceId, executionId: record.executionId, reason } }]);
    return 'accepted';
  }

  /** Deletes a finished instance's state and history; returns how many instances were deleted. */
  async purge(instanceId: string): Promise<number> {
    const record = await this.storage.getInstance(instanceId);
    if (!record || !TERMINAL_STATUSES.has(record.runtimeStatus)) return 0;
    await this.storage.deleteHistory(instanceId);
    await this.storage.deleteInstance(instanceId);
    return 1;
  }

  async purgeWhere(query: InstanceQuery): Promise<number> {
    const terminal = (query.runtimeStatus ?? [...TERMINAL_STATUSES]).filter((s) => TERMINAL_STATUSES.has(s));
    let deleted = 0;
    let after: string | undefined;
    do {
      const page = await this.storage.queryInstances({ ...query, runtimeStatus: terminal }, 100, after);
      for (const record of page.items) deleted += await this.purge(record.instanceId);
      after = page.next;
    } while (after !== undefined);
    return deleted;
  }

  /** Resolves with the final status once the instance completes, fails or is terminated (on any worker). */
  async waitForCompletion(instanceId: string, timeoutMs = 30_000): Promise<OrchestrationStatus> {
    const deadline = Date.now() + timeoutMs;
    let last: OrchestrationStatus | undefined;
    for (;;) {
      const notified = new Promise<OrchestrationStatus | undefined>((resolve) => {
        const list = this.completionWaiters.get(instanceId) ?? [];
        list.push(resolve);
        this.completionWaiters.set(instanceId, list);
        // Another worker may finish it: look at storage now and then.
        setTimeout(() => resolve(undefined), Math.min(250, Math.max(0, deadline - Date.now()))).unref();
      });
      last = await this.getStatus(instanceId);
      if (last && TERMINAL_STATUSES.has(last.runtimeStatus)) return last;
      if (Date.now() >= deadline) throw new Error(`Instance ${instanceId} did not finish within ${timeoutMs} ms (status ${last?.runtimeStatus ?? 'unknown'})`);
      const done = await notified;
      if (done) return done;
    }
  }

  /**
   * Resolves when this worker runs nothing and the task hub holds no message that is due (timers that are
   * not due may be pending).
   */
  async idle(): Promise<void> {
    const queues = [...Array.from({ length: this.settings.partitionCount }, (_, i) => controlQueueName(this.hub, i)), workItemQueueName(this.hub)];
    for (;;) {
      if (this.busyCount > 0 && !this.stopping) await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
      // Work finishing can start more work in the same turn; look again after it settles.
      await new Promise<void>((resolve) => setImmediate(resolve));
      if (this.stopping) return;
      if (this.busyCount > 0) continue;
      const due = await this.taskHubQueues.countDue(queues, this.host!.clock.now());
      if (due === 0 && this.busyCount === 0) return;
      if (this.busyCount === 0) {
        for (const queue of queues) this.orchestrations?.wake(queue);
        this.activities?.wake();
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    }
  }

  // ---- Internals ----

  /** Adds messages to their queues, then wakes this worker's pollers of those queues. */
  private async send(outbound: Outbound[]): Promise<void> {
    if (outbound.length === 0) return;
    const partitions = this.settings.partitionCount;
    const byQueue = new Map<string, Array<{ body: ControlMessage | WorkItem; dueAt?: number; id?: string }>>();
    for (const o of outbound) {
      const queue = o.to === 'workItem' ? workItemQueueName(this.hub) : controlQueueFor(this.hub, o.instanceId, partitions);
      const list = byQueue.get(queue) ?? [];
      list.push(o.to === 'workItem' ? { body: o.message } : { body: o.message, dueAt: o.dueAt, id: o.id });
      byQueue.set(queue, list);
    }
    await Promise.all([...byQueue].map(([queue, bodies]) => this.taskHubQueues.add(queue, bodies)));
    for (const [queue, bodies] of byQueue) {
      if (queue === workItemQueueName(this.hub)) this.activities?.wake();
      else for (const dueAt of new Set(bodies.map((b) => b.dueAt))) this.orchestrations?.wake(queue, dueAt);
    }
  }

  private notifyFinished(record: InstanceRecord): void {
    const status = toStatus(record, true);
    for (const resolve of this.completionWaiters.get(record.instanceId) ?? []) resolve(status);
    this.completionWaiters.delete(record.instanceId);
  }

  private http(): DurableHttpApi {
    if (!this.api) throw new Error('The Durable extension has not started');
    return this.api;
  }

  private assertRunning(): void {
    if (!this.host || !this.store) throw new Error('The Durable extension has not started');
    if (this.stopping) throw new Error('The Durable extension is stopping');
  }

  private busy(delta: 1 | -1): void {
    this.busyCount += delta;
    if (this.busyCount === 0) this.releaseIdleWaiters();
  }

  private releaseIdleWaiters(): void {
    for (const resolve of this.idleWaiters.splice(0)) resolve();
  }
}

/** Set when this module last wrote WEBSITE_HOSTNAME, so a later host may move it. */
let ownedHostname: string | undefined;

function conflict(instanceId: string, status: string = 'Pending'): InstanceConflictError {
  return new InstanceConflictError(`An orchestration instance with the ID '${instanceId}' already exists and is ${status}.`);
}

function assertJson(text: string | undefined, what: string): void {
  if (text === undefined || text === '') return;
  try {
    JSON.parse(text);
  } catch {
    throw new BadRequestError(`${what} is not valid JSON.`);
  }
}

/** Azure's status timestamps carry whole seconds. */
function apiTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

export function toStatus(record: InstanceRecord, showInput: boolean): OrchestrationStatus {
  return {
    name: record.name,
    instanceId: record.instanceId,
    runtimeStatus: record.runtimeStatus,
    input: showInput ? parseJson(record.input) : null,
    customStatus: parseJson(record.customStatus),
    output: parseJson(record.output),
    createdTime: apiTime(record.createdTime),
    lastUpdatedTime: apiTime(record.lastUpdatedTime),
  };
}

/** The `historyEvents` of the status API: completions named after what they completed. */
function summarizeHistory(events: HistoryEvent[], withOutput: boolean): Array<Record<string, unknown>> {
  const scheduled = new Map<number, HistoryEvent>();
  const summary: Array<Record<string, unknown>> = [];
  for (const e of events) {
    if (scheduledKind(e)) scheduled.set(e.EventId, e);
    const origin = completedId(e) === undefined ? undefined : scheduled.get(completedId(e)!);
    const base = { EventType: EVENT_TYPE_NAMES[e.EventType] ?? String(e.EventType), Timestamp: e.Timestamp };
    switch (e.EventType) {
      case EventType.ExecutionStarted:
        summary.push({ ...base, FunctionName: e.Name, ...(withOutput ? { Input: parseJson(e.Input) } : {}) });
        break;
      case EventType.TaskCompleted:
      case EventType.SubOrchestrationInstanceCompleted:
        summary.push({ ...base, FunctionName: origin?.Name, ScheduledTime: origin?.Timestamp, ...(withOutput ? { Result: parseJson(e.Result) } : {}) });
        break;
      case EventType.TaskFailed:
      case EventType.SubOrchestrationInstanceFailed:
        summary.push({ ...base, FunctionName: origin?.Name, ScheduledTime: origin?.Timestamp, Reason: e.Reason, Details: e.Details });
        break;
      case EventType.TimerFired:
        summary.push({ ...base, FireAt: e.FireAt });
        break;
      case EventType.EventRaised:
        summary.push({ ...base, Name: e.Name, ...(withOutput ? { Input: parseJson(e.Input) } : {}) });
        break;
      case EventType.ExecutionCompleted:
        summary.push({ ...base, OrchestrationStatus: e.OrchestrationStatus, ...(withOutput ? { Result: parseJson(e.Result) } : {}) });
        break;
      case EventType.ExecutionTerminated:
        summary.push({ ...base, Input: parseJson(e.Input) });
        break;
    }
  }
  return summary;
}

