/**
 * The function app the benchmarks measure, against Table Storage and Graph running elsewhere: one host in
 * this process (with the Service Bus broker), or several host processes sharing one broker.
 */
import { startLocalStack, type Endpoints, type ExternalGraph } from '../../local/stack';
import { QUEUES } from '../../shared/config/queues';

export interface RuntimeOptions {
  processes: number;
  runDir: string;
  tablesConnectionString: string;
  graph: ExternalGraph;
  settings: Record<string, string>;
}

export interface Runtime {
  endpoints: Endpoints;
  /** Provisioning messages not finished yet: available, locked or scheduled. */
  backlog(): Promise<number>;
  /** CPU of the host process(es), as process.cpuUsage gives it. */
  cpuUsage(since?: NodeJS.CpuUsage): NodeJS.CpuUsage;
  stop(): Promise<void>;
}

export async function startRuntime(options: RuntimeOptions): Promise<Runtime> {
  if (options.processes !== 1) throw new Error('several host processes need the process runtime');
  const stack = await startLocalStack({
    tablesConnectionString: options.tablesConnectionString,
    graph: { external: options.graph },
    settings: options.settings,
    enableTimers: false,
    runDir: options.runDir,
    logger: (level, source, message) => {
      if (level === 'error' || level === 'critical') process.stderr.write(`  ${source}: ${message.split('\n')[0]}\n`);
    },
  });
  return {
    endpoints: stack.endpoints,
    backlog: async () => stack.broker.stats(QUEUES.userProvisioning.name).active,
    cpuUsage: (since) => process.cpuUsage(since),
    stop: () => stack.stop(),
  };
}
