/**
 * One instance of the app for the shared-quota test, run as its own process: the Graph adapter with the
 * Table Storage quota ledger, sending Teams admin reads as fast as its pacer lets it. Reports its counts
 * over IPC when asked; stops when told (or is killed).
 *
 * Configuration comes as JSON in argv[2]: { graphUrl, caFile, tablesConnectionString, tenantId, clientId,
 * secret, userIds, quota: { teamsAdminPerSecond, burstMs, sliceMs } }.
 */
import { createMicrosoftTenant, closeMicrosoftTenants, type GraphMicrosoftTenant } from '../../shared/adapters/graph';

interface WorkerConfig {
  graphUrl: string;
  caFile: string;
  tablesConnectionString: string;
  tenantId: string;
  clientId: string;
  secret: string;
  userIds: string[];
  quota: { teamsAdminPerSecond: number; burstMs: number; sliceMs: number };
}

const config = JSON.parse(process.argv[2]) as WorkerConfig;
const tenant = createMicrosoftTenant(
  { tenantId: config.tenantId, clientId: config.clientId, credentialRef: 'env:SITESYNC_SECRET_WORKER_SECRET' },
  {
    SITESYNC_GRAPH_BASE_URL: config.graphUrl,
    SITESYNC_AUTHORITY_HOST: config.graphUrl,
    SITESYNC_GRAPH_CA_FILE: config.caFile,
    SITESYNC_TABLES_CONNECTION_STRING: config.tablesConnectionString,
  },
  {
    env: { SITESYNC_SECRET_WORKER_SECRET: config.secret },
    quotas: { teamsAdmin: { units: config.quota.teamsAdminPerSecond, windowMs: 1_000 }, burstMs: config.quota.burstMs, sliceMs: config.quota.sliceMs },
  },
) as GraphMicrosoftTenant;

let running = true;
let completed = 0;
let failed = 0;

async function loop(offset: number): Promise<void> {
  for (let i = offset; running; i++) {
    try {
      await tenant.getTeamsUserConfiguration(config.userIds[i % config.userIds.length]);
      completed++;
    } catch {
      failed++;
    }
  }
}

const loops = Array.from({ length: 4 }, (_, i) => loop(i));

process.on('message', (message: { kind: 'stats' | 'stop' }) => {
  const stats = { completed, failed, throttled: tenant.pacer.stats.throttledResponses, leases: tenant.pacer.stats.leases, ledgerErrors: tenant.pacer.stats.ledgerErrors };
  if (message.kind === 'stats') process.send?.(stats);
  if (message.kind === 'stop') {
    running = false;
    void Promise.all(loops)
      .then(() => closeMicrosoftTenants())
      .then(() => process.send?.(stats, () => process.exit(0)));
  }
});
process.send?.({ ready: true });
