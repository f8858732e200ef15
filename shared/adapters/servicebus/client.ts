/**
 * Service Bus senders for the queues the app produces to. Locally a connection string (the project's
 * broker); in Azure the namespace with the managed identity, as the trigger bindings use.
 */
import { ServiceBusClient, type ServiceBusMessage, type ServiceBusSender } from '@azure/service-bus';
import { DefaultAzureCredential } from '@azure/identity';
import { ConfigurationError } from '../../config/settings';
import { SERVICE_BUS_CONNECTION } from '../../config/queues';

const clients = new Map<string, ServiceBusClient>();
const senders = new Map<string, ServiceBusSender>();

export function serviceBusClient(env: Record<string, string | undefined> = process.env): ServiceBusClient {
  const connectionString = env[SERVICE_BUS_CONNECTION];
  const namespace = env[`${SERVICE_BUS_CONNECTION}__fullyQualifiedNamespace`];
  const key = connectionString ?? namespace ?? '';
  let client = clients.get(key);
  if (!client) {
    if (connectionString) client = new ServiceBusClient(connectionString);
    else if (namespace) client = new ServiceBusClient(namespace, new DefaultAzureCredential({ managedIdentityClientId: env.AZURE_CLIENT_ID }));
    else throw new ConfigurationError(`Set ${SERVICE_BUS_CONNECTION} (local) or ${SERVICE_BUS_CONNECTION}__fullyQualifiedNamespace (Azure)`);
    clients.set(key, client);
  }
  return client;
}

export function sender(queue: string, env: Record<string, string | undefined> = process.env): ServiceBusSender {
  const client = serviceBusClient(env);
  const key = `${queue}|${env[SERVICE_BUS_CONNECTION] ?? env[`${SERVICE_BUS_CONNECTION}__fullyQualifiedNamespace`] ?? ''}`;
  let s = senders.get(key);
  if (!s) {
    s = client.createSender(queue);
    senders.set(key, s);
  }
  return s;
}

/** Sends any number of messages in as few batches as fit. */
export async function sendInBatches(queue: string, messages: readonly ServiceBusMessage[], env: Record<string, string | undefined> = process.env): Promise<void> {
  const s = sender(queue, env);
  let batch = await s.createMessageBatch();
  for (const message of messages) {
    if (batch.tryAddMessage(message)) continue;
    if (batch.count === 0) throw new Error(`A message for ${queue} is larger than the largest batch`);
    await s.sendMessages(batch);
    batch = await s.createMessageBatch();
    if (!batch.tryAddMessage(message)) throw new Error(`A message for ${queue} is larger than the largest batch`);
  }
  if (batch.count > 0) await s.sendMessages(batch);
}

/** Closes every client (tests and the local host's shutdown). */
export async function closeServiceBusClients(): Promise<void> {
  const all = [...clients.values()];
  clients.clear();
  senders.clear();
  await Promise.all(all.map((c) => c.close().catch(() => undefined)));
}
