import path from 'node:path';
import { VirtualClock } from '../../local/host/clock';
import { LocalHost, type HostLogger, type LogLevel } from '../../local/host/host';
import { readHostJson, type HostJson } from '../../local/host/hostJson';
import { loadFunctionApp, PROJECT_ROOT } from '../../local/host/load';

export const KEYS = { functionKey: 'fn-key-123', masterKey: 'master-key-456' };

export interface LogEntry {
  level: LogLevel;
  source: string;
  message: string;
}

/**
 * The fixture app runs under the host's default route prefix, /api, as when host.json names none (the
 * project's own host.json empties it so that the console can be served at /console).
 */
function defaultPrefix(hostJson: HostJson): HostJson {
  const { http: _http, ...extensions } = hostJson.extensions ?? {};
  return { ...hostJson, extensions };
}

export async function startFixtureHost(options: { clock?: VirtualClock; enableTimers?: boolean } = {}) {
  const registry = await loadFunctionApp(path.join(__dirname, 'fixtures', 'app'));
  const logs: LogEntry[] = [];
  const logger: HostLogger = (level, source, message) => logs.push({ level, source, message });
  const host = await LocalHost.start({
    registry,
    hostJson: defaultPrefix(readHostJson(PROJECT_ROOT)),
    keys: KEYS,
    clock: options.clock,
    logger,
    enableTimers: options.enableTimers ?? false,
  });
  return { host, logs };
}
