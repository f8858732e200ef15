/**
 * The whole local runtime in one call: the services (Table Storage, the Service Bus broker, the Microsoft
 * Graph emulator with a demo tenant; `services/`) and a function host against them (`host/launch.ts`).
 * - `startLocalStack` runs the host inside the caller's process (tests that reach into it, benchmarks);
 * - `startLocalRuntime` runs it as a process of its own that can be killed and started again on the same
 *   services (`npm start`, the crash test).
 * Both resolve the app settings the same way and write the same endpoints.
 */
import { PROJECT_ROOT } from './host/load';
import type { Clock } from './host/clock';
import type { HostKeys, HostLogger, LocalHost } from './host/host';
import { launchHost, type HostSpec } from './host/launch';
import { startHostProcess, type HostProcess } from './host/process';
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
  graph?: { emulator: GraphEmulatorOptions & { users?: number; seed?: string } } | { external: ExternalGraph } | false;
  /** Options of the local Durable runtime (tests widen its delivery delay). */
  durable?: { deliveryDelayMs?: number };
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

export interface LocalRuntime extends RuntimeBase {
  /** The function host's process. */
  host: HostProcess;
  /** Kills the host process (SIGKILL) and starts it again on the same services and port. */
  crashHost(): Promise<void>;
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

/** The services in this process and the function host as a process of its own. */
export async function startLocalRuntime(options: LocalStackOptions = {}): Promise<LocalRuntime> {
  if (options.clock) throw new Error('a host process runs on the system clock');
  const base = await startBase(options);
  const { partialEndpoints, ...rest } = base;
  try {
    const host = await startHostProcess(base.hostSpec, { logger: options.logger });
    if (!base.settings.SITESYNC_WEBHOOK_BASE_URL) base.settings.SITESYNC_WEBHOOK_BASE_URL = host.url;
    const endpoints = { hostUrl: host.url, apiUrl: `${host.url}/${API_ROUTE_PREFIX}`, ...partialEndpoints, ...host.endpoints } as Endpoints;
    return {
      ...rest,
      host,
      endpoints,
      async crashHost() {
        await host.kill('SIGKILL');
        await host.restart();
        Object.assign(endpoints, host.endpoints);
      },
      async stop() {
        await host.stop();
        await base.services.stop();
      },
    };
  } catch (err) {
    await base.services.stop();
    throw err;
  }
}
