import { app, type HttpRequest, type InvocationContext, type Timer } from '@azure/functions';
import { TableHeartbeatStore } from '../shared/adapters/tables/heartbeatStore';
import { healthReport, recordHeartbeat } from '../shared/health/heartbeat';
import { APP_VERSION } from '../shared/config/version';

app.timer('heartbeat', {
  schedule: '0 * * * * *',
  handler: async (timer: Timer, context: InvocationContext) => {
    const beat = await recordHeartbeat(TableHeartbeatStore.fromSettings(), new Date(), timer.isPastDue);
    context.log(`heartbeat ${beat.count} at ${beat.at}`);
  },
});

app.http('health', {
  route: 'health',
  methods: ['GET'],
  authLevel: 'anonymous',
  handler: async (_request: HttpRequest) => {
    const report = await healthReport(TableHeartbeatStore.fromSettings(), APP_VERSION);
    return { status: report.status === 'healthy' ? 200 : 503, jsonBody: report };
  },
});
