/**
 * The orchestration side of a worker: for each control queue whose lease it holds, receive messages,
 * group them by instance, and run one episode at a time per instance (the SDK's replay over the stored
 * history). An episode is committed as DurableTask.AzureStorage commits it: first the messages it sends
 * (activities, timers, sub-orchestrations, its parent's answer), then its history with the sentinel's ETag
 * (the checkpoint), then the instance row, and last the deletion of the messages it consumed. A crash
 * anywhere in between repeats the episode from its messages; what it had sent is recognised again as a
 * duplicate, and an answer that arrives before the history holds what it answers waits (out of order).
 */
import { createHash, randomUUID } from 'node:crypto';
import type { LocalHost, LogLevel } from '../host/host';
import { bindingInfo, retryDelayMs, runEpisode, type EpisodeResult, type ScheduledTask } from './episode';
import type { ExecutionLog } from '../host/executionLog';
import { completedId, event, EventType, scheduledKind, type HistoryEvent, type ScheduledKind } from './history';
import { Limiter } from './limiter';
import type { ControlMessage, Outbound, StartMessage } from './messages';
import { controlQueueFor } from './partitions';
import { Backoff, MIN_POLLING_DELAY_MS } from './poller';
import type { DurableSettings } from './settings';
import { HistoryConflictError, TERMINAL_STATUSES, type DurableStore, type InstanceRecord, type LoadedHistory } from './store';
import type { ReceivedMessage, TaskHubQueues } from './taskHubQueue';

type Received = ReceivedMessage<ControlMessage>;

export interface OrchestrationWorkerOptions {
  host: LocalHost;
  hub: string;
  workerId: string;
  settings: DurableSettings;
  store: DurableStore;
  queues: TaskHubQueues;
  /** Sends messages (and wakes this process's pollers of the queues they go to). */
  send(outbound: Outbound[]): Promise<void>;
  /** Deletes the message of a timer the orchestration no longer waits for. */
  cancelTimer(instanceId: string, messageId: string): Promise<void>;
  /** Whether this worker still holds the queue's lease, with a margin for the work about to be done. */
  holds(queue: string): boolean;
  /** An instance reached a terminal status here. */
  finished(record: InstanceRecord): void;
  busy(delta: 1 | -1): void;
  log?: ExecutionLog;
}

interface Session {
  instanceId: string;
  queue: string;
  buffer: Received[];
  /** Ids of the messages the running episode works on (still visible in the queue until deleted). */
  processing: Set<string>;
  running: boolean;
  /** The instance as this worker last read or wrote it (valid while it holds the partition). */
  cache?: { record?: InstanceRecord; history: LoadedHistory };
}

interface Poller {
  backoff: Backoff;
  active: boolean;
  loop: Promise<void>;
  wakes: Array<() => void>;
}

/** What an episode decided, before any of it is stored. */
interface Decision {
  append: HistoryEvent[];
  record: InstanceRecord;
  outbound: Outbound[];
  /** Timer messages to delete once the history is committed (timers that lost a race). */
  cancelled: string[];
  finished: boolean;
}

const TIMER_LOOKUP_MS = 2_000;

export class OrchestrationWorker {
  private readonly sessions = new Map<string, Session>();
  private readonly pollers = new Map<string, Poller>();
  private readonly limiter: Limiter;
  private readonly running = new Set<Promise<void>>();
  private stopping = false;

  constructor(private readonly o: OrchestrationWorkerOptions) {
    this.limiter = new Limiter(o.settings.maxConcurrentOrchestratorFunctions);
  }

  // ---- partitions ----

  acquired(queue: string): void {
    if (this.stopping || this.pollers.has(queue)) return;
    // Whatever this worker knew of the partition's instances may have changed while another held it.
    for (const session of this.sessions.values()) if (session.queue === queue && !session.running) session.cache = undefined;
    const poller: Poller = { backoff: new Backoff(MIN_POLLING_DELAY_MS, this.o.settings.maxQueuePollingIntervalMs), active: true, loop: Promise.resolve(), wakes: [] };
    poller.loop = this.poll(queue, poller);
    this.pollers.set(queue, poller);
  }

  /** Stops receiving from the queue, lets running episodes end, and gives back what is buffered. */
  async drain(queue: string): Promise<void> {
    await this.stopPolling(queue)?.loop;
    // Buffered messages were only read, never hidden: the next owner reads them again.
    const sessions = [...this.sessions.values()].filter((s) => s.queue === queue);
    for (const s of sessions) s.buffer.length = 0;
    await Promise.allSettled([...this.running]);
    for (const s of sessions) {
      s.buffer.length = 0;
      if (this.sessions.get(s.instanceId) === s) this.sessions.delete(s.instanceId);
    }
  }

  /** Stops the queue's poller (its loop ends at its next turn) and forgets it; the poller, if there was one. */
  private stopPolling(queue: string): Poller | undefined {
    const poller = this.pollers.get(queue);
    this.pollers.delete(queue);
    if (!poller) return undefined;
    poller.active = false;
    poller.backoff.wake();
    for (const cancel of poller.wakes) cancel();
    return poller;
  }

  /** The lease is another's: stop reading; what was buffered is left to the new owner. */
  lost(queue: string): void {
    this.stopPolling(queue);
    for (const s of [...this.sessions.values()].filter((x) => x.queue === queue)) {
      s.buffer.length = 0;
      s.cache = undefined;
      if (!s.running) this.sessions.delete(s.instanceId);
    }
  }

  listens(queue: string): boolean {
    return this.pollers.has(queue);
  }

  /** A message was added to the queue by this process: receive now (or at `dueAt`, host clock). */
  wake(queue: string, dueAt?: number): void {
    const poller = this.pollers.get(queue);
    if (!poller) return;
    if (dueAt === undefined || dueAt <= this.o.host.clock.now()) {
      poller.backoff.wake();
      return;
    }
    const cancel = this.o.host.clock.schedule(dueAt, () => {
      poller.wakes.splice(poller.wakes.indexOf(cancel), 1);
      poller.backoff.wake();
    });
    poller.wakes.push(cancel);
  }

  async stop(): Promise<void> {
    this.stopping = true;
    await Promise.all([...this.pollers.keys()].map((q) => this.drain(q)));
    await Promise.allSettled([...this.running]);
  }

  private async poll(queue: string, poller: Poller): Promise<void> {
    let soonestWake: number | undefined;
    // Timers this process did not set (another worker's, before a takeover) are looked for now and then.
    let lookedForTimers = 0;
    while (poller.active && !this.stopping) {
      const buffered = [...this.sessions.values()].reduce((n, s) => n + (s.queue === queue ? s.buffer.length : 0), 0);
      if (buffered >= this.o.settings.controlQueueBufferThreshold || !this.o.holds(queue)) {
        await poller.backoff.wait();
        continue;
      }
      try {
        const held = new Set<string>();
        for (const s of this.sessions.values()) {
          if (s.queue !== queue) continue;
          for (const m of s.buffer) held.add(m.id);
          for (const id of s.processing) held.add(id);
        }
        const nextDue = Date.now() - lookedForTimers > TIMER_LOOKUP_MS;
        if (nextDue) lookedForTimers = Date.now();
        const received = await this.o.queues.read<ControlMessage>(queue, this.o.settings.controlQueueBatchSize, this.o.host.clock.now(), held, { nextDue });
        if (!poller.active) break;
        if (received.nextDueAt !== undefined && received.nextDueAt !== soonestWake) {
          soonestWake = received.nextDueAt;
          this.wake(queue, received.nextDueAt);
        }
        if (received.messages.length) {
          poller.backoff.reset();
          for (const message of received.messages) this.dispatch(queue, message);
          continue;
        }
      } catch (err) {
        if (!this.stopping) this.o.host.log('warning', 'durable', `receiving from ${queue}: ${describe(err)}`);
      }
      await poller.backoff.wait();
    }
  }

  private dispatch(queue: string, message: Received): void {
    const instanceId = message.body.instanceId;
    let session = this.sessions.get(instanceId);
    if (!session) {
      session = { instanceId, queue, buffer: [], processing: new Set(), running: false };
      this.sessions.set(instanceId, session);
    }
    const same = session.buffer.findIndex((m) => m.id === message.id);
    if (same >= 0) session.buffer[same] = message;
    else session.buffer.push(message);
    this.kick(session);
  }

  private kick(session: Session): void {
    if (session.running || session.buffer.length === 0 || this.stopping) return;
    session.running = true;
    this.o.busy(1);
    const run = this.limiter
      .run(() => this.episode(session))
      .catch((err: unknown) => {
        this.o.host.log('error', 'durable', `Episode of ${session.instanceId} failed: ${describe(err)}`);
        session.cache = undefined;
      })
      .finally(() => {
        session.running = false;
        this.running.delete(run);
        if (session.buffer.length > 0 && this.pollers.has(session.queue)) this.kick(session);
        else if (session.buffer.length === 0 && (!session.cache || isTerminal(session.cache.record))) this.sessions.delete(session.instanceId);
        this.o.busy(-1);
      });
    this.running.add(run);
  }

  // ---- an episode ----

  private async episode(session: Session): Promise<void> {
    const messages = session.buffer.splice(0);
    if (messages.length === 0) return;
    // Not ours any more: the new owner reads them.
    if (!this.o.holds(session.queue)) return;
    session.processing = new Set(messages.map((m) => m.id));
    try {
      await this.process(session, messages);
    } finally {
      session.processing = new Set();
    }
  }

  private async process(session: Session, messages: Received[]): Promise<void> {
    if (!session.cache || messages.some((m) => m.body.kind === 'start')) session.cache = await this.load(session.instanceId);
    const { record, history } = session.cache;
    const now = this.o.host.clock.now();
    const triage = this.triage(record, history, messages);
    const { consumed, deferred } = triage;
    if (!triage.start && triage.terminate === undefined && triage.incoming.length === 0) {
      await this.o.send(triage.replies);
      await this.settle(consumed, deferred);
      return;
    }

    const executionId = triage.start?.executionId ?? record!.executionId;
    const logEntry = this.o.log?.begin(session.instanceId, executionId, session.queue);
    let committed = false;
    try {
      const decision = await this.decide(record, history, triage, now);
      // 1. What the episode sends; 2. its checkpoint; 3. the instance row; 4. the messages it consumed.
      await this.o.send([...triage.replies, ...decision.outbound]);
      let next: LoadedHistory;
      try {
        next = await this.o.store.commitHistory(session.instanceId, executionId, history, decision.append);
      } catch (err) {
        session.cache = undefined;
        if (err instanceof HistoryConflictError) {
          // Another worker has the instance: its messages stay in the queue for whoever holds the partition.
          this.o.host.log('warning', 'durable', `${err.message}; its messages are left in the queue`);
          return;
        }
        throw err;
      }
      committed = true;
      if (decision.record !== record) await this.o.store.putInstance(decision.record);
      session.cache = { record: decision.record, history: next };
      if (next.stale.length) {
        const stale = next.stale;
        next.stale = [];
        await this.o.store.deleteRows(session.instanceId, stale).catch(() => undefined);
      }
      await this.settle(consumed, deferred);
      for (const id of decision.cancelled) await this.o.cancelTimer(session.instanceId, id).catch(() => undefined);
      if (decision.finished) this.o.finished(decision.record);
    } catch (err) {
      if (!committed) {
        // Nothing of this episode counts yet: its messages are tried again after a while.
        await this.o.queues.defer([...consumed, ...deferred], (m) => Math.min(2 ** m.dequeueCount, 600) * 1000).catch(() => undefined);
      }
      throw err;
    } finally {
      logEntry?.end(committed);
    }
  }

  private async load(instanceId: string): Promise<NonNullable<Session['cache']>> {
    const [stored, history] = await Promise.all([this.o.store.readInstance(instanceId), this.o.store.loadHistory(instanceId)]);
    let record = stored?.record;
    // A crash between a final checkpoint and the row's update leaves the row behind the history: mend it.
    if (record && !isTerminal(record) && history.executionId === record.executionId) {
      const end = [...history.events].reverse().find((e) => e.EventType === EventType.ExecutionCompleted || e.EventType === EventType.ExecutionTerminated);
      const status = end?.EventType === EventType.ExecutionTerminated ? 'Terminated' : end?.OrchestrationStatus;
      if (status === 'Completed' || status === 'Failed' || status === 'Terminated') {
        record = { ...record, runtimeStatus: status, output: end?.EventType === EventType.ExecutionTerminated ? end.Input : end?.Result, lastUpdatedTime: this.o.host.clock.now() };
        await this.o.store.putInstance(record);
      }
    }
    return { record, history };
  }

  private async settle(consumed: Received[], deferred: Received[]): Promise<void> {
    await this.o.queues.delete(consumed, true);
    // DurableTask.AzureStorage abandons a message with a visibility delay of 2^dequeues seconds, at most 10 min.
    await this.o.queues.defer(deferred, (m) => Math.min(2 ** m.dequeueCount, 600) * 1000);
  }

  /** Sorts the received messages into what this episode consumes, what must wait, and what is stale. */
  private triage(record: InstanceRecord | undefined, history: LoadedHistory, messages: Received[]) {
    const consumed: Received[] = [];
    const deferred: Received[] = [];
    const replies: Outbound[] = [];
    const incoming: HistoryEvent[] = [];
    let start: StartMessage | undefined;
    let terminate: string | undefined;
    const started = record !== undefined && history.executionId === record.executionId && history.events.some((e) => e.EventType === EventType.ExecutionStarted);
    // A start goes first: events received with it (raised while it was on its way) belong to the execution it starts.
    const ordered = [...messages.filter((m) => m.body.kind === 'start'), ...messages.filter((m) => m.body.kind !== 'start')];
    for (const m of ordered) {
      const body = m.body;
      if (body.kind === 'start') {
        if (start) {
          if (body.executionId === start.executionId) consumed.push(m);
          else deferred.push(m);
          continue;
        }
        if (record?.executionId === body.executionId && started) consumed.push(m); // a repeat
        else if (body.previousExecutionId !== undefined) {
          const follows = record !== undefined && (record.executionId === body.executionId || (record.executionId === body.previousExecutionId && history.executionId === body.previousExecutionId && endedAsNew(history)));
          if (follows) start = body;
          consumed.push(m);
        } else if (!record) {
          if (body.parent) start = body;
          consumed.push(m);
        } else if (record.executionId === body.executionId || (isTerminal(record) && body.parent)) {
          start = body;
          consumed.push(m);
        } else {
          if (body.parent && !isTerminal(record)) {
            replies.push(parentAnswer(body, this.o.host.clock.now(), 'Failed', `An orchestration with the instance ID '${body.instanceId}' already exists and is ${record.runtimeStatus}.`));
          }
          consumed.push(m);
        }
        continue;
      }
      if (body.kind === 'terminate') {
        if (record && record.executionId === body.executionId && !isTerminal(record)) terminate = body.reason;
        consumed.push(m);
        continue;
      }
      const execution = start?.executionId ?? record?.executionId;
      const live = start !== undefined || (record !== undefined && !isTerminal(record) && started);
      if (!record && !start) {
        // Perhaps its start is not committed yet; after a few tries it is a message for nobody.
        (m.dequeueCount > 5 ? consumed : deferred).push(m);
        continue;
      }
      if (body.executionId !== undefined && body.executionId !== execution) {
        consumed.push(m);
        continue;
      }
      if (!live) {
        (record && !isTerminal(record) ? deferred : consumed).push(m);
        continue;
      }
      const events = start ? [] : history.events;
      const id = completedId(body.event);
      if (id !== undefined) {
        const scheduled = events.find((e) => scheduledKind(e) !== undefined && e.EventId === id);
        const answered = [...events, ...incoming].some((e) => completedId(e) === id);
        if (answered) consumed.push(m);
        else if (!scheduled) deferred.push(m);
        else if (body.scheduledName !== undefined && scheduledKind(scheduled) !== 'timer' && scheduled.Name !== body.scheduledName) consumed.push(m);
        else {
          incoming.push(body.event);
          consumed.push(m);
        }
        continue;
      }
      if (body.event.EventType === EventType.EventRaised && events.some((e) => e.MessageId !== undefined && e.MessageId === (body.event.MessageId ?? m.id))) {
        consumed.push(m);
        continue;
      }
      incoming.push(body.event.EventType === EventType.EventRaised ? { ...body.event, MessageId: body.event.MessageId ?? m.id } : body.event);
      consumed.push(m);
    }
    return { consumed, deferred, replies, incoming, start, terminate };
  }

  private async decide(current: InstanceRecord | undefined, history: LoadedHistory, triage: ReturnType<OrchestrationWorker['triage']>, now: number): Promise<Decision> {
    const host = this.o.host;
    const start = triage.start;
    let record: InstanceRecord;
    let events: HistoryEvent[];
    const incoming = [...triage.incoming];
    if (start) {
      const fresh = !current || current.executionId !== start.executionId;
      record = fresh
        ? {
            instanceId: start.instanceId,
            name: start.name,
            runtimeStatus: 'Pending',
            input: start.input === '' ? undefined : start.input,
            createdTime: current && start.previousExecutionId ? current.createdTime : now,
            lastUpdatedTime: now,
            executionId: start.executionId,
            parentInstanceId: start.parent?.instanceId,
            parentExecutionId: start.parent?.executionId,
            parentTaskId: start.parent?.taskId,
          }
        : current!;
      events = [];
      incoming.unshift(...(start.carried ?? []));
    } else {
      record = current!;
      events = history.events;
    }
    const decision: Decision = { append: [], record, outbound: [], cancelled: [], finished: false };
    const finish = (status: 'Completed' | 'Failed' | 'Terminated', output: string, customStatus: string | undefined) => {
      decision.record = { ...record, runtimeStatus: status, output, customStatus, lastUpdatedTime: host.clock.now() };
      decision.finished = true;
      if (record.parentInstanceId && record.parentTaskId !== undefined && record.parentExecutionId) {
        decision.outbound.push(childAnswer(decision.record, now));
      }
      // Timers still waiting would only wake a finished instance.
      decision.cancelled.push(...openTimers(events, decision.append).map((id) => timerMessageId(record.executionId, id)));
    };

    if (triage.terminate !== undefined) {
      decision.append = [
        event(EventType.OrchestratorStarted, now),
        event(EventType.ExecutionTerminated, now, { Input: JSON.stringify(triage.terminate) }),
        event(EventType.OrchestratorCompleted, now),
      ];
      finish('Terminated', JSON.stringify(triage.terminate), record.customStatus);
      return decision;
    }

    const started = events.some((e) => e.EventType === EventType.ExecutionStarted);
    const fresh: HistoryEvent[] = [event(EventType.OrchestratorStarted, now)];
    if (!started) fresh.push(event(EventType.ExecutionStarted, now, { Name: record.name, Input: record.input }));
    fresh.push(...incoming);
    const fn = host.registry.get(record.name);
    let result: EpisodeResult;
    if (!fn || fn.trigger.type !== 'orchestrationTrigger') {
      result = { isDone: false, error: `The function '${record.name}' doesn't exist, is disabled, or is not an orchestrator function.`, scheduled: [], unsupported: [], eventWaits: new Map() };
    } else {
      const replayed = events.map((e) => ({ ...e, IsPlayed: true }));
      const info = bindingInfo({
        history: [...replayed, ...fresh],
        input: record.input === undefined ? undefined : JSON.parse(record.input),
        instanceId: record.instanceId,
        parentInstanceId: record.parentInstanceId,
      });
      result = await runEpisode(fn.callback, fn.name, info, (level, message) => host.log(level as LogLevel, fn.name, message));
    }
    return this.apply(decision, record, events, fresh, result, now, finish);
  }

  private apply(
    decision: Decision,
    record: InstanceRecord,
    events: HistoryEvent[],
    fresh: HistoryEvent[],
    result: EpisodeResult,
    now: number,
    finish: (status: 'Completed' | 'Failed' | 'Terminated', output: string, customStatus: string | undefined) => void,
  ): Decision {
    const failure = result.error ?? (result.unsupported.length ? `The local Durable runtime does not support ${result.unsupported.join(', ')}` : undefined) ?? nonDeterminism(events, result);
    const customStatus = result.customStatus === undefined ? record.customStatus : JSON.stringify(result.customStatus);
    const fail = (message: string) => {
      const text = `Orchestrator function '${record.name}' failed: ${message}`;
      decision.append = [...fresh, event(EventType.OrchestratorCompleted, now), event(EventType.ExecutionCompleted, now, { OrchestrationStatus: 'Failed', Result: text })];
      finish('Failed', JSON.stringify(text), customStatus);
      return decision;
    };
    if (failure !== undefined) return fail(failure);

    if (result.continueAsNew) {
      decision.append = [...fresh, event(EventType.OrchestratorCompleted, now), event(EventType.ExecutionCompleted, now, { OrchestrationStatus: 'ContinuedAsNew' })];
      // External events the finished execution never waited for carry over, oldest first.
      const all = [...events, ...fresh];
      const byName = new Map<string, HistoryEvent[]>();
      for (const e of all.filter((x) => x.EventType === EventType.EventRaised)) byName.set(e.Name ?? '', [...(byName.get(e.Name ?? '') ?? []), e]);
      const carried: HistoryEvent[] = [];
      for (const [name, list] of byName) {
        const unconsumed = list.length - (result.eventWaits.get(name) ?? 0);
        if (unconsumed > 0) carried.push(...list.slice(-unconsumed).map((e) => event(EventType.EventRaised, now, { Name: name, Input: e.Input })));
      }
      const executionId = randomUUID().replace(/-/g, '');
      const input = actionInputJson(result.continueAsNew.input);
      decision.record = { ...record, runtimeStatus: 'Running', input, output: undefined, customStatus, executionId, lastUpdatedTime: this.o.host.clock.now() };
      decision.outbound.push({
        to: 'control',
        instanceId: record.instanceId,
        message: { kind: 'start', instanceId: record.instanceId, executionId, name: record.name, input, previousExecutionId: record.executionId, carried },
      });
      decision.cancelled.push(...openTimers(events, decision.append).map((id) => timerMessageId(record.executionId, id)));
      return decision;
    }

    const known = new Set(events.map((e) => (scheduledKind(e) ? e.EventId : -1)));
    const created: Array<{ task: ScheduledTask; event: HistoryEvent }> = [];
    for (const task of result.scheduled) {
      if (known.has(task.id)) continue;
      created.push({ task, event: schedulingEvent(record, task, now) });
    }

    if (result.isDone) {
      const output = safeJson(result.output);
      if (output === undefined) return fail('The orchestrator output cannot be serialized to JSON.');
      decision.append = [
        ...fresh,
        ...created.map((c) => c.event),
        event(EventType.OrchestratorCompleted, now),
        event(EventType.ExecutionCompleted, now, { OrchestrationStatus: 'Completed', Result: output }),
      ];
      finish('Completed', output, customStatus);
      return decision;
    }

    decision.append = [...fresh, ...created.map((c) => c.event), event(EventType.OrchestratorCompleted, now)];
    if (record.runtimeStatus !== 'Running' || customStatus !== record.customStatus) {
      decision.record = { ...record, runtimeStatus: 'Running', customStatus, lastUpdatedTime: this.o.host.clock.now() };
    }
    for (const { task, event: e } of created) {
      if (task.kind === 'activity') {
        decision.outbound.push({ to: 'workItem', message: { instanceId: record.instanceId, executionId: record.executionId, taskId: task.id, name: task.name, input: e.Input ?? 'null' } });
      } else if (task.kind === 'timer' && !task.canceled) {
        const fireAt = Date.parse(e.FireAt ?? '');
        decision.outbound.push({
          to: 'control',
          instanceId: record.instanceId,
          dueAt: fireAt,
          id: timerMessageId(record.executionId, task.id),
          message: { kind: 'event', instanceId: record.instanceId, executionId: record.executionId, event: event(EventType.TimerFired, fireAt, { TimerId: task.id, FireAt: new Date(fireAt).toISOString() }) },
        });
      } else if (task.kind === 'subOrchestration') {
        const childId = e.InstanceId ?? '';
        decision.outbound.push({
          to: 'control',
          instanceId: childId,
          message: {
            kind: 'start',
            instanceId: childId,
            // Derived from the parent's execution and task, so that a repeated episode asks for the same child.
            executionId: childExecutionId(record.executionId, task.id),
            name: task.name,
            input: e.Input,
            parent: { instanceId: record.instanceId, executionId: record.executionId, taskId: task.id },
          },
        });
      }
    }
    // A timer that lost a Task.any race need not wake the orchestrator.
    for (const task of result.scheduled) {
      if (task.kind === 'timer' && task.canceled && known.has(task.id)) decision.cancelled.push(timerMessageId(record.executionId, task.id));
    }
    return decision;
  }
}

/** The id of a durable timer's message: fixed, so that it can be deleted when the timer is no longer awaited. */
export function timerMessageId(executionId: string, taskId: number): string {
  return `timer-${executionId}-${taskId.toString().padStart(6, '0')}`;
}

function childExecutionId(parentExecutionId: string, taskId: number): string {
  return createHash('sha256').update(`${parentExecutionId}:${taskId}`).digest('hex').slice(0, 32);
}

function isTerminal(record: InstanceRecord | undefined): boolean {
  return record !== undefined && TERMINAL_STATUSES.has(record.runtimeStatus);
}

function endedAsNew(history: LoadedHistory): boolean {
  return history.events.some((e) => e.EventType === EventType.ExecutionCompleted && e.OrchestrationStatus === 'ContinuedAsNew');
}

function openTimers(events: HistoryEvent[], appended: HistoryEvent[]): number[] {
  const all = [...events, ...appended];
  const fired = new Set(all.filter((e) => e.EventType === EventType.TimerFired).map((e) => e.TimerId));
  return all.filter((e) => e.EventType === EventType.TimerCreated && !fired.has(e.EventId)).map((e) => e.EventId);
}

function parentAnswer(start: StartMessage, now: number, status: 'Failed', reason: string): Outbound {
  const parent = start.parent!;
  return {
    to: 'control',
    instanceId: parent.instanceId,
    message: {
      kind: 'event',
      instanceId: parent.instanceId,
      executionId: parent.executionId,
      scheduledName: start.name,
      event: event(status === 'Failed' ? EventType.SubOrchestrationInstanceFailed : EventType.SubOrchestrationInstanceCompleted, now, { TaskScheduledId: parent.taskId, Reason: reason, Details: '' }),
    },
  };
}

function childAnswer(child: InstanceRecord, now: number): Outbound {
  const reply =
    child.runtimeStatus === 'Completed'
      ? event(EventType.SubOrchestrationInstanceCompleted, now, { TaskScheduledId: child.parentTaskId, Result: child.output ?? 'null' })
      : event(EventType.SubOrchestrationInstanceFailed, now, {
          TaskScheduledId: child.parentTaskId,
          Reason: child.runtimeStatus === 'Terminated' ? `Sub-orchestration '${child.instanceId}' was terminated: ${parseJson(child.output)}` : String(parseJson(child.output)),
          Details: '',
        });
  return { to: 'control', instanceId: child.parentInstanceId!, message: { kind: 'event', instanceId: child.parentInstanceId!, executionId: child.parentExecutionId, scheduledName: child.name, event: reply } };
}

function schedulingEvent(record: InstanceRecord, task: ScheduledTask, now: number): HistoryEvent {
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
        InstanceId: task.instanceId ?? `${record.instanceId}:${task.id}`,
        Input: task.input === undefined ? undefined : JSON.stringify(task.input),
      });
  }
}

/** DurableTask.Core's check, which the JS SDK lacks: the replay must schedule what the history holds. */
function nonDeterminism(history: HistoryEvent[], result: EpisodeResult): string | undefined {
  const replayed = new Map(result.scheduled.map((t) => [t.id, t]));
  for (const e of history) {
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

/** Activity and continue-as-new inputs: the SDK sends strings already as JSON text, other values as they are. */
export function actionInputJson(input: unknown): string {
  return typeof input === 'string' ? input : JSON.stringify(input ?? null);
}

function safeJson(value: unknown): string | undefined {
  try {
    return JSON.stringify(value ?? null);
  } catch {
    return undefined;
  }
}

export function parseJson(text: string | undefined): unknown {
  if (text === undefined || text === '') return null;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

function describe(err: unknown): string {
  return err instanceof Error ? (err.stack ?? err.message) : String(err);
}

export { controlQueueFor };
