/** Azurite's Table service for a test file: in memory, on a free port. */
import { startTableServer } from '../../local/azurite';

export async function startAzurite(): Promise<{ connectionString: string; requests(): number; stop(): Promise<void> }> {
  const server = await startTableServer({ port: 0 });
  return { connectionString: server.connectionString, requests: () => server.requests(), stop: () => server.stop() };
}
