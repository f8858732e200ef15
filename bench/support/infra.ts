/**
 * The benchmarks' outside world, each part in a child process of its own: the Graph emulator with a
 * generated tenant, and Azurite's Table service. Kept apart so that they share neither the event loop,
 * the CPU figures nor the memory figures of the code being measured, nor each other's. Run as a script,
 * a part serves until told to stop over IPC.
 */
import { fork, type ChildProcess } from 'node:child_process';

export interface GraphPartOptions {
  users: number;
  seed: string;
  /** Several tenants instead of one (`users` and `seed` then name the first's defaults only). */
  tenants?: Array<{ users: number; seed: string }>;
  enforceQuotas?: boolean;
  /** Added to every Graph and bridge call. */
  latencyMs?: number;
  /** Time a number operation takes to finish (the emulator's default when absent). */
  operationDelayMs?: number;
}

export interface GraphInfo {
  graphUrl: string;
  caPem: string;
  teamsBridgeUrl: string;
  tenantId: string;
  clientId: string;
  secret: string;
  users: number;
  /** Every tenant served (the first is the one above). */
  tenants: Array<{ tenantId: string; clientId: string; secret: string; users: number }>;
}

export interface TablesInfo {
  tablesConnectionString: string;
}

/** Table Storage's own counters. */
export interface TablesCounters {
  requests: number;
  /** By table, operation and failure status (local/azurite.ts). */
  byKind: Record<string, number>;
  /** CPU the Table Storage process has spent since it started (user and system), in ms. */
  cpuMs: number;
}

/** Table requests made between two counter readings, by kind, the most first. */
export function tableRequestsByKindSince(before: TablesCounters, after: TablesCounters): Array<readonly [string, number]> {
  return Object.entries(after.byKind)
    .map(([kind, n]) => [kind, n - (before.byKind[kind] ?? 0)] as const)
    .filter(([, n]) => n > 0)
    .sort((a, b) => b[1] - a[1]);
}

export type InfraInfo = GraphInfo & TablesInfo;

export type InfraCommand =
  | { kind: 'change'; count: number; seed: number; tenant?: number }
  | { kind: 'enforceQuotas'; enabled: boolean }
  | { kind: 'counters' }
  | { kind: 'subscriptions' }
  | { kind: 'resetCounters' }
  | { kind: 'recordArrivals' }
  | { kind: 'throttles' }
  | { kind: 'stop' };

/** A request a quota refused (the first 20 are told): when (ms after the first recorded arrival), which quota, and what that quota admitted in the second before. */
export interface ThrottleAt {
  atMs: number;
  quota: string;
  admittedInSecondBefore: number;
}

export interface PartProcess<I> {
  info: I;
  pid: number;
  request<T>(command: InfraCommand): Promise<T>;
  stop(): Promise<void>;
}

export interface InfraProcess {
  info: InfraInfo;
  graph: PartProcess<GraphInfo>;
  tables: PartProcess<TablesInfo>;
  /** Commands for the Graph emulator. */
  request<T>(command: InfraCommand): Promise<T>;
  stop(): Promise<void>;
}

type Part = { part: 'graph'; options: GraphPartOptions } | { part: 'tables'; persistDir?: string };

function startPart<I>(part: Part): Promise<PartProcess<I>> {
  const child: ChildProcess = fork(__filename, ['--serve', JSON.stringify(part)], {
    execArgv: [...process.execArgv, '--max-old-space-size=8192'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  return new Promise((resolve, reject) => {
    const early = (code: number | null) => reject(new Error(`the ${part.part} process exited with ${code}`));
    child.once('exit', early);
    child.once('message', (info) => {
      child.off('exit', early);
      let seq = 0;
      const pending = new Map<number, (value: unknown) => void>();
      child.on('message', (m) => {
        const reply = m as { seq: number; value: unknown };
        pending.get(reply.seq)?.(reply.value);
        pending.delete(reply.seq);
      });
      const request = <T>(command: InfraCommand) =>
        new Promise<T>((done) => {
          const id = ++seq;
          pending.set(id, done as (value: unknown) => void);
          child.send({ seq: id, command });
        });
      resolve({
        info: info as I,
        pid: child.pid ?? 0,
        request,
        async stop() {
          if (child.exitCode !== null) return;
          const exited = new Promise((r) => child.once('exit', r));
          child.send({ seq: 0, command: { kind: 'stop' } });
          await exited;
        },
      });
    });
  });
}

export function startGraphProcess(options: GraphPartOptions): Promise<PartProcess<GraphInfo>> {
  return startPart<GraphInfo>({ part: 'graph', options });
}

/** Azurite in its own process; with `persistDir`, durable as `npm start -- --persist` keeps it. */
export function startTablesProcess(persistDir?: string): Promise<PartProcess<TablesInfo>> {
  return startPart<TablesInfo>({ part: 'tables', persistDir });
}

/** The emulator and Azurite, each in its own process. */
export async function startInfraProcess(options: GraphPartOptions & { tablesPersistDir?: string }): Promise<InfraProcess> {
  const { tablesPersistDir, ...graphOptions } = options;
  const [graph, tables] = await Promise.all([startGraphProcess(graphOptions), startTablesProcess(tablesPersistDir)]);
  return {
    info: { ...graph.info, ...tables.info },
    graph,
    tables,
    request: (command) => graph.request(command),
    async stop() {
      await Promise.all([graph.stop(), tables.stop()]);
    },
  };
}

async function serveGraph(options: GraphPartOptions): Promise<void> {
  const { generateDemoTenant } = await import('../../local/demo/tenant');
  const { startGraphEmulator } = await import('../../local/graph-emulator');
  const tenants = (options.tenants ?? [{ seed: options.seed, users: options.users }]).map((t) => generateDemoTenant(t));
  const tenant = tenants[0];
  const emulator = await startGraphEmulator({
    tenants,
    enforceQuotas: options.enforceQuotas,
    latencyMs: options.latencyMs,
    ...(options.operationDelayMs !== undefined ? { operationDelayMs: options.operationDelayMs } : {}),
  });
  const info: GraphInfo = {
    graphUrl: emulator.url,
    caPem: emulator.caPem,
    teamsBridgeUrl: emulator.teamsBridgeUrl,
    tenantId: tenant.tenantId,
    clientId: tenant.apps[0].clientId,
    secret: tenant.apps[0].secret,
    users: tenant.users.length,
    tenants: tenants.map((t) => ({ tenantId: t.tenantId, clientId: t.apps[0].clientId, secret: t.apps[0].secret, users: t.users.length })),
  };
  process.send?.(info);
  process.on('message', async (m) => {
    const { seq, command } = m as { seq: number; command: InfraCommand };
    switch (command.kind) {
      case 'change': {
        // Deterministic: every n-th active user gets a new job title.
        const ids = [...emulator.control.state(tenants[command.tenant ?? 0].tenantId).byId.values()].filter((r) => r.deletedDateTime === null).map((r) => r.u.id);
        const step = Math.max(1, Math.floor(ids.length / command.count));
        let changed = 0;
        for (let i = command.seed % step; i < ids.length && changed < command.count; i += step, changed++) {
          emulator.control.updateUser(tenants[command.tenant ?? 0].tenantId, ids[i], { jobTitle: `Changed ${command.seed}-${i}` });
        }
        process.send?.({ seq, value: changed });
        break;
      }
      case 'enforceQuotas':
        emulator.control.setQuotas(command.enabled);
        process.send?.({ seq, value: true });
        break;
      case 'counters':
        process.send?.({ seq, value: emulator.counters.snapshot() });
        break;
      case 'subscriptions':
        process.send?.({ seq, value: emulator.control.subscriptions(tenant.tenantId) });
        break;
      case 'resetCounters':
        emulator.control.resetCounters();
        process.send?.({ seq, value: true });
        break;
      case 'recordArrivals':
        emulator.control.recordArrivals(true);
        process.send?.({ seq, value: true });
        break;
      case 'throttles': {
        const log = emulator.control.arrivals();
        const first = log[0]?.at ?? 0;
        const refused: ThrottleAt[] = log
          .filter((a) => !a.admitted)
          .slice(0, 20)
          .map((a) => ({ atMs: a.at - first, quota: a.quota, admittedInSecondBefore: log.filter((b) => b.quota === a.quota && b.admitted && b.at > a.at - 1_000 && b.at <= a.at).length }));
        process.send?.({ seq, value: refused });
        break;
      }
      case 'stop':
        await emulator.stop();
        process.exit(0);
    }
  });
}

function cpuMs(): number {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1000;
}

async function serveTables(persistDir?: string): Promise<void> {
  const { startTableServer } = await import('../../local/azurite');
  const tables = await startTableServer({ port: 0, persistDir });
  process.send?.({ tablesConnectionString: tables.connectionString } satisfies TablesInfo);
  process.on('message', async (m) => {
    const { seq, command } = m as { seq: number; command: InfraCommand };
    if (command.kind === 'stop') {
      await tables.stop();
      process.exit(0);
    }
    process.send?.({ seq, value: command.kind === 'counters' ? ({ requests: tables.requests(), byKind: tables.requestsByKind(), cpuMs: cpuMs() } satisfies TablesCounters) : undefined });
  });
}

if (process.argv[2] === '--serve') {
  const part = JSON.parse(process.argv[3]) as Part;
  (part.part === 'graph' ? serveGraph(part.options) : serveTables(part.persistDir)).catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
}
