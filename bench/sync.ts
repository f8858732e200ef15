/**
 * The pull sync against a floor doing the same work, at several tenant sizes:
 * - the full sync (first sync of a customer: users and their Teams side, side by side, and the catalog)
 *   through the local host, Durable runtime, Graph adapter and Table Storage, timed from its request to
 *   its run's recorded finish;
 * - the floor: the same user and Teams pages read raw from the same emulator at the same page size, side
 *   by side, and the same rows the sync writes (users with their attributes, Teams rows with their Teams
 *   state, then the inventory entry of every number a user holds) written in raw batches of 100, reads and
 *   writes overlapped, into an Azurite of its own; in a fresh process of its own, as cold as the host the
 *   sync runs in (run after the sync in the sync's process, it found the Table and HTTP code the sync had
 *   just made hot, and took about a tenth less time and CPU than the same floor run cold);
 * - delta syncs, each after another 1% of users changed: the median of DELTA_ROUNDS rounds as a share of the
 *   full sync's time (one round's time on this machine varies by half; the first round, which also meets the
 *   host's first delta code, is reported beside it);
 * - the sync's own CPU per user and peak memory: each size runs in a process of its own, and the Graph
 *   emulator and Azurite run in processes of their own.
 *
 *   npm run bench:sync [-- --sizes 10000,30000,100000] [--repeat N] [--json FILE] [--persist]
 *
 * `--repeat N` runs each size N times, each from a fresh start, and gives the size the median run's figures
 * (the median ratio, delta share and CPU per user, the highest peak memory) with every run's beside them.
 *
 * `--persist` keeps both Azurites on disk as `npm start -- --persist` keeps its Table Storage (every
 * acknowledged write journalled and flushed before the answer): the figures of a durable local store.
 */
import { fork } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { TableClient, TableTransaction } from '@azure/data-tables';
import { startLocalStack } from '../local/stack';
import { INSTANCE_NODE_ARGUMENTS } from '../local/host/process';
import { ApiClient, waitFor } from '../local/demo/scenario';
import { tableStorageFromSettings } from '../shared/adapters/tables';
import { encodeKey, joinKey, shardOf } from '../shared/adapters/tables/keys';
import { packJson } from '../shared/adapters/tables/limits';
import { numberEntity } from '../shared/adapters/tables/numbers';
import { heldOutsideRanges } from '../shared/domain';
import { USER_SELECT } from '../shared/adapters/graph';
import { readSettings } from '../shared/config/settings';
import { closeServiceBusClients } from '../shared/adapters/servicebus/client';
import { startGraphProcess, startTablesProcess, type GraphInfo, type TablesCounters } from './support/infra';
import { cliArgs, mb, measured, progressBar, quantile, seconds } from './support/measure';
import { getJson, getToken } from './support/rawGraph';

interface RunView {
  status: string;
  finishedAt?: string;
  mode: string;
  errors: string[];
  counts: Record<string, { added: number; changed: number; unchanged: number; deleted: number; held: number }>;
}

/** One size's figures, as `--json` writes them. */
interface SizeResult {
  users: number;
  ratio: number;
  deltaShare: number;
  cpuMsPerUser: number;
  peakRssMb: number;
  fullMs: number;
  floorMs: number;
  /** The median delta round. */
  deltaMs: number;
  /** Every delta round, in order: the first is the host's first delta. */
  deltaRoundsMs: number[];
  changed: number;
  catalog: { licenses: number; dialPlans: number; policies: number };
  /** The floor's CPU per user in its own process: what the same reads and writes cost without the app. */
  floorCpuMsPerUser: number;
  /** Table Storage requests of the full sync (every kind, the Durable runtime's included) and of the floor. */
  tableRequests: { sync: number; floor: number };
  /** CPU the Table Storage process spent serving the full sync and the floor, in ms (each its own Azurite). */
  tableCpuMs: { sync: number; floor: number };
  /** With `--repeat`: each run's own figures, in the order they ran (the size's are their medians). */
  runs?: Array<Pick<SizeResult, 'ratio' | 'deltaShare' | 'fullMs' | 'floorMs' | 'deltaMs' | 'cpuMsPerUser' | 'peakRssMb'>>;
}

const GOALS = { ratio: 1.15, deltaShare: 0.05, peakRssMb: 400 };
const DELTA_ROUNDS = 5;
const CUSTOMER = 'bench';
const SHARDS = 16;

async function main(): Promise<void> {
  const args = cliArgs();
  if (args.has('one')) return runOneSize(Number(args.get('one')), args.has('persist'));
  if (args.has('floor')) return floorProcess();
  const sizes = (args.get('sizes') ?? args.get('users') ?? '10000,30000,100000').split(',').map((s) => Number(s.trim()));
  if (sizes.some((n) => !Number.isInteger(n) || n < 10 || n > 200_000)) throw new Error('--sizes takes tenant sizes of 10 to 200000 users, e.g. --sizes 10000,30000,100000');
  const repeat = Number(args.get('repeat') ?? 1);
  if (!Number.isInteger(repeat) || repeat < 1 || repeat > 9) throw new Error('--repeat takes 1 to 9 runs a size, e.g. --repeat 3');
  const jsonFile = args.get('json');
  process.stdout.write(`Pull sync against its same-work floor at ${sizes.map((n) => n.toLocaleString('en-US')).join(', ')} users${repeat > 1 ? `, ${repeat} runs a size` : ''} (load ${os.loadavg().map((l) => l.toFixed(1)).join(' ')} on ${os.cpus().length} cores)\n`);
  const results: SizeResult[] = [];
  for (const users of sizes) {
    const runs: SizeResult[] = [];
    for (let k = 0; k < repeat; k++) {
      const run = await inChild(users, args.has('persist'));
      runs.push(run);
      report(run);
    }
    const size = medianOf(runs);
    results.push(size);
    if (repeat > 1) process.stdout.write(`  ${users.toLocaleString('en-US')} users, median of ${repeat} runs: ratio ${size.ratio.toFixed(2)} (runs ${runs.map((r) => r.ratio.toFixed(2)).join(', ')}), delta share ${size.deltaShare.toFixed(3)} (runs ${runs.map((r) => r.deltaShare.toFixed(3)).join(', ')})\n`);
  }
  process.stdout.write(`\n${table(results)}\n`);
  if (jsonFile) {
    writeFileSync(jsonFile, JSON.stringify({ benchmark: 'sync', goals: GOALS, loadAverage: os.loadavg(), cores: os.cpus().length, sizes: results }, null, 2));
    process.stdout.write(`figures written to ${jsonFile}\n`);
  }
}

/**
 * Each size in a process of its own, so that its CPU and memory figures are its own, with the Node
 * arguments a deployed instance's worker runs with (its heap limit).
 */
function inChild(users: number, persist: boolean): Promise<SizeResult> {
  return inProcessOfItsOwn<SizeResult>(['--one', String(users), ...(persist ? ['--persist'] : [])], `the ${users}-user run`, ['--expose-gc']);
}

/**
 * This file again in a fresh process with the arguments of a deployed instance's worker (and `extraNodeArgs`),
 * given `job` when there is one: the last figures it sends before it exits.
 */
function inProcessOfItsOwn<T>(args: string[], what: string, extraNodeArgs: string[] = [], job?: unknown): Promise<T> {
  return new Promise((resolve, reject) => {
    const child = fork(__filename, args, { execArgv: [...INSTANCE_NODE_ARGUMENTS, ...process.execArgv, ...extraNodeArgs], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    let result: T | undefined;
    child.on('message', (m) => (result = m as T));
    child.once('error', reject);
    child.once('exit', (code) => (result ? resolve(result) : reject(new Error(`${what} exited with ${code}`))));
    if (job !== undefined) child.send(job as object);
  });
}

async function runOneSize(users: number, persist: boolean): Promise<void> {
  process.stdout.write(`\n${users.toLocaleString('en-US')} users: generating the tenant; starting the Graph emulator and two ${persist ? 'durable ' : ''}Azurites in processes of their own…\n`);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'bench-sync-'));
  const [graph, syncTables, floorTables] = await Promise.all([
    startGraphProcess({ users, seed: 'bench-sync' }),
    startTablesProcess(persist ? path.join(dir, 'sync-tables') : undefined),
    startTablesProcess(persist ? path.join(dir, 'floor-tables') : undefined),
  ]);
  const info = graph.info;
  const caFile = path.join(dir, 'ca.pem');
  writeFileSync(caFile, info.caPem);
  const stack = await startLocalStack({
    tablesConnectionString: syncTables.info.tablesConnectionString,
    graph: { external: { graphBaseUrl: info.graphUrl, authorityHost: info.graphUrl, caFile, teamsBridgeUrl: info.teamsBridgeUrl } },
    settings: { SITESYNC_SECRET_BENCH_APP: info.secret },
    enableTimers: false,
    runDir: dir,
    logger: (level, source, message) => {
      if (level === 'error' || level === 'critical') process.stderr.write(`  ${source}: ${message.split('\n')[0]}\n`);
    },
  });
  try {
    const storage = tableStorageFromSettings(readSettings());
    await storage.customers.create({ id: CUSTOMER, name: 'Bench', tenantId: info.tenantId, clientId: info.clientId, credentialRef: 'env:SITESYNC_SECRET_BENCH_APP' });
    const api = new ApiClient(stack.endpoints);

    const syncOnce = async (kind: 'full' | 'delta', total: number) => {
      const bar = progressBar(`${kind} sync`, total);
      const requestedAt = Date.now();
      const { runId } = await api.json<{ runId: string }>('POST', `/customers/${CUSTOMER}/syncs/${kind}/run`);
      // The first status read comes one interval in: a read while the run is going is served by the host and
      // the Table Storage it is measured on (a delta round at 10,000 users is over in less than one).
      await new Promise((resolve) => setTimeout(resolve, statusEveryMs(total)));
      const run = await waitFor(
        `the ${kind} sync`,
        async () => {
          const r = await api.json<RunView>('GET', `/customers/${CUSTOMER}/sync-runs/${runId}`);
          const u = r.counts.users;
          bar.update(u.added + u.changed + u.unchanged);
          return r.status === 'running' ? undefined : r;
        },
        3_600_000,
        // Each status read is served by the host doing the sync and by its Table Storage (three requests: the
        // run, its progress, its orchestration), the parts the sync is measured on. The time is taken from the
        // run's own finish, not from the read that sees it.
        statusEveryMs(total),
      );
      bar.stop();
      // The sync's time ends with its run's last write (finishedAt), not with the status read that first
      // sees it: those reads are served by the host doing the sync and, on a busy machine, each took up to
      // a second or more, which is the poller's lag, not the sync's work (the floor's end is exact too).
      const ms = run.finishedAt ? Date.parse(run.finishedAt) - requestedAt : undefined;
      return { run, ms };
    };

    // Microsoft's service is warm; the emulator standing in for it is not until it has served a page of each
    // kind. Left cold, its first pages would be slow for the sync and fast for the floor that follows it.
    await warmEmulator(info);
    const tables0 = await syncTables.request<TablesCounters>({ kind: 'counters' });
    const cpu0 = process.cpuUsage();
    const measuredFull = await measured(() => syncOnce('full', info.users));
    const cpu = process.cpuUsage(cpu0);
    const tables1 = await syncTables.request<TablesCounters>({ kind: 'counters' });
    const full = { ...measuredFull, result: measuredFull.result.run, ms: measuredFull.result.ms ?? measuredFull.ms };
    if (full.result.status !== 'succeeded' || full.result.counts.users.added !== info.users) {
      throw new Error(`the full sync did not import every user: ${JSON.stringify(full.result)}`);
    }

    const floorTables0 = await floorTables.request<TablesCounters>({ kind: 'counters' });
    const floor = await floorInChild({ info, tablesConnectionString: floorTables.info.tablesConnectionString });
    const floorTablesCount = await floorTables.request<TablesCounters>({ kind: 'counters' });

    // Each round changes other users (the seed moves the choice) and reads them in a delta of its own.
    const rounds: Array<{ ms: number; peakRss: number }> = [];
    let changed = 0;
    for (let k = 0; k < DELTA_ROUNDS; k++) {
      changed = await graph.request<number>({ kind: 'change', count: Math.max(1, Math.round(info.users / 100)), seed: 1 + k });
      const measuredDelta = await measured(() => syncOnce('delta', changed));
      const seen = measuredDelta.result.run.counts.users.changed;
      if (seen !== changed) throw new Error(`delta round ${k + 1} saw ${seen} of ${changed} changes`);
      rounds.push({ ms: measuredDelta.result.ms ?? measuredDelta.ms, peakRss: measuredDelta.peakRss });
    }
    const delta = { ms: quantile(rounds.map((r) => r.ms).sort((a, b) => a - b), 0.5), peakRss: Math.max(...rounds.map((r) => r.peakRss)) };

    const c = full.result.counts;
    const result: SizeResult = {
      users: info.users,
      ratio: round(full.ms / floor.ms, 3),
      deltaShare: round(delta.ms / full.ms, 4),
      cpuMsPerUser: round((cpu.user + cpu.system) / 1000 / info.users, 3),
      peakRssMb: Math.round(Math.max(full.peakRss, delta.peakRss) / 1024 / 1024),
      fullMs: Math.round(full.ms),
      floorMs: Math.round(floor.ms),
      deltaMs: Math.round(delta.ms),
      deltaRoundsMs: rounds.map((r) => Math.round(r.ms)),
      changed,
      catalog: { licenses: c.licenses.added, dialPlans: c.dialPlans.added, policies: c.policies.added },
      floorCpuMsPerUser: round(floor.cpuMs / info.users, 3),
      tableRequests: { sync: tables1.requests - tables0.requests, floor: floorTablesCount.requests - floorTables0.requests },
      tableCpuMs: { sync: Math.round(tables1.cpuMs - tables0.cpuMs), floor: Math.round(floorTablesCount.cpuMs - floorTables0.cpuMs) },
    };
    if (process.send) process.send(result);
    else report(result); // run alone (`--one N`): its figures printed here
  } finally {
    await stack.stop();
    await closeServiceBusClients();
    await Promise.all([graph.stop(), syncTables.stop(), floorTables.stop()]);
  }
}

function report(r: SizeResult): void {
  process.stdout.write(
    [
      '',
      `Pull sync of ${r.users.toLocaleString('en-US')} users (${r.catalog.licenses} licenses, ${r.catalog.dialPlans} dial plans, ${r.catalog.policies} policies):`,
      `  full sync                 ${seconds(r.fullMs).padStart(9)}  (${Math.round((r.users / r.fullMs) * 1000).toLocaleString('en-US')} users/s)`,
      `  floor (same work, raw)    ${seconds(r.floorMs).padStart(9)}  users and Teams pages read raw side by side, the same rows written in raw batches, in a fresh process`,
      `  ratio full / floor        ${r.ratio.toFixed(2).padStart(9)}  (goal ${GOALS.ratio} or less)`,
      `  delta sync, ${r.changed} changed  ${seconds(r.deltaMs).padStart(9)}  median of ${r.deltaRoundsMs.length} rounds (first ${seconds(r.deltaRoundsMs[0])}; ${seconds(Math.min(...r.deltaRoundsMs))} to ${seconds(Math.max(...r.deltaRoundsMs))})`,
      `  delta / full              ${r.deltaShare.toFixed(3).padStart(9)}  (goal ${GOALS.deltaShare} or less)`,
      `  CPU of the sync per user  ${r.cpuMsPerUser.toFixed(2).padStart(6)} ms  (its own process; the emulator and Azurite run apart; the floor ${r.floorCpuMsPerUser.toFixed(2)} ms)`,
      `  Table requests            ${String(r.tableRequests.sync).padStart(9)}  (the floor ${r.tableRequests.floor}; the sync's count the Durable runtime's own)`,
      `  Table Storage's CPU       ${seconds(r.tableCpuMs.sync).padStart(9)}  (the floor's ${seconds(r.tableCpuMs.floor)})`,
      `  peak memory (sync)        ${mb(r.peakRssMb * 1024 * 1024).padStart(9)}  RSS (goal ${GOALS.peakRssMb} MB or less)`,
    ].join('\n') + '\n',
  );
}

/**
 * One size's figures over several runs (this machine's runs of the same code differ by a tenth and more):
 * the run of the median ratio, with the median delta share and CPU per user and the highest peak memory of
 * all, and every run's own figures beside them.
 */
function medianOf(runs: SizeResult[]): SizeResult {
  if (runs.length === 1) return runs[0];
  const median = (pick: (r: SizeResult) => number) => quantile(runs.map(pick).sort((a, b) => a - b), 0.5);
  const byRatio = [...runs].sort((a, b) => a.ratio - b.ratio);
  return {
    ...byRatio[Math.ceil(runs.length / 2) - 1],
    deltaShare: median((r) => r.deltaShare),
    cpuMsPerUser: median((r) => r.cpuMsPerUser),
    peakRssMb: Math.max(...runs.map((r) => r.peakRssMb)),
    runs: runs.map((r) => ({ ratio: r.ratio, deltaShare: r.deltaShare, fullMs: r.fullMs, floorMs: r.floorMs, deltaMs: r.deltaMs, cpuMsPerUser: r.cpuMsPerUser, peakRssMb: r.peakRssMb })),
  };
}

function table(results: SizeResult[]): string {
  const rows = results.map((r) => `| ${r.users.toLocaleString('en-US')} | ${r.ratio.toFixed(2)} | ${r.deltaShare.toFixed(3)} | ${r.cpuMsPerUser.toFixed(2)} | ${r.peakRssMb} |`);
  return ['| users | ratio to the floor | delta share | CPU ms per user | peak RSS MB |', '|---|---|---|---|---|', ...rows].join('\n');
}

const round = (value: number, digits: number) => Number(value.toFixed(digits));

/** How often a run's status is read: twice a second up to 10,000 users, then in proportion (every 5 s from 100,000). */
const statusEveryMs = (users: number) => Math.min(5_000, Math.max(500, Math.round(users / 20)));

type Entity = Record<string, unknown> & { partitionKey: string; rowKey: string };

/** Raw batches of up to 100 per partition, four in flight, as the sync's writer sends them (new inventory entries created, as the sync creates them). */
async function writeRaw(table: TableClient, entities: Entity[], mode: 'Merge' | 'Replace' | 'Create'): Promise<void> {
  const byPartition = new Map<string, Entity[]>();
  for (const e of entities) {
    const list = byPartition.get(e.partitionKey);
    if (list) list.push(e);
    else byPartition.set(e.partitionKey, [e]);
  }
  const batches: Entity[][] = [];
  for (const group of byPartition.values()) for (let i = 0; i < group.length; i += 100) batches.push(group.slice(i, i + 100));
  let next = 0;
  await Promise.all(
    Array.from({ length: 4 }, async () => {
      while (next < batches.length) {
        const tx = new TableTransaction();
        for (const e of batches[next++]) {
          if (mode === 'Create') tx.createEntity(e);
          else tx.upsertEntity(e, mode);
        }
        await table.submitTransaction(tx.actions);
      }
    }),
  );
}

/** Pages read one ahead of the writes: the network and the writes overlap, at most two pages in memory. */
async function pass(firstUrl: string, get: (url: string) => Promise<Record<string, unknown>>, write: (page: Array<Record<string, unknown>>) => Promise<void>, onPage: (n: number) => void): Promise<void> {
  let pending: Promise<Record<string, unknown>> | undefined = get(firstUrl);
  let writing: Promise<void> = Promise.resolve();
  while (pending) {
    const page: Record<string, unknown> = await pending;
    const next = page['@odata.nextLink'];
    pending = typeof next === 'string' ? get(next) : undefined;
    const value = page.value as Array<Record<string, unknown>>;
    await writing;
    writing = write(value).then(() => onPage(value.length));
  }
  await writing;
}

/** The first pages of the two passes, as the sync asks for them (999 a page). */
const USERS_FIRST_PAGE = `/v1.0/users?$select=${USER_SELECT.join(',')}&$top=999`;
const TEAMS_FIRST_PAGE = '/v1.0/admin/teams/userConfigurations?$top=999';

const partitionOf = (userId: string) => joinKey(encodeKey(CUSTOMER), shardOf(userId, SHARDS).toString(16).padStart(2, '0'));

interface FloorJob {
  info: GraphInfo;
  tablesConnectionString: string;
}

/** The floor in a fresh process, with the arguments the sync's process runs with: its time and its CPU. */
function floorInChild(job: FloorJob): Promise<{ ms: number; cpuMs: number }> {
  return inProcessOfItsOwn(['--floor'], 'the floor', [], job);
}

/** The floor's process: takes its job, runs it once, answers its figures. */
function floorProcess(): Promise<void> {
  return new Promise((resolve, reject) => {
    process.once('message', (job: FloorJob) => {
      const bar = progressBar('floor (users and Teams rows)', job.info.users * 2);
      const cpu0 = process.cpuUsage();
      const started = performance.now();
      floorRun(job.info, job.tablesConnectionString, bar).then(() => {
        const ms = performance.now() - started;
        const cpu = process.cpuUsage(cpu0);
        bar.stop();
        process.send?.({ ms, cpuMs: (cpu.user + cpu.system) / 1000 }, () => resolve());
      }, reject);
    });
  });
}

/** The floor: the sync's reads and writes, nothing else. */
async function floorRun(info: GraphInfo, tablesConnectionString: string, bar: { update(v: number): void }): Promise<void> {
  const graph = await rawGraphOf(info);
  const open = async (name: string) => {
    const client = TableClient.fromConnectionString(tablesConnectionString, name, { allowInsecureConnection: true });
    await client.createTable();
    return client;
  };
  const [users, teams, numbers] = await Promise.all([open('FloorUsers'), open('FloorUserTeams'), open('FloorNumbers')]);
  const holders = new Map<string, string[]>();
  const syncedAt = new Date().toISOString();
  let done = 0;
  const progress = (n: number) => bar.update((done += n));
  await Promise.all([
    pass(
      `${info.graphUrl}${USERS_FIRST_PAGE}`,
      graph.get,
      (page) =>
        writeRaw(
          users,
          page.map((u) => ({ partitionKey: partitionOf(String(u.id)), rowKey: encodeKey(String(u.id)), CustomerId: CUSTOMER, UserId: u.id, ...packJson('Attributes', u), SyncedAt: syncedAt })),
          'Merge',
        ),
      progress,
    ),
    pass(
      `${info.graphUrl}${TEAMS_FIRST_PAGE}`,
      graph.get,
      (page) => {
        for (const c of page) for (const t of (c.telephoneNumbers ?? []) as Array<{ telephoneNumber: string }>) holders.set(t.telephoneNumber, [...(holders.get(t.telephoneNumber) ?? []), String(c.id)]);
        const readAt = new Date().toISOString();
        return writeRaw(
          teams,
          page.map((c) => {
            const state = teamsState(c);
            return { partitionKey: partitionOf(String(c.id)), rowKey: encodeKey(String(c.id)), Teams: JSON.stringify(state), ReadAt: readAt, Numbers: state.numbers.join(',') };
          }),
          'Replace',
        );
      },
      progress,
    ),
  ]);
  // Once the whole Teams side is read, as the sync's numbers step: every held number recorded in the
  // customer's inventory (a first sync has no ranges and no user at a site yet).
  const now = new Date();
  await writeRaw(numbers, [...holders].map(([number, held]) => numberEntity(heldOutsideRanges(number, { customerId: CUSTOMER }, held, 'DirectRouting', now)) as Entity), 'Create');
  graph.close();
}

/** Plain HTTPS reads of the emulator as the app it stands for, with a token and connections of their own. */
async function rawGraphOf(info: GraphInfo): Promise<{ get(url: string): Promise<Record<string, unknown>>; close(): void }> {
  const agent = new https.Agent({ keepAlive: true, ca: info.caPem });
  const token = await getToken({ authority: info.graphUrl, tenantId: info.tenantId, clientId: info.clientId, secret: info.secret }, agent);
  return { get: (url) => getJson(url, agent, token), close: () => agent.destroy() };
}

/** One page of each read the sync and the floor make, through a client of its own, before either is measured. */
async function warmEmulator(info: GraphInfo): Promise<void> {
  const graph = await rawGraphOf(info);
  for (const url of [USERS_FIRST_PAGE, TEAMS_FIRST_PAGE, `/v1.0/users/delta?$select=${USER_SELECT.join(',')}&$deltaToken=latest`]) await graph.get(`${info.graphUrl}${url}`);
  graph.close();
}

/** The Teams side of a user as the sync stores it (its JSON, and its numbers in a column of their own). */
function teamsState(c: Record<string, unknown>): Record<string, unknown> & { numbers: string[] } {
  const policies: Record<string, string> = {};
  const direct: Record<string, string> = {};
  for (const p of (c.effectivePolicyAssignments ?? []) as Array<{ policyType: string; policyAssignment?: { displayName?: string; assignmentType?: string } }>) {
    const name = p.policyAssignment?.displayName;
    if (!name) continue;
    policies[p.policyType] = name;
    if (p.policyAssignment?.assignmentType === 'direct') direct[p.policyType] = name;
  }
  const held = (c.telephoneNumbers ?? []) as Array<{ telephoneNumber: string; assignmentCategory?: string }>;
  const primary = held.find((n) => (n.assignmentCategory ?? 'primary') === 'primary') ?? held[0];
  return {
    present: true,
    enterpriseVoice: c.isEnterpriseVoiceEnabled === true,
    numbers: held.map((n) => n.telephoneNumber),
    accountType: c.accountType ?? null,
    featureTypes: c.featureTypes ?? [],
    policies,
    direct,
    ...(primary ? { primaryNumber: primary.telephoneNumber } : {}),
  };
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
    process.exit(1);
  },
);
