/**
 * The pull sync's orchestration. One orchestration drives the catalog and the users family side by side and
 * collects each activity as it ends: each catalog type and the users family keep their own outcome, failure
 * included (one type that fails, say no bridge or a bridge answering 500, leaves the others whole, and users
 * are handed to flow-through whatever happens to dial plans and policies). Every chain is driven from here
 * rather than from an orchestration of its own, and the catalog's types share one activity: each activity
 * costs the run a round of checkpoints.
 */
import * as df from 'durable-functions';
import type { OrchestrationContext, Task } from 'durable-functions';
import { addCounts, failureReason, zeroCounts } from '../shared/sync/model';
import { CATALOG_TYPES, PULL_SYNC, type BeginResult, type UserDeletionsResult, type DeltaPageResult, type FinishInput, type StartSyncInput, type TeamsPagesResult, type UsersFamilyResult, type UsersPagesResult } from '../shared/sync/service';
import type { CatalogSyncResult } from '../shared/sync/catalog';
import type { CatalogAttempt } from '../shared/sync/catalogStep';
import type { CatalogType } from '../shared/sync/ports';
import type { NumberReport } from '../shared/inventory/reconcile';

/** Transient Microsoft or storage faults: three more tries, 5 s then 10 s then 20 s apart. */
const retry = new df.RetryOptions(5_000, 4);
retry.backoffCoefficient = 2;

/** What to do with an open activity's outcome, and which chain it belongs to. */
interface Step {
  chain: 'catalog' | 'users';
  done(result: unknown): void;
  failed(err: Error): void;
}

df.app.orchestration(PULL_SYNC, function* (context: OrchestrationContext) {
  const input = context.df.getInput() as StartSyncInput;
  if (input.kind === 'staging') return yield context.df.callActivityWithRetry('syncRecheckStaged', retry, input);
  const begin = input.begin as BeginResult;
  context.df.setCustomStatus({ runId: begin.runId, phase: 'reading', mode: begin.mode });
  // The registration the run began with travels to every step that reaches Microsoft.
  const base = { customerId: begin.customerId, runId: begin.runId, startedAt: begin.startedAt, registration: begin.registration };
  const open = new Map<Task, Step>();
  const call = (activity: string, activityInput: unknown, step: Step) => open.set(context.df.callActivityWithRetry(activity, retry, activityInput), step);

  // The catalog: every type in one activity; a type that failed in it is retried alone.
  const catalog: CatalogSyncResult[] = [];
  const failedType = (type: CatalogType, reason: string) => (catalog[CATALOG_TYPES.indexOf(type)] = { counts: zeroCounts(), failed: reason });
  const catalogStep = (types: readonly CatalogType[]) =>
    call('syncCatalog', { customerId: begin.customerId, runId: begin.runId, types, registration: begin.registration }, {
      chain: 'catalog',
      done: (r) => {
        for (const attempt of r as CatalogAttempt[]) {
          if ('result' in attempt) catalog[CATALOG_TYPES.indexOf(attempt.type)] = attempt.result;
          else if (types.length > 1) catalogStep([attempt.type]);
          else failedType(attempt.type, attempt.failed);
        }
      },
      failed: (err) => types.forEach((type) => failedType(type, failureReason(err))),
    });
  catalogStep(CATALOG_TYPES);

  // The users family: a full read (users and their Teams side side by side, then the number inventory once
  // the Teams side is complete, while users may still be reading), or the delta rounds; then its deletions.
  let counts = zeroCounts();
  let handedOff = 0;
  let deltaLink: string | undefined;
  let numbers: NumberReport | undefined;
  let users: UsersFamilyResult | undefined;
  let mode = begin.mode;
  // A resync after a refused delta link is never a first sync: a delta link follows a full read.
  const firstSync = begin.mode === 'full' ? (begin.firstSync ?? false) : false;
  let reading = 0;
  const finish: FinishInput = { begin, catalog: [] };
  const progress = () => context.df.setCustomStatus({ runId: begin.runId, mode, users: counts, handedOff });
  const usersStep = (done: (result: unknown) => void): Step => ({
    chain: 'users',
    done,
    // What was read and handed off stays counted; no delta link is kept from an incomplete read.
    failed: (err) => {
      users = { counts, handedOff, failed: failureReason(err) };
      for (const [task, step] of open) if (step.chain === 'users') open.delete(task);
    },
  });
  const settled = (deletions: UserDeletionsResult) => {
    counts = addCounts(counts, deletions.counts);
    users = {
      counts,
      handedOff,
      deltaLink,
      heldReason: deletions.heldReason,
      ...(numbers ? { numbers } : {}),
      ...(deletions.holdsReleased ? { holdsReleased: deletions.holdsReleased } : {}),
    };
  };
  const readEnded = () => {
    if (--reading > 0) return;
    // A first read has nothing to delete and no hold to release: nothing was stored before it began.
    if (firstSync) return settled({ counts: zeroCounts() });
    call('syncUserDeletions', { ...base, mode, soFar: counts, userCount: begin.userCount }, usersStep((r) => settled(r as UserDeletionsResult)));
  };
  const usersPages = (link?: string) =>
    call('syncUsersPages', { ...base, link, firstSync, soFar: counts }, usersStep((r) => {
      const page = r as UsersPagesResult;
      deltaLink ??= page.nextDeltaLink;
      counts = addCounts(counts, page.counts);
      handedOff += page.handedOff;
      progress();
      if (page.nextLink) usersPages(page.nextLink);
      else readEnded();
    }));
  const teamsPages = (link?: string) =>
    call('syncTeamsPages', { customerId: begin.customerId, link, startedAt: begin.startedAt, registration: begin.registration }, usersStep((r) => {
      const page = r as TeamsPagesResult;
      if (page.nextLink) return void teamsPages(page.nextLink);
      // The whole tenant's Teams side is read, and its last activity brought the number inventory in line
      // with it; when that failed there, it is a step of its own.
      if (page.numbers) {
        numbers = page.numbers;
        return readEnded();
      }
      call('syncNumbers', { customerId: begin.customerId, startedAt: begin.startedAt }, usersStep((report) => {
        numbers = report as NumberReport;
        readEnded();
      }));
    }));
  const fullRead = () => {
    reading = 2;
    usersPages();
    teamsPages();
  };
  const deltaPage = (link: string) =>
    call('syncUsersDeltaPage', { ...base, link, soFar: counts, userCount: begin.userCount }, usersStep((r) => {
      const page = r as DeltaPageResult | { expired: string };
      if ('expired' in page) {
        // The delta link was refused: read the tenant in full, and say so in the run.
        finish.resync = page.expired;
        mode = 'full';
        counts = zeroCounts();
        handedOff = 0;
        context.df.setCustomStatus({ runId: begin.runId, phase: 'resync', mode });
        return fullRead();
      }
      counts = addCounts(counts, page.counts);
      handedOff += page.handedOff;
      progress();
      if (page.deltaLink) deltaLink = page.deltaLink;
      else if (page.nextLink) return deltaPage(page.nextLink);
      // The round's last page settled its deletions itself.
      if (page.deletions) settled(page.deletions);
      else readEnded();
    }));
  if (begin.mode === 'delta' && begin.deltaLink) {
    reading = 1;
    deltaPage(begin.deltaLink);
  } else fullRead();

  try {
    while (open.size > 0) {
      const tasks = [...open.keys()];
      const ended = (tasks.find((t) => t.isCompleted || t.isFaulted) ?? (yield context.df.Task.any(tasks))) as Task;
      const step = open.get(ended)!;
      open.delete(ended);
      if (ended.isFaulted) step.failed(ended.result instanceof Error ? ended.result : new Error(String(ended.result)));
      else step.done(ended.result);
    }
    finish.catalog = catalog;
    finish.users = users;
  } catch (err) {
    finish.error = failureReason(err);
  }
  context.df.setCustomStatus({ runId: begin.runId, phase: 'finishing', users: finish.users?.counts, catalog: finish.catalog.map((c) => c?.counts) });
  const run = yield context.df.callActivityWithRetry('syncFinish', retry, finish);
  context.df.setCustomStatus({ runId: begin.runId, phase: 'done' });
  return run;
});
