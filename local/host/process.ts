/**
 * A function host in a process of its own, started against the endpoints of Table Storage, the broker and
 * Graph: what a Functions instance is in Azure. It can be stopped cleanly, or killed with SIGKILL as a crash
 * would, and started again on the same port and the same storage: every Durable instance resumes from its
 * history, every message not completed comes back. Several host processes may run against the same
 * endpoints (scale-out); each is one `startHostProcess`.
 */
import os from 'node:os';
import path from 'node:path';
import { forkChild, type ChildExit, type ChildHandle } from '../process/child';
import type { HostLogger, LogLevel } from './host';
import type { HostSpec } from './launch';

export interface HostReady {
  url: string;
  apiUrl: string;
  /** Named endpoints of the host's extensions (the Durable webhooks, its RPC address). */
  endpoints: Record<string, string>;
  pid: number;
  /** Every scale group of the app (`http`, `durable`, `function:<name>`), whichever this process runs. */
  appScaleGroups: string[];
}

export interface HostProcess {
  /** The current process's addresses (a restart keeps them). */
  readonly url: string;
  readonly apiUrl: string;
  readonly endpoints: Record<string, string>;
  readonly pid: number;
  /** What the current process reported when it was ready. */
  readonly ready: HostReady;
  /** Resolves when the current process exits. */
  readonly exited: Promise<ChildExit>;
  /** Stops it as a deployment would: running work finishes or is abandoned, nothing is lost either way. */
  stop(): Promise<ChildExit>;
  /** Kills it (SIGKILL by default): a crash at whatever moment it was in. */
  kill(signal?: NodeJS.Signals): Promise<ChildExit>;
  /** Starts a new process with the same spec, on the same port; the old one must have exited. */
  restart(): Promise<void>;
}

export interface HostProcessOptions {
  logger?: HostLogger;
  /** Extra Node flags for the host process (after the instance's own, so they may override them). */
  execArgv?: string[];
  /** The process's CPU priority (a nice value: higher yields to others), set at every start. */
  priority?: number;
}

const ENTRY = path.join(__dirname, 'main.ts');

/**
 * Each instance's V8 heap limit (MB), the one the deployment passes to the Node worker
 * (`languageWorkers__node__arguments` in infra/modules/functionapp.bicep; test/infra checks that they agree).
 * Without a limit V8 sizes its heap by how fast the app allocates, not by what stays live: at 200 customers
 * an instance's live heap fell back to 75–125 MB at each collection while V8 held up to 380 MB and the
 * process peaked at 545–620 MB (`bench:estate`). With the limit V8 grows its heap more slowly: 261 MB at 50
 * customers against 464 MB without, for more collection work (the host's CPU 343 s against 269 s, one
 * run each). 384 rather than less: a 100,000-user sync peaked at 285–385 MB with it across runs
 * (`bench:sync`), and a live heap at the limit fails loudly (out of memory), never silently.
 */
export const INSTANCE_HEAP_LIMIT_MB = 384;
export const INSTANCE_NODE_ARGUMENTS: readonly string[] = [`--max-old-space-size=${INSTANCE_HEAP_LIMIT_MB}`];

export async function startHostProcess(spec: HostSpec, options: HostProcessOptions = {}): Promise<HostProcess> {
  const onLog = (level: string, source: string, message: string) => options.logger?.(level as LogLevel, source, message);
  const fork = async () => {
    const started = await forkChild<HostReady>(ENTRY, spec, { onLog, execArgv: [...INSTANCE_NODE_ARGUMENTS, ...(options.execArgv ?? [])] });
    if (options.priority !== undefined) os.setPriority(started.pid, options.priority);
    return started;
  };
  let child: ChildHandle<HostReady> = await fork();
  // A restarted host listens where the first one did: saved check-status links and webhooks keep working.
  spec = { ...spec, port: Number(new URL(child.ready.url).port) };
  return {
    get url() {
      return child.ready.url;
    },
    get apiUrl() {
      return child.ready.apiUrl;
    },
    get endpoints() {
      return child.ready.endpoints;
    },
    get pid() {
      return child.pid;
    },
    get ready() {
      return child.ready;
    },
    get exited() {
      return child.exited;
    },
    stop: () => child.stop(),
    kill: (signal) => child.kill(signal),
    async restart() {
      await child.exited;
      child = await fork();
    },
  };
}
