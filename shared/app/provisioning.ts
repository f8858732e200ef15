/**
 * Wires provisioning's ports to Table Storage, Microsoft Graph (with the Teams admin bridge) and Service
 * Bus from the app settings, once per process (again when the settings change, as in tests).
 */
import { readSettings, type Settings } from '../config/settings';
import type { Customer } from '../domain';
import { MicrosoftError } from '../ports/microsoft';
import type { Storage } from '../ports/storage';
import type { ProvisionUserMessage } from '../provisioning/messages';
import type { DeadLetterQueue, MicrosoftConnector, ProvisioningDeps, ProvisioningMicrosoft } from '../provisioning/ports';
import { microsoftPorts } from '../adapters/graph';
import type { GraphMicrosoftTenant } from '../adapters/graph/tenant';
import { ServiceBusDeadLetterQueue, ServiceBusProvisioningScheduler } from '../adapters/servicebus/provisioningScheduler';
import { TableProvider, connectionFromSettings, tableStorageFromSettings } from '../adapters/tables';
import { TableCatalogStore } from '../adapters/tables/sync';
import { ServiceBusUserEvents } from '../adapters/servicebus/userEvents';

export interface ProvisioningWiring extends ProvisioningDeps {
  deadLetters: DeadLetterQueue;
}

let wired: { key: string; value: ProvisioningWiring } | undefined;

export function provisioningDeps(options: { messageId: (message: ProvisionUserMessage) => string }): ProvisioningWiring {
  const env = process.env;
  // The local host may start again with other settings (tests): wire again when they change.
  const key = [env.SITESYNC_TABLES_CONNECTION_STRING, env.SITESYNC_TABLES_ENDPOINT, env.ServiceBusConnection, env.SITESYNC_GRAPH_BASE_URL].join('|');
  if (wired?.key === key) return wired.value;
  const settings = readSettings(env);
  const storage: Storage = tableStorageFromSettings(settings);
  const value: ProvisioningWiring = {
    storage,
    catalog: new TableCatalogStore(new TableProvider(connectionFromSettings(settings))),
    microsoft: microsoftConnector(settings),
    queue: new ServiceBusProvisioningScheduler(options.messageId, env),
    events: new ServiceBusUserEvents(env),
    deadLetters: new ServiceBusDeadLetterQueue(env),
    ...(settings.SITESYNC_HANDOFF_WINDOW ? { handOffWindow: settings.SITESYNC_HANDOFF_WINDOW } : {}),
  };
  wired = { key, value };
  return value;
}

export function microsoftConnector(settings: Settings): MicrosoftConnector {
  return (customer: Customer): ProvisioningMicrosoft => {
    if (!customer.clientId || !customer.credentialRef) {
      throw new MicrosoftError(`customer ${customer.id} has no app client id and credential reference: its tenant cannot be reached`, undefined, 'tenantNotConnected');
    }
    const { tenant, bridge, turnAt } = microsoftPorts({ tenantId: customer.tenantId, clientId: customer.clientId, credentialRef: customer.credentialRef }, settings);
    const graph = tenant as GraphMicrosoftTenant;
    return {
      tenant,
      ...(bridge ? { bridge } : {}),
      turnAt,
      async userGroupIds(userId: string): Promise<string[]> {
        const ids: string[] = [];
        let url: string | undefined = `/users/${encodeURIComponent(userId)}/memberOf?$select=id&$top=999`;
        while (url) {
          const [reply] = await graph.batch([{ method: 'GET', url }], 'list user groups');
          if (reply.status === 404) return [];
          if (reply.status >= 400) throw new MicrosoftError(`list user groups: ${reply.status}`, reply.status);
          const body = (reply.body ?? {}) as { value?: Array<{ id?: unknown; '@odata.type'?: unknown }>; '@odata.nextLink'?: unknown };
          for (const item of body.value ?? []) if (typeof item.id === 'string' && item['@odata.type'] !== '#microsoft.graph.directoryRole') ids.push(item.id);
          const next = body['@odata.nextLink'];
          url = typeof next === 'string' ? next.replace(/^https?:\/\/[^/]+\/(v1\.0|beta)/, '') : undefined;
        }
        return ids;
      },
    };
  };
}
