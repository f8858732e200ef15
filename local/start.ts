/**
 * `npm start`: the whole product on this machine, nothing to configure. Starts every part, prints where
 * each listens, writes .local/endpoints.json, runs the demo job (onboard the demo customer, sync its tenant,
 * provision its users) and prints its report, then runs until Ctrl-C.
 * `npm start -- --once [--report FILE]` exits after the demo job, non-zero if any step failed.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { PROJECT_ROOT } from './host/load';
import type { HostLogger } from './host/host';
import { runDemoScenario, ScenarioRecorder, type DemoContext } from './demo/scenario';
import { progressBar } from './progress';
import { QUEUES } from '../shared/config/queues';
import { startLocalStack } from './stack';

const USAGE = `Usage: npm start -- [options]
  --once              exit after the demo job (non-zero if any step failed) instead of running on
  --report FILE       also write the demo job's report as JSON to FILE
  --port N            HTTP port of the function host (default 7071; 0 = any free port)
  --persist           keep Table Storage in .local/data instead of memory
  --users N           size of the emulator's demo tenant (default 2000)
  --graph-url URL     use this Graph-compatible endpoint instead of the emulator; the tenant to onboard comes
                      from SITESYNC_TENANT_ID, SITESYNC_CLIENT_ID and SITESYNC_CLIENT_SECRET
  --graph-ca FILE     with --graph-url, a PEM file of a CA to trust
  --authority-host URL with --graph-url, the token authority (default https://login.microsoftonline.com)
  --bridge-url URL    with --graph-url, the Teams admin bridge
  --verbose           print every function log line
  --help              this text`;

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      once: { type: 'boolean', default: false },
      report: { type: 'string' },
      port: { type: 'string' },
      persist: { type: 'boolean', default: false },
      users: { type: 'string' },
      'graph-url': { type: 'string' },
      'graph-ca': { type: 'string' },
      'authority-host': { type: 'string' },
      'bridge-url': { type: 'string' },
      verbose: { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
    strict: true,
  });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const port = values.port === undefined ? (values.once ? 0 : 7071) : Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`--port must be a port number, not "${values.port}"`);

  const logger: HostLogger = (level, source, message) => {
    if (level === 'error' || level === 'critical' || level === 'warning') console.error(`  ${level} ${source}: ${firstLine(message)}`);
    else if (values.verbose && level !== 'trace' && level !== 'debug') console.log(`  ${source}: ${message}`);
  };
  const users = values.users === undefined ? 2_000 : Number(values.users);
  if (!Number.isInteger(users) || users < 10 || users > 200_000) throw new Error(`--users must be a whole number from 10 to 200000, not "${values.users}"`);
  const localDir = path.join(PROJECT_ROOT, '.local');
  mkdirSync(localDir, { recursive: true });
  const graphUrl = values['graph-url'];
  const stack = await startLocalStack({
    hostPort: port,
    persistDir: values.persist ? path.join(localDir, 'data') : undefined,
    runDir: localDir,
    logger,
    graph: graphUrl
      ? { external: { graphBaseUrl: graphUrl, caFile: values['graph-ca'], authorityHost: values['authority-host'], teamsBridgeUrl: values['bridge-url'] } }
      : { emulator: { users } },
  });
  const endpointsFile = path.join(localDir, 'endpoints.json');
  writeFileSync(endpointsFile, JSON.stringify(stack.endpoints, null, 2) + '\n');

  const e = stack.endpoints;
  console.log('sitesync local runtime');
  console.log(`  functions      ${e.apiUrl}   (keys in .local/endpoints.json)`);
  console.log(`  durable        ${e.durableClientUrl ?? 'off'}`);
  console.log(`  tables         ${stack.tables?.url ?? 'external'}`);
  console.log(`  service bus    ${stack.broker.connectionString.split(';')[0].replace('Endpoint=', '')}   (connection string in .local/endpoints.json)`);
  if (stack.graph) console.log(`  graph emulator ${e.graphUrl}   (demo tenant ${stack.demo?.tenantId}, ${users} users; CA ${path.relative(process.cwd(), e.graphCaFile)})`);
  else if (graphUrl) console.log(`  graph          ${graphUrl}`);
  console.log(`  endpoints      ${path.relative(process.cwd(), endpointsFile) || endpointsFile}`);

  const demoContext: DemoContext = {
    endpoints: stack.endpoints,
    tenant: stack.demo ? { tenantId: stack.demo.tenantId, clientId: stack.demo.clientId, credentialReference: `env:${stack.demo.secretSetting}` } : externalTenant(),
    expectedUsers: stack.graph ? users : undefined,
    progress: progressBar,
    provisioningBacklog: () => {
      const q = stack.broker.stats(QUEUES.userProvisioning.name);
      return q.active;
    },
  };

  const recorder = new ScenarioRecorder((step) => console.log(`  ${step.ok ? 'ok  ' : 'FAIL'} ${step.name}: ${step.detail} (${step.ms} ms)`));
  console.log('\nDemo job');
  const report = await runDemoScenario(demoContext, recorder);
  if (values.report) writeFileSync(path.resolve(values.report), JSON.stringify(report, null, 2) + '\n');
  console.log(`\n${report.ok ? 'Demo job succeeded' : 'Demo job FAILED'}: ${report.steps.filter((s) => s.ok).length} of ${report.steps.length} steps ok`);
  if (values.once) {
    await stack.stop();
    return report.ok ? 0 : 1;
  }

  console.log(`\nRunning: the API at ${e.apiUrl}, timers on schedule. Press Ctrl-C to stop.`);
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  console.log('\nStopping...');
  await stack.stop();
  return 0;
}

/**
 * With --graph-url, the tenant to onboard comes from the environment, as for a real customer: its tenant id,
 * the app's client id, and the secret in SITESYNC_CLIENT_SECRET (read through an env: reference, never stored).
 */
function externalTenant(): DemoContext['tenant'] {
  const tenantId = process.env.SITESYNC_TENANT_ID;
  const clientId = process.env.SITESYNC_CLIENT_ID;
  if (!tenantId || !clientId || !process.env.SITESYNC_CLIENT_SECRET) {
    console.log('  (set SITESYNC_TENANT_ID, SITESYNC_CLIENT_ID and SITESYNC_CLIENT_SECRET to onboard and sync that tenant)');
    return undefined;
  }
  return { tenantId, clientId, credentialReference: 'env:SITESYNC_CLIENT_SECRET' };
}

function firstLine(message: string): string {
  return message.split('\n')[0];
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err instanceof Error ? err.message : err);
    process.exit(1);
  },
);
