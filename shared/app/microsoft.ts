/**
 * The Microsoft side of each customer, from its onboarding record: the Graph adapter (one pacer per
 * tenant, cached) and the Teams admin bridge when one is configured.
 */
import { createMicrosoftTenant, createTeamsAdminBridge } from '../adapters/graph';
import { readSettings } from '../config/settings';
import type { Storage } from '../ports/storage';
import { NotFoundError } from '../ports/storage';
import type { AppRegistration, CustomerMicrosoft, MicrosoftAccess } from '../sync/ports';

export class CustomerMicrosoftAccess implements MicrosoftAccess {
  constructor(private readonly storage: Storage) {}

  async forCustomer(customerId: string, registration?: AppRegistration): Promise<CustomerMicrosoft> {
    const { tenantId, clientId, credentialRef } = registration ?? (await this.registrationOf(customerId));
    if (!clientId || !credentialRef) throw new NotFoundError(`customer "${customerId}" has no Microsoft app registration (client id and credential reference)`);
    const settings = readSettings();
    const config = { tenantId, clientId, credentialRef };
    return {
      tenant: createMicrosoftTenant(config, settings),
      bridge: settings.SITESYNC_TEAMS_BRIDGE_URL ? createTeamsAdminBridge(config, settings) : undefined,
    };
  }

  private async registrationOf(customerId: string): Promise<AppRegistration> {
    const customer = await this.storage.customers.get(customerId);
    if (!customer) throw new NotFoundError(`customer "${customerId}" does not exist`);
    return customer.value;
  }
}
