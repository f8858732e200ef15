import { app, type InvocationContext } from '@azure/functions';
import { provisioningDeps } from '../shared/app/provisioning';
import { provisionMessageId, reconcileProvisioning } from '../shared/provisioning';

/**
 * Every five minutes, independently of any message: hand-offs and open provisioning work that stopped
 * moving (a message lost, a host killed between two writes) are sent again.
 */
app.timer('provisioningReconciler', {
  schedule: '0 */5 * * * *',
  handler: async (_timer: unknown, context: InvocationContext) => {
    const report = await reconcileProvisioning(provisioningDeps({ messageId: provisionMessageId }));
    const resent = report.resent.length;
    if (resent > 0 || report.settled > 0) {
      context.log(`provisioningReconciler: ${resent} sent again, ${report.settled} finished marks cleared, ${report.inProgress} in progress, ${report.maybeQueued} possibly still queued`);
    }
  },
});
