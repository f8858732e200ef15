/**
 * Entry point of a services process (see `process.ts`): Table Storage, the broker and the Graph emulator,
 * started from the options it is given. It answers requests for the emulator's control surface and the
 * broker's counters, and stops (everything flushed) when asked or when its parent dies.
 */
import { childArgument, failStart, serveParent } from '../process/child';
import { startServices, type LocalServices } from '.';
import type { ServicesReady, ServicesProcessOptions, ServicesRequest } from './process';

async function main(): Promise<void> {
  const options = await childArgument<ServicesProcessOptions>();
  const running: { services?: LocalServices } = {};
  const parent = serveParent(async () => {
    await running.services?.stop();
  });
  const started = await startServices(options);
  running.services = started;
  parent.onRequest(async (raw) => {
    const request = raw as ServicesRequest;
    switch (request.kind) {
      case 'control': {
        if (!started.graph) throw new Error('no Graph emulator runs here');
        const control = started.graph.control as unknown as Record<string, (...args: unknown[]) => unknown>;
        if (typeof control[request.method] !== 'function') throw new Error(`the emulator's control has no method ${request.method}`);
        const value = await control[request.method](...request.args);
        started.graph.save();
        return value;
      }
      case 'queueStats':
        return started.broker.stats(request.queue);
    }
  });
  const ready: ServicesReady = {
    settings: started.settings,
    endpoints: started.endpoints,
    tablesConnectionString: started.tablesConnectionString,
    serviceBusConnectionString: started.broker.connectionString,
    demo: started.demo,
    graphRestored: started.graph?.restored ?? false,
    pid: process.pid,
  };
  parent.ready(ready);
}

main().catch(failStart);
