/**
 * The whole local runtime in one call: Table Storage (Azurite), the Service Bus broker, the Microsoft Graph
 * emulator with a demo tenant, and the function app loaded into the local host with its Durable and
 * Service Bus extensions. Used by `npm start`, the end-to-end tests and the benchmarks, so all three
 * exercise the same wiring.
 */
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Clock } from './host/clock';
import { LocalHost, type HostExtension, type HostKeys, type HostLogger } from './host/host';
import { readHostJson } from './host/hostJson';
import { loadFunctionApp, PROJECT_ROOT } from './host/load';
import { TableTimerStatusStore } from './host/tableTimerStatusStore';
import { startTableServer, type TableServerHandle } from './azurite';
import { readLocalSettings, resolveSettings, type SettingValues } from './settings';
import { generateKeys, type LocalKeys } from './keys';
import { DurableExtension } from './durable';
import { startBroker, type LocalBroker } from './servicebus/broker';
import { brokerQueues } from './servicebus/queues';
import { ServiceBusExtension } from './servicebus/trigger';
import { startGraphEmulator, type GraphEmulator, type GraphEmulatorOptions } from './graph-emulator';
import { SERVICE_BUS_CONNECTION } from '../shared/config/queues';
import { SETTINGS } from '../shared/config/settings';

export interface LocalStackOptions {
  /** Port of the HTTP host; 0 picks a free one. */
  hostPort?: number;
  /** Keep Table Storage in this folder instead of memory. */
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
}

export interface ExternalGraph {
  graphBaseUrl: string;
  authorityHost?: string;
  caFile?: string;
  teamsBridgeUrl?: string;
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

export interface DemoCredentials {
  tenantId: string;
  clientId: string;
  /** The app setting holding the secret, for an `env:` credential reference. */
  secretSetting: string;
}

export interface LocalStack {
  host: LocalHost;
  durable?: DurableExtension;
  serviceBus?: ServiceBusExtension;
  /** Azurite, when the stack started it. */
  tables?: TableServerHandle;
  tablesConnectionString: string;
  broker: LocalBroker;
  graph?: GraphEmulator;
  /** The demo tenant's app registration, when the emulator runs. */
  demo?: DemoCredentials;
  endpoints: Endpoints;
  settings: Record<string, string>;
  /** Stops the host (as a crash or a deployment would) and starts a new one on the same storage, broker and Graph. */
  restartHost(): Promise<LocalHost>;
  stop(): Promise<void>;
}

export const DEMO_SECRET_SETTING = 'SITESYNC_DEMO_CLIENT_SECRET';

export async function startLocalStack(options: LocalStackOptions = {}): Promise<LocalStack> {
  const fileSettings = readLocalSettings(options.settingsRoot ?? PROJECT_ROOT);
  const environment = options.environment ?? { ...process.env };
  const localKeys = options.keys ?? generateKeys();
  const cleanups: Array<() => Promise<void>> = [];
  const cleanup = async () => {
    for (const fn of cleanups.reverse()) await fn().catch(() => undefined);
  };
  try {
    const tables = options.tablesConnectionString ? undefined : await startTableServer({ port: 0, persistDir: options.persistDir });
    if (tables) cleanups.push(() => tables.stop());
    const tablesConnectionString = options.tablesConnectionString ?? tables!.connectionString;
    const broker = await startBroker({ port: 0, queues: brokerQueues(), clock: options.clock, sharedAccessKey: localKeys.serviceBus });
    cleanups.push(() => broker.stop());

    const runDir = options.runDir ?? mkdtempSync(path.join(os.tmpdir(), 'sitesync-'));
    const graphSettings: Record<string, string> = {};
    let graph: GraphEmulator | undefined;
    let demo: DemoCredentials | undefined;
    const graphOption = options.graph ?? { emulator: {} };
    if (graphOption && 'emulator' in graphOption) {
      const { users, seed, ...emulatorOptions } = graphOption.emulator;
      graph = await startGraphEmulator({
        tenants: [{ seed: seed ?? 'demo', users: users ?? 2_000 }],
        controlKey: localKeys.emulatorControlKey,
        ...emulatorOptions,
      });
      const started = graph;
      cleanups.push(() => started.stop());
      const tenant = graph.tenants[0];
      const app = tenant.apps[0];
      demo = { tenantId: tenant.tenantId, clientId: app.clientId, secretSetting: DEMO_SECRET_SETTING };
      Object.assign(graphSettings, {
        SITESYNC_GRAPH_BASE_URL: graph.url,
        SITESYNC_AUTHORITY_HOST: graph.authorityHost,
        SITESYNC_GRAPH_CA_FILE: graph.caFile(runDir),
        SITESYNC_TEAMS_BRIDGE_URL: graph.teamsBridgeUrl,
        [DEMO_SECRET_SETTING]: app.secret,
      });
    } else if (graphOption && 'external' in graphOption) {
      // Only what was given: the authority, the CA and the bridge otherwise come from the environment,
      // local.settings.json or the app's defaults (Microsoft's authority, the system's CAs, no bridge).
      const ext = graphOption.external;
      graphSettings.SITESYNC_GRAPH_BASE_URL = ext.graphBaseUrl;
      if (ext.authorityHost) graphSettings.SITESYNC_AUTHORITY_HOST = ext.authorityHost;
      if (ext.caFile) graphSettings.SITESYNC_GRAPH_CA_FILE = path.resolve(ext.caFile);
      if (ext.teamsBridgeUrl) graphSettings.SITESYNC_TEAMS_BRIDGE_URL = ext.teamsBridgeUrl;
    }

    // The parts started here are as good as flags: their addresses are the only ones that work.
    const flags: Record<string, string> = {
      AzureWebJobsStorage: tablesConnectionString,
      SITESYNC_TABLES_CONNECTION_STRING: tablesConnectionString,
      [SERVICE_BUS_CONNECTION]: broker.connectionString,
      ...graphSettings,
      ...options.settings,
    };
    const resolved = resolveSettings(
      { flags, environment, file: fileSettings, defaults: {} },
      SETTINGS.map((s) => s.name),
    );
    const settings: Record<string, string> = resolved.values;
    const keys: HostKeys = { functionKey: localKeys.functionKey, masterKey: localKeys.masterKey, systemKeys: { ...localKeys.systemKeys } };
    const registry = await loadFunctionApp();
    const hostJson = readHostJson(PROJECT_ROOT);
    const without = new Set(options.without ?? []);

    const launch = async (port: number) => {
      const durable = without.has('durable') ? undefined : new DurableExtension({ connectionString: tablesConnectionString, ...options.durable });
      const serviceBus = without.has('serviceBus') ? undefined : new ServiceBusExtension({ broker });
      const extensions: HostExtension[] = [durable, serviceBus].filter((e): e is DurableExtension | ServiceBusExtension => e !== undefined);
      const host = await LocalHost.start({
        registry,
        hostJson,
        settings,
        keys,
        port,
        clock: options.clock,
        logger: options.logger,
        extensions,
        enableTimers: options.enableTimers,
        timerStatusStore: new TableTimerStatusStore(tablesConnectionString),
      });
      return { host, durable, serviceBus };
    };

    let current = await launch(options.hostPort ?? 0);
    // Graph's notifications come back to this host unless a public URL was given; its address is known
    // only once it listens.
    if (!settings.SITESYNC_WEBHOOK_BASE_URL) {
      settings.SITESYNC_WEBHOOK_BASE_URL = current.host.url;
      current.host.setSetting('SITESYNC_WEBHOOK_BASE_URL', current.host.url);
    }
    const endpoints: Endpoints = {
      hostUrl: current.host.url,
      apiUrl: current.host.apiUrl,
      functionKey: keys.functionKey,
      masterKey: keys.masterKey,
      durableSystemKey: localKeys.systemKeys.durabletask_extension,
      tablesConnectionString: tablesConnectionString,
      serviceBusConnectionString: broker.connectionString,
      ...current.host.endpoints(),
      ...(graph
        ? { graphUrl: graph.url, graphCaFile: graphSettings.SITESYNC_GRAPH_CA_FILE, teamsBridgeUrl: graph.teamsBridgeUrl, graphControlUrl: `${graph.url}/_control`, graphControlKey: graph.controlKey }
        : {}),
    };
    const stack: LocalStack = {
      host: current.host,
      durable: current.durable,
      serviceBus: current.serviceBus,
      tables,
      tablesConnectionString,
      broker,
      graph,
      demo,
      endpoints,
      settings,
      async restartHost() {
        const port = Number(new URL(current.host.url).port);
        await current.host.stop();
        current = await launch(port);
        stack.host = current.host;
        stack.durable = current.durable;
        stack.serviceBus = current.serviceBus;
        return current.host;
      },
      async stop() {
        await current.host.stop();
        await cleanup();
      },
    };
    return stack;
  } catch (err) {
    await cleanup();
    throw err;
  }
}
