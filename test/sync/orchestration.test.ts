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
const begin = (runId: string): BeginResult => ({ customerId: 'c1', runId, kind: 'full', trigger: 'operator', mode: 'full', startedAt: '2026-01-01T09:00:00.000Z', userCount: 0, firstSync: false });
/** A delta run that starts from a held delta link. */
const deltaBegin = (runId: string): BeginResult => ({ ...begin(runId), kind: 'delta', mode: 'delta', deltaLink: 'delta-0', firstSync: undefined });

/**
 * The catalog activity's answer, as the real one gives it: each type asked for synced, or failed when `failing`
 * names it — answered as failed among several types, thrown when it was asked for alone (its retry).
 */
function catalogAnswer(call: StubCall, failing?: { type: string; error: string }): unknown {
  const types = call.input.types as string[];
  if (failing && types.length === 1 && types[0] === failing.type) throw new Error(failing.error);
  return types.map((type) => (type === failing?.type ? { type, failed: failing.error } : { type, result: { counts: { ...zero, unchanged: 3 } } }));
}

/** Answers of a healthy tenant: two pages of users, one of Teams configurations. */
function healthy(call: StubCall): unknown {
  switch (call.name) {
    case 'syncCatalog':
      return catalogAnswer(call);
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

/** Runs the orchestration with what its start decided (`startSync` puts it in the input). */
async function run(runId: string, decided: BeginResult = begin(runId)): Promise<FinishInput> {
  const input = { customerId: 'c1', kind: decided.kind, trigger: 'operator', runId, begin: decided };
  const id = await env.durable.startNew('pullSync', { instanceId: `sync:${decided.kind}:${runId}`, input: JSON.stringify(input) });
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

  it('a first sync has no deletions step: nothing was stored before its read began', async () => {
    stubs().answer = healthy;
    const finish = await run('r7', { ...begin('r7'), firstSync: true });
    expect(finish.users).toMatchObject({ counts: { added: 15, deleted: 0, held: 0 }, deltaLink: 'delta-1', numbers: { held: 4 } });
    const names = stubs().calls.map((c) => c.name);
    expect(names).not.toContain('syncUserDeletions');
    expect(names.indexOf('syncFinish')).toBeGreaterThan(names.lastIndexOf('syncUsersPages'));
    expect(stubs().calls.find((c) => c.name === 'syncUsersPages')?.input).toMatchObject({ firstSync: true });
  });

  it('a users pass that fails after its retries ends the users family with the reason and never settles deletions; the catalog is whole', async () => {
    stubs().answer = (call) => {
      if (call.name === 'syncUsersPages' && call.input.link) throw new Error('Microsoft answered 500 to every users page');
      // One catalog type fails on its own.
      if (call.name === 'syncCatalog') return catalogAnswer(call, { type: 'policies', error: 'bridge answered 500' });
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
    // Every type read in one activity; the failed one then alone, four attempts.
    const catalogCalls = stubs().calls.filter((c) => c.name === 'syncCatalog').map((c) => c.input.types);
    expect(catalogCalls).toEqual([['dialPlans', 'policies', 'licenses', 'resourceAccounts'], ...Array.from({ length: 4 }, () => ['policies'])]);
    expect(names.filter((n) => n === 'syncUsersPages')).toHaveLength(5); // the first page, then four attempts at the second
    expect(names).not.toContain('syncUserDeletions');
    expect(names.filter((n) => n === 'syncFinish')).toHaveLength(1);
  });

  it("the Teams pass's last activity reconciles the numbers itself; only when that failed there is it a step of its own", async () => {
    stubs().answer = (call) => (call.name === 'syncTeamsPages' ? { joined: 15, numbers: { held: 7, marked: 0, released: 0, recordedOutsideRanges: 7, duplicates: 0, duplicateNumbers: [] } } : healthy(call));
    const finish = await run('r6');
    expect(finish.users).toMatchObject({ counts: { added: 15 }, numbers: { held: 7 } });
    const names = stubs().calls.map((c) => c.name);
    expect(names).not.toContain('syncNumbers');
    expect(names.indexOf('syncUserDeletions')).toBeGreaterThan(names.lastIndexOf('syncUsersPages'));
  });

  it('a catalog activity that fails as a whole (the shared reads) fails every catalog type with its reason; users are whole', async () => {
    stubs().answer = (call) => {
      if (call.name === 'syncCatalog') throw new Error("the customer's Microsoft access could not be read");
      return healthy(call);
    };
    const finish = await run('r4');
    expect(finish.catalog.map((c) => c?.failed)).toEqual(Array.from({ length: 4 }, () => expect.stringMatching(/Microsoft access could not be read/)));
    expect(stubs().calls.filter((c) => c.name === 'syncCatalog')).toHaveLength(4); // the retry policy's attempts, all types each time
    expect(finish.users).toMatchObject({ counts: { added: 15 }, deltaLink: 'delta-1' });
  });

  it("a delta round's last page settles its deletions in the same activity: no step of its own", async () => {
    stubs().answer = (call) => {
      if (call.name === 'syncUsersDeltaPage') {
        if (call.input.link === 'delta-0') return { counts: { ...zero, changed: 4 }, handedOff: 1, nextLink: 'delta-page-2' };
        return { counts: { ...zero, changed: 2 }, handedOff: 0, deltaLink: 'delta-1', deletions: { counts: { ...zero, deleted: 3, held: 1 }, heldReason: 'one held' } };
      }
      return healthy(call);
    };
    const finish = await run('r5', deltaBegin('r5'));
    expect(finish.users).toMatchObject({ counts: { changed: 6, deleted: 3, held: 1 }, handedOff: 1, deltaLink: 'delta-1', heldReason: 'one held' });
    const names = stubs().calls.map((c) => c.name);
    expect(names.filter((n) => n === 'syncUsersDeltaPage')).toHaveLength(2);
    expect(names).not.toContain('syncUserDeletions');
    // The second page carries what the first counted, so its deletions settle against the whole round.
    expect(stubs().calls.filter((c) => c.name === 'syncUsersDeltaPage')[1].input).toMatchObject({ soFar: { changed: 4 } });
  });

  it('a delta run whose link is refused reads in full, counts that read alone and settles deletions as a full read', async () => {
    stubs().answer = (call) => {
      if (call.name === 'syncUsersDeltaPage') return { expired: 'the delta link was refused (resyncRequired): a full resync' };
      return healthy(call);
    };
    const finish = await run('r3', deltaBegin('r3'));
    expect(finish.resync).toMatch(/resyncRequired/);
    expect(finish.users).toMatchObject({ counts: { added: 15 }, deltaLink: 'delta-1', numbers: { held: 4 } });
    const calls = stubs().calls;
    expect(calls.filter((c) => c.name === 'syncUsersDeltaPage')).toHaveLength(1);
    expect(calls.find((c) => c.name === 'syncUsersPages')?.input).toMatchObject({ firstSync: false });
    expect(calls.find((c) => c.name === 'syncUserDeletions')?.input).toMatchObject({ mode: 'full', soFar: { added: 15 } });
  });
});

