import * as df from 'durable-functions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAzurite } from '../support/azurite';
import { KEYS, startDurableHost, type DurableHost } from './harness';

let azurite: Awaited<ReturnType<typeof startAzurite>>;
let env: DurableHost;

beforeAll(async () => {
  azurite = await startAzurite();
  env = await startDurableHost(azurite.connectionString);
});

afterAll(async () => {
  await env?.host.stop();
  await azurite?.stop();
});

function rpc(): string {
  return env.host.endpoints().durableRpcUrl;
}

/** The DurableClient the SDK builds for a function with a durableClient input, as in Azure. */
function sdkClient(): df.DurableClient {
  const fn = env.host.registry.require('StartOrchestration');
  return df.getClient(env.host.createContext(fn));
}

interface CheckStatus {
  id: string;
  statusQueryGetUri: string;
  sendEventPostUri: string;
  terminatePostUri: string;
  purgeHistoryDeleteUri: string;
}

async function start(name: string, instanceId = '', input?: unknown): Promise<Response> {
  return fetch(`${env.host.apiUrl}/start/${name}/${instanceId}`, { method: 'POST', body: input === undefined ? undefined : JSON.stringify(input) });
}

describe('Durable client', () => {
  it('starts from an HTTP function with 202 and check-status URLs that work against the host', async () => {
    const res = await start('FanOut', '', 3);
    expect(res.status).toBe(202);
    const links = (await res.json()) as CheckStatus;
    expect(res.headers.get('location')).toBe(links.statusQueryGetUri);
    expect(links.statusQueryGetUri.startsWith(`${env.host.url}/runtime/webhooks/durabletask/instances/${links.id}?`)).toBe(true);
    expect(new URL(links.statusQueryGetUri).searchParams.get('code')).toBe(KEYS.systemKeys.durabletask_extension);

    await env.durable.waitForCompletion(links.id);
    const status = await fetch(links.statusQueryGetUri);
    expect(status.status).toBe(200);
    expect(await status.json()).toMatchObject({ name: 'FanOut', instanceId: links.id, runtimeStatus: 'Completed', input: 3, output: { count: 3, first: 'ITEM-0' } });

    const withoutKey = await fetch(links.statusQueryGetUri.replace(/code=[^&]+/, 'code=wrong'));
    expect(withoutKey.status).toBe(401);
    // As in Azure, the webhooks take the extension's system key or the master key, never a function key.
    expect((await fetch(links.statusQueryGetUri.replace(/code=[^&]+/, `code=${KEYS.functionKey}`))).status).toBe(401);
    expect((await fetch(links.statusQueryGetUri.replace(/code=[^&]+/, ''))).status).toBe(401);
    expect((await fetch(links.statusQueryGetUri.replace(/code=[^&]+/, `code=${KEYS.masterKey}`))).status).toBe(200);
    const withHistory = (await (await fetch(`${links.statusQueryGetUri}&showHistory=true&showHistoryOutput=true`)).json()) as { historyEvents: Array<{ EventType: string; FunctionName?: string; Result?: unknown }> };
    expect(withHistory.historyEvents.filter((e) => e.EventType === 'TaskCompleted').map((e) => e.FunctionName)).toEqual(['ProcessItem', 'ProcessItem', 'ProcessItem']);
    expect(withHistory.historyEvents.at(-1)).toMatchObject({ EventType: 'ExecutionCompleted', OrchestrationStatus: 'Completed' });

    expect((await fetch(links.purgeHistoryDeleteUri, { method: 'DELETE' })).status).toBe(200);
    expect((await fetch(links.statusQueryGetUri)).status).toBe(404);
  });

  it('refuses a duplicate instance id while it runs (409), and raises events through the webhook', async () => {
    const first = await start('Approval', 'dup-1');
    expect(first.status).toBe(202);
    const links = (await first.json()) as CheckStatus;
    expect((await start('Approval', 'dup-1')).status).toBe(409);
    const direct = await fetch(`${rpc()}orchestrators/Approval/dup-1`, { method: 'POST', body: '{}' });
    expect(direct.status).toBe(409);
    const badInput = await fetch(`${rpc()}orchestrators/Approval`, { method: 'POST', body: '{not json' });
    expect(badInput.status).toBe(400);
    await env.durable.idle();
    expect((await fetch(links.statusQueryGetUri)).status).toBe(202);

    const raise = await fetch(links.sendEventPostUri.replace('{eventName}', 'Approve'), { method: 'POST', body: JSON.stringify('yes'), headers: { 'content-type': 'application/json' } });
    expect(raise.status).toBe(202);
    const done = await env.durable.waitForCompletion('dup-1');
    expect(done.output).toEqual({ approved: 'yes' });
    // A finished id can be started again.
    expect((await start('Approval', 'dup-1')).status).toBe(202);
    const terminate = await fetch(links.terminatePostUri.replace('{text}', 'enough'), { method: 'POST' });
    expect(terminate.status).toBe(202);
    expect((await env.durable.waitForCompletion('dup-1')).runtimeStatus).toBe('Terminated');
  });

  it('serves the SDK client: getStatus, raiseEvent, terminate, purge and filtered listing with paging', async () => {
    const client = sdkClient();
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push(await client.startNew('Approval', { instanceId: `batch-${i}` }));
    await env.durable.idle();
    expect((await client.getStatus('batch-0')).runtimeStatus).toBe('Running');
    await client.raiseEvent('batch-0', 'Approve', { ok: true });
    await client.raiseEvent('batch-1', 'Approve', 1);
    await client.terminate('batch-2', 'cancelled');
    await env.durable.waitForCompletion('batch-0');
    await env.durable.waitForCompletion('batch-1');
    await env.durable.waitForCompletion('batch-2');

    const status = await client.getStatus('batch-0');
    expect(status.runtimeStatus).toBe('Completed');
    expect(status.output).toEqual({ approved: { ok: true } });
    expect(status.createdTime).toBeInstanceOf(Date);

    const running = await client.getStatusBy({ runtimeStatus: [df.OrchestrationRuntimeStatus.Running] });
    expect(running.map((s) => s.instanceId).filter((id) => id.startsWith('batch-')).sort()).toEqual(['batch-3', 'batch-4']);

    // Pages of two, followed through x-ms-continuation-token.
    const seen: string[] = [];
    let token: string | null = null;
    do {
      const res: Response = await fetch(`${rpc()}instances/?instanceIdPrefix=batch-&top=2`, { headers: token ? { 'x-ms-continuation-token': token } : {} });
      const page = (await res.json()) as Array<{ instanceId: string }>;
      expect(page.length).toBeLessThanOrEqual(2);
      seen.push(...page.map((s) => s.instanceId));
      token = res.headers.get('x-ms-continuation-token');
    } while (token);
    expect(seen).toEqual(ids);

    const createdTo = new Date(env.clock.now() + 1000);
    const all = await client.getStatusBy({ createdTimeFrom: new Date(0), createdTimeTo: createdTo, runtimeStatus: [df.OrchestrationRuntimeStatus.Completed, df.OrchestrationRuntimeStatus.Terminated] });
    expect(all.map((s) => s.instanceId).filter((id) => id.startsWith('batch-')).sort()).toEqual(['batch-0', 'batch-1', 'batch-2']);

    expect((await client.purgeInstanceHistory('batch-0')).instancesDeleted).toBe(1);
    expect((await client.purgeInstanceHistory('batch-3')).instancesDeleted).toBe(0); // still running
    await expect(client.getStatus('batch-0')).rejects.toThrow(/404/);
    await expect(client.raiseEvent('nobody', 'Approve', 1)).rejects.toThrow(/No instance/);

    await client.terminate('batch-3', 'cleanup');
    await client.terminate('batch-4', 'cleanup');
    await env.durable.waitForCompletion('batch-4');
  });

  it('reports the durable client endpoints', () => {
    expect(env.host.endpoints()).toEqual({ durableClientUrl: `${env.host.url}/runtime/webhooks/durabletask`, durableRpcUrl: rpc() });
    expect(rpc()).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/durabletask\/$/);
    expect(new URL(rpc()).port).not.toBe(new URL(env.host.url).port);
  });

  it('serves the SDK RPC endpoint on its own loopback listener only, not on the public port', async () => {
    expect((await fetch(`${env.host.url}/durabletask/instances/`)).status).toBe(404);
    expect((await fetch(`${rpc()}instances/`)).status).toBe(200);
  });

  it('answers a malformed path with 400, not 500', async () => {
    const key = `code=${KEYS.systemKeys.durabletask_extension}`;
    expect((await fetch(`${env.host.url}/runtime/webhooks/durabletask/instances/%zz?${key}`)).status).toBe(400);
    expect((await fetch(`${rpc()}instances/%zz`)).status).toBe(400);
    expect((await fetch(`${env.host.url}/api/start/%zz`, { method: 'POST' })).status).toBe(400);
  });
});
