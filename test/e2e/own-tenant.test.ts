/**
 * README, "Sync your own tenant", run as a new user types it: the Graph emulator plays a foreign endpoint
 * (its own authority and CA, no Teams admin bridge), the README's commands run in a shell with its
 * placeholders filled in, and every outbound connection of every process they start is recorded (a
 * preloaded hook on net.Socket#connect) to prove that nothing but that endpoint and the command's own parts
 * was contacted.
 */
import { exec, execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../local/host/load';
import { startGraphEmulator, type GraphEmulator } from '../../local/graph-emulator';

const run = promisify(exec);
const runFile = promisify(execFile);
const PRELOAD = path.join(__dirname, 'support', 'record-connections.cjs');

/** The fenced block after the README's marker: the commands the test must run as written. */
function readmeCommands(): string[] {
  const readme = readFileSync(path.join(PROJECT_ROOT, 'README.md'), 'utf8');
  const marker = readme.indexOf('<!-- own-tenant-commands');
  expect(marker).toBeGreaterThan(0);
  const block = /```sh\n([\s\S]*?)```/.exec(readme.slice(marker));
  return block![1].trim().split('\n');
}

/** A clean environment, as a new user's shell has: no setting of ours, no CI variables of the runner. */
function userEnvironment(extra: Record<string, string>): NodeJS.ProcessEnv {
  return { PATH: process.env.PATH, HOME: process.env.HOME, npm_config_update_notifier: 'false', npm_config_fund: 'false', ...extra };
}

interface Connection {
  pid: number;
  kind: 'connect' | 'listen';
  host?: string;
  port?: number;
  path?: string;
}

describe('README: sync your own tenant', () => {
  let emulator: GraphEmulator;
  let dir: string;

  beforeAll(async () => {
    emulator = await startGraphEmulator({ tenants: [{ seed: 'foreign', users: 150 }] });
    dir = mkdtempSync(path.join(os.tmpdir(), 'sitesync-own-tenant-'));
  });
  afterAll(async () => {
    await emulator?.stop();
  });

  it('syncs users and licenses from the named endpoint, skips dial plans and policies with the reason, and contacts nothing else', async () => {
    const tenant = emulator.tenants[0];
    const app = tenant.apps[0];
    const port = new URL(emulator.url).port;
    const placeholders: Record<string, string> = {
      '<client secret>': app.secret,
      // The same emulator answers both, as Microsoft's Graph and login hosts are one foreign party here.
      '<graph URL>': `https://127.0.0.1:${port}`,
      '<authority URL>': `https://localhost:${port}`,
      '<CA file>': emulator.caFile(dir),
      '<tenant id>': tenant.tenantId,
      '<client id>': app.clientId,
    };
    const script = readmeCommands()
      .map((line) => Object.entries(placeholders).reduce((l, [k, v]) => l.split(k).join(v), line))
      .join('\n');
    expect(script).not.toMatch(/<[a-z ]+>/);
    const log = path.join(dir, 'connections.jsonl');
    writeFileSync(log, '');
    emulator.control.resetCounters();

    const { stdout } = await run(script, {
      cwd: PROJECT_ROOT,
      shell: '/bin/sh',
      timeout: 240_000,
      env: userEnvironment({ NODE_OPTIONS: `--require ${PRELOAD}`, SITESYNC_CONNECTION_LOG: log }),
    });

    // What the user sees: users and licenses synced, dial plans and policies skipped with the reason.
    if (process.env.SITESYNC_TEST_VERBOSE) console.log(stdout);
    expect(stdout).toContain('graph          https://127.0.0.1:');
    expect(stdout).toContain(`authority      https://localhost:${port}`);
    expect(stdout).toContain('teams bridge   none');
    const syncLine = stdout.split('\n').find((l) => l.includes('first full sync of your tenant'));
    expect(syncLine).toMatch(/^ {2}ok {3}/);
    expect(syncLine).toContain('150 users (150 added)');
    expect(syncLine).toMatch(/\d+ licenses \(\d+ added\)/);
    expect(syncLine).toMatch(/dial plans skipped \([^)]*Teams admin bridge[^)]*\)/);
    expect(syncLine).toMatch(/policies skipped \([^)]*Teams admin bridge[^)]*\)/);
    expect(stdout).toMatch(/skip flow-through provisioning of the synced users: flow-through is off/);
    expect(stdout).toMatch(/Demo job succeeded: \d+ ok, \d+ skipped, 0 failed/);

    // What the endpoint saw: tokens from its authority, Graph reads, nothing written to a user, a group or
    // Teams (a change-notification subscription is the only thing created), nothing for a bridge.
    const counters = emulator.counters.snapshot();
    expect(counters.tokensIssued).toBeGreaterThan(0);
    expect(Object.keys(counters.writes).filter((k) => !k.startsWith('subscriptions.'))).toEqual([]);
    expect(Object.keys(counters.requests).filter((k) => k.startsWith('bridge'))).toEqual([]);

    // What every process the commands started reached: its own parts and the endpoint, nothing else.
    const records = readFileSync(log, 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as Connection);
    const served = new Set(records.filter((r) => r.kind === 'listen').map((r) => r.port));
    const connections = records.filter((r) => r.kind === 'connect' && r.path === undefined);
    expect(connections.length).toBeGreaterThan(0);
    const loopback = new Set(['127.0.0.1', 'localhost', '::1', '::ffff:127.0.0.1']);
    const elsewhere = connections.filter((c) => !loopback.has(c.host!) || !(String(c.port) === port || served.has(c.port)));
    expect(elsewhere).toEqual([]);
    expect(connections.some((c) => String(c.port) === port)).toBe(true);
  }, 300_000);

  it('without the tenant, the client or the secret, names what is missing, starts nothing and exits 2', async () => {
    const tsx = path.join(PROJECT_ROOT, 'node_modules', '.bin', 'tsx');
    const missing = await runFile(tsx, ['local/start.ts', '--once', '--graph-url', 'https://graph.example.test'], { cwd: PROJECT_ROOT, env: userEnvironment({}) }).then(
      () => undefined,
      (err: { code: number; stderr: string; stdout: string }) => err,
    );
    expect(missing?.code).toBe(2);
    expect(missing?.stderr).toContain('--tenant-id (or SITESYNC_TENANT_ID)');
    expect(missing?.stderr).toContain('--client-id (or SITESYNC_CLIENT_ID)');
    expect(missing?.stderr).toContain('SITESYNC_CLIENT_SECRET environment variable');
    expect(missing?.stdout).not.toContain('sitesync local runtime');

    const secretOnly = await runFile(tsx, ['local/start.ts', '--once', '--graph-url', 'https://graph.example.test', '--tenant-id', 't', '--client-id', 'c'], {
      cwd: PROJECT_ROOT,
      env: userEnvironment({}),
    }).then(
      () => undefined,
      (err: { code: number; stderr: string }) => err,
    );
    expect(secretOnly?.code).toBe(2);
    expect(secretOnly?.stderr).toMatch(/needs the app's client secret: the SITESYNC_CLIENT_SECRET environment variable\. Nothing was started\./);

    const stray = await runFile(tsx, ['local/start.ts', '--once', '--tenant-id', 't'], { cwd: PROJECT_ROOT, env: userEnvironment({}) }).then(
      () => undefined,
      (err: { code: number; stderr: string }) => err,
    );
    expect(stray?.code).toBe(2);
    expect(stray?.stderr).toContain('--tenant-id only apply with --graph-url');
  });
});
