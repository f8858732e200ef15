import path from 'node:path';
import { VirtualClock } from '../../local/host/clock';
import { LocalHost, type HostLogger, type LogLevel } from '../../local/host/host';
import { readHostJson } from '../../local/host/hostJson';
import { loadFunctionApp, PROJECT_ROOT } from '../../local/host/load';

export const KEYS = { functionKey: 'fn-key-123', masterKey: 'master-key-456' };

export interface LogEntry {
  level: LogLevel;
  source: string;
  message: string;
}

export async function startFixtureHost(options: { clock?: VirtualClock; enableTimers?: boolean } = {}) {
  const registry = await loadFunctionApp(path.join(__dirname, 'fixtures', 'app'));
  const logs: LogEntry[] = [];
  const logger: HostLogger = (level, source, message) => logs.push({ level, source, message });
  const host = await LocalHost.start({
    registry,
    hostJson: readHostJson(PROJECT_ROOT),
    keys: KEYS,
    clock: options.clock,
    logger,
    enableTimers: options.enableTimers ?? false,
  });
  return { host, logs };
}
