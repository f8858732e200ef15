/**
 * The whole local runtime in one call: Table Storage (Azurite), the function app loaded into the local
 * host, and the extensions that run its other triggers. Used by `npm start`, the end-to-end tests and
 * the benchmarks, so all three exercise the same wiring.
 */
import { randomBytes } from 'node:crypto';
import type { Clock } from './host/clock';
import { LocalHost, type HostExtension, type HostKeys, type HostLogger } from './host/host';
import { readHostJson } from './host/hostJson';
import { loadFunctionApp, PROJECT_ROOT } from './host/load';
import { TableTimerStatusStore } from './host/tableTimerStatusStore';
import { startTableServer, type TableServerHandle } from './azurite';
import { readLocalSettings } from './settings';

export interface LocalStackOptions {
  /** Port of the HTTP host; 0 picks a free one. */
  hostPort?: number;
  /** Port of Azurite's Table service; 0 picks a free one. */
  tablesPort?: number;
  /** Keep Table Storage in this folder instead of memory. */
  persistDir?: string;
  /** Use this Table Storage instead of starting one (a restarted stack on the same storage). */
  tablesConnectionString?: string;
  clock?: Clock;
  logger?: HostLogger;
  enableTimers?: boolean;
  /** Settings that win over local.settings(.sample).json. */
  settings?: Record<string, string>;
}

export interface Endpoints {
  hostUrl: string;
  apiUrl: string;
  functionKey: string;
  masterKey: string;
  tablesConnectionString: string;
  [part: string]: string;
}

export interface LocalStack {
  host: LocalHost;
  tables?: TableServerHandle;
  tablesConnectionString: string;
  endpoints: Endpoints;
  stop(): Promise<void>;
}

export async function startLocalStack(options: LocalStackOptions = {}): Promise<LocalStack> {
  const fileSettings = readLocalSettings(PROJECT_ROOT);
  const tables = options.tablesConnectionString
    ? undefined
    : await startTableServer({ port: options.tablesPort ?? 0, persistDir: options.persistDir });
  const tablesConnectionString = options.tablesConnectionString ?? tables!.connectionString;
  const keys: HostKeys = {
    functionKey: options.settings?.SITESYNC_LOCAL_FUNCTION_KEY ?? fileSettings.SITESYNC_LOCAL_FUNCTION_KEY ?? randomKey(),
    masterKey: options.settings?.SITESYNC_LOCAL_MASTER_KEY ?? fileSettings.SITESYNC_LOCAL_MASTER_KEY ?? randomKey(),
  };
  const settings: Record<string, string> = {
    ...fileSettings,
    AzureWebJobsStorage: tablesConnectionString,
    SITESYNC_TABLES_CONNECTION_STRING: tablesConnectionString,
    ...options.settings,
  };
  const extensions: HostExtension[] = [];
  let host: LocalHost | undefined;
  try {
    const registry = await loadFunctionApp();
    host = await LocalHost.start({
      registry,
      hostJson: readHostJson(PROJECT_ROOT),
      settings,
      keys,
      port: options.hostPort ?? 0,
      clock: options.clock,
      logger: options.logger,
      extensions,
      enableTimers: options.enableTimers,
      timerStatusStore: new TableTimerStatusStore(tablesConnectionString),
    });
  } catch (err) {
    await tables?.stop();
    throw err;
  }
  const started = host;
  const endpoints: Endpoints = {
    hostUrl: started.url,
    apiUrl: started.apiUrl,
    functionKey: keys.functionKey,
    masterKey: keys.masterKey,
    tablesConnectionString,
    ...started.endpoints(),
  };
  return {
    host: started,
    tables,
    tablesConnectionString,
    endpoints,
    async stop() {
      await started.stop();
      await tables?.stop();
    },
  };
}

function randomKey(): string {
  return randomBytes(24).toString('base64url');
}
