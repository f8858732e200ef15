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
];

const optionalUrl = z.url().optional();

export const settingsSchema = z.object({
  SITESYNC_TABLES_CONNECTION_STRING: z.string().min(1).optional(),
  SITESYNC_TABLES_ENDPOINT: optionalUrl,
  ServiceBusConnection: z.string().min(1).optional(),
  ServiceBusConnection__fullyQualifiedNamespace: z.string().min(1).optional(),
  AZURE_CLIENT_ID: z.string().min(1).optional(),
});

export type Settings = z.infer<typeof settingsSchema>;

export class ConfigurationError extends Error {
  override name = 'ConfigurationError';
}

/** Reads and validates settings; a bad value fails at start with the setting's name, not deep in a call. */
export function readSettings(env: Record<string, string | undefined> = process.env): Settings {
  const parsed = settingsSchema.safeParse(env);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
    throw new ConfigurationError(`Invalid app settings: ${issues}`);
  }
  return parsed.data;
}
