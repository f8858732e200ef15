/**
 * The activity side of a worker: every worker competes for the task hub's one work-item queue, as in the
 * Azure Storage provider. A received activity stays invisible to the others for
 * `workItemQueueVisibilityTimeout`, renewed while it runs; its result goes to the instance's control queue
 * before the work item is deleted. A worker that dies holding one leaves it to reappear once its
 * visibility runs out, and it runs again elsewhere (at-least-once).
 */
import type { LocalHost } from '../host/host';
import { event, EventType, type HistoryEvent } from './history';
import type { Outbound, WorkItem } from './messages';
import { Backoff, MIN_POLLING_DELAY_MS } from './poller';
import type { DurableSettings } from './settings';
import type { ReceivedMessage, TaskHubQueues } from './taskHubQueue';

export interface ActivityWorkerOptions {
  host: LocalHost;
  queue: string;
  settings: DurableSettings;
  queues: TaskHubQueues;
  send(outbound: Outbound[]): Promise<void>;
  /** How long an activity's result waits before its orchestration may see it (tests widen it). */
  deliveryDelayMs: number;
  /** How long stop() waits for running activities before giving them back (default 0). */
  shutdownGraceMs: number;
  busy(delta: 1 | -1): void;
}

export class ActivityWorker {
  private readonly backoff: Backoff;
  private readonly running = new Set<Promise<void>>();
  /** The messages of running activities, to give back at a stop. */
  private readonly holding = new Set<ReceivedMessage<WorkItem>>();
  private stopping = false;
  private loop?: Promise<void>;
  private slotFreed?: () => void;
  private pending?: { results: Outbound[]; done: ReceivedMessage<WorkItem>[]; flushed: Promise<void> };

  constructor(private readonly o: ActivityWorkerOptions) {
    this.backoff = new Backoff(MIN_POLLING_DELAY_MS, o.settings.maxQueuePollingIntervalMs);
  }

  start(): void {
    this.loop = this.poll();
  }

  wake(): void {
    this.backoff.wake();
  }

  async stop(): Promise<void> {
    this.stopping = true;
    this.backoff.wake();
    this.slotFreed?.();
    await this.loop;
    if (this.o.shutdownGraceMs > 0 && this.running.size > 0) {
      await Promise.race([Promise.allSettled([...this.running]), new Promise((resolve) => setTimeout(resolve, this.o.shutdownGraceMs).unref())]);
    }
    // What still runs is abandoned, as without graceful shutdown in Azure: its messages are visible again
    // at once, for another worker (or this one after a restart), and its results will not be sent.
    const left = [...this.holding];
    this.holding.clear();
    if (left.length) await this.o.queues.abandon(left, () => 0).catch(() => undefined);
  }

  private async poll(): Promise<void> {
    const limit = this.o.settings.maxConcurrentActivityFunctions;
    while (!this.stopping) {
      // Receive once half the slots are free (or all are): fewer, larger receives, and nothing held that
      // cannot run at once, so the other workers compete for the rest.
      if (this.running.size >= limit || (this.running.size > 0 && limit - this.running.size < Math.ceil(limit / 2))) {
        await new Promise<void>((resolve) => (this.slotFreed = resolve));
        continue;
      }
      try {
        const received = await this.o.queues.receive<WorkItem>(this.o.queue, limit - this.running.size, this.o.settings.workItemQueueVisibilityTimeoutMs, this.o.host.clock.now());
        if (this.stopping) {
          if (received.messages.length) await this.o.queues.abandon(received.messages, () => 0);
          break;
        }
        if (received.messages.length) {
          this.backoff.reset();
          for (const message of received.messages) this.run(message);
          continue;
        }
      } catch (err) {
        if (!this.stopping) this.o.host.log('warning', 'durable', `receiving from ${this.o.queue}: ${err instanceof Error ? err.message : String(err)}`);
      }
      await this.backoff.wait();
    }
  }

  private run(message: ReceivedMessage<WorkItem>): void {
    this.o.busy(1);
    this.holding.add(message);
    const visibility = this.o.settings.workItemQueueVisibilityTimeoutMs;
    // DurableTask renews a running activity's message before it reappears: checks every 5 s, renews 30 s ahead.
    const checkEvery = Math.max(50, Math.min(5_000, visibility / 6));
    const ahead = Math.min(30_000, visibility / 2);
    let lockedUntil = Date.now() + visibility;
    let held = true;
    const renewer = setInterval(() => {
      if (!held || Date.now() < lockedUntil - ahead) return;
      void this.o.queues.renew(message, visibility).then(
        (ok) => {
          if (ok) lockedUntil = Date.now() + visibility;
          else held = false;
        },
        () => undefined,
      );
    }, checkEvery);
    const work = (async () => {
      const outcome = await this.invoke(message.body);
      clearInterval(renewer);
      // After stop() the result is dropped (the message was given back): it runs again, here or elsewhere.
      if (this.stopping || !this.holding.has(message)) return;
      const item = message.body;
      const dueAt = this.o.deliveryDelayMs > 0 ? this.o.host.clock.now() + this.o.deliveryDelayMs : undefined;
      await this.complete({ to: 'control', instanceId: item.instanceId, dueAt, message: { kind: 'event', instanceId: item.instanceId, executionId: item.executionId, scheduledName: item.name, event: outcome } }, held ? message : undefined);
    })()
      .catch((err: unknown) => {
        clearInterval(renewer);
        // The result could not be sent: the message reappears after its visibility and runs again.
        this.o.host.log('error', 'durable', `activity ${message.body.name} for ${message.body.instanceId}: ${err instanceof Error ? err.message : String(err)}`);
      })
      .finally(() => {
        this.holding.delete(message);
        this.running.delete(work);
        const freed = this.slotFreed;
        this.slotFreed = undefined;
        freed?.();
        this.o.busy(-1);
      });
    this.running.add(work);
  }

  /**
   * Sends a result, then deletes its work item. Results that finish in the same turn go together: one
   * transaction per control queue, one for the work items. A work item still held (renewed in time) is
   * deleted without its receipt: nobody else can have received it meanwhile.
   */
  private complete(result: Outbound, message: ReceivedMessage<WorkItem> | undefined): Promise<void> {
    if (!this.pending) {
      const batch: { results: Outbound[]; done: ReceivedMessage<WorkItem>[]; flushed: Promise<void> } = { results: [], done: [], flushed: Promise.resolve() };
      batch.flushed = new Promise<void>((resolve) => setImmediate(resolve)).then(async () => {
        this.pending = undefined;
        await this.o.send(batch.results);
        await this.o.queues.delete(batch.done, true);
      });
      this.pending = batch;
    }
    this.pending.results.push(result);
    if (message) this.pending.done.push(message);
    return this.pending.flushed;
  }

  private async invoke(item: WorkItem): Promise<HistoryEvent> {
    const host = this.o.host;
    const fn = host.registry.get(item.name);
    if (!fn || fn.trigger.type !== 'activityTrigger') {
      return event(EventType.TaskFailed, host.clock.now(), { TaskScheduledId: item.taskId, Reason: `The function '${item.name}' doesn't exist, is disabled, or is not an activity function.`, Details: '' });
    }
    try {
      const { result } = await host.invoke(fn, JSON.parse(item.input));
      return event(EventType.TaskCompleted, host.clock.now(), { TaskScheduledId: item.taskId, Result: JSON.stringify(result ?? null) });
    } catch (err) {
      const error = err instanceof Error ? err : new Error(String(err));
      return event(EventType.TaskFailed, host.clock.now(), { TaskScheduledId: item.taskId, Reason: error.message, Details: error.stack ?? '' });
    }
  }
}
