/**
 * The parts of the local runtime that outlive a function host: Table Storage (Azurite), the Service Bus
 * broker and the Microsoft Graph emulator. A host process is started against their addresses and may be
 * killed and started again on them; several hosts may share them (scale-out). With `persistDir`, each keeps
 * what it acknowledged across a kill of its own process too: Table Storage and the broker through
 * write-ahead journals, the emulator with its address, certificate and tenants.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startTableServer, type TableServerHandle } from '../azurite';
import type { Clock } from '../host/clock';
import type { LocalKeys } from '../keys';
import { startBroker, type LocalBroker } from '../servicebus/broker';
import { brokerQueues, type BrokerQueueSpec } from '../servicebus/queues';
import { startGraphEmulator, type GraphEmulator, type GraphEmulatorOptions } from '../graph-emulator';
import { SERVICE_BUS_CONNECTION } from '../../shared/config/queues';

/** The demo tenant's app secret is given to the host under this setting, for an `env:` credential reference. */
export const DEMO_SECRET_SETTING = 'SITESYNC_SECRET_DEMO_CLIENT';

export interface ExternalGraph {
  graphBaseUrl: string;
  authorityHost?: string;
  caFile?: string;
  teamsBridgeUrl?: string;
}

export interface DemoCredentials {
  tenantId: string;
  clientId: string;
  /** The app setting holding the secret, for an `env:` credential reference. */
  secretSetting: string;
}

export interface ServicesOptions {
  keys: LocalKeys;
  /** Keep Table Storage, the broker's queues and the emulator's state in this folder. */
  persistDir?: string;
  /** Use this Table Storage instead of starting Azurite. */
  tablesConnectionString?: string;
  /** Where the emulator's CA file goes (default: a temp folder). */
  runDir?: string;
  clock?: Clock;
  /** The broker's queues (default: the app's, as shared/config/queues declares them). */
  queues?: BrokerQueueSpec[];
  /**
   * The Microsoft side: the Graph emulator with a generated demo tenant (default 2,000 users), or an
   * external Graph-compatible endpoint, or none.
   */
  graph?: { emulator: GraphEmulatorOptions & { users?: number; seed?: string; /** Auto attendants and call queues with their resource accounts (default false). */ resourceAccounts?: boolean } } | { external: ExternalGraph } | false;
}

export interface LocalServices {
  tables?: TableServerHandle;
  tablesConnectionString: string;
  broker: LocalBroker;
  graph?: GraphEmulator;
  demo?: DemoCredentials;
  /** The app settings that point a host at these parts (connection strings, Graph addresses, the demo secret). */
  settings: Record<string, string>;
  /** Addresses and keys for .local/endpoints.json and the tools. */
  endpoints: Record<string, string>;
  stop(): Promise<void>;
}

const LOCAL_IDENTITY_NAME = 'sitesync local host identity';

/**
 * The app standing in for the Function App's managed identity: it reads the emulator's Key Vault, as the
 * managed identity reads the deployment's. Registered in the demo tenant once (a kept emulator has it).
 */
function localIdentity(graph: GraphEmulator): { tenantId: string; clientId: string; secret: string } {
  const tenant = graph.tenants[0];
  let app = tenant.apps.find((a) => a.displayName === LOCAL_IDENTITY_NAME);
  if (!app) {
    app = { clientId: randomUUID(), secret: randomBytes(30).toString('base64url'), displayName: LOCAL_IDENTITY_NAME, roles: [] };
    graph.control.addApp(tenant.tenantId, app);
  }
  graph.control.grantVaultRead(tenant.tenantId, app.clientId);
  graph.save();
  return { tenantId: tenant.tenantId, clientId: app.clientId, secret: app.secret };
}

export async function startServices(options: ServicesOptions): Promise<LocalServices> {
  const keys = options.keys;
  const cleanups: Array<() => Promise<void>> = [];
  const cleanup = async () => {
    for (const fn of cleanups.reverse()) await fn().catch(() => undefined);
  };
  const persist = options.persistDir;
  if (persist) mkdirSync(persist, { recursive: true });
  try {
    const tables = options.tablesConnectionString ? undefined : await startTableServer({ port: 0, persistDir: persist });
    if (tables) cleanups.push(() => tables.stop());
    const tablesConnectionString = options.tablesConnectionString ?? tables!.connectionString;
    const broker = await startBroker({
      port: 0,
      queues: options.queues ?? brokerQueues(),
      clock: options.clock,
      sharedAccessKey: keys.serviceBus,
      persistDir: persist ? path.join(persist, 'servicebus') : undefined,
    });
    cleanups.push(() => broker.stop());

    const runDir = options.runDir ?? mkdtempSync(path.join(os.tmpdir(), 'sitesync-'));
    const settings: Record<string, string> = {
      AzureWebJobsStorage: tablesConnectionString,
      SITESYNC_TABLES_CONNECTION_STRING: tablesConnectionString,
      [SERVICE_BUS_CONNECTION]: broker.connectionString,
    };
    const endpoints: Record<string, string> = { tablesConnectionString, serviceBusConnectionString: broker.connectionString };
    let graph: GraphEmulator | undefined;
    let demo: DemoCredentials | undefined;
    const graphOption = options.graph ?? { emulator: {} };
    if (graphOption && 'emulator' in graphOption) {
      const { users, seed, resourceAccounts, ...emulatorOptions } = graphOption.emulator;
      graph = await startGraphEmulator({
        tenants: [{ seed: seed ?? 'demo', users: users ?? 2_000, resourceAccounts: resourceAccounts === true }],
        controlKey: keys.emulatorControlKey,
        persistDir: persist ? path.join(persist, 'graph-emulator') : undefined,
        ...emulatorOptions,
      });
      const started = graph;
      cleanups.push(() => started.stop());
      const tenant = graph.tenants[0];
      const app = tenant.apps[0];
      demo = { tenantId: tenant.tenantId, clientId: app.clientId, secretSetting: DEMO_SECRET_SETTING };
      const identity = localIdentity(graph);
      const caFile = graph.caFile(runDir);
      Object.assign(settings, {
        SITESYNC_KEY_VAULT_URL: graph.vaultUrl,
        SITESYNC_LOCAL_IDENTITY: `${identity.tenantId}/${identity.clientId}`,
        SITESYNC_LOCAL_IDENTITY_SECRET: identity.secret,
        SITESYNC_GRAPH_BASE_URL: graph.url,
        SITESYNC_AUTHORITY_HOST: graph.authorityHost,
        SITESYNC_GRAPH_CA_FILE: caFile,
        SITESYNC_TEAMS_BRIDGE_URL: graph.teamsBridgeUrl,
        [DEMO_SECRET_SETTING]: app.secret,
      });
      Object.assign(endpoints, { graphUrl: graph.url, graphCaFile: caFile, teamsBridgeUrl: graph.teamsBridgeUrl, graphControlUrl: `${graph.url}/_control`, graphControlKey: graph.controlKey });
    } else if (graphOption && 'external' in graphOption) {
      // Only what was given: the authority, the CA and the bridge otherwise come from the environment,
      // local.settings.json or the app's defaults (Microsoft's authority, the system's CAs, no bridge).
      const ext = graphOption.external;
      settings.SITESYNC_GRAPH_BASE_URL = ext.graphBaseUrl;
      if (ext.authorityHost) settings.SITESYNC_AUTHORITY_HOST = ext.authorityHost;
      if (ext.caFile) settings.SITESYNC_GRAPH_CA_FILE = path.resolve(ext.caFile);
      if (ext.teamsBridgeUrl) settings.SITESYNC_TEAMS_BRIDGE_URL = ext.teamsBridgeUrl;
    }
    return { tables, tablesConnectionString, broker, graph, demo, settings, endpoints, stop: cleanup };
  } catch (err) {
    await cleanup();
    throw err;
  }
}
