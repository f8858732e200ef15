/**
 * A function host against given endpoints: the function app loaded into the local host, with the Durable
 * extension on the Table Storage of `AzureWebJobsStorage` and Service Bus triggers on the broker of the
 * triggers' connection setting. The same launch serves a host inside the caller's process and a host process
 * of its own (`process.ts`), so `npm start`, the tests and the benchmarks run the same wiring.
 */
import { createHash } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import type { Clock } from './clock';
import { ExecutionLog } from './executionLog';
import { LocalHost, type HostExtension, type HostKeys, type HostLogger } from './host';
import { readHostJson } from './hostJson';
import { loadFunctionApp, PROJECT_ROOT } from './load';
import type { FunctionRegistry } from './registry';
import { TableSingletonLocks, TableTimerStatusStore, type TimerLockSettings } from './timers';
import { DurableExtension, type DurableExtensionOptions } from '../durable';
import type { LocalBroker } from '../servicebus/broker';
import { ServiceBusExtension } from '../servicebus/trigger';

/** Everything a host needs, as plain data: it crosses a process boundary. */
export interface HostSpec {
  /** The app settings, connection strings included (the host puts them in its environment). */
  settings: Record<string, string>;
  keys: HostKeys;
  /** 0 picks a free port; a restarted host asks for the port it had. */
  port: number;
  enableTimers?: boolean;
  /** Options of the local Durable runtime (tests widen its delivery delay, shorten its lease periods). */
  durable?: Pick<DurableExtensionOptions, 'deliveryDelayMs' | 'settings' | 'shutdownGraceMs'>;
  /** Timer listener lock periods over host.json's `singleton` section (tests shorten them). */
  timerLocks?: Partial<TimerLockSettings>;
  /** Host extensions to leave out (for focused tests). */
  without?: Array<'durable' | 'serviceBus'>;
  /** Where the function files are (default: the project's `functions/`). */
  functionsDir?: string;
  /**
   * This instance's name among the app's instances (its Durable worker id and its name on listener locks;
   * an instance started again under the same name finds its own leases). Default: the process id.
   */
  instanceId?: string;
  /** The scale groups this instance runs (`http`, `durable`, `function:<name>`); default all (LocalHost). */
  scaleGroups?: string[];
  /** The app's public address when a front door spreads requests over several instances. */
  publicUrl?: string;
  /** Write an execution log (orchestration episodes, timer runs) into this folder. */
  executionLogDir?: string;
}

/**
 * The app's host id, as the Functions host derives it locally: machine name and a hash of the app's path.
 * Instances of one app share it, and with it their listener locks and timer status.
 */
export function localHostId(root = PROJECT_ROOT): string {
  const hash = createHash('sha256').update(root).digest('hex').slice(0, 10);
  return `${os.hostname()}-${hash}`.toLowerCase().slice(0, 32).replace(/-+$/, '');
}

export interface LaunchedHost {
  host: LocalHost;
  durable?: DurableExtension;
  serviceBus?: ServiceBusExtension;
}

export interface InProcessOptions {
  clock?: Clock;
  logger?: HostLogger;
  /** Reported in the host's endpoints. */
  broker?: LocalBroker;
  /** A registry loaded already (a second host in the same process reuses it: modules load once). */
  registry?: FunctionRegistry;
}

export async function launchHost(spec: HostSpec, options: InProcessOptions = {}): Promise<LaunchedHost> {
  const registry = options.registry ?? (await loadFunctionApp(spec.functionsDir ?? path.join(PROJECT_ROOT, 'functions')));
  const storage = spec.settings.AzureWebJobsStorage;
  if (!storage) throw new Error('AzureWebJobsStorage is not set: the host keeps its timers and Durable state there');
  const without = new Set(spec.without ?? []);
  const instanceId = spec.instanceId ?? `${os.hostname()}:${process.pid}`;
  const runsDurable = spec.scaleGroups === undefined || spec.scaleGroups.includes('durable');
  const executionLog = spec.executionLogDir ? new ExecutionLog(spec.executionLogDir, instanceId) : undefined;
  const durable = without.has('durable')
    ? undefined
    : new DurableExtension({ connectionString: storage, ...spec.durable, role: runsDurable ? 'worker' : 'client', workerId: instanceId, executionLog });
  const serviceBus = without.has('serviceBus') ? undefined : new ServiceBusExtension({ broker: options.broker });
  const hostId = localHostId();
  const extensions: HostExtension[] = [durable, serviceBus].filter((e): e is DurableExtension | ServiceBusExtension => e !== undefined);
  const host = await LocalHost.start({
    registry,
    hostJson: readHostJson(PROJECT_ROOT),
    settings: spec.settings,
    keys: spec.keys,
    port: spec.port,
    clock: options.clock,
    logger: options.logger,
    extensions,
    enableTimers: spec.enableTimers,
    timerStatusStore: new TableTimerStatusStore(storage, hostId),
    singletonLocks: new TableSingletonLocks(storage, hostId),
    timerLocks: spec.timerLocks,
    instanceId,
    executionLog,
    scaleGroups: spec.scaleGroups,
    publicUrl: spec.publicUrl,
  });
  // Graph's notifications come back to this host unless a public URL was given; its address is known
  // only once it listens.
  if (!spec.settings.SITESYNC_WEBHOOK_BASE_URL) host.setSetting('SITESYNC_WEBHOOK_BASE_URL', host.url);
  return { host, durable, serviceBus };
}
