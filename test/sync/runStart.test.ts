/**
 * Starting a sync decides what the run reads from and hands it to the orchestration in its input (its first
 * episode starts the reads, with no step before them); the run record says so at once. Against real Table
 * Storage (Azurite); the orchestration starter records what it was given.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTableStorage, TableProvider } from '../../shared/adapters/tables';
import { TableSyncDefinitionStore, TableSyncRunStore } from '../../shared/adapters/tables/sync';
import type { Orchestrations } from '../../shared/ports/orchestrations';
import type { Storage } from '../../shared/ports/storage';
import { finishRun, startSync, SyncRefused, type StartSyncInput, type SyncDeps } from '../../shared/sync/service';
import { syncInstanceId } from '../../shared/sync/model';
import { startAzurite } from '../support/azurite';

let azurite: Awaited<ReturnType<typeof startAzurite>>;
let storage: Storage;
let deps: SyncDeps & { orchestrations: Orchestrations };
const started: Array<{ instanceId: string; input: StartSyncInput }> = [];
let running = new Set<string>();

beforeAll(async () => {
  azurite = await startAzurite();
  storage = createTableStorage({ connectionString: azurite.connectionString });
  const tables = new TableProvider({ connectionString: azurite.connectionString });
  const orchestrations: Orchestrations = {
    start: async (_name, instanceId, input) => {
      if (running.has(instanceId)) return 'already-running';
      started.push({ instanceId, input: input as StartSyncInput });
      return 'started';
    },
    status: async () => undefined,
    instances: async () => [],
    purge: async () => undefined,
  };
  // Only what starting and finishing a run use is real; the rest is never reached by these tests.
  deps = { storage, runs: new TableSyncRunStore(tables), definitions: new TableSyncDefinitionStore(tables), orchestrations } as unknown as typeof deps;
});
afterAll(async () => {
  await azurite?.stop();
});

const customer = async (id: string) => {
  await storage.customers.create({ id, name: id, tenantId: `tenant-${id}`, clientId: 'app', credentialRef: 'env:SECRET' });
  return id;
};

describe('starting a sync', () => {
  it('a delta with a held link: the orchestration is given the link and the count the run starts from, and the run reads delta at once', async () => {
    const id = await customer('start-delta');
    await storage.syncState.put(id, 'usersDeltaLink', 'https://graph.example/delta?token=1');
    await storage.syncState.put(id, 'userCount', 42);
    const { runId } = await startSync(deps, { customerId: id, kind: 'delta', trigger: 'operator' });
    const input = started.find((s) => s.input.runId === runId)!.input;
    expect(input.begin).toMatchObject({ customerId: id, runId, kind: 'delta', trigger: 'operator', mode: 'delta', deltaLink: 'https://graph.example/delta?token=1', userCount: 42 });
    expect(input.begin?.firstSync).toBeUndefined();
    expect(await deps.runs.get(id, runId)).toMatchObject({ mode: 'delta', status: 'running', startedAt: input.begin?.startedAt });
    // The first run created the customer's default syncs; this one is recorded as their last start.
    expect((await deps.definitions.get(id, 'delta'))?.lastRunId).toBe(runId);
  });

  it('a delta without a link reads in full, says why, and is a first sync when no user is stored', async () => {
    const id = await customer('start-nolink');
    const { runId } = await startSync(deps, { customerId: id, kind: 'delta', trigger: 'schedule' });
    const input = started.find((s) => s.input.runId === runId)!.input;
    expect(input.begin).toMatchObject({ mode: 'full', resync: 'no delta link held yet: a full read instead', firstSync: true, userCount: 0 });
    expect(await deps.runs.get(id, runId)).toMatchObject({ mode: 'full', resync: 'no delta link held yet: a full read instead' });
  });

  it('a start refused because the previous run still goes leaves no run behind and records the skip', async () => {
    const id = await customer('start-busy');
    running = new Set([syncInstanceId(id, 'full')]);
    try {
      const count = started.length;
      const refused = await startSync(deps, { customerId: id, kind: 'full', trigger: 'schedule' }).catch((e: unknown) => e);
      expect(refused).toBeInstanceOf(SyncRefused);
      expect(started.length).toBe(count);
      expect(await deps.runs.list(id, 10)).toEqual([]);
      expect((await deps.definitions.get(id, 'full'))?.lastSkipped?.reason).toMatch(/still going/);
    } finally {
      running = new Set();
    }
  });

  it('a run whose start was cut off before its record was written is recorded by its finish', async () => {
    const id = await customer('start-cut');
    const begin = { customerId: id, runId: '8000000000000000-00000001', kind: 'full' as const, trigger: 'operator' as const, mode: 'full' as const, startedAt: '2026-12-01T09:00:00.000Z', userCount: 0, firstSync: true };
    const run = await finishRun(deps, { begin, catalog: [], users: { counts: { added: 3, changed: 0, unchanged: 0, deleted: 0, held: 0 }, handedOff: 3 } });
    expect(run).toMatchObject({ runId: begin.runId, trigger: 'operator', startedAt: begin.startedAt, counts: { users: { added: 3 } }, handedOff: 3 });
    expect(run.finishedAt).toBeDefined();
    expect(await deps.runs.get(id, begin.runId)).toMatchObject({ status: run.status, finishedAt: run.finishedAt });
  });
});
