/**
 * `npm start`: the whole product on this machine, nothing to configure. Starts every part, prints where
 * each listens, writes .local/endpoints.json, runs the demo job (onboard the demo customer, sync its tenant,
 * provision its users) and prints its report, then runs until Ctrl-C.
 * `npm start -- --once [--report FILE]` exits after the demo job, non-zero if any step failed.
 * `npm start -- --graph-url URL --tenant-id T --client-id C` syncs a real tenant instead (README, "Sync your
 * own tenant"), reading its users and licenses and changing none of them.
 *
 * Exit codes: 0 the job ran and no step failed; 1 a step failed or the runtime could not start; 2 the
 * command line or the settings it needs are wrong (nothing was started).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { PROJECT_ROOT } from './host/load';
import type { HostLogger } from './host/host';
import { runDemoScenario, ScenarioRecorder, type DemoContext, type ScenarioStep } from './demo/scenario';
import { progressBar } from './progress';
import { readLocalSettings } from './settings';
import { OWN_TENANT_SECRET_SETTING, parseStartOptions, UsageError, USAGE } from './startOptions';
import { PROVISIONING_QUEUES } from '../shared/config/queues';
import { startLocalRuntime } from './stack';
import { loadOrCreateKeys } from './keys';
import { buildConsole } from './cli/console';

const MARK: Record<ScenarioStep['status'], string> = { ok: 'ok  ', skipped: 'skip', failed: 'FAIL' };

async function main(argv: string[]): Promise<number> {
  const layers = { environment: process.env, file: readLocalSettings(PROJECT_ROOT) };
  const options = parseStartOptions(argv, layers);
  if (options.help) {
    console.log(USAGE);
    return 0;
  }
  const logger: HostLogger = (level, source, message) => {
    if (level === 'error' || level === 'critical' || level === 'warning') console.error(`  ${level} ${source}: ${firstLine(message)}`);
    else if (options.verbose && level !== 'trace' && level !== 'debug') console.log(`  ${source}: ${message}`);
  };
  // The console is bundled on first start and again when its sources or the API change.
  const consoleBuild = await buildConsole({ ifStale: true, quiet: true });
  if (consoleBuild.built) console.log(`console built in ${(consoleBuild.ms / 1000).toFixed(1)} s`);
  const localDir = path.join(PROJECT_ROOT, '.local');
  mkdirSync(localDir, { recursive: true });
  const external = options.external;
  const stack = await startLocalRuntime({
    hostPort: options.port,
    persistDir: options.persist ? path.join(localDir, 'data') : undefined,
    runDir: localDir,
    keys: loadOrCreateKeys(path.join(localDir, 'keys.json')),
    logger,
    environment: layers.environment,
    instances: options.instances,
    scaleGroups: options.scaleGroups,
    // A host process that dies (a crash, a kill) is started again on the same storage, broker and Graph,
    // as Azure replaces a failed instance: what it was doing resumes from storage (or on the others).
    restartOnExit: (instance, exit) => console.error(`  ${instance.name} exited (${exit.signal ?? `code ${exit.code}`}); starting it again on the same storage`),
    settings: external ? { [OWN_TENANT_SECRET_SETTING]: external.secret } : undefined,
    graph: external
      ? { external: { graphBaseUrl: external.graphUrl, caFile: external.caFile, authorityHost: external.authorityHost, teamsBridgeUrl: external.bridgeUrl } }
      : { emulator: { users: options.users, resourceAccounts: true } },
  });
  const endpointsFile = path.join(localDir, 'endpoints.json');
  writeFileSync(endpointsFile, JSON.stringify(stack.endpoints, null, 2) + '\n');

  const e = stack.endpoints;
  const s = stack.settings;
  console.log('sitesync local runtime');
  if (stack.frontDoor) {
    console.log(`  functions      ${e.apiUrl}   (${stack.instances.length} host processes behind this address; keys in .local/keys.json and .local/endpoints.json)`);
    for (const i of stack.instances) console.log(`    ${i.name.padEnd(26)} process ${i.process.pid}, ${i.groups ? `scale group ${i.groups.join(', ')}` : 'every function'}`);
  } else {
    console.log(`  functions      ${e.apiUrl}   (host process ${stack.host.pid}; keys in .local/keys.json and .local/endpoints.json)`);
  }
  console.log(`  console        ${e.hostUrl}/console/   (sign in with the function key)`);
  console.log(`  durable        ${e.durableClientUrl ?? 'off'}`);
  console.log(`  tables         ${stack.tables?.url ?? 'external'}`);
  console.log(`  service bus    ${stack.broker.connectionString.split(';')[0].replace('Endpoint=', '')}   (connection string in .local/endpoints.json)`);
  if (stack.graph?.restored) console.log(`  graph emulator ${e.graphUrl}   (its tenant as kept in .local/data: ${stack.graph.tenants[0]?.users ?? 0} users, --users does not apply; CA ${path.relative(process.cwd(), e.graphCaFile)})`);
  else if (stack.graph) console.log(`  graph emulator ${e.graphUrl}   (demo tenant ${stack.demo?.tenantId}, ${options.users} users; CA ${path.relative(process.cwd(), e.graphCaFile)})`);
  else {
    console.log(`  graph          ${s.SITESYNC_GRAPH_BASE_URL}   (tenant ${external?.tenant.tenantId}, app ${external?.tenant.clientId})`);
    console.log(`  authority      ${s.SITESYNC_AUTHORITY_HOST ?? 'https://login.microsoftonline.com'}`);
    console.log(`  teams bridge   ${s.SITESYNC_TEAMS_BRIDGE_URL ?? 'none (dial plans and policies are not synced)'}`);
    if (s.SITESYNC_GRAPH_CA_FILE) console.log(`  extra CA       ${s.SITESYNC_GRAPH_CA_FILE}`);
  }
  console.log(`  endpoints      ${path.relative(process.cwd(), endpointsFile) || endpointsFile}`);

  const demoContext: DemoContext = {
    endpoints: stack.endpoints,
    tenant: stack.demo
      ? { kind: 'demo', tenantId: stack.demo.tenantId, clientId: stack.demo.clientId, credentialReference: `env:${stack.demo.secretSetting}` }
      : { kind: 'own', customerId: external!.customerId, ...external!.tenant },
    graphBaseUrl: s.SITESYNC_GRAPH_BASE_URL,
    webhookBaseUrl: s.SITESYNC_WEBHOOK_BASE_URL,
    expectedUsers: stack.graph ? (stack.graph.restored ? stack.graph.tenants[0]?.users : options.users) : undefined,
    progress: progressBar,
    provisioningBacklog: () => stack.broker.activeIn(PROVISIONING_QUEUES),
  };

  const recorder = new ScenarioRecorder((step) => console.log(`  ${MARK[step.status]} ${step.name}: ${step.detail}${step.status === 'skipped' ? '' : ` (${step.ms} ms)`}`));
  console.log('\nDemo job');
  const report = await runDemoScenario(demoContext, recorder);
  if (options.report) writeFileSync(path.resolve(options.report), JSON.stringify(report, null, 2) + '\n');
  const count = (status: ScenarioStep['status']) => report.steps.filter((step) => step.status === status).length;
  console.log(`\n${report.ok ? 'Demo job succeeded' : 'Demo job FAILED'}: ${count('ok')} ok, ${count('skipped')} skipped, ${count('failed')} failed`);
  if (options.once) {
    await stack.stop();
    return report.ok ? 0 : 1;
  }

  console.log(`\nRunning: the console at ${e.hostUrl}/console/, the API at ${e.apiUrl}, timers on schedule. Press Ctrl-C to stop.`);
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  console.log('\nStopping...');
  await stack.stop();
  return 0;
}

function firstLine(message: string): string {
  return message.split('\n')[0];
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    if (err instanceof UsageError) {
      console.error(`${err.message}\nRun "npm start -- --help" for every option.`);
      process.exit(2);
    }
    console.error(err instanceof Error ? err.message : err);
    process.exit(1);
  },
);
