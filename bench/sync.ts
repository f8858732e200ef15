/**
 * The pull sync against its floor, from one run:
 * - full sync wall time (first sync of a customer: users, Teams join, catalog) through the local host,
 *   Durable runtime, Graph adapter and Table Storage;
 * - the floor: the same user and Teams pages read raw from the same emulator, and the same user entities
 *   written in raw batches of 100 to the same Azurite, reads and writes overlapped;
 * - a delta sync after 1% of users changed, as a share of the full sync's time;
 * - peak memory of the process running the sync (the emulator and Azurite run in another process).
 *
 *   npm run bench:sync [-- --users 100000]
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { TableClient, TableTransaction } from '@azure/data-tables';
import { startLocalStack } from '../local/stack';
import { ApiClient, waitFor } from '../local/demo/scenario';
import { tableStorageFromSettings } from '../shared/adapters/tables';
import { encodeKey, joinKey, shardOf } from '../shared/adapters/tables/keys';
import { packJson } from '../shared/adapters/tables/limits';
import { USER_SELECT } from '../shared/adapters/graph';
import { readSettings } from '../shared/config/settings';
import { closeServiceBusClients } from '../shared/adapters/servicebus/client';
import { startInfraProcess, type InfraInfo } from './support/infra';
import { cliArgs, mb, measured, progressBar, seconds } from './support/measure';
import { getJson, getToken } from './support/rawGraph';

interface RunView {
  status: string;
  mode: string;
  errors: string[];
  counts: Record<string, { added: number; changed: number; unchanged: number; deleted: number; held: number }>;
}

async function main(): Promise<void> {
  const args = cliArgs();
  const users = Number(args.get('users') ?? 100_000);
  if (!Number.isInteger(users) || users < 10 || users > 200_000) throw new Error('--users must be 10 to 200000');
  process.stdout.write(`Generating a ${users.toLocaleString('en-US')}-user tenant; starting the Graph emulator and Azurite in a child process…\n`);
  const infra = await startInfraProcess({ users, seed: 'bench-sync' });
  const dir = mkdtempSync(path.join(os.tmpdir(), 'bench-sync-'));
  const caFile = path.join(dir, 'ca.pem');
  writeFileSync(caFile, infra.info.caPem);
  const stack = await startLocalStack({
    tablesConnectionString: infra.info.tablesConnectionString,
    graph: { external: { graphBaseUrl: infra.info.graphUrl, authorityHost: infra.info.graphUrl, caFile, teamsBridgeUrl: infra.info.teamsBridgeUrl } },
    settings: { BENCH_APP_SECRET: infra.info.secret },
    enableTimers: false,
    runDir: dir,
    logger: (level, source, message) => {
      if (level === 'error' || level === 'critical') process.stderr.write(`  ${source}: ${message.split('\n')[0]}\n`);
    },
  });
  try {
    const storage = tableStorageFromSettings(readSettings());
    await storage.customers.create({ id: 'bench', name: 'Bench', tenantId: infra.info.tenantId, clientId: infra.info.clientId, credentialRef: 'env:BENCH_APP_SECRET' });
    const api = new ApiClient(stack.endpoints);

    const syncOnce = async (kind: 'full' | 'delta', total: number) => {
      const bar = progressBar(`${kind} sync`, total);
      const { runId } = await api.json<{ runId: string }>('POST', `/customers/bench/syncs/${kind}/run`);
      const run = await waitFor(
        `the ${kind} sync`,
        async () => {
          const r = await api.json<RunView>('GET', `/customers/bench/sync-runs/${runId}`);
          const u = r.counts.users;
          bar.update(u.added + u.changed + u.unchanged);
          return r.status === 'running' ? undefined : r;
        },
        3_600_000,
        100,
      );
      bar.stop();
      return run;
    };

    const full = await measured(() => syncOnce('full', infra.info.users));
    if (full.result.status !== 'succeeded' || full.result.counts.users.added !== infra.info.users) {
      throw new Error(`the full sync did not import every user: ${JSON.stringify(full.result)}`);
    }

    const floorBar = progressBar('floor', infra.info.users);
    const floor = await measured(() => floorRun(infra.info, floorBar));
    floorBar.stop();

    const changed = await infra.request<number>({ kind: 'change', count: Math.max(1, Math.round(infra.info.users / 100)), seed: 1 });
    const delta = await measured(() => syncOnce('delta', changed));
    if (delta.result.counts.users.changed !== changed) throw new Error(`the delta sync saw ${delta.result.counts.users.changed} of ${changed} changes`);

    const c = full.result.counts;
    process.stdout.write(
      [
        '',
        `Pull sync of ${infra.info.users.toLocaleString('en-US')} users (${c.licenses.added} licenses, ${c.dialPlans.added} dial plans, ${c.policies.added} policies):`,
        `  full sync                 ${seconds(full.ms).padStart(9)}  (${Math.round((infra.info.users / full.ms) * 1000).toLocaleString('en-US')} users/s)`,
        `  floor (raw reads+writes)  ${seconds(floor.ms).padStart(9)}  users and Teams pages read raw, the same user entities written in raw batches`,
        `  ratio full / floor        ${(full.ms / floor.ms).toFixed(2).padStart(9)}  (goal 1.5 or less)`,
        `  delta sync, ${changed} changed  ${seconds(delta.ms).padStart(9)}`,
        `  delta / full              ${(delta.ms / full.ms).toFixed(3).padStart(9)}  (goal 0.05 or less)`,
        `  peak memory (sync process) RSS ${mb(Math.max(full.peakRss, delta.peakRss))}, heap ${mb(Math.max(full.peakHeap, delta.peakHeap))}  (goal 400 MB or less)`,
        '',
      ].join('\n'),
    );
  } finally {
    await stack.stop();
    await closeServiceBusClients();
    await infra.stop();
  }
}

/** The floor: raw pages in, raw batches out, overlapped, with no other work. */
async function floorRun(info: InfraInfo, bar: { update(v: number): void }): Promise<number> {
  const agent = new https.Agent({ keepAlive: true, ca: info.caPem });
  const token = await getToken({ authority: info.graphUrl, tenantId: info.tenantId, clientId: info.clientId, secret: info.secret }, agent);
  const table = TableClient.fromConnectionString(info.tablesConnectionString, 'FloorUsers', { allowInsecureConnection: true });
  await table.createTable();
  const writes = new Set<Promise<void>>();
  let count = 0;
  const write = async (entities: Array<Record<string, unknown> & { partitionKey: string; rowKey: string }>) => {
    const byPartition = new Map<string, typeof entities>();
    for (const e of entities) byPartition.set(e.partitionKey, [...(byPartition.get(e.partitionKey) ?? []), e]);
    const batches: Array<typeof entities> = [];
    for (const group of byPartition.values()) for (let i = 0; i < group.length; i += 100) batches.push(group.slice(i, i + 100));
    let next = 0;
    await Promise.all(
      Array.from({ length: 4 }, async () => {
        while (next < batches.length) {
          const tx = new TableTransaction();
          for (const e of batches[next++]) tx.upsertEntity(e, 'Merge');
          await table.submitTransaction(tx.actions);
        }
      }),
    );
  };
  let url: string | undefined = `${info.graphUrl}/v1.0/users?$select=${USER_SELECT.join(',')}&$top=999`;
  while (url) {
    const page = await getJson(url, agent, token);
    const value = page.value as Array<Record<string, unknown> & { id: string }>;
    const entities = value.map((u) => ({ partitionKey: joinKey(encodeKey('floor'), shardOf(u.id, 16).toString(16).padStart(2, '0')), rowKey: encodeKey(u.id), ...packJson('Attributes', u) }));
    const w = write(entities);
    writes.add(w);
    void w.finally(() => writes.delete(w));
    count += value.length;
    bar.update(count);
    url = page['@odata.nextLink'] as string | undefined;
    if (writes.size >= 2) await Promise.race(writes);
  }
  let teams: string | undefined = `${info.graphUrl}/v1.0/admin/teams/userConfigurations`;
  while (teams) {
    const page = await getJson(teams, agent, token);
    teams = page['@odata.nextLink'] as string | undefined;
  }
  await Promise.all(writes);
  agent.destroy();
  return count;
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
    process.exit(1);
  },
);
