import path from 'node:path';
import { VirtualClock, type Clock } from '../../local/host/clock';
import { LocalHost } from '../../local/host/host';
import { readHostJson } from '../../local/host/hostJson';
import { loadFunctionApp, PROJECT_ROOT } from '../../local/host/load';
import { DurableExtension, type DurableExtensionOptions } from '../../local/durable';

export const KEYS = { functionKey: 'test-function-key', masterKey: 'test-master-key', systemKeys: { durabletask_extension: 'test-durable-system-key' } };

export interface DurableHost {
  host: LocalHost;
  durable: DurableExtension;
  clock: Clock;
}

/** The project's host.json, the fixture app (or the function files of `appDir`), and the Durable extension on the given storage. */
export async function startDurableHost(
  connectionString: string,
  options: { clock?: Clock; appDir?: string } & Partial<DurableExtensionOptions> = {},
): Promise<DurableHost> {
  const registry = await loadFunctionApp(options.appDir ?? path.join(__dirname, 'fixtures', 'app'));
  const clock = options.clock ?? new VirtualClock(Date.UTC(2026, 0, 1, 9));
  const durable = new DurableExtension({ ...options, connectionString });
  const host = await LocalHost.start({
    registry,
    hostJson: readHostJson(PROJECT_ROOT),
    keys: KEYS,
    clock,
    extensions: [durable],
    enableTimers: false,
    logger: () => undefined,
  });
  return { host, durable, clock };
}

/** Lets the instance run, moving virtual time forward whenever it is only waiting on a timer. */
export async function runToEnd(env: DurableHost, instanceId: string, stepMs = 60 * 60_000, maxSteps = 100) {
  const clock = env.clock as VirtualClock;
  for (let i = 0; i < maxSteps; i++) {
    await env.durable.idle();
    const status = await env.durable.getStatus(instanceId);
    if (status && ['Completed', 'Failed', 'Terminated'].includes(status.runtimeStatus)) return status;
    await clock.advance(stepMs);
  }
  throw new Error(`${instanceId} did not finish`);
}
