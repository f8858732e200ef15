/**
 * The pull sync's orchestration against stand-in activities on the local Durable runtime (virtual time for the
 * retries' timers): what it does when one entity type's chain fails, and in what order the users family's
 * steps run.
 */
import path from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startAzurite } from '../support/azurite';
import { runToEnd, startDurableHost, type DurableHost } from '../durable/harness';
import { stubs, type StubCall } from './fixtures/stubs';
import type { BeginResult, FinishInput } from '../../shared/sync/service';

let azurite: Awaited<ReturnType<typeof startAzurite>>;
let env: DurableHost;

beforeAll(async () => {
  azurite = await startAzurite();
  env = await startDurableHost(azurite.connectionString, { appDir: path.join(__dirname, 'fixtures', 'pullSync') });
});
afterAll(async () => {
  await env?.host.stop();
  await azurite?.stop();
});
beforeEach(() => {
  stubs().calls = [];
});

const zero = { added: 0, changed: 0, unchanged: 0, deleted: 0, held: 0 };
const begin = (runId: string): BeginResult => ({ customerId: 'c1', runId, kind: 'full', mode: 'full', startedAt: '2026-01-01T09:00:00.000Z', userCount: 0, firstSync: false });

/** Answers of a healthy tenant: two pages of users, one of Teams configurations. */
function healthy(call: StubCall): unknown {
  switch (call.name) {
    case 'syncBegin':
      return begin(String(call.input.runId));
    case 'syncCatalog':
      return { counts: { ...zero, unchanged: 3 } };
    case 'syncUsersPages':
      return call.input.link ? { counts: { ...zero, added: 5 }, handedOff: 0 } : { counts: { ...zero, added: 10 }, handedOff: 0, nextLink: 'users-2', nextDeltaLink: 'delta-1' };
    case 'syncTeamsPages':
      return { joined: 15 };
    case 'syncNumbers':
      return { held: 4, marked: 0, released: 0, recordedOutsideRanges: 4, duplicates: 0, duplicateNumbers: [] };
    case 'syncUserDeletions':
      return { counts: zero };
    case 'syncFinish':
      return call.input;
  }
}

async function run(runId: string): Promise<FinishInput> {
  const id = await env.durable.startNew('pullSync', { instanceId: `sync:full:${runId}`, input: JSON.stringify({ customerId: 'c1', kind: 'full', trigger: 'operator', runId }) });
  const status = await runToEnd(env, id, 60_000);
  expect(status.runtimeStatus).toBe('Completed');
  return status.output as FinishInput;
}

describe("the pull sync's orchestration", () => {
  it('collects every type, and settles deletions only after both passes and the numbers step', async () => {
    stubs().answer = healthy;
    const finish = await run('r1');
    expect(finish.catalog).toHaveLength(4);
    expect(finish.users).toMatchObject({ counts: { added: 15 }, deltaLink: 'delta-1', numbers: { held: 4 } });
    const names = stubs().calls.map((c) => c.name);
    const deletions = names.indexOf('syncUserDeletions');
    expect(deletions).toBeGreaterThan(names.lastIndexOf('syncUsersPages'));
    expect(deletions).toBeGreaterThan(names.indexOf('syncNumbers'));
    expect(names.indexOf('syncNumbers')).toBeGreaterThan(names.indexOf('syncTeamsPages'));
    expect(stubs().calls.find((c) => c.name === 'syncUserDeletions')?.input).toMatchObject({ mode: 'full', soFar: { added: 15 } });
  });

  it('a users pass that fails after its retries ends the users family with the reason and never settles deletions; the catalog is whole', async () => {
    stubs().answer = (call) => {
      if (call.name === 'syncUsersPages' && call.input.link) throw new Error('Microsoft answered 500 to every users page');
      // One catalog type fails on its own.
      if (call.name === 'syncCatalog' && call.input.type === 'policies') throw new Error('bridge answered 500');
      return healthy(call);
    };
    const finish = await run('r2');
    expect(finish.users?.failed).toMatch(/500 to every users page/);
    // What was read stays counted; no delta link is kept from an incomplete read.
    expect(finish.users?.counts.added).toBe(10);
    expect(finish.users?.deltaLink).toBeUndefined();
    // In CATALOG_TYPES' order: dial plans, policies, licenses, resource accounts.
    const [dialPlans, policies, licenses] = finish.catalog;
    expect(policies?.failed).toMatch(/bridge answered 500/);
    expect(dialPlans?.failed).toBeUndefined();
    expect(licenses?.counts.unchanged).toBe(3);
    const names = stubs().calls.map((c) => c.name);
    expect(names.filter((n) => n === 'syncUsersPages')).toHaveLength(5); // the first page, then four attempts at the second
    expect(names).not.toContain('syncUserDeletions');
    expect(names.filter((n) => n === 'syncFinish')).toHaveLength(1);
  });

  it('a delta run whose link is refused reads in full, counts that read alone and settles deletions as a full read', async () => {
    stubs().answer = (call) => {
      if (call.name === 'syncBegin') return { ...begin(String(call.input.runId)), kind: 'delta', mode: 'delta', deltaLink: 'delta-0', firstSync: undefined };
      if (call.name === 'syncUsersDeltaPage') return { expired: 'the delta link was refused (resyncRequired): a full resync' };
      return healthy(call);
    };
    const finish = await run('r3');
    expect(finish.resync).toMatch(/resyncRequired/);
    expect(finish.users).toMatchObject({ counts: { added: 15 }, deltaLink: 'delta-1', numbers: { held: 4 } });
    const calls = stubs().calls;
    expect(calls.filter((c) => c.name === 'syncUsersDeltaPage')).toHaveLength(1);
    expect(calls.find((c) => c.name === 'syncUsersPages')?.input).toMatchObject({ firstSync: false });
    expect(calls.find((c) => c.name === 'syncUserDeletions')?.input).toMatchObject({ mode: 'full', soFar: { added: 15 } });
  });
});

