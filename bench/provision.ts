/**
 * Flow-through provisioning at Microsoft's pace, against the most Microsoft's quotas allow.
 *
 *   npm run bench:provision -- --users 5000 --latency 150 --processes 3 [--json FILE]
 *
 * The Graph emulator (its own process) serves a demo tenant with every quota enforced (docs/limits.md),
 * each call answered after `--latency` ms and each number assignment finishing after Teams' seconds; Table
 * Storage runs in a process of its own. The demo customer is onboarded with its whole configuration and
 * its first sync stores the tenant (flow-through off), then one sync-add message per user goes to the
 * provisioning queue, as the sync hands users off, and `--processes` function hosts provision them, all
 * spending one quota per app and tenant.
 *
 * Figures, from what the emulator counted and what the transactions recorded:
 * - Microsoft requests per provisioned user, by kind (each item of a $batch counts, as Microsoft counts it);
 * - the minimum per user: what the users' plans had to write to Microsoft (usage location, licenses,
 *   policies in one request, dial plan, number, groups), nothing read;
 * - users provisioned per minute, against the ceiling: for each quota, its rate ÷ the minimum it must carry
 *   per user, the lowest binding; the ratio to it; 429s answered to sitesync;
 * - what the machine spends: CPU per user in the hosts and in the rest of the local stack (Table Storage, the
 *   emulator, the broker), Table Storage requests per user, and the users per minute the cores could carry at
 *   that CPU: when the ratio stays low while this bound is near, the local machine set the pace, not Microsoft.
 */
import os from 'node:os';
import { mkdtempSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { demoCustomerConfiguration } from '../local/demo/customer';
import { ApiClient, waitFor } from '../local/demo/scenario';
import type { CountersSnapshot } from '../local/graph-emulator';
import { ServiceBusProvisioningScheduler } from '../shared/adapters/servicebus/provisioningScheduler';
import { closeServiceBusClients } from '../shared/adapters/servicebus/client';
import { tableStorageFromSettings } from '../shared/adapters/tables';
import { readSettings } from '../shared/config/settings';
import { handOffToProvisioning, provisionMessageId, type ProvisionUserMessage } from '../shared/provisioning';
import type { TransactionRecord } from '../shared/domain';
import { startGraphProcess, startTablesProcess, tableRequestsByKindSince, type TablesCounters, type ThrottleAt } from './support/infra';
import { cliArgs, progressBar } from './support/measure';
import { cpuMs, startRuntime } from './support/runtime';
import { minimumWrites, requestsByBudget, BUDGET_RATES_PER_MINUTE, type Budget } from './support/provisionFigures';

const CUSTOMER = 'bench';

async function main(): Promise<void> {
  const args = cliArgs();
  const users = Number(args.get('users') ?? 5_000);
  const latencyMs = Number(args.get('latency') ?? 150);
  const processes = Number(args.get('processes') ?? 1);
  const jsonFile = args.get('json');
  if (!Number.isInteger(users) || users < 10 || users > 100_000) fail('--users takes 10 to 100000');
  if (!Number.isFinite(latencyMs) || latencyMs < 0 || latencyMs > 5_000) fail('--latency takes 0 to 5000 (ms per call)');
  if (!Number.isInteger(processes) || processes < 1 || processes > 8) fail('--processes takes 1 to 8 (function host processes)');

  console.log(`Provisioning ${users.toLocaleString('en-US')} users, ${latencyMs} ms per Microsoft call, ${processes} host process${processes > 1 ? 'es' : ''} (load ${os.loadavg().map((l) => l.toFixed(1)).join(' ')} on ${os.cpus().length} cores)`);
  const [graph, tables] = await Promise.all([startGraphProcess({ users, seed: 'bench-provision', enforceQuotas: true, latencyMs }), startTablesProcess()]);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'bench-provision-'));
  const caFile = path.join(dir, 'ca.pem');
  writeFileSync(caFile, graph.info.caPem);
  const runtime = await startRuntime({ processes, runDir: dir, tablesConnectionString: tables.info.tablesConnectionString, graph: { graphBaseUrl: graph.info.graphUrl, authorityHost: graph.info.graphUrl, caFile, teamsBridgeUrl: graph.info.teamsBridgeUrl }, settings: { SITESYNC_SECRET_BENCH_APP: graph.info.secret } });
  try {
    const api = new ApiClient(runtime.endpoints);
    const storage = tableStorageFromSettings(readSettings({ SITESYNC_TABLES_CONNECTION_STRING: tables.info.tablesConnectionString }));

    // The customer, its sites, rules and number ranges; flow-through off while the first sync stores the tenant.
    const configuration = demoCustomerConfiguration(
      { tenantId: graph.info.tenantId, clientId: graph.info.clientId, credentialReference: 'env:SITESYNC_SECRET_BENCH_APP' },
      { directRoutingNumbers: Math.max(6_000, users * 2) },
    );
    await api.json('PUT', `/customers/${CUSTOMER}/configuration`, { ...configuration, globalSettings: { ...configuration.globalSettings, addSync: 'no' } });
    // Onboarding starts the customer's first sync.
    const bar = progressBar('first sync', users);
    const { runId } = await waitFor('the first sync to start', async () => (await api.json<{ value: Array<{ runId: string }> }>('GET', `/customers/${CUSTOMER}/sync-runs?top=1`)).value[0], 60_000, 250);
    const run = await waitFor('the first sync', async () => {
      const r = await api.json<{ status: string; counts: { users: { added: number } } }>('GET', `/customers/${CUSTOMER}/sync-runs/${runId}`);
      bar.update(r.counts.users.added);
      return r.status === 'running' ? undefined : r;
    }, 3_600_000, 250);
    bar.stop();
    if (run.status !== 'succeeded') throw new Error(`the first sync ended ${run.status}`);
    await api.json('PUT', `/customers/${CUSTOMER}/configuration`, configuration);

    const ids: string[] = [];
    for await (const { value } of storage.users.list(CUSTOMER)) ids.push(value.userId);
    await graph.request({ kind: 'resetCounters' });
    await graph.request({ kind: 'recordArrivals' });
    const cpu0 = runtime.hostCpuMs();
    const stackCpu = () => ({ tables: cpuMs(tables.pid), graph: cpuMs(graph.pid), broker: (process.cpuUsage().user + process.cpuUsage().system) / 1000 });
    const stack0 = stackCpu();
    const tables0 = await tables.request<TablesCounters>({ kind: 'counters' });
    const started = Date.now();
    const queue = new ServiceBusProvisioningScheduler(provisionMessageId, { ServiceBusConnection: runtime.endpoints.serviceBusConnectionString });
    const at = new Date(started).toISOString();
    for (let i = 0; i < ids.length; i += 250) {
      const messages: ProvisionUserMessage[] = ids.slice(i, i + 250).map((userId) => ({ customerId: CUSTOMER, userId, reason: 'sync-add', observedAt: at, requestedAt: at }));
      // Handed off as the sync hands off: through the customer's window of the queue.
      await handOffToProvisioning({ store: storage.syncState, queue }, CUSTOMER, messages);
    }
    const progress = progressBar('provisioning (users settled)', ids.length);
    // Settled when no message is left (retries and number checks are scheduled messages) and no number
    // assignment is pending.
    let quietPolls = 0;
    let settledAt = 0;
    await waitFor('provisioning to settle', async () => {
      const backlog = await runtime.backlog();
      const pending = (await storage.pendingNumbers.list(CUSTOMER)).length;
      progress.update(ids.length - Math.min(ids.length, backlog + pending));
      if (backlog === 0 && pending === 0) {
        if (quietPolls++ === 0) settledAt = Date.now();
      } else quietPolls = 0;
      return quietPolls >= 3 ? true : undefined;
    }, 6 * 3_600_000, 500);
    progress.stop();
    const quietMs = settledAt - started;
    const hostCpu = runtime.hostCpuMs() - cpu0;
    const stack1 = stackCpu();
    const tables1 = await tables.request<TablesCounters>({ kind: 'counters' });
    const tableRequests = tables1.requests - tables0.requests;
    const tableRequestsByKind = tableRequestsByKindSince(tables0, tables1);
    const stackPerUser = { tables: (stack1.tables - stack0.tables) / ids.length, graph: (stack1.graph - stack0.graph) / ids.length, broker: (stack1.broker - stack0.broker) / ids.length };
    const counters = await graph.request<CountersSnapshot>({ kind: 'counters' });
    const throttles = await graph.request<ThrottleAt[]>({ kind: 'throttles' });

    const states: Record<string, number> = {};
    for await (const { value } of storage.users.list(CUSTOMER)) states[value.state.kind] = (states[value.state.kind] ?? 0) + 1;
    const provisioned = states.provisioned ?? 0;
    const transactions: TransactionRecord[] = await storage.transactions.listRecent(CUSTOMER, ids.length * 3);
    // The last user finished when its last transaction did; the queues go quiet later, once the checks kept
    // as a safety net (a claim's expiry) have found nothing left to do.
    const runs = transactions.filter((t) => t.userId !== undefined && Date.parse(t.startedAt) >= started);
    const finishedAt = runs.map((t) => (t.finishedAt ? Date.parse(t.finishedAt) : Number.NaN));
    const elapsedMs = runs.length > 0 && finishedAt.every(Number.isFinite) ? Math.max(...finishedAt) - started : quietMs;
    const minimum = minimumWrites(transactions);
    const used = requestsByBudget(counters);
    const perUser = (n: number) => n / Math.max(1, provisioned);
    const ceilings = (Object.keys(BUDGET_RATES_PER_MINUTE) as Budget[])
      .filter((b) => minimum[b] > 0)
      .map((b) => ({ budget: b, usersPerMinute: BUDGET_RATES_PER_MINUTE[b] / perUser(minimum[b]) }));
    const binding = ceilings.reduce((low, c) => (c.usersPerMinute < low.usersPerMinute ? c : low), ceilings[0] ?? { budget: 'identityWrites' as Budget, usersPerMinute: Infinity });
    const usersPerMinute = provisioned / (elapsedMs / 60_000);
    const figures = {
      benchmark: 'provision',
      users: ids.length,
      latencyMs,
      processes,
      provisioned,
      states,
      elapsedMs,
      quietMs,
      requestsPerUser: round(perUser(used.total)),
      minimumRequestsPerUser: round(perUser(minimum.total)),
      requestsByKind: Object.fromEntries(Object.entries(used.byKind).map(([k, v]) => [k, round(perUser(v))])),
      minimumByBudget: Object.fromEntries((Object.keys(BUDGET_RATES_PER_MINUTE) as Budget[]).map((b) => [b, round(perUser(minimum[b]))])),
      usersPerMinute: round(usersPerMinute, 1),
      ceilingUsersPerMinute: round(binding.usersPerMinute, 1),
      bindingQuota: binding.budget,
      ratio: round(usersPerMinute / binding.usersPerMinute),
      throttled: counters.throttled,
      /** The same by the quota that refused them (`teamsAdmin`, `bridge`, `identity`). */
      throttledBy: counters.throttledBy,
      /** The first 20 429s: when after the first request, which quota, and how many that quota admitted in the second before it. */
      throttles,
      httpRequestsPerUser: round(perUser(used.http)),
      /** Every route Microsoft answered, per provisioned user. */
      routes: Object.fromEntries(Object.entries(counters.requests).map(([k, v]) => [k, round(perUser(v), 3)])),
      cpuMsPerUser: round(hostCpu / ids.length),
      /** Table Storage requests (a batch is one) per user, for everything the hosts did meanwhile. */
      tableRequestsPerUser: round(tableRequests / ids.length, 1),
      /** The same by table, operation and failure status, most first. */
      tableRequestsByKind: Object.fromEntries(tableRequestsByKind.map(([kind, n]) => [kind, round(n / ids.length, 2)])),
      /** The rest of the local stack, per user: Table Storage, the Graph emulator, the broker (this process, with its polling). */
      stackCpuMsPerUser: { tables: round(stackPerUser.tables), graph: round(stackPerUser.graph), broker: round(stackPerUser.broker) },
      /** Users per minute the machine's cores could carry at the whole stack's CPU per user. */
      machineUsersPerMinute: round((os.cpus().length * 60_000) / (hostCpu / ids.length + stackPerUser.tables + stackPerUser.graph + stackPerUser.broker), 1),
      loadAverage: os.loadavg(),
      cores: os.cpus().length,
    };
    console.log('');
    console.log(`users                          ${ids.length} (${Object.entries(states).map(([k, v]) => `${v} ${k}`).join(', ')})`);
    console.log(`elapsed                        ${(elapsedMs / 1000).toFixed(1)} s from the first message to the last user finished (the queues quiet ${(quietMs / 1000).toFixed(1)} s after the first message)`);
    console.log(`Microsoft requests per user    ${figures.requestsPerUser}  (${Object.entries(figures.requestsByKind).map(([k, v]) => `${k} ${v}`).join(', ')}; ${figures.httpRequestsPerUser} HTTP requests with $batch)`);
    console.log(`minimum per user (the plans)   ${figures.minimumRequestsPerUser}  (${Object.entries(figures.minimumByBudget).map(([k, v]) => `${k} ${v}`).join(', ')})  → ${(figures.requestsPerUser / Math.max(figures.minimumRequestsPerUser, 1e-9)).toFixed(2)} × the minimum (goal 1.25 or less)`);
    console.log(`users provisioned per minute   ${figures.usersPerMinute}`);
    console.log(`ceiling (binding quota)        ${figures.ceilingUsersPerMinute} users/min: ${binding.budget}, ${BUDGET_RATES_PER_MINUTE[binding.budget]} per minute ÷ ${round(perUser(minimum[binding.budget]))} per user  (${ceilings.map((c) => `${c.budget} ${round(c.usersPerMinute, 0)}`).join(', ')})`);
    console.log(`ratio to the ceiling           ${figures.ratio}  (goal 0.9 or more)`);
    console.log(`429s answered to sitesync      ${figures.throttled}  (goal 0)${figures.throttled > 0 ? `: ${throttles.slice(0, 5).map((t) => `${t.quota} at ${(t.atMs / 1000).toFixed(1)} s (${t.admittedInSecondBefore} admitted in the second before)`).join(', ')}` : ''}`);
    console.log(`CPU per user                   ${figures.cpuMsPerUser} ms in the host process${processes > 1 ? 'es' : ''}; the local stack besides: Table Storage ${figures.stackCpuMsPerUser.tables} ms, the Graph emulator ${figures.stackCpuMsPerUser.graph} ms, the broker (with this benchmark's polling) ${figures.stackCpuMsPerUser.broker} ms`);
    console.log(`Table Storage requests per user ${figures.tableRequestsPerUser} (provisioning, number checks, and the change notifications Microsoft sends for the writes)`);
    console.log(`  most by kind                 ${Object.entries(figures.tableRequestsByKind).slice(0, 10).map(([k, v]) => `${k} ${v}`).join(', ')}`);
    console.log(`this machine's bound           ${figures.machineUsersPerMinute} users/min: ${os.cpus().length} cores ÷ the whole stack's CPU per user (near it, the machine and not Microsoft set the pace)`);
    if (jsonFile) {
      writeFileSync(jsonFile, JSON.stringify(figures, null, 2));
      console.log(`figures written to ${jsonFile}`);
    }
  } finally {
    await runtime.stop();
    await closeServiceBusClients();
    await Promise.all([graph.stop(), tables.stop()]);
  }
}

function round(value: number, digits = 2): number {
  return Number(value.toFixed(digits));
}

function fail(message: string): never {
  console.error(`${message}\nusage: npm run bench:provision -- [--users 5000] [--latency 150] [--processes 1] [--json FILE]`);
  process.exit(2);
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
