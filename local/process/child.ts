/**
 * The local runtime's parts as processes of their own: a parent forks a TypeScript entry point (run through
 * tsx, as `npm start` runs), waits for it to report ready, sends it requests over IPC, and can stop it
 * cleanly or kill it as a crash would. A child notices its parent's death (the IPC channel closes) and
 * reacts as its part should: a host dies with it, the storage flushes and exits.
 */
import { fork, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

/** tsx's loader, by absolute path, so a child starts the same wherever the parent was started from. */
const TSX_LOADER = pathToFileURL(path.join(path.dirname(require.resolve('tsx/package.json')), 'dist', 'loader.mjs')).href;

type ParentMessage = { kind: 'start'; argument: unknown } | { kind: 'request'; seq: number; command: unknown } | { kind: 'stop' };
type ChildMessage =
  | { kind: 'ready'; value: unknown }
  | { kind: 'reply'; seq: number; value?: unknown; error?: string }
  | { kind: 'log'; level: string; source: string; message: string }
  | { kind: 'failed'; error: string };

export interface ChildExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface ChildHandle<Ready> {
  readonly ready: Ready;
  readonly pid: number;
  /** Resolves when the process has exited, however. */
  readonly exited: Promise<ChildExit>;
  request<T>(command: unknown): Promise<T>;
  /** Asks the child to stop cleanly and waits for it to exit (killing it after `graceMs`). */
  stop(graceMs?: number): Promise<ChildExit>;
  /** Sends a signal (SIGKILL by default: a crash) and waits for the exit. */
  kill(signal?: NodeJS.Signals): Promise<ChildExit>;
}

export interface ForkOptions {
  /** Log lines the child forwards. */
  onLog?: (level: string, source: string, message: string) => void;
  /** Extra Node flags (memory limits). */
  execArgv?: string[];
  env?: NodeJS.ProcessEnv;
  /** How long to wait for ready (default 120 s: a large demo tenant takes a while to generate). */
  readyTimeoutMs?: number;
}

/**
 * Forks `script`, hands it `argument` over IPC (never on the command line, which every local user can read:
 * it holds keys and secrets) and resolves once it reports ready.
 */
export function forkChild<Ready>(script: string, argument: unknown, options: ForkOptions = {}): Promise<ChildHandle<Ready>> {
  const child: ChildProcess = fork(script, [], {
    execArgv: ['--import', TSX_LOADER, ...(options.execArgv ?? [])],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    env: options.env ?? process.env,
    serialization: 'advanced',
  });
  const exited = new Promise<ChildExit>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  send(child, { kind: 'start', argument });
  const pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  let seq = 0;
  void exited.then((exit) => {
    for (const p of pending.values()) p.reject(new Error(`the process ${path.basename(script)} exited (${exit.signal ?? exit.code}) before answering`));
    pending.clear();
  });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${path.basename(script)} did not report ready within ${options.readyTimeoutMs ?? 120_000} ms`));
    }, options.readyTimeoutMs ?? 120_000);
    timer.unref();
    void exited.then((exit) => {
      clearTimeout(timer);
      reject(new Error(`${path.basename(script)} exited (${exit.signal ?? exit.code}) before it was ready`));
    });
    child.on('message', (raw) => {
      const m = raw as ChildMessage;
      switch (m.kind) {
        case 'log':
          options.onLog?.(m.level, m.source, m.message);
          return;
        case 'failed':
          clearTimeout(timer);
          reject(new Error(m.error));
          return;
        case 'reply': {
          const p = pending.get(m.seq);
          pending.delete(m.seq);
          if (m.error !== undefined) p?.reject(new Error(m.error));
          else p?.resolve(m.value);
          return;
        }
        case 'ready': {
          clearTimeout(timer);
          const handle: ChildHandle<Ready> = {
            ready: m.value as Ready,
            pid: child.pid!,
            exited,
            request<T>(command: unknown): Promise<T> {
              return new Promise<T>((res, rej) => {
                const id = ++seq;
                pending.set(id, { resolve: res as (v: unknown) => void, reject: rej });
                send(child, { kind: 'request', seq: id, command });
              });
            },
            async stop(graceMs = 30_000) {
              if (child.exitCode !== null || child.signalCode !== null) return exited;
              send(child, { kind: 'stop' });
              const killer = setTimeout(() => child.kill('SIGKILL'), graceMs);
              const exit = await exited;
              clearTimeout(killer);
              return exit;
            },
            async kill(signal: NodeJS.Signals = 'SIGKILL') {
              if (child.exitCode === null && child.signalCode === null) child.kill(signal);
              return exited;
            },
          };
          resolve(handle);
        }
      }
    });
  });
}

function send(child: ChildProcess, message: ParentMessage): void {
  if (child.connected) child.send(message);
}

/** The child's side: the argument its parent hands it (the first message). */
export function childArgument<T>(): Promise<T> {
  return new Promise((resolve) => {
    const onMessage = (raw: unknown) => {
      const m = raw as ParentMessage;
      if (m.kind !== 'start') return;
      process.off('message', onMessage);
      resolve(m.argument as T);
    };
    process.on('message', onMessage);
  });
}

export interface ChildServer {
  /** Answers the parent's requests (an error is sent back as its message). */
  onRequest(handler: (command: unknown) => Promise<unknown>): void;
  ready(value: unknown): void;
  log(level: string, source: string, message: string): void;
}

/**
 * Serves the parent: `onStop` runs when the parent asks for a stop or dies (the IPC channel closes), and
 * the process exits after it.
 */
export function serveParent(onStop: (reason: 'asked' | 'parent-gone') => Promise<void>): ChildServer {
  let handler: ((command: unknown) => Promise<unknown>) | undefined;
  let stopping = false;
  const stop = (reason: 'asked' | 'parent-gone') => {
    if (stopping) return;
    stopping = true;
    onStop(reason)
      .catch((err: unknown) => console.error(err instanceof Error ? err.message : err))
      .finally(() => process.exit(0));
  };
  process.on('message', (raw) => {
    const m = raw as ParentMessage;
    if (m.kind === 'stop') return stop('asked');
    if (m.kind === 'request') {
      const reply = (body: { value?: unknown; error?: string }) => {
        if (process.connected) process.send?.({ kind: 'reply', seq: m.seq, ...body });
      };
      if (!handler) return reply({ error: 'this process answers no requests' });
      handler(m.command).then(
        (value) => reply({ value }),
        (err: unknown) => reply({ error: err instanceof Error ? err.message : String(err) }),
      );
    }
  });
  process.on('disconnect', () => stop('parent-gone'));
  return {
    onRequest(h) {
      handler = h;
    },
    ready(value) {
      process.send?.({ kind: 'ready', value });
    },
    log(level, source, message) {
      if (process.connected) process.send?.({ kind: 'log', level, source, message });
    },
  };
}

/** Reports a failed start to the parent (its forkChild rejects with the message) and exits non-zero. */
export function failStart(err: unknown): never {
  const error = err instanceof Error ? (err.stack ?? err.message) : String(err);
  if (process.connected && process.send) process.send({ kind: 'failed', error }, () => process.exit(1));
  else {
    console.error(error);
    process.exit(1);
  }
  // Keep the type: the exit happens once the message is out.
  return undefined as never;
}
