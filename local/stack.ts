/**
 * The whole local runtime in one call: the services (Table Storage, the Service Bus broker, the Microsoft
 * Graph emulator with a demo tenant; `services/`) and a function host against them (`host/launch.ts`).
 * - `startLocalStack` runs the host inside the caller's process (tests that reach into it, benchmarks);
 * - `startLocalRuntime` runs it as a process of its own that can be killed and started again on the same
 *   services (`npm start`, the crash test); or several such processes, the app's instances, behind a front
 *   door (`instances`), optionally split by Flex Consumption's scale groups (`scaleGroups`).
 * Both resolve the app settings the same way and write the same endpoints.
 */
import { PROJECT_ROOT } from './host/load';
import type { Clock } from './host/clock';
import type { HostKeys, HostLogger, LocalHost } from './host/host';
import { startFrontDoor, type FrontDoor } from './host/frontDoor';
import { launchHost, type HostSpec } from './host/launch';
import { startHostProcess, type HostProcess } from './host/process';
import type { ChildExit } from './process/child';
import type { TimerLockSettings } from './host/timers';
import type { DurableExtension } from './durable';
import type { ServiceBusExtension } from './servicebus/trigger';
import type { LocalBroker } from './servicebus/broker';
import type { BrokerQueueSpec } from './servicebus/queues';
import type { TableServerHandle } from './azurite';
import type { GraphEmulator, GraphEmulatorOptions } from './graph-emulator';
import { readLocalSettings, resolveSettings, type SettingValues } from './settings';
import { generateKeys, type LocalKeys } from './keys';
import { startServices, type DemoCredentials, type ExternalGraph, type LocalServices } from './services';
import { SETTINGS } from '../shared/config/settings';
import { API_ROUTE_PREFIX } from '../shared/http/openapi';

export { DEMO_SECRET_SETTING, type DemoCredentials, type ExternalGraph } from './services';

export interface LocalStackOptions {
  /** Port of the HTTP host; 0 picks a free one. */
  hostPort?: number;
  /** Keep Table Storage, the broker's queues and the emulator's state in this folder instead of memory. */
  persistDir?: string;
  /** Use this Table Storage instead of starting Azurite (benchmarks keep it in another process). */
  tablesConnectionString?: string;
  /** Where the emulator's CA file and other run files go (default: a temp folder). */
  runDir?: string;
  clock?: Clock;
  logger?: HostLogger;
  enableTimers?: boolean;
  /** Settings given as flags: they win over the environment, local.settings.json and the defaults. */
  settings?: Record<string, string>;
  /** The environment the settings are resolved against (default: process.env as it is at start). */
  environment?: SettingValues;
  /** Read local.settings.json from this folder (default: the project root). */
  settingsRoot?: string;
  /**
   * The Microsoft side: the Graph emulator with a generated demo tenant (default 2,000 users), or an
   * external Graph-compatible endpoint, or none.
   */
  graph?: { emulator: GraphEmulatorOptions & { users?: number; seed?: string; /** Auto attendants and call queues with their resource accounts (default false). */ resourceAccounts?: boolean } } | { external: ExternalGraph } | false;
  /** Options of the local Durable runtime (tests widen its delivery delay, shorten its lease periods). */
  durable?: HostSpec['durable'];
  /** Timer listener lock periods over host.json's `singleton` section (tests shorten them). */
  timerLocks?: Partial<TimerLockSettings>;
  /** Each host writes an execution log (orchestration episodes, timer runs) into this folder. */
  executionLogDir?: string;
  /** How many host processes (the app's instances) share the services, behind one front door (default 1). */
  instances?: number;
  /**
   * Run the app as Flex Consumption scales it: one process per scale group (HTTP triggers; Durable
   * functions; each other function alone), `instances` of each.
   */
  scaleGroups?: boolean;
  /** Start an instance again (same name, same leases) when its process dies, as Azure replaces a failed one. */
  restartOnExit?: (instance: RuntimeInstance, exit: ChildExit) => void;
  /** Host extensions to leave out (for focused tests). */
  without?: Array<'durable' | 'serviceBus'>;
  /** The runtime's keys (`npm start` keeps them in .local/keys.json); default: fresh ones. */
  keys?: LocalKeys;
  /** The broker's queues (default: the app's); tests may shorten lock durations. */
  queues?: BrokerQueueSpec[];
}

export interface Endpoints {
  hostUrl: string;
  apiUrl: string;
  functionKey: string;
  masterKey: string;
  /** The Durable extension's system key, for `/runtime/webhooks/durabletask`. */
  durableSystemKey: string;
  tablesConnectionString: string;
  [part: string]: string;
}

/** What both shapes of the runtime share: the services, the settings, the keys and the endpoints. */
interface RuntimeBase {
  services: LocalServices;
  /** Azurite, when the runtime started it. */
  tables?: TableServerHandle;
  tablesConnectionString: string;
  broker: LocalBroker;
  graph?: GraphEmulator;
  /** The demo tenant's app registration, when the emulator runs. */
  demo?: DemoCredentials;
  endpoints: Endpoints;
  settings: Record<string, string>;
  keys: LocalKeys;
  /** The spec a host is launched from (another host process may be started from it). */
  hostSpec: HostSpec;
  stop(): Promise<void>;
}

export interface LocalStack extends RuntimeBase {
  host: LocalHost;
  durable?: DurableExtension;
  serviceBus?: ServiceBusExtension;
  /** Stops the host (as a deployment would) and starts a new one on the same storage, broker and Graph. */
  restartHost(): Promise<LocalHost>;
}

/** One of the app's instances: a host process under a name it keeps across restarts. */
export interface RuntimeInstance {
  name: string;
  /** The scale groups it runs; undefined: all of them. */
  groups?: string[];
  process: HostProcess;
}

export interface LocalRuntime extends RuntimeBase {
  /** The first instance's process (the only one unless `instances` or `scaleGroups` say otherwise). */
  host: HostProcess;
  /** The instances running now. */
  instances: RuntimeInstance[];
  /** The app's public address in front of several instances (none with a single instance). */
  frontDoor?: FrontDoor;
  /** Kills the first instance (SIGKILL) and starts it again under its name, on the same services and port. */
  crashHost(): Promise<void>;
  /** Starts another instance (a new name: it takes work over from others as Azure's new instances do). */
  startInstance(groups?: string[]): Promise<RuntimeInstance>;
  /** Kills an instance (SIGKILL by default) and leaves it dead: the others take its work over. */
  killInstance(instance: RuntimeInstance, signal?: NodeJS.Signals): Promise<ChildExit>;
}

async function startBase(options: LocalStackOptions): Promise<Omit<RuntimeBase, 'endpoints' | 'stop'> & { partialEndpoints: Record<string, string> }> {
  const fileSettings = readLocalSettings(options.settingsRoot ?? PROJECT_ROOT);
  const environment = options.environment ?? { ...process.env };
  const keys = options.keys ?? generateKeys();
  const services = await startServices({
    keys,
    persistDir: options.persistDir,
    tablesConnectionString: options.tablesConnectionString,
    runDir: options.runDir,
    clock: options.clock,
    queues: options.queues,
    graph: options.graph,
  });
  // The parts started here are as good as flags: their addresses are the only ones that work.
  const flags: Record<string, string> = { ...services.settings, ...options.settings };
  const settings = resolveSettings({ flags, environment, file: fileSettings, defaults: {} }, SETTINGS.map((s) => s.name)).values;
  const hostKeys: HostKeys = { functionKey: keys.functionKey, masterKey: keys.masterKey, systemKeys: { ...keys.systemKeys } };
  const hostSpec: HostSpec = {
    settings,
    keys: hostKeys,
    port: options.hostPort ?? 0,
    enableTimers: options.enableTimers,
    durable: options.durable,
    timerLocks: options.timerLocks,
    executionLogDir: options.executionLogDir,
    without: options.without,
  };
  return {
    services,
    tables: services.tables,
    tablesConnectionString: services.tablesConnectionString,
    broker: services.broker,
    graph: services.graph,
    demo: services.demo,
    settings,
    keys,
    hostSpec,
    partialEndpoints: {
      functionKey: keys.functionKey,
      masterKey: keys.masterKey,
      durableSystemKey: keys.systemKeys.durabletask_extension,
      ...services.endpoints,
    },
  };
}

/** The services and a host in this process. */
export async function startLocalStack(options: LocalStackOptions = {}): Promise<LocalStack> {
  const base = await startBase(options);
  const { partialEndpoints, ...rest } = base;
  try {
    const launch = (port: number) => launchHost({ ...base.hostSpec, port }, { clock: options.clock, logger: options.logger, broker: base.broker });
    let current = await launch(base.hostSpec.port);
    if (!base.settings.SITESYNC_WEBHOOK_BASE_URL) base.settings.SITESYNC_WEBHOOK_BASE_URL = current.host.url;
    const endpoints: Endpoints = {
      hostUrl: current.host.url,
      apiUrl: `${current.host.url}/${API_ROUTE_PREFIX}`,
      ...partialEndpoints,
      ...current.host.endpoints(),
    } as Endpoints;
    const stack: LocalStack = {
      ...rest,
      host: current.host,
      durable: current.durable,
      serviceBus: current.serviceBus,
      endpoints,
      async restartHost() {
        const port = Number(new URL(current.host.url).port);
        await current.host.stop();
        current = await launch(port);
        stack.host = current.host;
        stack.durable = current.durable;
        stack.serviceBus = current.serviceBus;
        Object.assign(endpoints, current.host.endpoints());
        return current.host;
      },
      async stop() {
        await current.host.stop();
        await base.services.stop();
      },
    };
    return stack;
  } catch (err) {
    await base.services.stop();
    throw err;
  }
}

/** The nice value of scale groups other than HTTP (see `launch` below). */
const BACKGROUND_GROUP_PRIORITY = 10;

/**
 * The services in this process and the function host as processes of their own: one by default; with
 * `instances` or `scaleGroups`, several behind a front door on `hostPort`, sharing the task hub, the broker
 * and the timers' locks as Azure's instances of one app share them.
 */
export async function startLocalRuntime(options: LocalStackOptions = {}): Promise<LocalRuntime> {
  if (options.clock) throw new Error('a host process runs on the system clock');
  const count = options.instances ?? 1;
  if (!Number.isInteger(count) || count < 1) throw new Error('instances must be a whole number of at least 1');
  const base = await startBase(options);
  const { partialEndpoints, ...rest } = base;
  const several = count > 1 || options.scaleGroups === true;
  const instances: RuntimeInstance[] = [];
  const named = new Map<string, number>();
  let frontDoor: FrontDoor | undefined;
  let stopping = false;
  const log = (level: string, source: string, message: string) => options.logger?.(level as never, source, message);
  try {
    if (several) {
      frontDoor = await startFrontDoor({ port: options.hostPort ?? 0 });
      if (!base.settings.SITESYNC_WEBHOOK_BASE_URL) base.settings.SITESYNC_WEBHOOK_BASE_URL = frontDoor.url;
    }
    const door = frontDoor;
    const refreshFrontDoor = () => door?.setBackends(instances.filter((i) => !i.groups || i.groups.includes('http')).map((i) => i.process.url));
    const launch = async (groups: string[] | undefined): Promise<RuntimeInstance> => {
      const prefix = groups === undefined ? 'instance' : groups[0].replace(/^function:/, '').replace(/[^A-Za-z0-9-]/g, '-');
      const n = (named.get(prefix) ?? 0) + 1;
      named.set(prefix, n);
      const name = `${prefix}-${n}`;
      const spec: HostSpec = { ...base.hostSpec, settings: { ...base.settings }, port: several ? 0 : base.hostSpec.port, instanceId: name, scaleGroups: groups, publicUrl: door?.url };
      // Flex Consumption gives the HTTP group instances of its own, which the other groups' work never slows.
      // On this one machine they share the cores: the other groups yield the CPU to the HTTP group instead.
      const priority = groups && !groups.includes('http') ? BACKGROUND_GROUP_PRIORITY : undefined;
      const instance: RuntimeInstance = { name, groups, process: await startHostProcess(spec, { logger: options.logger, ...(priority !== undefined ? { priority } : {}) }) };
      instances.push(instance);
      refreshFrontDoor();
      watch(instance);
      return instance;
    };
    const watch = (instance: RuntimeInstance): void => {
      if (!options.restartOnExit) return;
      void instance.process.exited.then(async (exit) => {
        if (stopping || !instances.includes(instance)) return;
        options.restartOnExit!(instance, exit);
        await instance.process.restart().catch((err: unknown) => log('error', 'runtime', `${instance.name} could not be started again: ${err instanceof Error ? err.message : String(err)}`));
        refreshFrontDoor();
        watch(instance);
      });
    };

    let groups: Array<string[] | undefined> = Array.from({ length: count }, () => undefined);
    if (options.scaleGroups) {
      // The HTTP group first: its process reports every scale group of the app.
      const first = await launch(['http']);
      const all = first.process.ready.appScaleGroups.filter((g) => g !== 'http');
      groups = [...Array.from({ length: count - 1 }, () => ['http']), ...all.flatMap((g) => Array.from({ length: count }, () => [g]))];
    }
    for (const g of groups) await launch(g);

    const entry = frontDoor?.url ?? instances[0].process.url;
    if (!base.settings.SITESYNC_WEBHOOK_BASE_URL) base.settings.SITESYNC_WEBHOOK_BASE_URL = entry;
    const endpoints = { hostUrl: entry, apiUrl: `${entry}/${API_ROUTE_PREFIX}`, ...partialEndpoints, ...instances[0].process.endpoints } as Endpoints;
    if (frontDoor) endpoints.durableClientUrl = `${frontDoor.url}/runtime/webhooks/durabletask`;
    const runtime: LocalRuntime = {
      ...rest,
      host: instances[0].process,
      instances,
      frontDoor,
      endpoints,
      async crashHost() {
        const first = instances[0];
        await first.process.kill('SIGKILL');
        if (!options.restartOnExit) await first.process.restart();
        else await waitForRestart(first.process);
        refreshFrontDoor();
        if (!frontDoor) Object.assign(endpoints, first.process.endpoints);
      },
      startInstance: (g) => launch(g),
      async killInstance(instance, signal = 'SIGKILL') {
        const index = instances.indexOf(instance);
        if (index >= 0) instances.splice(index, 1);
        refreshFrontDoor();
        return instance.process.kill(signal);
      },
      async stop() {
        stopping = true;
        await Promise.all(instances.map((i) => i.process.stop()));
        await frontDoor?.close();
        await base.services.stop();
      },
    };
    return runtime;
  } catch (err) {
    stopping = true;
    await Promise.all(instances.map((i) => i.process.kill('SIGKILL')));
    await frontDoor?.close();
    await base.services.stop();
    throw err;
  }
}

/** Resolves once a supervised process has been started again (its pid changed). */
async function waitForRestart(process: HostProcess): Promise<void> {
  const before = process.pid;
  while (process.pid === before) await new Promise((resolve) => setTimeout(resolve, 50));
}
