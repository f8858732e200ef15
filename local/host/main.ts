/**
 * Entry point of a host process (see `process.ts`): launches the function host from the spec it is given,
 * reports its addresses, forwards its log, and stops when asked. When its parent dies it exits at once, as
 * an instance does when its worker is recycled: everything it was doing is picked up again from storage.
 */
import { childArgument, failStart, serveParent } from '../process/child';
import { scaleGroupOf } from './host';
import { launchHost, type HostSpec } from './launch';
import type { HostReady } from './process';

async function main(): Promise<void> {
  const spec = await childArgument<HostSpec>();
  const running: { stop?: () => Promise<void> } = {};
  const parent = serveParent(async (reason) => {
    if (reason === 'asked') await running.stop?.();
  });
  const { host } = await launchHost(spec, {
    logger: (level, source, message) => {
      if (level !== 'trace' && level !== 'debug') parent.log(level, source, message);
    },
  });
  running.stop = () => host.stop();
  const appScaleGroups = [...new Set(host.registry.all().map(scaleGroupOf))].sort();
  const ready: HostReady = { url: host.url, apiUrl: host.apiUrl, endpoints: host.endpoints(), pid: process.pid, appScaleGroups };
  parent.ready(ready);
}

main().catch(failStart);
