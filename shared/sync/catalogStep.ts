/**
 * The pull sync's catalog step: every catalog type of a run read in one activity, side by side. The types
 * share the customer's Microsoft access and rules, and one activity costs the run's orchestration one
 * round of checkpoints instead of one per type. Each type keeps its own outcome: a type that fails in the
 * shared attempt is answered as failed, and the orchestration retries it alone (then a failure of the
 * activity, under the retry policy).
 */
import type { ResourceAccount } from '../domain';
import { forgetCustomerContexts } from '../provisioning/customerContext';
import { catalogOutcome, readCatalog, syncCatalogType, type CatalogSyncResult } from './catalog';
import { catalogOutcomeKey, failureReason, type CatalogOutcomeRecord, type EntityOutcome } from './model';
import type { AppRegistration, CatalogType, CustomerMicrosoft } from './ports';
import { recordResourceAccountNumbers } from './resourceAccounts';
import type { SyncDeps } from './service';
import { handOffRules, type HandOffRules } from './users';

/** One type's part of an attempt: what it synced, or why it could not. */
export type CatalogAttempt = { type: CatalogType; result: CatalogSyncResult } | { type: CatalogType; failed: string };

export interface CatalogStepInput {
  customerId: string;
  runId: string;
  types: readonly CatalogType[];
  registration?: AppRegistration;
}

export async function catalogActivity(deps: SyncDeps, input: CatalogStepInput): Promise<CatalogAttempt[]> {
  const [microsoft, rules] = await Promise.all([deps.microsoft.forCustomer(input.customerId, input.registration), handOffRules(deps.storage, input.customerId)]).catch(async (err: unknown) => {
    await recordOutcomes(deps, input, input.types.map((type) => ({ type, outcome: { status: 'failed', reason: failureReason(err) } }))).catch(() => undefined);
    throw err;
  });
  const outcomes = await Promise.allSettled(input.types.map((type) => syncType(deps, microsoft, rules, { ...input, type })));
  const attempts: CatalogAttempt[] = outcomes.map((o, i) => (o.status === 'fulfilled' ? { type: input.types[i], result: o.value } : { type: input.types[i], failed: failureReason(o.reason) }));
  // Every type's outcome and progress in one write each, side by side.
  const progress = Object.fromEntries(attempts.flatMap((a) => ('result' in a ? [[a.type, a.result.counts]] : [])));
  await Promise.all([
    recordOutcomes(deps, input, attempts.map((a) => ({ type: a.type, outcome: 'result' in a ? catalogOutcome(a.result, undefined) : { status: 'failed', reason: a.failed } }))),
    deps.runs.saveProgressOf(input.customerId, input.runId, progress),
  ]);
  // A type retried alone fails the activity: the orchestration's retry policy spaces its next attempts.
  if (input.types.length === 1 && outcomes[0].status === 'rejected') throw outcomes[0].reason;
  return attempts;
}

async function syncType(deps: SyncDeps, microsoft: CustomerMicrosoft, rules: HandOffRules, input: { customerId: string; runId: string; type: CatalogType }): Promise<CatalogSyncResult> {
  const read = input.type === 'resourceAccounts' ? await readCatalog(input.type, microsoft) : undefined;
  const result = await syncCatalogType({ ...input, threshold: rules.settings.deleteThresholds[input.type] }, microsoft, deps.catalog, deps.pending, read);
  if (input.type === 'resourceAccounts' && read) {
    // Their service numbers are Used-Utility; with deletions held the read may be short, so nothing is released.
    await recordResourceAccountNumbers(deps.storage, {
      customerId: input.customerId, accounts: read.map((i) => i.data as ResourceAccount), complete: !result.heldReason,
      coolingDays: rules.settings.numberCoolingDays, preventDuplicateNumbers: rules.settings.preventDuplicateNumbers,
    });
  }
  return result;
}

/** Each attempt's outcomes are kept at its end, so provisioning can say why an item it needs (a dial plan) is missing while the run still retries. */
async function recordOutcomes(deps: SyncDeps, run: { customerId: string; runId: string }, outcomes: ReadonlyArray<{ type: CatalogType; outcome: EntityOutcome }>): Promise<void> {
  const at = (deps.now?.() ?? new Date()).toISOString();
  await deps.storage.syncState.putAll<CatalogOutcomeRecord>(run.customerId, outcomes.map(({ type, outcome }) => ({ key: catalogOutcomeKey(type), value: { ...outcome, runId: run.runId, at } })));
  forgetCustomerContexts(run.customerId); // provisioning in this process sees them at once
}
