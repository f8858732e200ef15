/**
 * What travels through the task hub's queues, as DurableTask's TaskMessages do: every message names the
 * instance (and, where it matters, the execution) it is for. Control-queue messages start, wake or end an
 * orchestration; work items run an activity.
 */
import type { HistoryEvent } from './history';

export interface ParentRef {
  instanceId: string;
  executionId: string;
  taskId: number;
}

/** ExecutionStarted: from a client, a parent (a sub-orchestration) or the instance itself (continue-as-new). */
export interface StartMessage {
  kind: 'start';
  instanceId: string;
  executionId: string;
  name: string;
  /** JSON text. */
  input?: string;
  parent?: ParentRef;
  /** For continue-as-new: the execution it follows, and the external events it carries over. */
  previousExecutionId?: string;
  carried?: HistoryEvent[];
}

/** An event for the orchestration's next episode: a completion, a timer, an external event. */
export interface EventMessage {
  kind: 'event';
  instanceId: string;
  /** The execution it answers; external events go to whichever execution is current. */
  executionId?: string;
  event: HistoryEvent;
  /** For a completion: the name of what was scheduled, checked against the history. */
  scheduledName?: string;
}

export interface TerminateMessage {
  kind: 'terminate';
  instanceId: string;
  executionId: string;
  reason: string;
}

export type ControlMessage = StartMessage | EventMessage | TerminateMessage;

/** An activity to run; its completion goes to the instance's control queue. */
export interface WorkItem {
  instanceId: string;
  executionId: string;
  taskId: number;
  name: string;
  /** JSON text. */
  input: string;
}

/** A message to send once an episode is decided (before its history is committed, as DurableTask does). */
export type Outbound =
  | { to: 'control'; instanceId: string; message: ControlMessage; dueAt?: number; id?: string }
  | { to: 'workItem'; message: WorkItem };
