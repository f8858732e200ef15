/**
 * One orchestrator episode: the registered orchestrator callback (the SDK's own replay) runs over the
 * instance's history, and the result is read back as the host reads it: done or not, output, error,
 * custom status, and the tasks the code has scheduled, each with the sequence id the SDK gave it.
 *
 * The ids come from the SDK's own bookkeeping. Retries and long timers take ids while events are
 * replayed, interleaved with the code's yields, so the host cannot derive them from the action list
 * alone; the Azure extension gets them by replaying the same calls in DurableTask.Core. Here a
 * small hook on the SDK's executor records every id it hands out during the episode.
 */
import { InvocationContext } from '@azure/functions';
import { randomUUID } from 'node:crypto';
import { createRequire } from 'node:module';
import type { FunctionCallback } from '../host/registry';
import type { HistoryEvent, ScheduledKind } from './history';

/** What the code asked for at one sequence id. */
export interface ScheduledTask {
  id: number;
  kind: ScheduledKind;
  /** Activity or orchestrator name; empty for timers. */
  name: string;
  /** Input as the action carries it (activities: JSON text for strings, the value otherwise). */
  input?: unknown;
  fireAt?: number;
  /** Sub-orchestration instance id, when the code chose one. */
  instanceId?: string;
  /** A timer that the code cancelled (a lost Task.any race): it need not fire. */
  canceled?: boolean;
  /** For the timer between retry attempts: the retry policy and how many attempts have failed. */
  retryDelay?: { options: RetryPolicy; failedAttempts: number };
}

export interface RetryPolicy {
  firstRetryIntervalInMilliseconds: number;
  maxNumberOfAttempts: number;
  backoffCoefficient?: number;
  maxRetryIntervalInMilliseconds?: number;
  retryTimeoutInMilliseconds?: number;
}

export interface EpisodeResult {
  isDone: boolean;
  output?: unknown;
  /** The orchestrator failed; the SDK's message built from the error (and its stack). */
  error?: string;
  customStatus?: unknown;
  continueAsNew?: { input: unknown };
  scheduled: ScheduledTask[];
  /** Actions this runtime does not carry out (entities, HTTP); named for the failure message. */
  unsupported: string[];
  /** How many waitForExternalEvent calls were made per event name (for carrying events over). */
  eventWaits: Map<string, number>;
}

export interface BindingInfoOptions {
  history: HistoryEvent[];
  input: unknown;
  instanceId: string;
  parentInstanceId?: string;
}

/** ReplaySchema V4 as the current extension announces it; V2 in the legacy field. */
const UPPER_SCHEMA_VERSION = 1;
const UPPER_SCHEMA_VERSION_NEW = 3;

export function bindingInfo(o: BindingInfoOptions): Record<string, unknown> {
  return {
    // The SDK turns Timestamps into Dates in place, so each episode gets its own copy.
    history: JSON.parse(JSON.stringify(o.history)) as unknown,
    input: o.input,
    instanceId: o.instanceId,
    isReplaying: false,
    parentInstanceId: o.parentInstanceId ?? null,
    upperSchemaVersion: UPPER_SCHEMA_VERSION,
    upperSchemaVersionNew: UPPER_SCHEMA_VERSION_NEW,
    longRunningTimerIntervalDuration: '3.00:00:00',
    maximumShortTimerDuration: '6.00:00:00',
    defaultHttpAsyncRequestSleepTimeMillseconds: 30000,
  };
}

const OUT_OF_PROC_LABEL = '\n\n$OutOfProcData$:';

// ---- The SDK hook ----

interface SdkAction {
  actionType: number;
  functionName?: string;
  input?: unknown;
  instanceId?: string;
  fireAt?: Date | string;
  isCanceled?: boolean;
  externalEventName?: string;
  retryOptions?: RetryPolicy;
}

interface SdkTask {
  id: number | string | false;
  actionObj: SdkAction | string | undefined;
  parent?: SdkTask & { children?: SdkTask[]; retryOptions?: RetryPolicy };
  children?: SdkTask[];
}

interface Recorder {
  assigned: SdkTask[];
  waits: Map<string, number>;
}

let current: Recorder | undefined;
let hooked = false;

function installHook(): void {
  if (hooked) return;
  // Resolved from the app's durable-functions, the copy whose executor the registered orchestrators use.
  const sdkRequire = createRequire(createRequire(__filename).resolve('durable-functions/package.json'));
  const mod = sdkRequire('./lib/src/orchestrations/TaskOrchestrationExecutor') as {
    TaskOrchestrationExecutor: { prototype: { trackOpenTask(task: SdkTask): void } };
  };
  const { CompoundTask } = sdkRequire('./lib/src/task') as { CompoundTask: abstract new (...args: never[]) => unknown };
  const proto = mod.TaskOrchestrationExecutor.prototype;
  const original = proto.trackOpenTask;
  proto.trackOpenTask = function (this: unknown, task: SdkTask) {
    const recorder = current;
    const isLeaf = !(task instanceof CompoundTask);
    const unassigned = task.id === false;
    original.call(this, task);
    if (!recorder || !isLeaf) return;
    if (unassigned && typeof task.id === 'number') recorder.assigned.push(task);
    else if (typeof task.id === 'string') recorder.waits.set(task.id, (recorder.waits.get(task.id) ?? 0) + 1);
  };
  hooked = true;
}

const ActionType = {
  CallActivity: 0,
  CallActivityWithRetry: 1,
  CallSubOrchestrator: 2,
  CallSubOrchestratorWithRetry: 3,
  ContinueAsNew: 4,
  CreateTimer: 5,
  WaitForExternalEvent: 6,
} as const;

function describeTask(task: SdkTask): ScheduledTask | string {
  const id = task.id as number;
  const action = typeof task.actionObj === 'object' ? task.actionObj : undefined;
  if (action) {
    switch (action.actionType) {
      case ActionType.CallActivity:
      case ActionType.CallActivityWithRetry:
        return { id, kind: 'activity', name: action.functionName ?? '', input: action.input };
      case ActionType.CallSubOrchestrator:
      case ActionType.CallSubOrchestratorWithRetry:
        return { id, kind: 'subOrchestration', name: action.functionName ?? '', input: action.input, instanceId: action.instanceId || undefined };
      case ActionType.CreateTimer: {
        const parentAction = typeof task.parent?.actionObj === 'object' ? task.parent.actionObj : undefined;
        const canceled = action.isCanceled === true || (parentAction?.actionType === ActionType.CreateTimer && parentAction.isCanceled === true);
        return { id, kind: 'timer', name: '', fireAt: new Date(action.fireAt as Date | string).getTime(), canceled };
      }
      default:
        return `action type ${action.actionType}`;
    }
  }
  // A retry's follow-up: its children alternate attempt, timer, attempt, timer, ... (the SDK's RetryableTask).
  const parent = task.parent;
  const parentAction = parent && typeof parent.actionObj === 'object' ? parent.actionObj : undefined;
  if (parent?.retryOptions && parentAction && parent.children) {
    const index = parent.children.indexOf(task);
    if (index % 2 === 1) {
      return { id, kind: 'timer', name: '', retryDelay: { options: parent.retryOptions, failedAttempts: (index + 1) / 2 } };
    }
    const kind: ScheduledKind = parentAction.actionType === ActionType.CallSubOrchestratorWithRetry ? 'subOrchestration' : 'activity';
    return { id, kind, name: parentAction.functionName ?? '', input: parentAction.input, instanceId: kind === 'subOrchestration' ? parentAction.instanceId || undefined : undefined };
  }
  return 'an untracked task';
}

function flatten(actions: unknown, out: SdkAction[] = []): SdkAction[] {
  if (Array.isArray(actions)) for (const a of actions) flatten(a, out);
  else if (actions && typeof actions === 'object') {
    const action = actions as SdkAction & { compoundActions?: unknown };
    if (Array.isArray(action.compoundActions)) flatten(action.compoundActions, out);
    else out.push(action);
  }
  return out;
}

interface SdkState {
  isDone: boolean;
  actions: unknown;
  output?: unknown;
  error?: string;
  customStatus?: unknown;
}

/** Runs one episode of the orchestrator over `info` (see bindingInfo). */
export async function runEpisode(
  callback: FunctionCallback,
  functionName: string,
  info: Record<string, unknown>,
  log: (level: string, message: string) => void = () => undefined,
): Promise<EpisodeResult> {
  installHook();
  const recorder: Recorder = { assigned: [], waits: new Map() };
  // A fresh context each time: the SDK only builds context.df when it is missing.
  const context = new InvocationContext({
    functionName,
    invocationId: randomUUID(),
    logHandler: (level, ...args) => log(level, args.map(String).join(' ')),
  });
  let state: SdkState;
  let pending: unknown;
  current = recorder;
  try {
    // The generator runs synchronously inside this call, so the recorder sees exactly this episode.
    pending = callback(info, context);
  } catch (err) {
    pending = Promise.reject(err);
  } finally {
    current = undefined;
  }
  try {
    state = (await pending) as SdkState;
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    const at = message.indexOf(OUT_OF_PROC_LABEL);
    if (at < 0) return { isDone: false, error: message, scheduled: [], unsupported: [], eventWaits: recorder.waits };
    const embedded = JSON.parse(message.slice(at + OUT_OF_PROC_LABEL.length)) as SdkState;
    return {
      isDone: false,
      error: embedded.error ?? message.slice(0, at),
      customStatus: embedded.customStatus,
      scheduled: [],
      unsupported: [],
      eventWaits: recorder.waits,
    };
  }
  const scheduled: ScheduledTask[] = [];
  const unsupported: string[] = [];
  for (const task of recorder.assigned) {
    const described = describeTask(task);
    if (typeof described === 'string') unsupported.push(described);
    else scheduled.push(described);
  }
  const continueAction = flatten(state.actions).find((a) => a.actionType === ActionType.ContinueAsNew);
  return {
    isDone: state.isDone,
    output: state.output,
    customStatus: state.customStatus,
    continueAsNew: state.isDone && continueAction ? { input: continueAction.input } : undefined,
    scheduled,
    unsupported,
    eventWaits: recorder.waits,
  };
}

/** The delay before the next attempt, as DurableTask.Core's RetryInterceptor computes it. */
export function retryDelayMs(policy: RetryPolicy, failedAttempts: number): number {
  const coefficient = policy.backoffCoefficient ?? 1;
  const delay = policy.firstRetryIntervalInMilliseconds * Math.pow(coefficient, failedAttempts - 1);
  const cap = policy.maxRetryIntervalInMilliseconds;
  return cap !== undefined && cap > 0 && delay > cap ? cap : delay;
}
