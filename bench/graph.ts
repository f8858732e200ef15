/**
 * Reading a whole tenant's users through the Graph adapter, against the floor measured in the same run: a
 * raw HTTPS loop over the same pages ($select, $top=999, every nextLink) that only parses JSON. The
 * emulator runs in a child process so that it neither shares the event loop nor the memory figures.
 * Prints users per second for each, the ratio (adapter time / raw time) and peak memory (RSS and heap).
 *
 *   npm run bench:graph [-- --users 100000 --rounds 2 --tenant-size L] [--json FILE]
 */
import { fork, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SingleBar, Presets } from 'cli-progress';
import { cliArgs, measured, mb, writeFigures } from './support/measure';
import { getJson, getToken } from './support/rawGraph';
import { USER_SELECT, createMicrosoftTenant, resetMicrosoftTenants, type TenantSize } from '../shared/adapters/graph';

const args = cliArgs();

interface EmulatorInfo {
  url: string;
  caPem: string;
  tenantId: string;
  clientId: string;
  secret: string;
  users: number;
}

/** Child side: serve one generated tenant until told to stop. */
async function serve(users: number): Promise<void> {
  const { generateDemoTenant } = await import('../local/demo/tenant');
  const { startGraphEmulator } = await import('../local/graph-emulator');
  const tenant = generateDemoTenant({ seed: 'bench-graph', users });
  const emulator = await startGraphEmulator({ tenants: [tenant] });
  const info: EmulatorInfo = { url: emulator.url, caPem: emulator.caPem, tenantId: tenant.tenantId, clientId: tenant.apps[0].clientId, secret: tenant.apps[0].secret, users: tenant.users.length };
  process.send?.(info);
  process.on('message', async () => {
    await emulator.stop();
    process.exit(0);
  });
}

function startEmulatorProcess(users: number): Promise<{ child: ChildProcess; info: EmulatorInfo }> {
  const child = fork(__filename, ['--serve', String(users)], { execArgv: process.execArgv, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  return new Promise((resolve, reject) => {
    child.once('message', (info) => resolve({ child, info: info as EmulatorInfo }));
    child.once('exit', (code) => reject(new Error(`emulator process exited with ${code}`)));
  });
}

function progress(label: string, total: number): SingleBar | undefined {
  if (!process.stderr.isTTY || total < 20_000) return undefined;
  const bar = new SingleBar({ format: `${label.padEnd(8)} {bar} {value}/{total} users {duration_formatted}`, stream: process.stderr, clearOnComplete: true }, Presets.shades_classic);
  bar.start(total, 0);
  return bar;
}

/** The floor: one keep-alive HTTPS connection, the same pages, JSON parsed, nothing else. */
async function rawRead(info: EmulatorInfo, agent: https.Agent, token: string, bar?: SingleBar): Promise<number> {
  let url: string | undefined = `${info.url}/v1.0/users?$select=${USER_SELECT.join(',')}&$top=999`;
  let count = 0;
  while (url) {
    const page = await getJson(url, agent, token);
    const value = page.value as unknown[];
    count += value.length;
    bar?.update(count);
    url = page['@odata.nextLink'] as string | undefined;
  }
  return count;
}

const perSecond = (count: number, ms: number) => `${Math.round((count / ms) * 1000).toLocaleString('en-US')} users/s`;

async function main(): Promise<void> {
  if (args.has('serve')) return serve(Number(args.get('serve')));
  const users = Number(args.get('users') ?? 100_000);
  const rounds = Number(args.get('rounds') ?? 2);
  const tenantSize = (args.get('tenant-size') ?? 'L') as TenantSize;
  process.stdout.write(`Generating a ${users.toLocaleString('en-US')}-user tenant and starting the Graph emulator…\n`);
  const { child, info } = await startEmulatorProcess(users);
  const dir = mkdtempSync(join(tmpdir(), 'bench-graph-'));
  const caFile = join(dir, 'ca.pem');
  writeFileSync(caFile, info.caPem);
  const agent = new https.Agent({ keepAlive: true, maxSockets: 1, ca: info.caPem });
  try {
    const bearer = await getToken({ authority: info.url, tenantId: info.tenantId, clientId: info.clientId, secret: info.secret }, agent);
    const settings = { SITESYNC_GRAPH_BASE_URL: info.url, SITESYNC_AUTHORITY_HOST: info.url, SITESYNC_GRAPH_CA_FILE: caFile };
    const config = { tenantId: info.tenantId, clientId: info.clientId, credentialRef: 'env:SITESYNC_SECRET_BENCH_APP', tenantSize };

    const adapterRead = async (bar?: SingleBar) => {
      const tenant = createMicrosoftTenant(config, settings, { env: { SITESYNC_SECRET_BENCH_APP: info.secret } });
      let count = 0;
      for await (const page of tenant.listUsers()) {
        count += page.length; // streamed: the page is dropped once counted
        bar?.update(count);
      }
      return { count, pacer: tenant.pacer.stats };
    };

    // Warm both paths (TLS session, token, JIT) on a short read before timing.
    await rawRead({ ...info }, agent, bearer);
    await adapterRead();

    const raw: number[] = [];
    const adapter: number[] = [];
    let rawPeak = { rss: 0, heap: 0 };
    let adapterPeak = { rss: 0, heap: 0 };
    let pacerStats;
    for (let round = 1; round <= rounds; round++) {
      const rawBar = progress('raw', info.users);
      const r = await measured(() => rawRead(info, agent, bearer, rawBar));
      rawBar?.stop();
      if (r.result !== info.users) throw new Error(`raw read ${r.result} of ${info.users} users`);
      raw.push(r.ms);
      rawPeak = { rss: Math.max(rawPeak.rss, r.peakRss), heap: Math.max(rawPeak.heap, r.peakHeap) };

      resetMicrosoftTenants();
      const adapterBar = progress('adapter', info.users);
      const a = await measured(() => adapterRead(adapterBar));
      adapterBar?.stop();
      if (a.result.count !== info.users) throw new Error(`adapter read ${a.result.count} of ${info.users} users`);
      adapter.push(a.ms);
      pacerStats = a.result.pacer;
      adapterPeak = { rss: Math.max(adapterPeak.rss, a.peakRss), heap: Math.max(adapterPeak.heap, a.peakHeap) };
      process.stdout.write(`round ${round}: raw ${(r.ms / 1000).toFixed(2)} s, adapter ${(a.ms / 1000).toFixed(2)} s\n`);
    }
    const best = (xs: number[]) => Math.min(...xs);
    const rawMs = best(raw);
    const adapterMs = best(adapter);
    const pages = Math.ceil(info.users / 999);
    process.stdout.write(
      [
        '',
        `Graph users read, ${info.users.toLocaleString('en-US')} users in ${pages} pages of 999 (best of ${rounds}):`,
        `  raw HTTPS loop (floor): ${perSecond(info.users, rawMs).padStart(16)}  ${(rawMs / 1000).toFixed(2)} s  peak RSS ${mb(rawPeak.rss)}, heap ${mb(rawPeak.heap)}`,
        `  adapter (SDK + pacer):  ${perSecond(info.users, adapterMs).padStart(16)}  ${(adapterMs / 1000).toFixed(2)} s  peak RSS ${mb(adapterPeak.rss)}, heap ${mb(adapterPeak.heap)}`,
        `  ratio adapter / raw time: ${(adapterMs / rawMs).toFixed(2)}`,
        `  pacer: ${pacerStats?.requests} requests, ${pacerStats?.resourceUnits} resource units, waited ${pacerStats?.waitedMs} ms, ${pacerStats?.throttledResponses} throttled`,
        '',
      ].join('\n'),
    );
    writeFigures(args.get('json'), 'graph', { users: info.users, rounds, rawMs, adapterMs, ratio: adapterMs / rawMs, adapterPeakRssMb: adapterPeak.rss / 1024 / 1024, pacer: pacerStats });
  } finally {
    resetMicrosoftTenants();
    agent.destroy();
    rmSync(dir, { recursive: true, force: true });
    child.send('stop');
    await new Promise((resolve) => child.once('exit', resolve));
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? error.stack : String(error)}\n`);
  process.exit(1);
});
