/**
 * The function app the benchmarks measure, against Table Storage and Graph running in processes of their
 * own: `processes` function hosts, each a process of its own as an instance is in Azure, sharing one
 * Service Bus broker (in this process), one Table Storage and one Graph endpoint — and so one quota per app
 * and tenant, through the pacer's ledger.
 */
import { readFileSync } from 'node:fs';
import { startHostProcess, type HostProcess } from '../../local/host/process';
import { startLocalRuntime, type Endpoints, type ExternalGraph } from '../../local/stack';
import { PROVISIONING_QUEUES } from '../../shared/config/queues';

export interface RuntimeOptions {
  processes: number;
  runDir: string;
  tablesConnectionString: string;
  graph: ExternalGraph;
  settings: Record<string, string>;
}

export interface Runtime {
  endpoints: Endpoints;
  hostPids(): number[];
  /** Provisioning messages not finished yet: available, locked or scheduled. */
  backlog(): Promise<number>;
  /** CPU time of the host processes so far, in ms. */
  hostCpuMs(): number;
  stop(): Promise<void>;
}

export async function startRuntime(options: RuntimeOptions): Promise<Runtime> {
  const logger = (level: string, source: string, message: string) => {
    if (level === 'error' || level === 'critical') process.stderr.write(`  ${source}: ${message.split('\n')[0]}\n`);
  };
  const runtime = await startLocalRuntime({
    tablesConnectionString: options.tablesConnectionString,
    graph: { external: options.graph },
    settings: options.settings,
    enableTimers: false,
    runDir: options.runDir,
    logger,
  });
  const more: HostProcess[] = [];
  try {
    for (let i = 1; i < options.processes; i++) more.push(await startHostProcess({ ...runtime.hostSpec, port: 0 }, { logger }));
  } catch (error) {
    await Promise.all(more.map((h) => h.stop()));
    await runtime.stop();
    throw error;
  }
  const hosts = [runtime.host, ...more];
  return {
    endpoints: runtime.endpoints,
    hostPids: () => hosts.map((h) => h.pid),
    backlog: async () => runtime.broker.activeIn(PROVISIONING_QUEUES),
    hostCpuMs: () => hosts.reduce((sum, h) => sum + cpuMs(h.pid), 0),
    async stop() {
      await Promise.all(more.map((h) => h.stop()));
      await runtime.stop();
    },
  };
}

/** User and system CPU of a process, from /proc (Linux), in ms; 0 where /proc cannot be read. */
/** CPU time (user + system) a process has used so far, in ms; 0 once it is gone. */
export function cpuMs(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The fields after the command name (which may hold spaces) are space-separated; utime and stime are 14th and 15th.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100;
  } catch {
    return 0;
  }
}
