/**
 * The services (Table Storage, the broker, the Graph emulator) in a process of their own: what a test kills
 * to show that what they acknowledged survives, and what several host processes may share.
 */
import path from 'node:path';
import { forkChild, type ChildExit } from '../process/child';
import type { QueueStats } from '../servicebus/broker';
import type { DemoCredentials, ServicesOptions } from '.';

/** The options that can cross a process boundary (no clock, no functions). */
export type ServicesProcessOptions = Omit<ServicesOptions, 'clock'>;

export interface ServicesReady {
  settings: Record<string, string>;
  endpoints: Record<string, string>;
  tablesConnectionString: string;
  serviceBusConnectionString: string;
  demo?: DemoCredentials;
  /** The emulator found its world on disk. */
  graphRestored: boolean;
  pid: number;
}

export type ServicesRequest = { kind: 'control'; method: string; args: unknown[] } | { kind: 'queueStats'; queue: string };

export interface ServicesProcess extends ServicesReady {
  /** Calls a method of the emulator's control surface (`EmulatorControl`) in the services process. */
  control<T = unknown>(method: string, ...args: unknown[]): Promise<T>;
  queueStats(queue: string): Promise<QueueStats>;
  stop(): Promise<ChildExit>;
  kill(signal?: NodeJS.Signals): Promise<ChildExit>;
  readonly exited: Promise<ChildExit>;
}

export async function startServicesProcess(options: ServicesProcessOptions, log?: (level: string, source: string, message: string) => void): Promise<ServicesProcess> {
  const child = await forkChild<ServicesReady>(path.join(__dirname, 'main.ts'), options, { onLog: log, execArgv: ['--max-old-space-size=8192'] });
  return {
    ...child.ready,
    control: <T>(method: string, ...args: unknown[]) => child.request<T>({ kind: 'control', method, args } satisfies ServicesRequest),
    queueStats: (queue: string) => child.request<QueueStats>({ kind: 'queueStats', queue } satisfies ServicesRequest),
    stop: () => child.stop(),
    kill: (signal) => child.kill(signal),
    exited: child.exited,
  };
}
