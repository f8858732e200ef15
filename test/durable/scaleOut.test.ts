import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { TableClient } from '@azure/data-tables';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EventType } from '../../local/durable';
import { controlQueueName, fnv1a32, partitionOf } from '../../local/durable/partitions';
import { SystemClock } from '../../local/host/clock';
import { ExecutionLog, overlappingEpisodes, readExecutionLogs } from '../../local/host/executionLog';
import { startAzurite } from '../support/azurite';
import { startDurableHost, type DurableHost } from './harness';

/** Lease periods in seconds rather than Azure's 30 s / 10 s / 1 min, through the documented settings. */
const SHORT = {
  partitionCount: 4,
  leaseIntervalMs: 2_000,
  leaseAcquireIntervalMs: 400,
  leaseClaimMs: 2_000,
  leaseDrainMs: 3_000,
  workItemQueueVisibilityTimeoutMs: 3_000,
  maxQueuePollingIntervalMs: 500,
};

let azurite: Awaited<ReturnType<typeof startAzurite>>;
let logDir: string;
const hosts: DurableHost[] = [];

beforeAll(async () => {
  azurite = await startAzurite();
  logDir = mkdtempSync(path.join(os.tmpdir(), 'durable-scale-'));
});

afterAll(async () => {
  for (const env of hosts) await env.host.stop().catch(() => undefined);
  await azurite?.stop();
  rmSync(logDir, { recursive: true, force: true });
});

async function worker(hubName: string, name: string): Promise<DurableHost> {
  const env = await startDurableHost(azurite.connectionString, { clock: new SystemClock(), hubName, workerId: name, settings: SHORT, executionLog: new ExecutionLog(logDir, name) });
  hosts.push(env);
  return env;
}

async function until(what: string, condition: () => boolean | Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe('a task hub shared by several workers', () => {
  it('places instances by FNV-1a 32 of the instance id, as the Azure Storage provider does', () => {
    expect(fnv1a32('')).toBe(0x811c9dc5);
    expect(fnv1a32('a')).toBe(0xe40c292c);
    expect(fnv1a32('foobar')).toBe(0xbf9cf968);
    expect(partitionOf('foobar', 4)).toBe(0xbf9cf968 % 4);
    expect(controlQueueName('SiteSync', 3)).toBe('sitesync-control-03');
  });

  it('balances the partitions, hands them over when a worker stops, and runs no orchestration on two workers at once', async () => {
    const a = await worker('ScaleOut', 'worker-a');
    const b = await worker('ScaleOut', 'worker-b');
    await until('the partitions to be shared 2 and 2', () => a.durable.ownedPartitions().length === 2 && b.durable.ownedPartitions().length === 2);

    const ids = await Promise.all(Array.from({ length: 8 }, (_, i) => a.durable.startNew('FanOut', { instanceId: `fan-${i}`, input: '40' })));
    // Both workers run episodes before one of them stops.
    await until('both workers to run episodes', () => new Set(readExecutionLogs(logDir).map((l) => l.worker)).size === 2);
    await a.host.stop();
    expect(a.durable.ownedPartitions()).toEqual([]);
    await until('worker-b to hold every partition', () => b.durable.ownedPartitions().length === 4, 15_000);

    for (const id of ids) {
      const status = await b.durable.waitForCompletion(id, 60_000);
      expect(status.runtimeStatus).toBe('Completed');
      expect(status.output).toMatchObject({ count: 40, first: 'ITEM-0', last: 'ITEM-39' });
      // Each activity's result is in the history once, however often it ran.
      const { events } = await b.durable.storage.loadHistory(id);
      expect(events.filter((e) => e.EventType === EventType.TaskCompleted)).toHaveLength(40);
    }
    expect(overlappingEpisodes(readExecutionLogs(logDir))).toEqual([]);
  }, 120_000);

  it('takes over the partitions of a worker that died once its leases expire', async () => {
    const hub = 'ScaleOutTakeover';
    // A worker that died holding every partition: leases that are still valid for a moment, never renewed.
    const leases = TableClient.fromConnectionString(azurite.connectionString, `${hub}Partitions`, { allowInsecureConnection: true });
    await leases.createTable();
    const diedAt = Date.now();
    for (let i = 0; i < SHORT.partitionCount; i++) {
      await leases.createEntity({ partitionKey: '', rowKey: controlQueueName(hub, i), CurrentOwner: 'dead-worker', NextOwner: '', IsDraining: false, OwnedSince: new Date(diedAt), LastRenewal: new Date(diedAt), ExpiresAt: new Date(diedAt + SHORT.leaseIntervalMs) });
    }
    const c = await worker(hub, 'worker-c');
    expect(c.durable.ownedPartitions()).toEqual([]);
    const id = await c.durable.startNew('FanOut', { instanceId: 'after-takeover', input: '5' });
    const status = await c.durable.waitForCompletion(id, 30_000);
    expect(status.output).toMatchObject({ count: 5 });
    expect(c.durable.ownedPartitions()).toHaveLength(SHORT.partitionCount);
    // Within a lease period and a pass of the partition manager (and slack for a loaded machine).
    const firstEpisode = Math.min(...readExecutionLogs(logDir).filter((l) => l.kind === 'episode' && l.instanceId === id).map((l) => l.at));
    expect(firstEpisode).toBeGreaterThanOrEqual(diedAt + SHORT.leaseIntervalMs);
    expect(firstEpisode - diedAt).toBeLessThan(SHORT.leaseIntervalMs + 10_000);
  }, 60_000);
});
