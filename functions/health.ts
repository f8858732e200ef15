import { app, type InvocationContext, type Timer } from '@azure/functions';
import { z } from 'zod';
import { TableHeartbeatStore } from '../shared/adapters/tables/heartbeatStore';
import { healthReport, recordHeartbeat } from '../shared/health/heartbeat';
import { APP_VERSION } from '../shared/config/version';
import { apiRoute, json } from '../shared/http';

app.timer('heartbeat', {
  schedule: '0 * * * * *',
  handler: async (timer: Timer, context: InvocationContext) => {
    const beat = await recordHeartbeat(TableHeartbeatStore.fromSettings(), new Date(), timer.isPastDue);
    context.log(`heartbeat ${beat.count} at ${beat.at}`);
  },
});

const healthSchema = z.object({
  status: z.enum(['healthy', 'degraded']),
  version: z.string(),
  checks: z.object({ storage: z.enum(['ok', 'unreachable']) }),
  heartbeat: z.object({ count: z.number(), at: z.string(), wasPastDue: z.boolean() }).optional(),
});

app.http(
  'health',
  apiRoute({
    name: 'health',
    method: 'GET',
    path: 'health',
    summary: 'Whether the app reaches its storage, and its last heartbeat',
    tags: ['meta'],
    authLevel: 'anonymous',
    responses: { 200: { description: 'Healthy', schema: healthSchema }, 503: { description: 'Degraded: storage unreachable', schema: healthSchema } },
    handler: async () => {
      const report = await healthReport(TableHeartbeatStore.fromSettings(), APP_VERSION);
      return json(report.status === 'healthy' ? 200 : 503, report);
    },
  }),
);
