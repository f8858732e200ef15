/**
 * A service provider's whole estate through one sitesync: many customers onboarded one after another and
 * served side by side, each fully synced and provisioned, then kept current by a delta sync and change
 * notifications, on 1 and on 3 instances of the app.
 *
 *   npm run bench:estate -- --customers 200 --users 500 [--instances 1,3] [--latency 0] [--json FILE]
 *
 * `--users` is the mean tenant size: the customers' tenants run from a fifth of it to 1.8 times it, and
 * change 0.5%, 1%, 2% or 5% of their users after the first sync. The Graph emulator (every tenant, every
 * quota of docs/limits.md enforced per app and tenant) and Azurite run in processes of their own; the
 * broker runs here; the app runs as `--instances` host processes behind one address, timers on.
 *
 * Printed per instance count:
 * - total time, from the first onboarding to the last customer fully provisioned, against its bound: the
 *   larger of (a) the slowest tenant's quota-limited time — each tenant's quotas run in parallel, so its
 *   own least writes per quota (from its users' transactions, as bench:provision counts them) ÷ that
 *   quota's rate — and (b) the CPU floor: the CPU every process of the run used ÷ the machine's cores (no
 *   schedule of the same work finishes sooner on this machine);
 * - each customer's time from its onboarding to fully provisioned (its first sync over, every user it
 *   handed off provisioned, none waiting): median, p95, max; no customer starved when p95 <= 1.5 × median;
 * - peak memory (VmHWM) of each instance; Table Storage requests per user (a batch counts once);
 * - the change phase: every tenant changes, a delta sync runs per customer, notifications arrive; the time
 *   until every queue is empty again.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { applyDemoCustomer } from '../local/demo/customer';
import { ApiClient, waitFor } from '../local/demo/scenario';
import { startLocalRuntime, type LocalRuntime } from '../local/stack';
import { tableStorageFromSettings } from '../shared/adapters/tables';
import { closeServiceBusClients } from '../shared/adapters/servicebus/client';
import { readSettings } from '../shared/config/settings';
import { QUEUES, PROVISIONING_QUEUES } from '../shared/config/queues';
import { startGraphProcess, startTablesProcess, tableRequestsByKindSince, type TablesCounters } from './support/infra';
import { cliArgs, progressBar, quantile, writeFigures } from './support/measure';
import { BUDGET_RATES_PER_MINUTE, minimumWrites, type Budget } from './support/provisionFigures';
import { cpuMs } from './support/runtime';

const CHANGE_RATES = [0.005, 0.01, 0.02, 0.05];
const POLL_CONCURRENCY = 4;
/**
 * A customer whose users still have messages in the provisioning queues is not provisioned yet, and its
 * summary (every user, number and transaction it has) is read only this often meanwhile: read every second
 * for every open customer, the observer competed with the work it measures (at 50 × 500 every first sync
 * took 30–95 s; 3–7 s since).
 */
const SUMMARY_WHILE_QUEUED_MS = 10_000;

interface Tenant {
  customerId: string;
  users: number;
  changeRate: number;
}

interface Settled {
  onboardedAt: number;
  /** Its first sync once over: when its run recorded its finish, and how many users it handed off. */
  firstSync?: { finishedAt: number; handedOff: number };
  settledAt?: number;
}

export interface EstateFigures {
  instances: number;
  seconds: number;
  boundSeconds: number;
  quotaBoundSeconds: number;
  cpuFloorSeconds: number;
  /**
   * CPU seconds of each part over the same span: where the machine's time went. Each is one Node process
   * (the hosts one each), whose JavaScript runs on one thread, so no part finishes its share sooner than its
   * own CPU time, whatever the cores.
   */
  cpuSeconds: { hosts: number; tableStorage: number; graphEmulator: number; brokerAndBench: number };
  customerSeconds: { median: number; p95: number; max: number };
  starved: boolean;
  peakRssMb: Record<string, number>;
  tableRequestsPerUser: number;
  /** The same by table and kind (`Numbers query(partition)`, `Users point-read`…), per user, the largest first. */
  tableRequestsByKind: Record<string, number>;
  changeSeconds: number;
  users: number;
  /** Each customer: its users, and seconds from its onboarding to its first sync's finish and to fully provisioned. */
  customers: Array<{ customerId: string; users: number; syncSeconds: number; settledSeconds: number }>;
}

function fail(message: string): never {
  console.error(`${message}\nusage: npm run bench:estate -- --customers N --users N [--instances 1,3] [--latency MS] [--json FILE]`);
  process.exit(2);
}

/** Tenant sizes from a fifth of the mean to 1.8 times it (mean as asked), change rates in turn. */
export function estateTenants(customers: number, meanUsers: number): Tenant[] {
  return Array.from({ length: customers }, (_, i) => {
    const share = customers === 1 ? 1 : 0.2 + (1.6 * i) / (customers - 1);
    return { customerId: `estate-${String(i + 1).padStart(3, '0')}`, users: Math.max(10, Math.round(meanUsers * share)), changeRate: CHANGE_RATES[i % CHANGE_RATES.length] };
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The most memory a process has held (VmHWM), in MB; undefined once it is gone. */
function peakRssMb(pid: number): number | undefined {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : undefined;
  } catch {
    return undefined;
  }
}

async function runEstate(tenants: Tenant[], instances: number, latencyMs: number): Promise<EstateFigures> {
  const totalUsers = tenants.reduce((n, t) => n + t.users, 0);
  console.log(`\n── ${instances} instance${instances > 1 ? 's' : ''}: ${tenants.length} customers, ${totalUsers.toLocaleString('en-US')} users; starting the Graph emulator and Azurite…`);
  const [graph, tables] = await Promise.all([
    startGraphProcess({ users: tenants[0].users, seed: tenants[0].customerId, tenants: tenants.map((t) => ({ users: t.users, seed: t.customerId })), enforceQuotas: true, latencyMs }),
    startTablesProcess(),
  ]);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'bench-estate-'));
  const caFile = path.join(dir, 'ca.pem');
  writeFileSync(caFile, graph.info.caPem);
  const secrets = Object.fromEntries(tenants.map((t, i) => [`SITESYNC_SECRET_${t.customerId.replace(/-/g, '_').toUpperCase()}`, graph.info.tenants[i].secret]));
  let runtime: LocalRuntime | undefined;
  try {
    runtime = await startLocalRuntime({
      instances,
      tablesConnectionString: tables.info.tablesConnectionString,
      graph: { external: { graphBaseUrl: graph.info.graphUrl, authorityHost: graph.info.graphUrl, caFile, teamsBridgeUrl: graph.info.teamsBridgeUrl } },
      settings: secrets,
      enableTimers: true,
      runDir: dir,
      logger: (level, source, message) => {
        if (level === 'error' || level === 'critical') process.stderr.write(`  ${source}: ${message.split('\n')[0]}\n`);
      },
    });
    const rt = runtime;
    const api = new ApiClient(rt.endpoints);
    const storage = tableStorageFromSettings(readSettings({ SITESYNC_TABLES_CONNECTION_STRING: tables.info.tablesConnectionString }));
    const parts0 = cpuByPart(rt, graph.pid, tables.pid);
    const tables0 = await tables.request<TablesCounters>({ kind: 'counters' });

    // Onboard every customer, as an operator's script would, one after the other.
    const status = new Map<string, Settled>();
    const started = Date.now();
    const onboarding = progressBar('onboarded', tenants.length, 'customers');
    for (const [i, t] of tenants.entries()) {
      const credentials = graph.info.tenants[i];
      status.set(t.customerId, { onboardedAt: Date.now() });
      const secretSetting = `SITESYNC_SECRET_${t.customerId.replace(/-/g, '_').toUpperCase()}`;
      await applyDemoCustomer(rt.endpoints, { tenantId: credentials.tenantId, clientId: credentials.clientId, credentialReference: `env:${secretSetting}` }, { customerId: t.customerId, directRoutingNumbers: Math.max(400, t.users * 2) });
      onboarding.update(i + 1);
    }
    onboarding.stop();

    // Until every customer is fully provisioned: its first sync over, each hand-off provisioned, none waiting.
    const settledBar = progressBar('fully provisioned', tenants.length, 'customers');
    const open = () => tenants.filter((t) => status.get(t.customerId)!.settledAt === undefined);
    const summaryReadAt = new Map<string, number>();
    while (open().length > 0) {
      const batch = open();
      const queued = rt.broker.activeByProperty(PROVISIONING_QUEUES, 'customerId');
      for (let i = 0; i < batch.length; i += POLL_CONCURRENCY) {
        await Promise.all(batch.slice(i, i + POLL_CONCURRENCY).map(async (t) => {
          const s = status.get(t.customerId)!;
          // A finished run does not change: read until it is over, then never again.
          s.firstSync ??= await finishedRun(api, t.customerId);
          if (!s.firstSync) return;
          if ((queued.get(t.customerId) ?? 0) > 0 && Date.now() - (summaryReadAt.get(t.customerId) ?? 0) < SUMMARY_WHILE_QUEUED_MS) return;
          summaryReadAt.set(t.customerId, Date.now());
          if (await isProvisioned(api, t.customerId, s.firstSync.handedOff)) s.settledAt = Date.now();
        }));
      }
      settledBar.update(tenants.length - open().length);
      if (open().length > 0) await sleep(1_000);
    }
    settledBar.stop();
    const finished = Math.max(...[...status.values()].map((s) => s.settledAt!));
    const seconds = (finished - started) / 1000;
    const parts1 = cpuByPart(rt, graph.pid, tables.pid);
    const cpuSeconds = { hosts: 0, tableStorage: 0, graphEmulator: 0, brokerAndBench: 0 };
    for (const k of Object.keys(cpuSeconds) as Array<keyof typeof cpuSeconds>) cpuSeconds[k] = (parts1[k] - parts0[k]) / 1000;
    const cpuFloorSeconds = Object.values(cpuSeconds).reduce((a, b) => a + b, 0) / os.cpus().length;
    const tables1 = await tables.request<TablesCounters>({ kind: 'counters' });

    // The quota bound: each tenant's least writes per quota ÷ the quota's rate; tenants run in parallel.
    let quotaBoundSeconds = 0;
    for (const t of tenants) {
      const minimum = minimumWrites(await storage.transactions.listRecent(t.customerId, t.users * 3));
      const minutes = Math.max(...(Object.keys(BUDGET_RATES_PER_MINUTE) as Budget[]).map((b) => minimum[b] / BUDGET_RATES_PER_MINUTE[b]));
      quotaBoundSeconds = Math.max(quotaBoundSeconds, minutes * 60);
    }

    const times = tenants.map((t) => (status.get(t.customerId)!.settledAt! - status.get(t.customerId)!.onboardedAt) / 1000).sort((a, b) => a - b);
    const customerSeconds = { median: quantile(times, 0.5), p95: quantile(times, 0.95), max: times[times.length - 1] };
    const boundSeconds = Math.max(quotaBoundSeconds, cpuFloorSeconds);
    const figures: EstateFigures = {
      instances,
      seconds,
      boundSeconds,
      quotaBoundSeconds,
      cpuFloorSeconds,
      cpuSeconds,
      customerSeconds,
      starved: customerSeconds.p95 > 1.5 * customerSeconds.median,
      peakRssMb: {},
      tableRequestsPerUser: (tables1.requests - tables0.requests) / totalUsers,
      tableRequestsByKind: Object.fromEntries(
        tableRequestsByKindSince(tables0, tables1)
          .map(([kind, n]) => [kind, Math.round((100 * n) / totalUsers) / 100] as const)
          .filter(([, perUser]) => perUser > 0),
      ),
      changeSeconds: NaN,
      users: totalUsers,
      customers: tenants.map((t) => {
        const s = status.get(t.customerId)!;
        return { customerId: t.customerId, users: t.users, syncSeconds: (s.firstSync!.finishedAt - s.onboardedAt) / 1000, settledSeconds: (s.settledAt! - s.onboardedAt) / 1000 };
      }),
    };
    console.log(`   total ${seconds.toFixed(1)} s against its bound ${boundSeconds.toFixed(1)} s (quota ${quotaBoundSeconds.toFixed(1)} s, CPU floor ${cpuFloorSeconds.toFixed(1)} s): ${(seconds / boundSeconds).toFixed(2)} × (goal 1.3)`);
    console.log(`   CPU seconds: hosts ${cpuSeconds.hosts.toFixed(0)}, Table Storage (Azurite) ${cpuSeconds.tableStorage.toFixed(0)}, the Graph emulator ${cpuSeconds.graphEmulator.toFixed(0)}, the broker and this benchmark ${cpuSeconds.brokerAndBench.toFixed(0)}`);
    console.log(`   customer time to fully provisioned  median ${customerSeconds.median.toFixed(1)} s  p95 ${customerSeconds.p95.toFixed(1)} s  max ${customerSeconds.max.toFixed(1)} s  -> p95 ${(customerSeconds.p95 / customerSeconds.median).toFixed(2)} × the median: ${figures.starved ? 'a customer STARVED (goal 1.5)' : 'no customer starved'}`);
    if (figures.customers.length <= 20) console.log(`   per customer (users: first sync finished / fully provisioned, seconds after its onboarding): ${figures.customers.map((c) => `${c.users}: ${c.syncSeconds.toFixed(0)}/${c.settledSeconds.toFixed(0)}`).join(', ')}`);
    console.log(`   Table Storage requests per user ${figures.tableRequestsPerUser.toFixed(1)}, most by kind: ${Object.entries(figures.tableRequestsByKind).slice(0, 8).map(([k, v]) => `${k} ${v}`).join(', ')}`);

    // Kept current: every tenant changes (notifications arrive), and a delta sync runs per customer.
    const changeStart = Date.now();
    for (const [i, t] of tenants.entries()) await graph.request({ kind: 'change', tenant: i, count: Math.max(1, Math.round(t.users * t.changeRate)), seed: 1 });
    for (const t of tenants) await api.json('POST', `/customers/${t.customerId}/syncs/delta/run`).catch((err: unknown) => console.error(`  delta sync of ${t.customerId}: ${err instanceof Error ? err.message : String(err)}`));
    let quiet = 0;
    await waitFor('the change phase to settle', async () => {
      const busy = rt.broker.activeIn([...PROVISIONING_QUEUES, QUEUES.graphNotifications]);
      const running = busy === 0 ? await anyRunning(api, tenants) : true;
      quiet = !running ? quiet + 1 : 0;
      return quiet >= 3 ? true : undefined;
    }, 3_600_000, 1_000);
    figures.changeSeconds = (Date.now() - changeStart) / 1000;

    for (const i of rt.instances) figures.peakRssMb[i.name] = Math.round(peakRssMb(i.process.pid) ?? NaN);
    console.log(`   change phase (changes, a delta sync each, notifications) settled in ${figures.changeSeconds.toFixed(1)} s`);
    console.log(`   peak memory per instance, over both phases: ${Object.entries(figures.peakRssMb).map(([n, mb]) => `${n} ${mb} MB`).join(', ')} (goal 512 MB)`);
    return figures;
  } finally {
    await runtime?.stop();
    await Promise.all([graph.stop(), tables.stop()]);
    await closeServiceBusClients();
  }
}

/** CPU used so far by each part of the run, in ms: the hosts, Azurite, the emulator and this process (the broker). */
function cpuByPart(rt: LocalRuntime, graphPid: number, tablesPid: number): { hosts: number; tableStorage: number; graphEmulator: number; brokerAndBench: number } {
  const own = process.cpuUsage();
  return { hosts: rt.instances.reduce((n, i) => n + cpuMs(i.process.pid), 0), tableStorage: cpuMs(tablesPid), graphEmulator: cpuMs(graphPid), brokerAndBench: (own.user + own.system) / 1000 };
}

interface RunView {
  status: string;
  trigger: string;
  handedOff: number;
  finishedAt?: string;
}

/**
 * The customer's first sync once it is over (when its run recorded its finish, how many users it handed off);
 * undefined while it runs. The onboarding's run, not the newest: a scheduled delta that starts meanwhile
 * hands off only what changed, and read as the newest it made customers whose users were still queued look
 * provisioned.
 */
async function finishedRun(api: ApiClient, customerId: string): Promise<{ finishedAt: number; handedOff: number } | undefined> {
  const runs = await api.json<{ value: RunView[] }>('GET', `/customers/${customerId}/sync-runs?top=100`).catch(() => undefined);
  const run = runs?.value.find((r) => r.trigger === 'onboarding');
  if (!run || run.status === 'running') return undefined;
  return { finishedAt: run.finishedAt ? Date.parse(run.finishedAt) : Date.now(), handedOff: run.handedOff };
}

/** Every user the first sync handed off has a finished transaction and none is provisioning. */
async function isProvisioned(api: ApiClient, customerId: string, handedOff: number): Promise<boolean> {
  const summary = await api.json<{ byState: Record<string, number>; provisioning: { transactionsRead: number } }>('GET', `/customers/${customerId}/summary`).catch(() => undefined);
  return summary !== undefined && (summary.byState.provisioning ?? 0) === 0 && summary.provisioning.transactionsRead >= handedOff;
}

async function anyRunning(api: ApiClient, tenants: Tenant[]): Promise<boolean> {
  for (const t of tenants) {
    const runs = await api.json<{ value: RunView[] }>('GET', `/customers/${t.customerId}/sync-runs?top=1`).catch(() => undefined);
    if (!runs?.value[0] || runs.value[0].status === 'running') return true;
    const summary = await api.json<{ byState: Record<string, number> }>('GET', `/customers/${t.customerId}/summary`).catch(() => undefined);
    if (!summary || (summary.byState.provisioning ?? 0) > 0) return true;
  }
  return false;
}

async function main(): Promise<void> {
  const args = cliArgs();
  const customers = Number(args.get('customers') ?? 200);
  const users = Number(args.get('users') ?? 500);
  const latencyMs = Number(args.get('latency') ?? 0);
  const counts = (args.get('instances') ?? '1,3').split(',').map(Number);
  const jsonFile = args.get('json');
  if (!Number.isInteger(customers) || customers < 1 || customers > 1_000) fail('--customers takes 1 to 1000');
  if (!Number.isInteger(users) || users < 50 || users > 20_000) fail('--users (the mean tenant size) takes 50 to 20000');
  if (!Number.isFinite(latencyMs) || latencyMs < 0 || latencyMs > 5_000) fail('--latency takes 0 to 5000 (ms per Microsoft call)');
  if (counts.some((n) => !Number.isInteger(n) || n < 1 || n > 16)) fail('--instances takes a comma-separated list of 1 to 16');
  const tenants = estateTenants(customers, users);
  console.log(`bench:estate  ${customers} customers of ${tenants[0].users} to ${tenants[tenants.length - 1].users} users (mean ${users}), ${latencyMs} ms per Microsoft call, on ${counts.join(' and ')} instance(s); load ${os.loadavg().map((l) => l.toFixed(1)).join(' ')} on ${os.cpus().length} cores`);
  const runs: EstateFigures[] = [];
  for (const n of counts) runs.push(await runEstate(tenants, n, latencyMs));
  console.log('');
  for (const r of runs) {
    console.log(
      `${String(r.instances).padStart(2)} instance(s): ${r.seconds.toFixed(1)} s, ${(r.seconds / r.boundSeconds).toFixed(2)} × the bound (goal 1.3); customers median ${r.customerSeconds.median.toFixed(1)} s, p95 ${r.customerSeconds.p95.toFixed(1)} s, max ${r.customerSeconds.max.toFixed(1)} s; ` +
        `peak ${Math.max(...Object.values(r.peakRssMb))} MB per instance (goal 512); ${r.tableRequestsPerUser.toFixed(1)} Table requests per user`,
    );
  }
  writeFigures(jsonFile, 'estate', { customers, users, latencyMs, runs });
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
