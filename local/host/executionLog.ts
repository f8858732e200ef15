/**
 * A host's record of what it ran, one JSON line per event, written as it happens (appendFileSync: the
 * line is in the file before the work goes on, so a process killed at any moment leaves every line it
 * wrote). Each orchestration episode leaves a `begin` and an `end` line, each timer run a `fire` and a
 * `done` line. Reading the files of several instances together shows whether an orchestration ever ran on
 * two of them at once and whether a timer fired once per occurrence (`readExecutionLogs`).
 */
import { appendFileSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

export type ExecutionLogLine =
  | { kind: 'episode'; phase: 'begin'; worker: string; pid: number; at: number; instanceId: string; executionId: string; queue: string; seq: number }
  | { kind: 'episode'; phase: 'end'; worker: string; pid: number; at: number; instanceId: string; executionId: string; seq: number; committed: boolean }
  | { kind: 'timer'; phase: 'fire'; worker: string; pid: number; at: number; functionName: string; scheduledFor: number; isPastDue: boolean; reason: TimerRunReason; seq: number }
  | { kind: 'timer'; phase: 'done'; worker: string; pid: number; at: number; functionName: string; scheduledFor: number; seq: number };

/** Why a timer ran: its schedule, a missed occurrence caught up, `runOnStartup`, or the admin API. */
export type TimerRunReason = 'schedule' | 'past-due' | 'startup' | 'admin';

export class ExecutionLog {
  private readonly file: string;
  private seq = 0;

  constructor(
    dir: string,
    readonly worker: string,
  ) {
    mkdirSync(dir, { recursive: true });
    this.file = path.join(dir, `${worker.replace(/[^A-Za-z0-9._-]/g, '_')}-${process.pid}.jsonl`);
  }

  /** An orchestration episode starts; `end` records that it finished (committed or given back). */
  begin(instanceId: string, executionId: string, queue: string): { end(committed: boolean): void } {
    const seq = ++this.seq;
    this.write({ kind: 'episode', phase: 'begin', worker: this.worker, pid: process.pid, at: Date.now(), instanceId, executionId, queue, seq });
    return {
      end: (committed) => this.write({ kind: 'episode', phase: 'end', worker: this.worker, pid: process.pid, at: Date.now(), instanceId, executionId, seq, committed }),
    };
  }

  /** A timer function runs for the occurrence due at `scheduledFor`; `done` records that it returned. */
  timer(functionName: string, scheduledFor: number, isPastDue: boolean, reason: TimerRunReason): { done(): void } {
    const seq = ++this.seq;
    this.write({ kind: 'timer', phase: 'fire', worker: this.worker, pid: process.pid, at: Date.now(), functionName, scheduledFor, isPastDue, reason, seq });
    return { done: () => this.write({ kind: 'timer', phase: 'done', worker: this.worker, pid: process.pid, at: Date.now(), functionName, scheduledFor, seq }) };
  }

  private write(line: ExecutionLogLine): void {
    appendFileSync(this.file, JSON.stringify(line) + '\n');
  }
}

/** Every line of every log in `dir` (a line cut short by a kill is skipped). */
export function readExecutionLogs(dir: string): ExecutionLogLine[] {
  const lines: ExecutionLogLine[] = [];
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.jsonl'))) {
    for (const text of readFileSync(path.join(dir, file), 'utf8').split('\n')) {
      if (!text.trim()) continue;
      try {
        lines.push(JSON.parse(text) as ExecutionLogLine);
      } catch {
        // The last line of a killed process may be incomplete.
      }
    }
  }
  return lines;
}

/** Two episodes of one orchestration that ran at the same time on different workers. */
export interface EpisodeOverlap {
  instanceId: string;
  a: { worker: string; pid: number; begin: number; end: number };
  b: { worker: string; pid: number; begin: number; end: number };
}

/**
 * Episodes of one orchestration that overlapped in time on different processes. An episode with no `end`
 * (its process was killed) lasts until `deaths[pid]`, or for ever when its death is not known.
 */
export function overlappingEpisodes(lines: ExecutionLogLine[], deaths: ReadonlyMap<number, number> = new Map()): EpisodeOverlap[] {
  const begun = new Map<string, Extract<ExecutionLogLine, { kind: 'episode'; phase: 'begin' }>>();
  const ends = new Map<string, number>();
  for (const line of lines) {
    if (line.kind !== 'episode') continue;
    const key = `${line.pid}:${line.seq}`;
    if (line.phase === 'begin') begun.set(key, line);
    else ends.set(key, line.at);
  }
  const byInstance = new Map<string, Array<{ worker: string; pid: number; begin: number; end: number }>>();
  for (const [key, line] of begun) {
    const end = ends.get(key) ?? deaths.get(line.pid) ?? Number.POSITIVE_INFINITY;
    const list = byInstance.get(line.instanceId) ?? [];
    list.push({ worker: line.worker, pid: line.pid, begin: line.at, end });
    byInstance.set(line.instanceId, list);
  }
  const overlaps: EpisodeOverlap[] = [];
  for (const [instanceId, list] of byInstance) {
    list.sort((x, y) => x.begin - y.begin);
    for (let i = 0; i < list.length; i++) {
      for (let j = i + 1; j < list.length && list[j].begin < list[i].end; j++) {
        if (list[j].pid !== list[i].pid) overlaps.push({ instanceId, a: list[i], b: list[j] });
      }
    }
  }
  return overlaps;
}

/** Timer runs per function and occurrence (`scheduledFor`), from every instance's log. */
export interface TimerRun {
  worker: string;
  pid: number;
  isPastDue: boolean;
  /** The run returned (false: still running, or its process was killed). */
  done: boolean;
}

/** Runs of scheduled occurrences (runs through the admin API left out) per function and occurrence (`scheduledFor`), from every instance's log. */
export function timerRuns(lines: ExecutionLogLine[]): Map<string, Map<number, TimerRun[]>> {
  const done = new Set(lines.filter((l) => l.kind === 'timer' && l.phase === 'done').map((l) => `${l.pid}:${l.seq}`));
  const runs = new Map<string, Map<number, TimerRun[]>>();
  for (const line of lines) {
    if (line.kind !== 'timer' || line.phase !== 'fire' || line.reason === 'admin') continue;
    const byOccurrence = runs.get(line.functionName) ?? new Map<number, TimerRun[]>();
    byOccurrence.set(line.scheduledFor, [...(byOccurrence.get(line.scheduledFor) ?? []), { worker: line.worker, pid: line.pid, isPastDue: line.isPastDue, done: done.has(`${line.pid}:${line.seq}`) }]);
    runs.set(line.functionName, byOccurrence);
  }
  return runs;
}
