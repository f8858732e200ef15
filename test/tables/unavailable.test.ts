/**
 * Table Storage out of reach: the adapter says so with a port-level error once the SDK's own retries are
 * spent, and an API route turns it into 503 with Retry-After instead of a bare 500. Real Azurite behind a
 * TCP relay that resets every connection while the "outage" lasts.
 */
import net, { type AddressInfo } from 'node:net';
import type { HttpRequest, InvocationContext } from '@azure/functions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTableStorage } from '../../shared/adapters/tables';
import { problemHandler, ok } from '../../shared/http';
import { StorageUnavailableError, type Storage } from '../../shared/ports/storage';
import { startAzurite } from '../support/azurite';

let azurite: Awaited<ReturnType<typeof startAzurite>>;
let relay: net.Server;
let outage = false;
const open = new Set<net.Socket>();
let storage: Storage;

beforeAll(async () => {
  azurite = await startAzurite();
  const azuritePort = Number(/TableEndpoint=http:\/\/[^:]+:(\d+)\//.exec(azurite.connectionString)![1]);
  relay = net.createServer((client) => {
    if (outage) return client.resetAndDestroy();
    open.add(client);
    client.once('close', () => open.delete(client));
    const upstream = net.connect(azuritePort, '127.0.0.1');
    client.pipe(upstream).pipe(client);
    const close = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', close);
    upstream.on('error', close);
  });
  await new Promise<void>((resolve) => relay.listen(0, '127.0.0.1', resolve));
  const port = (relay.address() as AddressInfo).port;
  storage = createTableStorage({ connectionString: azurite.connectionString.replace(`:${azuritePort}/`, `:${port}/`) });
  await storage.customers.list(); // tables created while reachable
});
afterAll(async () => {
  relay?.close();
  await azurite?.stop();
});

describe('Table Storage out of reach', () => {
  it('is a StorageUnavailableError after the SDK retries, a 503 with Retry-After at the API, and passes when storage is back', async () => {
    outage = true;
    for (const socket of open) socket.resetAndDestroy(); // connections kept alive from before go down too
    try {
      await expect(storage.customers.list()).rejects.toBeInstanceOf(StorageUnavailableError);
      const route = problemHandler(async () => ok(await storage.customers.list()));
      const request = { method: 'GET', url: 'http://localhost/api/customers?code=secret' } as unknown as HttpRequest;
      const context = { error: () => undefined } as unknown as InvocationContext;
      const res = await route(request, context);
      expect(res.status).toBe(503);
      expect((res.headers as Record<string, string>)['retry-after']).toBe('1');
      expect(JSON.parse(String(res.body))).toMatchObject({ status: 503, title: 'Service Unavailable', instance: '/api/customers' });
    } finally {
      outage = false;
    }
    await expect(storage.customers.list()).resolves.toBeInstanceOf(Array);
  }, 120_000);
});
