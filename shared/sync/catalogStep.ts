/**
 * The pull sync's catalog step: every catalog type of a run read in one activity, side by side. The types
 * share the customer's Microsoft access and rules, and one activity costs the run's orchestration one
 * round of checkpoints instead of one per type. Each type keeps its own outcome: a type that fails in the
 * shared attempt is answered as failed, and the orchestration retries it alone (then a failure of the
 * activity, under the retry policy).
 */
import type { ResourceAccount } from '../domain';
import { forgetCustomerContexts } from '../provisioning/customerContext';
import { readCatalog, syncCatalogType, type CatalogSyncResult } from './catalog';
import { catalogOutcomeKey, type CatalogOutcomeRecord, type EntityOutcome } from './model';
import type { CatalogType, CustomerMicrosoft } from './ports';
import { recordResourceAccountNumbers } from './resourceAccounts';
import type { SyncDeps } from './service';
import { handOffRules, type HandOffRules } from './users';

/** One type's part of an attempt: what it synced, or why it could not. */
export type CatalogAttempt = { type: CatalogType; result: CatalogSyncResult } | { type: CatalogType; failed: string };

export interface CatalogStepInput {
  customerId: string;
  runId: string;
  types: readonly CatalogType[];
}

export async function catalogActivity(deps: SyncDeps, input: CatalogStepInput): Promise<CatalogAttempt[]> {
  let shared: [CustomerMicrosoft, HandOffRules];
  try {
    shared = await Promise.all([deps.microsoft.forCustomer(input.customerId), handOffRules(deps.storage, input.customerId)]);
  } catch (err) {
    await Promise.all(input.types.map((type) => recordOutcome(deps, input, type, { status: 'failed', reason: reasonOf(err) }).catch(() => undefined)));
    throw err;
  }
  const outcomes = await Promise.allSettled(input.types.map((type) => syncType(deps, shared[0], shared[1], { ...input, type })));
  // A type retried alone fails the activity: the orchestration's retry policy spaces its next attempts.
  if (input.types.length === 1 && outcomes[0].status === 'rejected') throw outcomes[0].reason;
  return outcomes.map((o, i) => (o.status === 'fulfilled' ? { type: input.types[i], result: o.value } : { type: input.types[i], failed: reasonOf(o.reason) }));
}

async function syncType(deps: SyncDeps, microsoft: CustomerMicrosoft, rules: HandOffRules, input: { customerId: string; runId: string; type: CatalogType }): Promise<CatalogSyncResult> {
  let result: CatalogSyncResult;
  try {
    const read = input.type === 'resourceAccounts' ? await readCatalog(input.type, microsoft) : undefined;
    result = await syncCatalogType({ ...input, threshold: rules.settings.deleteThresholds[input.type] }, microsoft, deps.catalog, deps.pending, read);
    if (input.type === 'resourceAccounts' && read) {
      // Their service numbers are Used-Utility; with deletions held the read may be short, so nothing is released.
      await recordResourceAccountNumbers(deps.storage, {
        customerId: input.customerId, accounts: read.map((i) => i.data as ResourceAccount), complete: !result.heldReason,
        coolingDays: rules.settings.numberCoolingDays, preventDuplicateNumbers: rules.settings.preventDuplicateNumbers,
      });
    }
  } catch (err) {
    await recordOutcome(deps, input, input.type, { status: 'failed', reason: reasonOf(err) }).catch(() => undefined);
    throw err;
  }
  await recordOutcome(deps, input, input.type, catalogOutcome(result, undefined));
  await deps.runs.saveProgress(input.customerId, input.runId, input.type, result.counts);
  return result;
}

/** Each attempt's outcome is kept at once, so provisioning can say why an item it needs (a dial plan) is missing while the run still retries. */
async function recordOutcome(deps: SyncDeps, run: { customerId: string; runId: string }, type: CatalogType, outcome: EntityOutcome): Promise<void> {
  await deps.storage.syncState.put<CatalogOutcomeRecord>(run.customerId, catalogOutcomeKey(type), { ...outcome, runId: run.runId, at: (deps.now?.() ?? new Date()).toISOString() });
  forgetCustomerContexts(run.customerId); // provisioning in this process sees it at once
}

export function catalogOutcome(r: CatalogSyncResult | undefined, error: string | undefined): EntityOutcome {
  if (!r) return { status: 'failed', reason: error ?? 'the run ended before this type was read' };
  if (r.failed) return { status: 'failed', reason: r.failed };
  if (r.skipped) return { status: 'skipped', reason: r.skipped };
  if (r.heldReason) return { status: 'held', reason: r.heldReason };
  return { status: 'succeeded' };
}

export function reasonOf(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).split('\n')[0].slice(0, 500);
}
