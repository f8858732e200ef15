/**
 * The README's benchmark commands, run as a reader types them (`npm run bench:<name> -- …`) at the smallest
 * sizes that still do the whole work, each writing its figures with `--json`. The figures themselves are not
 * judged here (speed is measured, not asserted): a benchmark that no longer runs, or writes no figures, is.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../local/host/load';

const run = promisify(execFile);
const dir = mkdtempSync(path.join(os.tmpdir(), 'sitesync-bench-'));

async function bench(name: string, args: string[]): Promise<Record<string, unknown>> {
  const json = path.join(dir, `${name}.json`);
  const { stdout } = await run('npm', ['run', '-s', `bench:${name}`, '--', ...args, '--json', json], { cwd: PROJECT_ROOT, timeout: 240_000, maxBuffer: 16 * 1024 * 1024 });
  expect(stdout).toContain(`figures written to ${json}`);
  const figures = JSON.parse(readFileSync(json, 'utf8')) as Record<string, unknown>;
  expect(figures).toMatchObject({ benchmark: name, loadAverage: expect.any(Array), cores: expect.any(Number) });
  return figures;
}

describe('npm run bench:<name>', () => {
  it('bench:durable fans out and compares with its storage floor', async () => {
    const f = await bench('durable', ['--activities', '50']);
    expect(f).toMatchObject({ activities: 50, durableMs: expect.any(Number), floorMs: expect.any(Number), ratio: expect.any(Number) });
  }, 240_000);

  it('bench:servicebus sends and receives through the broker and over a raw socket', async () => {
    const f = await bench('servicebus', ['--messages', '200']);
    expect(f.rows).toHaveLength(4);
  }, 240_000);

  it('bench:graph reads a tenant through the adapter and a raw loop', async () => {
    const f = await bench('graph', ['--users', '2000', '--rounds', '1']);
    expect(f).toMatchObject({ users: 2000, rawMs: expect.any(Number), adapterMs: expect.any(Number) });
  }, 240_000);

  it('bench:sync syncs a tenant and its floor at each size, each size as often as asked', async () => {
    const f = await bench('sync', ['--sizes', '300', '--repeat', '2']);
    expect(f.sizes).toEqual([expect.objectContaining({ users: 300, ratio: expect.any(Number), deltaShare: expect.any(Number), cpuMsPerUser: expect.any(Number), peakRssMb: expect.any(Number) })]);
    // What the floor spends beside it: its CPU per user, and both sides' Table Storage requests.
    const [size] = f.sizes as Array<{ ratio: number; floorCpuMsPerUser: number; tableRequests: { sync: number; floor: number }; runs: Array<{ ratio: number }> }>;
    // Two runs from fresh starts; the size's ratio is the lower median of theirs.
    expect(size.runs).toHaveLength(2);
    expect(size.ratio).toBe(Math.min(...size.runs.map((r) => r.ratio)));
    expect(size.floorCpuMsPerUser).toBeGreaterThan(0);
    expect(size.tableRequests.sync).toBeGreaterThan(size.tableRequests.floor);
    expect(size.tableRequests.floor).toBeGreaterThan(0);
  }, 240_000);

  // One mode here: scale groups start a dozen processes, more than a test run's share of two cores.
  it('bench:webhook posts notifications and reports the acknowledgements', async () => {
    const f = await bench('webhook', ['--mode', 'same-process', '--rate', '20', '--seconds', '2', '--users', '10']);
    expect(f.modes).toEqual([expect.objectContaining({ mode: 'same-process', p50Ms: expect.any(Number), p99Ms: expect.any(Number), acknowledgedShare: 1 })]);
    // What a notification cost, in each process of the local stack and in Table Storage requests.
    const [mode] = f.modes as Array<{ cpuMsPerNotification: Record<string, number>; tableRequestsPerNotification: number }>;
    expect(Object.keys(mode.cpuMsPerNotification).sort()).toEqual(['broker', 'graph', 'hosts', 'poster', 'tables']);
    expect(mode.cpuMsPerNotification.hosts).toBeGreaterThan(0);
    expect(mode.tableRequestsPerNotification).toBeGreaterThan(0);
  }, 240_000);

  it('bench:estate onboards, provisions and keeps current several customers', async () => {
    const f = await bench('estate', ['--customers', '2', '--users', '50', '--instances', '1']);
    expect(f.runs).toEqual([expect.objectContaining({ seconds: expect.any(Number), boundSeconds: expect.any(Number), peakRssMb: expect.anything() })]);
    // Each customer's own times: its first sync over, and fully provisioned, after its onboarding.
    const [run] = f.runs as Array<{ customers: Array<{ users: number; syncSeconds: number; settledSeconds: number }> }>;
    expect(run.customers).toHaveLength(2);
    for (const c of run.customers) expect(c.settledSeconds).toBeGreaterThanOrEqual(c.syncSeconds);
  }, 240_000);

  it('bench:provision provisions users through host processes sharing one quota', async () => {
    const f = await bench('provision', ['--users', '20', '--latency', '0', '--processes', '2']);
    expect(f).toMatchObject({ users: 20, requestsPerUser: expect.any(Number), minimumRequestsPerUser: expect.any(Number), usersPerMinute: expect.any(Number), ceilingUsersPerMinute: expect.any(Number), ratio: expect.any(Number), throttled: 0 });
    // The machine's side of the figure: the whole local stack's CPU and Table Storage requests per user.
    expect(f.tableRequestsPerUser as number).toBeGreaterThan(0);
    expect(f.machineUsersPerMinute as number).toBeGreaterThan(0);
  }, 240_000);
});
