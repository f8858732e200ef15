/**
 * What a customer's deletion removes besides its configuration: its Durable instances and their histories
 * (purged through the Durable client), its Graph subscriptions, and the records its syncs and provisioning
 * kept (runs, definitions, catalog, pending deletions, transactions, pending number assignments, sync state
 * and the open-work index). Work still running stops the deletion.
 */
import { TableProvider, connectionFromSettings } from '../adapters/tables';
import { purgeCustomerRecords } from '../adapters/tables/customerRecords';
import { readSettings } from '../config/settings';
import { removeSubscriptions } from '../notifications';
import type { CustomerRemovalParticipant } from '../onboarding/deps';
import { ACTIVE_STATUSES, type Orchestrations } from '../ports/orchestrations';
import { handOffScope, openWorkScope, overbuildInstancePrefix } from '../provisioning';
import { SYNC_KINDS, syncInstanceId } from '../sync/model';
import { notificationDeps } from './notifications';

/** The customer's orchestrations: its syncs (and their sub-orchestrations) and its overbuilds. */
export function customerInstance(customerId: string): (instanceId: string) => boolean {
  const syncs = SYNC_KINDS.map((kind) => syncInstanceId(customerId, kind));
  const overbuild = overbuildInstancePrefix(customerId);
  return (id) => syncs.some((s) => id === s || id.startsWith(`${s}:`)) || (id.startsWith(overbuild) && /^[0-9a-z]+$/.test(id.slice(overbuild.length)));
}

/** `orchestrations` is undefined where the host has no Durable client (a host without the extension). */
export function durableInstancesRemoval(orchestrations: () => Orchestrations | undefined): CustomerRemovalParticipant {
  return {
    name: 'durable-instances',
    async blockers(customerId) {
      const running = (await orchestrations()?.instances(customerInstance(customerId))) ?? [];
      const active = running.filter((i) => ACTIVE_STATUSES.has(i.runtimeStatus));
      return active.length > 0 ? [`${active.length} sync or overbuild orchestration(s) are running (${active.map((i) => i.instanceId).slice(0, 3).join(', ')})`] : [];
    },
    async remove(customerId) {
      const client = orchestrations();
      if (!client) return;
      for (const instance of await client.instances(customerInstance(customerId))) {
        if (!ACTIVE_STATUSES.has(instance.runtimeStatus)) await client.purge(instance.instanceId);
      }
    },
  };
}

export function subscriptionsRemoval(): CustomerRemovalParticipant {
  return {
    name: 'graph-subscriptions',
    async remove(customerId) {
      await removeSubscriptions(notificationDeps(), customerId);
    },
  };
}

export function customerRecordsRemoval(): CustomerRemovalParticipant {
  return {
    name: 'customer-records',
    async remove(customerId) {
      await purgeCustomerRecords(new TableProvider(connectionFromSettings(readSettings())), customerId, [customerId, openWorkScope(customerId), handOffScope(customerId)]);
    },
  };
}
