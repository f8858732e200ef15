/**
 * The whole local stack for an end-to-end test file, with helpers to drive it as an operator would:
 * over HTTP with the function key.
 */
import { startLocalStack, type LocalStack, type LocalStackOptions } from '../../local/stack';
import { ApiClient, waitFor } from '../../local/demo/scenario';
import { tableStorageFromSettings } from '../../shared/adapters/tables';
import { readSettings } from '../../shared/config/settings';
import type { Storage } from '../../shared/ports/storage';
import { closeServiceBusClients } from '../../shared/adapters/servicebus/client';

export interface TestStack {
  stack: LocalStack;
  api: ApiClient;
  storage: Storage;
  customerId: string;
  stop(): Promise<void>;
}

export async function startTestStack(options: LocalStackOptions & { users?: number; seed?: string } = {}): Promise<TestStack> {
  const { users, seed, ...rest } = options;
  const stack = await startLocalStack({
    enableTimers: false,
    logger: (level, source, message) => {
      if (level === 'error' || level === 'critical') console.error(`[${source}] ${message.split('\n')[0]}`);
    },
    graph: { emulator: { users: users ?? 100, seed: seed ?? 'test' } },
    ...rest,
  });
  const storage = tableStorageFromSettings(readSettings());
  return {
    stack,
    api: new ApiClient(stack.endpoints),
    storage,
    customerId: 'contoso',
    async stop() {
      await stack.stop();
      await closeServiceBusClients();
    },
  };
}

/** Registers the demo tenant as a customer directly in storage (the onboarding API does the same). */
export async function seedDemoCustomer(t: TestStack, customerId = 'contoso'): Promise<string> {
  const demo = t.stack.demo;
  if (!demo) throw new Error('the stack runs no Graph emulator');
  const existing = await t.storage.customers.get(customerId);
  if (existing) return customerId;
  await t.storage.customers.create({ id: customerId, name: 'Contoso', tenantId: demo.tenantId, clientId: demo.clientId, credentialRef: `env:${demo.secretSetting}` });
  return customerId;
}

export interface RunView {
  runId: string;
  kind: string;
  trigger: string;
  status: string;
  mode: string;
  resync?: string;
  heldReason?: string;
  handedOff: number;
  errors: string[];
  counts: Record<string, { added: number; changed: number; unchanged: number; deleted: number; held: number }>;
  numbers?: { held: number; marked: number; released: number; recordedOutsideRanges: number; duplicates: number };
}

export async function runSync(t: TestStack, customerId: string, kind: 'full' | 'delta' | 'staging', timeoutMs = 120_000): Promise<RunView> {
  const started = await t.api.json<{ runId: string }>('POST', `/customers/${customerId}/syncs/${kind}/run`);
  return waitForRun(t, customerId, started.runId, timeoutMs);
}

export async function waitForRun(t: TestStack, customerId: string, runId: string, timeoutMs = 120_000): Promise<RunView> {
  return waitFor(
    `sync run ${runId}`,
    async () => {
      const run = await t.api.json<RunView>('GET', `/customers/${customerId}/sync-runs/${runId}`).catch(() => undefined);
      return run && run.status !== 'running' ? run : undefined;
    },
    timeoutMs,
    200,
  );
}
