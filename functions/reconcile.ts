import { app, type InvocationContext } from '@azure/functions';
import { provisioningDeps } from '../shared/app/provisioning';
import { readSettings } from '../shared/config/settings';
import { provisionMessageId, reconcileProvisioning, RECONCILE_AFTER_MS } from '../shared/provisioning';

/**
 * Every five minutes, independently of any message: hand-offs and open provisioning work that stopped
 * moving for SITESYNC_RECONCILE_AFTER_SECONDS (a message lost, a host killed between two writes) are sent
 * again.
 */
app.timer('provisioningReconciler', {
  schedule: '0 */5 * * * *',
  handler: async (_timer: unknown, context: InvocationContext) => {
    const after = readSettings().SITESYNC_RECONCILE_AFTER_SECONDS;
    const staleAfterMs = after ? after * 1000 : RECONCILE_AFTER_MS;
    // The allowance for a message on its way shrinks with a short bound (tests), never above a tenth of it.
    const report = await reconcileProvisioning(provisioningDeps({ messageId: provisionMessageId }), { staleAfterMs, sendAllowanceMs: Math.min(60_000, staleAfterMs / 10) });
    const resent = report.resent.length;
    if (resent > 0 || report.settled > 0 || report.checksResent > 0 || report.placesTakenBack > 0 || report.chunksRemoved > 0) {
      context.log(`provisioningReconciler: ${resent} sent again, ${report.settled} finished marks cleared (${report.deadLettered} dead-lettered, their users needing attention), ${report.inProgress} in progress, ${report.checksResent} number checks sent again, ${report.maybeQueued} possibly still queued, ${report.waiting} hand-offs waiting their turn, ${report.placesTakenBack} hand-off window places taken back, ${report.chunksRemoved} unnamed backlog chunks removed`);
    }
  },
});
