/**
 * Deleting a customer takes everything kept for it: its configuration, sync runs (which can hold Microsoft's
 * error text), definitions and catalog, transactions, pending number assignments, sync state and open-work
 * index, its Durable instances and their histories (purged through the Durable client), and its Graph
 * subscription (at Graph and here). Afterwards no table holds its credential reference, and Graph holds no
 * subscription for it. While its sync runs, the deletion is refused with the reason.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { TableClient, TableServiceClient } from '@azure/data-tables';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLocalStack, type LocalStack } from '../../local/stack';
import { DEMO_APP_ROLES } from '../../local/demo/tenant';
import { waitFor } from '../../local/demo/scenario';
import { createTableStorage } from '../../shared/adapters/tables';
import { openWorkScope, type OpenWork } from '../../shared/provisioning';
import type { Storage } from '../../shared/ports/storage';

const TENANT_ID = randomUUID();
const CLIENT_ID = randomUUID();
const CUSTOMER = 'leaving-co';
const REFERENCE = 'kv:leaving-co-graph-app';
let stack: LocalStack;
let storage: Storage;

beforeAll(async () => {
  const secret = randomBytes(30).toString('base64url');
  stack = await startLocalStack({
    logger: () => undefined,
    graph: { emulator: { tenants: [{ seed: 'leaving', users: 10, tenantId: TENANT_ID, apps: [{ clientId: CLIENT_ID, secret, displayName: 'sitesync', roles: [...DEMO_APP_ROLES] }] }] } },
    // Results reach the orchestration a second late, so the first sync is surely still running when the
    // first deletion is asked for.
    durable: { deliveryDelayMs: 1_000 },
  });
  stack.graph!.control.setVaultSecret('leaving-co-graph-app', secret);
  // A tenant without users: a deletion refuses while users synced from the tenant remain.
  for (const id of [...stack.graph!.control.state(TENANT_ID).byId.keys()]) stack.graph!.control.hardDeleteUser(TENANT_ID, id);
  storage = createTableStorage({ connectionString: stack.endpoints.tablesConnectionString });
});
afterAll(async () => {
  await stack?.stop();
});

async function call(method: string, path: string, body?: unknown, headers: Record<string, string> = {}) {
  const res = await fetch(`${stack.endpoints.apiUrl}${path}`, {
    method,
    headers: { 'x-functions-key': stack.endpoints.functionKey, ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, text, json: text ? (JSON.parse(text) as any) : undefined }; // eslint-disable-line @typescript-eslint/no-explicit-any -- replies asserted field by field
}

/** Every entity of every table, as text. */
async function storageText(): Promise<string> {
  const connection = stack.endpoints.tablesConnectionString;
  const service = TableServiceClient.fromConnectionString(connection, { allowInsecureConnection: true });
  const parts: string[] = [];
  for await (const table of service.listTables()) {
    const client = TableClient.fromConnectionString(connection, table.name!, { allowInsecureConnection: true });
    for await (const entity of client.listEntities()) parts.push(`${table.name} ${JSON.stringify(entity)}`);
  }
  return parts.join('\n');
}

async function durableStatus(instanceId: string): Promise<number> {
  const base = stack.endpoints.durableClientUrl;
  const res = await fetch(`${base}/instances/${encodeURIComponent(instanceId)}?code=${encodeURIComponent(stack.endpoints.durableSystemKey)}`);
  await res.text();
  return res.status;
}

describe('deleting a customer', () => {
  it('is refused while its sync runs, then removes everything kept for it', async () => {
    const onboarded = await call('POST', '/customers', { id: CUSTOMER, name: 'Leaving Co', tenantId: TENANT_ID, clientId: CLIENT_ID, credentialRef: REFERENCE });
    expect(onboarded.status, onboarded.text).toBe(201);
    expect(onboarded.json.followUps).toEqual([expect.objectContaining({ name: 'first-sync', ok: true }), expect.objectContaining({ name: 'graph-subscription', ok: true })]);
    expect(stack.graph!.control.subscriptions(TENANT_ID)).toHaveLength(1);

    const refused = await call('DELETE', `/customers/${CUSTOMER}`, undefined, { 'if-match': '*' });
    expect(refused.status, refused.text).toBe(409);
    expect(refused.json.detail).toContain('running');

    const run = await waitFor('the first sync finished', async () => {
      const runs = await call('GET', `/customers/${CUSTOMER}/sync-runs?top=1`);
      const latest = runs.json?.items?.[0] ?? runs.json?.value?.[0];
      return latest && latest.status !== 'running' ? latest : undefined;
    }, 120_000, 250);
    expect(run.status).not.toBe('running');

    // What a customer's work leaves behind: a transaction and an open-work entry whose text names the
    // credential reference (as an error from Microsoft may), a pending number assignment.
    const at = new Date().toISOString();
    await storage.transactions.create({ id: `0-${randomUUID()}`, customerId: CUSTOMER, kind: 'provision', userId: 'u1', startedAt: at, finishedAt: at, outcome: 'failed', steps: [{ name: 'licenses', result: 'failed', detail: `token for ${REFERENCE} refused`, at }] });
    await storage.syncState.put<OpenWork>(openWorkScope(CUSTOMER), 't1', { transactionId: 't1', since: at, message: { customerId: CUSTOMER, userId: 'u1', reason: 'quick-user', requestedAt: at, siteId: REFERENCE } });
    await storage.pendingNumbers.upsert({ customerId: CUSTOMER, userId: 'u1', number: '+14255550100', lineType: 'DirectRouting', siteId: 's', transactionId: 't1', startedAt: at, dueAt: at, sends: 1, checks: 0, skip: [], cause: { note: REFERENCE } });
    const before = await storageText();
    expect(before).toContain(REFERENCE);
    expect(before).toContain(`sync:full:${CUSTOMER}`);
    expect(await durableStatus(`sync:full:${CUSTOMER}`)).toBe(200);

    const deleted = await call('DELETE', `/customers/${CUSTOMER}`, undefined, { 'if-match': '*' });
    expect(deleted.status, deleted.text).toBe(204);

    expect((await call('GET', `/customers/${CUSTOMER}`)).status).toBe(404);
    const after = await storageText();
    expect(after.split('\n').filter((line) => line.includes(REFERENCE.slice(3)))).toEqual([]);
    expect(after.split('\n').filter((line) => line.includes(`sync:full:${CUSTOMER}`) || line.includes(`sync:delta:${CUSTOMER}`))).toEqual([]);
    expect(await durableStatus(`sync:full:${CUSTOMER}`)).toBe(404);
    expect(await storage.syncState.list(openWorkScope(CUSTOMER))).toEqual([]);
    expect(await storage.syncState.list(CUSTOMER)).toEqual([]);
    expect(await storage.transactions.listRecent(CUSTOMER, 10)).toEqual([]);
    expect(await storage.pendingNumbers.list(CUSTOMER)).toEqual([]);
    expect(stack.graph!.control.subscriptions(TENANT_ID)).toEqual([]);
    // A repeat finds nothing to delete.
    expect((await call('DELETE', `/customers/${CUSTOMER}`, undefined, { 'if-match': '*' })).status).toBe(404);
  }, 180_000);
});
