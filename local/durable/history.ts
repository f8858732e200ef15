/**
 * History events in the shape the Durable extension sends to out-of-process workers: DurableTask.Core
 * events, PascalCase, numeric EventType. The SDK replays these; the field names are its contract.
 */
export const EventType = {
  ExecutionStarted: 0,
  ExecutionCompleted: 1,
  ExecutionFailed: 2,
  ExecutionTerminated: 3,
  TaskScheduled: 4,
  TaskCompleted: 5,
  TaskFailed: 6,
  SubOrchestrationInstanceCreated: 7,
  SubOrchestrationInstanceCompleted: 8,
  SubOrchestrationInstanceFailed: 9,
  TimerCreated: 10,
  TimerFired: 11,
  OrchestratorStarted: 12,
  OrchestratorCompleted: 13,
  EventSent: 14,
  EventRaised: 15,
  ContinueAsNew: 16,
} as const;
export type EventTypeCode = (typeof EventType)[keyof typeof EventType];

export const EVENT_TYPE_NAMES: Record<number, string> = Object.fromEntries(Object.entries(EventType).map(([k, v]) => [v, k]));

export interface HistoryEvent {
  EventType: EventTypeCode;
  /** The task id for scheduling events (TaskScheduled, TimerCreated, SubOrchestrationInstanceCreated), otherwise -1. */
  EventId: number;
  IsPlayed: boolean;
  Timestamp: string;
  Name?: string;
  Input?: string;
  Result?: string;
  Reason?: string;
  Details?: string;
  TaskScheduledId?: number;
  TimerId?: number;
  FireAt?: string;
  InstanceId?: string;
  OrchestrationStatus?: string;
  /** Id of the stored inbox message an EventRaised came from, so a restart does not deliver it twice. */
  MessageId?: string;
}

export function event(type: EventTypeCode, at: number, fields: Partial<HistoryEvent> = {}): HistoryEvent {
  return { EventType: type, EventId: -1, IsPlayed: false, Timestamp: new Date(at).toISOString(), ...fields };
}

/** What the id of a scheduling event stands for; used to match replays against the history. */
export type ScheduledKind = 'activity' | 'timer' | 'subOrchestration';

export function scheduledKind(e: HistoryEvent): ScheduledKind | undefined {
  switch (e.EventType) {
    case EventType.TaskScheduled:
      return 'activity';
    case EventType.TimerCreated:
      return 'timer';
    case EventType.SubOrchestrationInstanceCreated:
      return 'subOrchestration';
    default:
      return undefined;
  }
}

/** The id a completion event answers, or undefined for events that complete nothing. */
export function completedId(e: HistoryEvent): number | undefined {
  switch (e.EventType) {
    case EventType.TaskCompleted:
    case EventType.TaskFailed:
    case EventType.SubOrchestrationInstanceCompleted:
    case EventType.SubOrchestrationInstanceFailed:
      return e.TaskScheduledId;
    case EventType.TimerFired:
      return e.TimerId;
    default:
      return undefined;
  }
}
