import { TableClient } from '@azure/data-tables';
import { DefaultAzureCredential } from '@azure/identity';
import { ConfigurationError } from '../../config/settings';

const created = new Map<string, Promise<TableClient>>();

/**
 * Opens a table, creating it once per process. Locally a connection string (Azurite); in Azure the
 * endpoint with the managed identity, since shared-key access is disabled there.
 */
export function openTable(name: string, env: Record<string, string | undefined> = process.env): Promise<TableClient> {
  const connectionString = env.SITESYNC_TABLES_CONNECTION_STRING;
  const endpoint = env.SITESYNC_TABLES_ENDPOINT;
  const key = `${connectionString ?? endpoint ?? ''}|${name}`;
  let table = created.get(key);
  if (!table) {
    let client: TableClient;
    if (connectionString) {
      client = TableClient.fromConnectionString(connectionString, name, { allowInsecureConnection: connectionString.includes('http://') });
    } else if (endpoint) {
      client = new TableClient(endpoint, name, new DefaultAzureCredential({ managedIdentityClientId: env.AZURE_CLIENT_ID }));
    } else {
      throw new ConfigurationError('Set SITESYNC_TABLES_CONNECTION_STRING (local) or SITESYNC_TABLES_ENDPOINT (Azure) to reach Table Storage');
    }
    table = client.createTable().then(
      () => client,
      (err: unknown) => {
        created.delete(key);
        throw err;
      },
    );
    created.set(key, table);
  }
  return table;
}
