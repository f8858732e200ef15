/**
 * Every app setting the code reads, declared once. The local runtime, local.settings.sample.json and
 * the Bicep app settings are checked against this list by the consistency test.
 */
import { z } from 'zod';

export interface SettingSpec {
  /** App setting name, exactly as it appears in the Function App's configuration. */
  name: string;
  description: string;
  /** Present only locally (connection strings with the well-known dev keys, the emulator's CA). */
  localOnly?: boolean;
  /** Set only in Azure (identity-based connections). */
  azureOnly?: boolean;
}

export const SETTINGS: readonly SettingSpec[] = [
  { name: 'AzureWebJobsStorage', description: 'Functions host storage (timers, Durable task hub). Locally a connection string.', localOnly: true },
  { name: 'AzureWebJobsStorage__accountName', description: 'Functions host storage account, identity-based.', azureOnly: true },
  { name: 'SITESYNC_TABLES_CONNECTION_STRING', description: 'Table Storage connection string (local Azurite).', localOnly: true },
  { name: 'SITESYNC_TABLES_ENDPOINT', description: 'Table Storage endpoint, reached with the managed identity.', azureOnly: true },
  { name: 'ServiceBusConnection', description: 'Service Bus connection string (local broker).', localOnly: true },
  { name: 'ServiceBusConnection__fullyQualifiedNamespace', description: 'Service Bus namespace, identity-based.', azureOnly: true },
  { name: 'AZURE_CLIENT_ID', description: 'Client id of the user-assigned managed identity used for Tables and Service Bus.', azureOnly: true },
  { name: 'SITESYNC_WEBHOOK_BASE_URL', description: 'Public base URL of this app; Graph notification and lifecycle URLs are built on it.' },
  { name: 'SITESYNC_KEY_VAULT_URL', description: 'Key Vault holding the customer app secrets and certificates named by kv:<secret-name> credential references (locally: the emulator\'s).' },
  {
    name: 'SITESYNC_RECONCILE_AFTER_SECONDS',
    description: 'Provisioning work (a hand-off, a running transaction) that has not moved for this long is sent again by the reconciler timer. Default 1200 (20 min: a message lock plus the longest retry delay).',
  },
  {
    name: 'SITESYNC_HANDOFF_WINDOW',
    description: "How many of a customer's sync hand-offs are in the provisioning queue at once; the rest wait their turn in Table Storage. Default 32.",
  },
  {
    name: 'SITESYNC_LOCAL_IDENTITY',
    description: "Local runtime only: tenantId/clientId of the emulator's app that stands in for the Function App's managed identity when reading Key Vault.",
    localOnly: true,
  },
  { name: 'SITESYNC_LOCAL_IDENTITY_SECRET', description: 'Local runtime only: the secret of SITESYNC_LOCAL_IDENTITY (generated per start).', localOnly: true },
  { name: 'SITESYNC_GRAPH_BASE_URL', description: 'Microsoft Graph base URL, without version (default https://graph.microsoft.com).' },
  { name: 'SITESYNC_AUTHORITY_HOST', description: 'Microsoft Entra authority host for app tokens (default https://login.microsoftonline.com).' },
  { name: 'SITESYNC_GRAPH_CA_FILE', description: 'PEM file of an extra CA to trust for Graph, token and Teams bridge calls (the local emulator).', localOnly: true },
  { name: 'SITESYNC_TEAMS_BRIDGE_URL', description: 'Base URL of the Teams admin bridge (dial plans, policy listings and grants).' },
  {
    name: 'SITESYNC_LOCAL_QUOTA_SCALE',
    description: "Local Graph emulator only: Microsoft's quotas multiplied by this factor, for an emulator whose quotas were raised the same way (tests). Default 1.",
    localOnly: true,
  },
];

const optionalUrl = z.url().optional();

export const settingsSchema = z.object({
  SITESYNC_TABLES_CONNECTION_STRING: z.string().min(1).optional(),
  SITESYNC_TABLES_ENDPOINT: optionalUrl,
  ServiceBusConnection: z.string().min(1).optional(),
  ServiceBusConnection__fullyQualifiedNamespace: z.string().min(1).optional(),
  AZURE_CLIENT_ID: z.string().min(1).optional(),
  SITESYNC_WEBHOOK_BASE_URL: optionalUrl,
  SITESYNC_KEY_VAULT_URL: optionalUrl,
  SITESYNC_GRAPH_BASE_URL: z.url().default('https://graph.microsoft.com'),
  SITESYNC_AUTHORITY_HOST: z.url().default('https://login.microsoftonline.com'),
  SITESYNC_GRAPH_CA_FILE: z.string().min(1).optional(),
  SITESYNC_TEAMS_BRIDGE_URL: optionalUrl,
  SITESYNC_LOCAL_QUOTA_SCALE: z.coerce.number().min(1).max(1000).optional(),
  SITESYNC_RECONCILE_AFTER_SECONDS: z.coerce.number().int().min(5).max(86_400).optional(),
  SITESYNC_HANDOFF_WINDOW: z.coerce.number().int().min(1).max(1_000).optional(),
  SITESYNC_LOCAL_IDENTITY: z.string().regex(/^[^/]+\/[^/]+$/, 'tenantId/clientId').optional(),
  SITESYNC_LOCAL_IDENTITY_SECRET: z.string().min(1).optional(),
});

export type Settings = z.infer<typeof settingsSchema>;

export class ConfigurationError extends Error {
  override name = 'ConfigurationError';
}

const SETTING_NAMES = Object.keys(settingsSchema.shape) as Array<keyof Settings>;
/** The last settings read, by the values they came from: every invocation asks, and the environment rarely changes. */
let lastRead: { key: string; settings: Settings } | undefined;

/**
 * Reads and validates settings; a bad value fails at start with the setting's name, not deep in a call.
 * An empty value counts as unset (so the default applies), as the Functions tools treat one. Only the
 * declared names are read: enumerating the whole environment on every invocation cost more than the rest of
 * a notification's handling.
 */
export function readSettings(env: Record<string, string | undefined> = process.env): Settings {
  const given: Record<string, string> = {};
  for (const name of SETTING_NAMES) {
    const value = env[name];
    if (value !== undefined && value !== '') given[name] = value;
  }
  const key = JSON.stringify(given);
  if (lastRead?.key === key) return lastRead.settings;
  const parsed = settingsSchema.safeParse(given);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
    throw new ConfigurationError(`Invalid app settings: ${issues}`);
  }
  // Shared by every caller from now on: nobody may change it.
  lastRead = { key, settings: Object.freeze(parsed.data) };
  return lastRead.settings;
}
