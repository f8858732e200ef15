/**
 * What the local services acknowledged survives a SIGKILL of their process at any moment, as Azure Table
 * Storage and Service Bus keep what they acknowledged; the Graph emulator comes back at the same address
 * with the same world.
 */
import { TableClient, TableTransaction, odata } from '@azure/data-tables';
import { ServiceBusClient } from '@azure/service-bus';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { generateKeys } from '../../local/keys';
import { startServicesProcess, type ServicesProcess } from '../../local/services/process';
import { EmulatorClient } from '../graph-emulator/client';

const dirs: string[] = [];
const running = new Set<ServicesProcess>();
afterAll(async () => {
  for (const p of running) await p.kill().catch(() => undefined);
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function tempDir(): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'sitesync-durable-'));
  dirs.push(dir);
  return dir;
}

async function start(options: Parameters<typeof startServicesProcess>[0]): Promise<ServicesProcess> {
  const p = await startServicesProcess(options);
  running.add(p);
  void p.exited.then(() => running.delete(p));
  return p;
}

describe('Table Storage kept through a kill', () => {
  it('every acknowledged write is there after SIGKILL, with its ETag; every batch is whole or absent', async () => {
    const dir = tempDir();
    const keys = generateKeys();
    const first = await start({ keys, persistDir: dir, graph: false });
    const table = TableClient.fromConnectionString(first.tablesConnectionString, 'Kept', { allowInsecureConnection: true });
    await table.createTable();

    // Writers update their own rows with rising versions; a batch writer writes whole groups of 20 rows.
    const acked = new Map<string, { version: number; etag: string }>();
    const deleted = new Set<string>();
    const batches: number[] = [];
    let stop = false;
    const writer = async (w: number) => {
      for (let version = 1; !stop; version++) {
        const rowKey = `w${w}-r${version % 7}`;
        try {
          if (version % 11 === 0 && acked.has(rowKey)) {
            await table.deleteEntity('p', rowKey);
            acked.delete(rowKey);
            deleted.add(rowKey);
          } else {
            const r = await table.upsertEntity({ partitionKey: 'p', rowKey, version, writer: w }, 'Replace');
            acked.set(rowKey, { version, etag: r.etag! });
            deleted.delete(rowKey);
          }
        } catch {
          return; // the process was killed under this request: not acknowledged
        }
      }
    };
    const batcher = async () => {
      for (let b = 0; !stop; b++) {
        const tx = new TableTransaction();
        for (let i = 0; i < 20; i++) tx.upsertEntity({ partitionKey: `batch-${b}`, rowKey: String(i), b });
        try {
          await table.submitTransaction(tx.actions);
          batches.push(b);
        } catch {
          return;
        }
      }
    };
    const work = Promise.all([...Array.from({ length: 8 }, (_, w) => writer(w)), batcher()]);
    while (acked.size < 40 || batches.length < 5) await new Promise((r) => setTimeout(r, 20));
    // The kill lands while requests are in flight.
    await first.kill('SIGKILL');
    stop = true;
    await work;

    const second = await start({ keys, persistDir: dir, graph: false });
    const again = TableClient.fromConnectionString(second.tablesConnectionString, 'Kept', { allowInsecureConnection: true });
    for (const [rowKey, { version, etag }] of acked) {
      const row = await again.getEntity<{ version: number }>('p', rowKey);
      // A write in flight at the kill may have landed too; never anything older than acknowledged.
      expect(row.version, rowKey).toBeGreaterThanOrEqual(version);
      if (row.version === version) expect(row.etag, rowKey).toBe(etag);
    }
    for (const rowKey of deleted) {
      const found = await again.getEntity('p', rowKey).then(() => true, () => false);
      if (found) expect((await again.getEntity<{ version: number }>('p', rowKey)).version).toBeGreaterThan(0);
    }
    for (const b of batches) {
      const rows = [];
      for await (const row of again.listEntities({ queryOptions: { filter: odata`PartitionKey eq ${`batch-${b}`}` } })) rows.push(row);
      expect(rows, `batch ${b}`).toHaveLength(20);
    }
    // No batch is ever half there, acknowledged or not.
    const counts = new Map<string, number>();
    for await (const row of again.listEntities<{ b?: number }>()) {
      const pk = row.partitionKey ?? '';
      if (pk.startsWith('batch-')) counts.set(pk, (counts.get(pk) ?? 0) + 1);
    }
    for (const [pk, n] of counts) expect(n, pk).toBe(20);
    await second.stop();
  });
});

describe('the broker kept through a kill', () => {
  it('acknowledged messages, delivery counts, schedules and duplicate detection survive SIGKILL', async () => {
    const dir = tempDir();
    const keys = generateKeys();
    const queue = 'user-provisioning';
    const first = await start({ keys, persistDir: dir, graph: false });
    let client = new ServiceBusClient(first.serviceBusConnectionString, { retryOptions: { maxRetries: 0, timeoutInMs: 10_000 } });
    const sender = client.createSender(queue);
    const ids = Array.from({ length: 300 }, (_, i) => `m-${i}`);
    for (let i = 0; i < ids.length; i += 50) await sender.sendMessages(ids.slice(i, i + 50).map((messageId) => ({ messageId, body: { n: messageId } })));
    await sender.scheduleMessages({ messageId: 'later', body: 'later' }, new Date(Date.now() + 60 * 60_000));
    const receiver = client.createReceiver(queue);
    const got = await receiver.receiveMessages(100, { maxWaitTimeInMs: 5_000 });
    const completed = new Set<string>();
    for (const m of got.slice(0, 60)) {
      await receiver.completeMessage(m);
      completed.add(String(m.messageId));
    }
    for (const m of got.slice(60, 70)) await receiver.abandonMessage(m);
    // The other 30 stay locked when the broker dies.
    await first.kill('SIGKILL');
    await client.close().catch(() => undefined);

    const second = await start({ keys, persistDir: dir, graph: false });
    client = new ServiceBusClient(second.serviceBusConnectionString, { retryOptions: { maxRetries: 0, timeoutInMs: 10_000 } });
    const stats = await second.queueStats(queue);
    expect(stats.active).toBe(ids.length - completed.size + 1);
    expect(stats.scheduled).toBe(1);
    // Sent again within the duplicate detection window: dropped, as Service Bus drops it.
    await client.createSender(queue).sendMessages({ messageId: 'm-0', body: 'again' });
    expect((await second.queueStats(queue)).active).toBe(ids.length - completed.size + 1);
    const rest = client.createReceiver(queue);
    const seen = new Map<string, number>();
    while (seen.size < ids.length - completed.size) {
      const batch = await rest.receiveMessages(100, { maxWaitTimeInMs: 3_000 });
      if (batch.length === 0) break;
      for (const m of batch) {
        seen.set(String(m.messageId), m.deliveryCount ?? 0);
        await rest.completeMessage(m);
      }
    }
    expect([...seen.keys()].sort()).toEqual(ids.filter((id) => !completed.has(id)).sort());
    // Delivery counts are kept: the abandoned and the locked ones were delivered once before.
    for (const m of got.slice(60)) expect(seen.get(String(m.messageId))).toBe(1);
    await client.close();
    await second.stop();
  });
});

describe('the Graph emulator kept across restarts', () => {
  it('comes back at the same address with the same certificate, token key, users and changes', async () => {
    const dir = tempDir();
    const keys = generateKeys();
    const first = await start({ keys, persistDir: dir, graph: { emulator: { users: 50, seed: 'kept', latencyMs: 0 } } });
    const tenantId = first.demo!.tenantId;
    const http = new EmulatorClient(readFileSync(first.endpoints.graphCaFile, 'utf8'));
    const token = await http.send('POST', `${first.endpoints.graphUrl}/${tenantId}/oauth2/v2.0/token`, new URLSearchParams({
      grant_type: 'client_credentials', client_id: first.demo!.clientId, client_secret: first.settings[first.demo!.secretSetting], scope: 'https://graph.microsoft.com/.default',
    }).toString(), { 'content-type': 'application/x-www-form-urlencoded' });
    const g = http.withToken(token.body.access_token);
    const users = await g.get(`${first.endpoints.graphUrl}/v1.0/users?$top=5&$select=id,jobTitle`);
    const someone = users.body.value[0].id as string;
    expect((await g.send('PATCH', `${first.endpoints.graphUrl}/v1.0/users/${someone}`, { jobTitle: 'Kept through a restart' })).status).toBe(204);
    const delta = await g.get(`${first.endpoints.graphUrl}/v1.0/users/delta?$deltatoken=latest&$select=id,displayName,jobTitle`);
    const deltaLink = delta.body['@odata.deltaLink'] as string;
    await first.control('addUser', tenantId, { displayName: 'Added Before Restart', city: 'London' });
    await first.kill('SIGKILL');

    const second = await start({ keys, persistDir: dir, graph: { emulator: { users: 50, seed: 'kept', latencyMs: 0 } } });
    expect(second.graphRestored).toBe(true);
    expect(second.endpoints.graphUrl).toBe(first.endpoints.graphUrl);
    // The token from before the restart still works; so does the delta link.
    expect((await g.get(`${second.endpoints.graphUrl}/v1.0/users/${someone}?$select=jobTitle`)).body.jobTitle).toBe('Kept through a restart');
    const changes = await g.get(deltaLink);
    expect(changes.status).toBe(200);
    expect(changes.body.value.map((u: { displayName?: string }) => u.displayName)).toContain('Added Before Restart');
    http.close();
    await second.stop();
  });
});
