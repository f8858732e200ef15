/**
 * The local Durable Functions runtime: runs the registered orchestrators with the SDK's own replay
 * over histories kept in Table Storage, carries out what they schedule (activities with host-side
 * retries, timers on the host clock, sub-orchestrations, external events, continue-as-new), and
 * serves the Durable client HTTP API. A restart resumes every Pending/Running instance from storage;
 * an activity whose completion was not yet recorded runs again (at-least-once, as in Azure).
 *
 * One process owns a task hub at a time: there are no leases, so two runtimes on the same storage
 * would both work the same instances.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { HostExtension, LocalHost, LogLevel } from '../host/host';
import type { BindingMetadata } from '../host/registry';
import { BadRequestError, InstanceConflictError, NotFoundError } from './errors';
import { DurableHttpApi } from './httpApi';
import { completedId, event, EVENT_TYPE_NAMES, EventType, scheduledKind, type HistoryEvent, type ScheduledKind } from './history';
import { bindingInfo, retryDelayMs, runEpisode, type EpisodeResult, type ScheduledTask } from './episode';
import { Limiter } from './limiter';
import { DurableStore, TERMINAL_STATUSES, type InstanceQuery, type InstanceRecord, type RuntimeStatus } from './store';

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
   * useGracefulShutdown in Azure; their completions are not recorded, so they run again after a restart.
   */
  shutdownGraceMs?: number;
  /**
   * How long an activity's result waits before its orchestrator sees it. Default 0. In Azure the result
   * travels through a control queue whose polling backs off to maxQueuePollingInterval (30 s by default)
   * when idle, so an orchestration may complete well after its last activity; tests widen the window to
   * prove nothing relies on it being short.
   */
  deliveryDelayMs?: number;
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


interface Instance {
  record: InstanceRecord;
  /** Persisted events of the current execution. */
  history: HistoryEvent[];
  nextSeq: number;
  /** Events that arrived and go into the next episode. */
  pending: HistoryEvent[];
  /** Inbox rows behind pending EventRaised events, removed once those are in the history. */
  inboxIds: string[];
  terminateReason?: string;
  /** An episode is queued or running. */
  busy: boolean;
  timers: Map<number, () => void>;
  /** Activities started by this process, by task id. */
  activities: Set<number>;
}

const DEFAULT_CONCURRENCY = 10;

export class DurableExtension implements HostExtension {
  readonly name = 'durable';
  private host?: LocalHost;
  private store?: DurableStore;
  private hub = '';
  private activityLimiter = new Limiter(DEFAULT_CONCURRENCY);
  private orchestratorLimiter = new Limiter(DEFAULT_CONCURRENCY);
  private readonly instances = new Map<string, Instance>();
  /** Ids being created right now, so two concurrent starts cannot both win. */
  private readonly reserving = new Set<string>();
  private readonly completionWaiters = new Map<string, Array<(status: OrchestrationStatus) => void>>();
  private readonly idleWaiters: Array<() => void> = [];
  private readonly episodes = new Set<Promise<void>>();
  private readonly activityRuns = new Set<Promise<void>>();
  private readonly background = new Set<Promise<unknown>>();
  private busyCount = 0;
  private stopping = false;
  private messageCounter = 0;
  private api?: DurableHttpApi;

  constructor(private readonly options: DurableExtensionOptions) {}

  get hubName(): string {
    return this.hub;
  }

  /** The storage adapter (for tests and benchmarks that count writes). */
  get storage(): DurableStore {
    if (!this.store) throw new Error('The Durable extension has not started');
    return this.store;
  }

  // ---- HostExtension ----

  async start(host: LocalHost): Promise<void> {
    this.host = host;
    const durable = host.hostJson.extensions?.durableTask;
    this.hub = this.options.hubName ?? durable?.hubName ?? 'TestHubName';
    this.activityLimiter = new Limiter(this.options.maxConcurrentActivityFunctions ?? durable?.maxConcurrentActivityFunctions ?? DEFAULT_CONCURRENCY);
    this.orchestratorLimiter = new Limiter(this.options.maxConcurrentOrchestratorFunctions ?? durable?.maxConcurrentOrchestratorFunctions ?? DEFAULT_CONCURRENCY);
    this.store = new DurableStore(this.options.connectionString, this.hub);
    await this.store.init();
    this.api = new DurableHttpApi(this, host, this.hub);
    await this.api.listen();
    // Core Tools sets this; without it the SDK rewrites management URLs to localhost:7071.
    if (!process.env.WEBSITE_HOSTNAME || process.env.WEBSITE_HOSTNAME === ownedHostname) {
      ownedHostname = new URL(host.url).host;
      process.env.WEBSITE_HOSTNAME = ownedHostname;
    }
    for (const record of await this.store.activeInstances()) await this.resume(record);
  }

  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    for (const instance of this.instances.values()) {
      for (const cancel of instance.timers.values()) cancel();
      instance.timers.clear();
    }
    await Promise.allSettled([...this.episodes]);
    const grace = this.options.shutdownGraceMs ?? 0;
    if (grace > 0 && this.activityRuns.size > 0) {
      await Promise.race([Promise.allSettled([...this.activityRuns]), new Promise((resolve) => setTimeout(resolve, grace).unref())]);
    }
    await Promise.allSettled([...this.background]);
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
    if (this.reserving.has(instanceId) || this.instances.has(instanceId)) throw conflict(instanceId);
    this.reserving.add(instanceId);
    try {
      const existing = await this.storage.getInstance(instanceId);
      if (existing && !TERMINAL_STATUSES.has(existing.runtimeStatus)) throw conflict(instanceId, existing.runtimeStatus);
      if (existing) await this.purgeStorage(instanceId);
      await this.createInstance({ name, instanceId, input: options.input });
    } finally {
      this.reserving.delete(instanceId);
    }
    return instanceId;
  }

  async getStatus(instanceId: string, options: { showHistory?: boolean; showHistoryOutput?: boolean; showInput?: boolean } = {}): Promise<OrchestrationStatus | undefined> {
    const record = this.instances.get(instanceId)?.record ?? (await this.storage.getInstance(instanceId));
    if (!record) return undefined;
    const status = toStatus(record, options.showInput !== false);
    if (options.showHistory) {
      const events = this.instances.get(instanceId)?.history ?? (await this.storage.loadHistory(instanceId, record.executionId)).events;
      status.historyEvents = summarizeHistory(events, options.showHistoryOutput === true);
    }
    return status;
  }

  async listInstances(query: InstanceQuery, pageSize: number, continuationToken?: string): Promise<{ items: OrchestrationStatus[]; continuationToken?: string }> {
    const after = continuationToken ? Buffer.from(continuationToken, 'base64url').toString('utf8') : undefined;
    const page = await this.storage.queryInstances(query, pageSize, after);
    return {
      items: page.items.map((r) => toStatus(this.instances.get(r.instanceId)?.record ?? r, true)),
      continuationToken: page.next === undefined ? undefined : Buffer.from(page.next, 'utf8').toString('base64url'),
    };
  }

  /** Delivers an external event; 'gone' when the instance has already finished. */
  async raiseEvent(instanceId: string, eventName: string, data: string | undefined): Promise<'accepted' | 'gone' | 'not-found'> {
    this.assertRunning();
    assertJson(data, 'The event data');
    const instance = this.instances.get(instanceId);
    if (!instance) {
      const record = await this.storage.getInstance(instanceId);
      return record ? 'gone' : 'not-found';
    }
    const messageId = `${String(this.host!.clock.now()).padStart(15, '0')}-${String(this.messageCounter++).padStart(8, '0')}`;
    await this.storage.addInbox(instanceId, { messageId, name: eventName, input: data ?? '', at: this.host!.clock.now() });
    if (this.instances.get(instanceId) !== instance) return 'gone';
    instance.pending.push(this.raisedEvent(eventName, data, messageId));
    instance.inboxIds.push(messageId);
    this.kick(instance);
    return 'accepted';
  }

  async terminate(instanceId: string, reason: string): Promise<'accepted' | 'gone' | 'not-found'> {
    this.assertRunning();
    const instance = this.instances.get(instanceId);
    if (!instance) return (await this.storage.getInstance(instanceId)) ? 'gone' : 'not-found';
    instance.terminateReason = reason;
    this.kick(instance);
    return 'accepted';
  }

  /** Deletes a finished instance's state and history; returns how many instances were deleted. */
  async purge(instanceId: string): Promise<number> {
    if (this.instances.has(instanceId)) return 0;
    const record = await this.storage.getInstance(instanceId);
    if (!record || !TERMINAL_STATUSES.has(record.runtimeStatus)) return 0;
    await this.purgeStorage(instanceId);
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

  /** Resolves with the final status once the instance completes, fails or is terminated. */
  async waitForCompletion(instanceId: string, timeoutMs = 30_000): Promise<OrchestrationStatus> {
    const waiting = new Promise<OrchestrationStatus>((resolve) => {
      const list = this.completionWaiters.get(instanceId) ?? [];
      list.push(resolve);
      this.completionWaiters.set(instanceId, list);
    });
    const now = await this.getStatus(instanceId);
    if (now && TERMINAL_STATUSES.has(now.runtimeStatus)) return now;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`Instance ${instanceId} did not finish within ${timeoutMs} ms (status ${now?.runtimeStatus ?? 'unknown'})`)), timeoutMs);
    });
    try {
      return await Promise.race([waiting, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Resolves when no episode, activity or start is queued or running (timers may be pending). */
  async idle(): Promise<void> {
    for (;;) {
      if (this.busyCount > 0 && !this.stopping) await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
      // Work finishing can start more work in the same turn; look again after it settles.
      await new Promise<void>((resolve) => setImmediate(resolve));
      if (this.busyCount === 0 || this.stopping) return;
    }
  }

  // ---- Internals ----

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

  private track<T>(work: Promise<T>): Promise<T> {
    this.background.add(work);
    void work.finally(() => this.background.delete(work)).catch(() => undefined);
    return work;
  }

  private async createInstance(init: { name: string; instanceId: string; input?: string; parent?: { instanceId: string; executionId: string; taskId: number } }): Promise<Instance> {
    const now = this.host!.clock.now();
    const record: InstanceRecord = {
      instanceId: init.instanceId,
      name: init.name,
      runtimeStatus: 'Pending',
      input: init.input === '' ? undefined : init.input,
      createdTime: now,
      lastUpdatedTime: now,
      executionId: randomUUID().replace(/-/g, ''),
      parentInstanceId: init.parent?.instanceId,
      parentExecutionId: init.parent?.executionId,
      parentTaskId: init.parent?.taskId,
    };
    await this.storage.putInstance(record);
    const created = this.newInstance(record, [], 0);
    this.instances.set(record.instanceId, created);
    this.kick(created);
    return created;
  }

  private newInstance(record: InstanceRecord, history: HistoryEvent[], nextSeq: number): Instance {
    return { record, history, nextSeq, pending: [], inboxIds: [], busy: false, timers: new Map(), activities: new Set() };
  }

  /** Picks up an instance after a restart: re-runs unrecorded work, re-arms timers, re-reads the inbox. */
  private async resume(record: InstanceRecord): Promise<void> {
    const { events, nextSeq } = await this.storage.loadHistory(record.instanceId, record.executionId);
    const instance = this.newInstance(record, events, nextSeq);
    this.instances.set(record.instanceId, instance);
    const delivered = new Set(events.filter((e) => e.MessageId).map((e) => e.MessageId));
    const stale: string[] = [];
    for (const message of await this.storage.listInbox(record.instanceId)) {
      if (delivered.has(message.messageId)) {
        stale.push(message.messageId);
        continue;
      }
      instance.pending.push(this.raisedEvent(message.name, message.input === '' ? undefined : message.input, message.messageId));
      instance.inboxIds.push(message.messageId);
    }
    if (stale.length) await this.storage.deleteInbox(record.instanceId, stale);
    this.continueOpenWork(instance);
    this.kick(instance);
  }

  /** Starts whatever the history scheduled and nothing has answered yet. */
  private continueOpenWork(instance: Instance): void {
    const answered = new Set<number>();
    for (const e of instance.history) {
      const id = completedId(e);
      if (id !== undefined) answered.add(id);
    }
    for (const e of instance.history) {
      if (answered.has(e.EventId)) continue;
      switch (e.EventType) {
        case EventType.TaskScheduled:
          this.dispatchActivity(instance, e.EventId, e.Name ?? '', e.Input ?? 'null');
          break;
        case EventType.TimerCreated:
          this.armTimer(instance, e.EventId, Date.parse(e.FireAt ?? ''));
          break;
        case EventType.SubOrchestrationInstanceCreated:
          this.startSubOrchestration(instance, e.EventId, e.Name ?? '', e.InstanceId ?? '', e.Input);
          break;
      }
    }
  }

  private raisedEvent(name: string, data: string | undefined, messageId?: string): HistoryEvent {
    return event(EventType.EventRaised, this.host!.clock.now(), { Name: name, Input: data, MessageId: messageId });
  }

  /** Queues an episode for the instance unless one is queued or running (one at a time per instance). */
  private kick(instance: Instance): void {
    if (instance.busy || this.stopping) return;
    const started = instance.history.some((e) => e.EventType === EventType.ExecutionStarted);
    if (started && instance.pending.length === 0 && instance.terminateReason === undefined) return;
    instance.busy = true;
    this.busy(1);
    const run = this.orchestratorLimiter
      .run(() => (this.stopping ? Promise.resolve() : this.episode(instance)))
      .catch((err: unknown) => {
        this.host!.log('error', instance.record.name, `Episode of ${instance.record.instanceId} failed: ${describeError(err)}`);
        // A storage failure: the events stay queued and the episode is tried again.
        if (!this.stopping) setTimeout(() => this.kick(instance), 500).unref();
      })
      .finally(() => {
        instance.busy = false;
        this.episodes.delete(run);
        if (this.instances.get(instance.record.instanceId) === instance) this.kick(instance);
        this.busy(-1);
      });
    this.episodes.add(run);
  }

  private async episode(instance: Instance): Promise<void> {
    const host = this.host!;
    const record = instance.record;
    const now = host.clock.now();
    if (instance.terminateReason !== undefined) {
      const reason = instance.terminateReason;
      const events = [
        event(EventType.OrchestratorStarted, now),
        event(EventType.ExecutionTerminated, now, { Input: JSON.stringify(reason) }),
        event(EventType.OrchestratorCompleted, now),
      ];
      instance.pending.length = 0;
      await this.persist(instance, events);
      await this.finish(instance, 'Terminated', JSON.stringify(reason), record.customStatus);
      return;
    }

    const started = instance.history.some((e) => e.EventType === EventType.ExecutionStarted);
    const incoming = instance.pending.splice(0);
    const inboxIds = instance.inboxIds.splice(0);
    const historyLength = instance.history.length;
    try {
      await this.decide(instance, now, started, incoming, inboxIds);
    } catch (err) {
      // Nothing of this episode is in the history yet: its events wait for the next attempt.
      if (instance.history.length === historyLength) {
        instance.pending.unshift(...incoming);
        instance.inboxIds.unshift(...inboxIds);
      }
      throw err;
    }
  }

  private async decide(instance: Instance, now: number, started: boolean, incoming: HistoryEvent[], inboxIds: string[]): Promise<void> {
    const host = this.host!;
    const record = instance.record;
    const fresh: HistoryEvent[] = [event(EventType.OrchestratorStarted, now)];
    if (!started) {
      fresh.push(event(EventType.ExecutionStarted, now, { Name: record.name, Input: record.input }));
    }
    fresh.push(...incoming);
    const fn = host.registry.get(record.name);

    let result: EpisodeResult;
    if (!fn || fn.trigger.type !== 'orchestrationTrigger') {
      result = { isDone: false, error: `The function '${record.name}' doesn't exist, is disabled, or is not an orchestrator function.`, scheduled: [], unsupported: [], eventWaits: new Map() };
    } else {
      const replayed = instance.history.map((e) => ({ ...e, IsPlayed: true }));
      const info = bindingInfo({
        history: [...replayed, ...fresh],
        input: record.input === undefined ? undefined : JSON.parse(record.input),
        instanceId: record.instanceId,
        parentInstanceId: record.parentInstanceId,
      });
      result = await runEpisode(fn.callback, fn.name, info, (level, message) => host.log(level as LogLevel, fn.name, message));
    }

    const failure = result.error ?? (result.unsupported.length ? `The local Durable runtime does not support ${result.unsupported.join(', ')}` : undefined) ?? this.nonDeterminism(instance, result);
    const customStatus = result.customStatus === undefined ? record.customStatus : JSON.stringify(result.customStatus);

    if (failure !== undefined) return this.fail(instance, now, fresh, inboxIds, failure, customStatus);

    if (result.continueAsNew) {
      await this.persist(instance, [...fresh, event(EventType.OrchestratorCompleted, now)], inboxIds);
      await this.continueAsNew(instance, result, customStatus);
      return;
    }

    const known = new Set(instance.history.map((e) => (scheduledKind(e) ? e.EventId : -1)));
    const created: Array<{ task: ScheduledTask; event: HistoryEvent }> = [];
    for (const task of result.scheduled) {
      if (known.has(task.id)) continue;
      created.push({ task, event: this.schedulingEvent(instance, task, now) });
    }

    if (result.isDone) {
      const output = safeJson(result.output);
      if (output === undefined) {
        result = { ...result, isDone: false, error: 'The orchestrator output cannot be serialized to JSON.' };
        return this.fail(instance, now, fresh, inboxIds, result.error!, customStatus);
      }
      await this.persist(instance, [
        ...fresh,
        ...created.map((c) => c.event),
        event(EventType.OrchestratorCompleted, now),
        event(EventType.ExecutionCompleted, now, { OrchestrationStatus: 'Completed', Result: output }),
      ], inboxIds);
      await this.finish(instance, 'Completed', output, customStatus);
      return;
    }

    await this.persist(instance, [...fresh, ...created.map((c) => c.event), event(EventType.OrchestratorCompleted, now)], inboxIds);
    if (record.runtimeStatus !== 'Running' || customStatus !== record.customStatus) {
      instance.record = { ...record, runtimeStatus: 'Running', customStatus, lastUpdatedTime: host.clock.now() };
      await this.storage.putInstance(instance.record);
    }

    // The work starts only once its scheduling is recorded, so a restart knows about it.
    for (const { task, event: e } of created) {
      if (task.kind === 'activity') this.dispatchActivity(instance, task.id, task.name, e.Input ?? 'null');
      else if (task.kind === 'timer' && !task.canceled) this.armTimer(instance, task.id, Date.parse(e.FireAt ?? ''));
      else if (task.kind === 'subOrchestration') this.startSubOrchestration(instance, task.id, task.name, e.InstanceId ?? '', e.Input);
    }
    // A timer that lost a Task.any race need not wake the orchestrator.
    for (const task of result.scheduled) {
      if (task.kind === 'timer' && task.canceled) {
        instance.timers.get(task.id)?.();
        instance.timers.delete(task.id);
      }
    }
  }

  private async fail(instance: Instance, now: number, fresh: HistoryEvent[], inboxIds: string[], failure: string, customStatus: string | undefined): Promise<void> {
    const message = `Orchestrator function '${instance.record.name}' failed: ${failure}`;
    await this.persist(instance, [
      ...fresh,
      event(EventType.OrchestratorCompleted, now),
      event(EventType.ExecutionCompleted, now, { OrchestrationStatus: 'Failed', Result: message }),
    ], inboxIds);
    await this.finish(instance, 'Failed', JSON.stringify(message), customStatus);
  }

  private schedulingEvent(instance: Instance, task: ScheduledTask, now: number): HistoryEvent {
    switch (task.kind) {
      case 'activity':
        return event(EventType.TaskScheduled, now, { EventId: task.id, Name: task.name, Input: actionInputJson(task.input) });
      case 'timer': {
        const fireAt = task.retryDelay ? now + retryDelayMs(task.retryDelay.options, task.retryDelay.failedAttempts) : (task.fireAt ?? now);
        return event(EventType.TimerCreated, now, { EventId: task.id, FireAt: new Date(fireAt).toISOString() });
      }
      case 'subOrchestration':
        return event(EventType.SubOrchestrationInstanceCreated, now, {
          EventId: task.id,
          Name: task.name,
          InstanceId: task.instanceId ?? `${instance.record.instanceId}:${task.id}`,
          Input: task.input === undefined ? undefined : JSON.stringify(task.input),
        });
    }
  }

  /** DurableTask.Core's check, which the JS SDK lacks: the replay must schedule what the history holds. */
  private nonDeterminism(instance: Instance, result: EpisodeResult): string | undefined {
    const replayed = new Map(result.scheduled.map((t) => [t.id, t]));
    for (const e of instance.history) {
      const kind = scheduledKind(e);
      if (!kind) continue;
      const task = replayed.get(e.EventId);
      const recorded = describeScheduled(kind, e.Name ?? '');
      // A replay always gets at least as far as the episode that scheduled the task.
      if (!task) {
        return `Non-deterministic workflow detected: the history holds ${recorded} at EventId ${e.EventId}, but the replay did not schedule anything there. Was the orchestrator code changed while this instance was running?`;
      }
      if (task.kind !== kind || (kind !== 'timer' && task.name !== e.Name)) {
        return `Non-deterministic workflow detected: the history holds ${recorded} at EventId ${e.EventId}, but the replay scheduled ${describeScheduled(task.kind, task.name)}. Was the orchestrator code changed while this instance was running?`;
      }
    }
    return undefined;
  }

  private async persist(instance: Instance, events: HistoryEvent[], inboxIds: string[] = []): Promise<void> {
    instance.nextSeq = await this.storage.appendHistory(instance.record.instanceId, instance.record.executionId, instance.nextSeq, events);
    instance.history.push(...events);
    if (inboxIds.length) await this.storage.deleteInbox(instance.record.instanceId, inboxIds);
  }

  private async finish(instance: Instance, status: RuntimeStatus, output: string, customStatus: string | undefined): Promise<void> {
    const record: InstanceRecord = { ...instance.record, runtimeStatus: status, output, customStatus, lastUpdatedTime: this.host!.clock.now() };
    instance.record = record;
    for (const cancel of instance.timers.values()) cancel();
    instance.timers.clear();
    await this.storage.putInstance(record);
    if (instance.inboxIds.length || instance.pending.some((e) => e.MessageId)) await this.storage.clearInbox(record.instanceId);
    this.instances.delete(record.instanceId);
    this.notifyParent(record);
    const status$ = toStatus(record, true);
    for (const resolve of this.completionWaiters.get(record.instanceId) ?? []) resolve(status$);
    this.completionWaiters.delete(record.instanceId);
  }

  private async continueAsNew(instance: Instance, result: EpisodeResult, customStatus: string | undefined): Promise<void> {
    const old = instance.record;
    // External events the finished execution never waited for carry over, oldest first.
    const raised = instance.history.filter((e) => e.EventType === EventType.EventRaised);
    const carried: HistoryEvent[] = [];
    const byName = new Map<string, HistoryEvent[]>();
    for (const e of raised) byName.set(e.Name ?? '', [...(byName.get(e.Name ?? '') ?? []), e]);
    for (const [name, list] of byName) {
      const unconsumed = list.length - (result.eventWaits.get(name) ?? 0);
      if (unconsumed > 0) carried.push(...list.slice(-unconsumed).map((e) => this.raisedEvent(name, e.Input)));
    }
    const record: InstanceRecord = {
      ...old,
      runtimeStatus: 'Running',
      input: actionInputJson(result.continueAsNew!.input),
      output: undefined,
      customStatus,
      executionId: randomUUID().replace(/-/g, ''),
      lastUpdatedTime: this.host!.clock.now(),
    };
    for (const cancel of instance.timers.values()) cancel();
    instance.timers.clear();
    instance.activities.clear();
    await this.storage.putInstance(record);
    instance.record = record;
    instance.history = [];
    instance.pending.unshift(...carried);
    this.track(this.storage.deleteHistory(record.instanceId, record.executionId));
  }

  private dispatchActivity(instance: Instance, id: number, name: string, inputJson: string): void {
    if (instance.activities.has(id)) return;
    instance.activities.add(id);
    const executionId = instance.record.executionId;
    this.busy(1);
    const run = this.activityLimiter
      .run(async () => {
        if (this.stopping) return;
        const outcome = await this.invokeActivity(name, inputJson, id);
        const delay = this.options.deliveryDelayMs ?? 0;
        if (delay > 0) await new Promise((resolve) => setTimeout(resolve, delay));
        // After stop() the result is dropped: the activity runs again after a restart.
        if (this.stopping || this.instances.get(instance.record.instanceId) !== instance || instance.record.executionId !== executionId) return;
        instance.pending.push(outcome);
        this.kick(instance);
      })
      .finally(() => {
        instance.activities.delete(id);
        this.activityRuns.delete(run);
        this.busy(-1);
      });
    this.activityRuns.add(run);
  }

  private async invokeActivity(name: string, inputJson: string, id: number): Promise<HistoryEvent> {
    const host = this.host!;
    const fn = host.registry.get(name);
    if (!fn || fn.trigger.type !== 'activityTrigger') {
      return event(EventType.TaskFailed, host.clock.now(), {
        TaskScheduledId: id,
        Reason: `The function '${name}' doesn't exist, is disabled, or is not an activity function.`,
        Details: '',
      });
    }
    try {
      const { result } = await host.invoke(fn, JSON.parse(inputJson));
      return event(EventType.TaskCompleted, host.clock.now(), { TaskScheduledId: id, Result: JSON.stringify(result ?? null) });
    } catch (err) {
      const error = err instanceof Error ? err : new Error(String(err));
      return event(EventType.TaskFailed, host.clock.now(), { TaskScheduledId: id, Reason: error.message, Details: error.stack ?? '' });
    }
  }

  private armTimer(instance: Instance, id: number, fireAt: number): void {
    if (instance.timers.has(id) || this.stopping) return;
    const executionId = instance.record.executionId;
    const cancel = this.host!.clock.schedule(fireAt, () => {
      instance.timers.delete(id);
      if (this.stopping || instance.record.executionId !== executionId || this.instances.get(instance.record.instanceId) !== instance) return;
      instance.pending.push(event(EventType.TimerFired, this.host!.clock.now(), { TimerId: id, FireAt: new Date(fireAt).toISOString() }));
      this.kick(instance);
    });
    instance.timers.set(id, cancel);
  }

  private startSubOrchestration(parent: Instance, taskId: number, name: string, childId: string, inputJson: string | undefined): void {
    const parentRecord = parent.record;
    this.busy(1);
    const work = (async () => {
      if (this.stopping) return;
      if (this.instances.has(childId)) return; // already running here; it reports when done
      const existing = await this.storage.getInstance(childId);
      const ours = existing?.parentInstanceId === parentRecord.instanceId && existing.parentExecutionId === parentRecord.executionId && existing.parentTaskId === taskId;
      if (existing && ours) {
        if (TERMINAL_STATUSES.has(existing.runtimeStatus)) this.notifyParent(existing);
        return;
      }
      if (existing && !TERMINAL_STATUSES.has(existing.runtimeStatus)) {
        parent.pending.push(
          event(EventType.SubOrchestrationInstanceFailed, this.host!.clock.now(), {
            TaskScheduledId: taskId,
            Reason: `An orchestration with the instance ID '${childId}' already exists and is ${existing.runtimeStatus}.`,
            Details: '',
          }),
        );
        this.kick(parent);
        return;
      }
      if (existing) await this.purgeStorage(childId);
      await this.createInstance({ name, instanceId: childId, input: inputJson, parent: { instanceId: parentRecord.instanceId, executionId: parentRecord.executionId, taskId } });
    })()
      .catch((err: unknown) => this.host!.log('error', name, `Starting sub-orchestration ${childId} failed: ${describeError(err)}`))
      .finally(() => this.busy(-1));
    this.track(work);
  }

  private notifyParent(child: InstanceRecord): void {
    if (!child.parentInstanceId || child.parentTaskId === undefined) return;
    const parent = this.instances.get(child.parentInstanceId);
    if (!parent || parent.record.executionId !== child.parentExecutionId) return;
    const now = this.host!.clock.now();
    const reply =
      child.runtimeStatus === 'Completed'
        ? event(EventType.SubOrchestrationInstanceCompleted, now, { TaskScheduledId: child.parentTaskId, Result: child.output ?? 'null' })
        : event(EventType.SubOrchestrationInstanceFailed, now, {
            TaskScheduledId: child.parentTaskId,
            Reason: child.runtimeStatus === 'Terminated' ? `Sub-orchestration '${child.instanceId}' was terminated: ${parseJson(child.output)}` : String(parseJson(child.output)),
            Details: '',
          });
    parent.pending.push(reply);
    this.kick(parent);
  }

  private async purgeStorage(instanceId: string): Promise<void> {
    await this.storage.deleteHistory(instanceId);
    await this.storage.clearInbox(instanceId);
    await this.storage.deleteInstance(instanceId);
  }
}

/** Set when this module last wrote WEBSITE_HOSTNAME, so a later host may move it. */
let ownedHostname: string | undefined;

function conflict(instanceId: string, status: string = 'Pending'): InstanceConflictError {
  return new InstanceConflictError(`An orchestration instance with the ID '${instanceId}' already exists and is ${status}.`);
}

/** Activity and continue-as-new inputs: the SDK sends strings already as JSON text, other values as they are. */
function actionInputJson(input: unknown): string {
  return typeof input === 'string' ? input : JSON.stringify(input ?? null);
}

function assertJson(text: string | undefined, what: string): void {
  if (text === undefined || text === '') return;
  try {
    JSON.parse(text);
  } catch {
    throw new BadRequestError(`${what} is not valid JSON.`);
  }
}

function safeJson(value: unknown): string | undefined {
  try {
    return JSON.stringify(value ?? null);
  } catch {
    return undefined;
  }
}

function parseJson(text: string | undefined): unknown {
  if (text === undefined || text === '') return null;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

function describeScheduled(kind: ScheduledKind, name: string): string {
  switch (kind) {
    case 'activity':
      return `activity '${name}'`;
    case 'subOrchestration':
      return `sub-orchestration '${name}'`;
    case 'timer':
      return 'a durable timer';
  }
}

function describeError(err: unknown): string {
  return err instanceof Error ? (err.stack ?? err.message) : String(err);
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

