/**
 * What happens once a customer is onboarded: its first full sync starts (which creates its default syncs),
 * as the tenant data "syncs on save" in the products operators know.
 */
import type { Orchestrations } from '../ports/orchestrations';
import type { CustomerOnboardedListener } from '../onboarding/deps';
import { startSync } from '../sync/service';
import { syncDeps } from './sync';

/** `orchestrations` is asked for only when a customer is onboarded (the Durable client is an input of that call). */
export function firstSyncOnOnboarding(orchestrations: () => Orchestrations): CustomerOnboardedListener {
  return {
    name: 'first-sync',
    async customerOnboarded({ customer }) {
      await startSync({ ...syncDeps(), orchestrations: orchestrations() }, { customerId: customer.id, kind: 'full', trigger: 'onboarding' });
    },
  };
}
