/**
 * A customer at a glance: where its users are and in what state, with the reasons for those that stayed
 * at customer level or need attention, and what provisioning did (numbers, duplicates, licenses), read
 * from the users and their transactions.
 */
import { effectiveStatus, type UserState } from '../domain';
import type { Storage } from '../ports/storage';
import { DEAD_LETTERED_STEP } from './provisionUser';

export interface CustomerSummary {
  customerId: string;
  users: number;
  byState: Record<UserState['kind'], number>;
  bySite: Record<string, number>;
  /** Users left at customer level, by reason. */
  unplaced: Record<string, number>;
  needsAttention: Record<string, number>;
  staged: number;
  withNumber: number;
  softDeleted: number;
  /** The number inventory (the customer's and every site's) by effective status, and what needs an operator's eye. */
  numbers: {
    total: number;
    byStatus: Record<string, number>;
    /** Numbers flagged duplicate: held by several users in Microsoft, or kept in several inventories. */
    duplicates: number;
    duplicateNumbers: string[];
    /** Numbers recorded outside any range because a user held them in Teams. */
    outsideRanges: number;
  };
  /** From the most recent transactions (up to `transactionsRead`). */
  provisioning: {
    transactionsRead: number;
    numbersAssigned: number;
    numbersRecordedInUse: number;
    duplicatesFlagged: number;
    duplicatesPrevented: number;
    licensesAssigned: number;
    noNumberAvailable: number;
    /** Work whose message was dead-lettered (failed on every delivery): its user needs attention with the reason. */
    deadLettered: number;
  };
}

export async function customerSummary(storage: Storage, customerId: string, maxTransactions = 50_000): Promise<CustomerSummary> {
  const summary: CustomerSummary = {
    customerId,
    users: 0,
    byState: { 'at-customer': 0, 'at-site': 0, provisioning: 0, provisioned: 0, staged: 0, 'needs-attention': 0 },
    bySite: {},
    unplaced: {},
    needsAttention: {},
    staged: 0,
    withNumber: 0,
    softDeleted: 0,
    numbers: { total: 0, byStatus: {}, duplicates: 0, duplicateNumbers: [], outsideRanges: 0 },
    provisioning: { transactionsRead: 0, numbersAssigned: 0, numbersRecordedInUse: 0, duplicatesFlagged: 0, duplicatesPrevented: 0, licensesAssigned: 0, noNumberAvailable: 0, deadLettered: 0 },
  };
  const bump = (map: Record<string, number>, key: string) => {
    map[key] = (map[key] ?? 0) + 1;
  };
  for await (const { value: user } of storage.users.list(customerId)) {
    if (user.removed) {
      summary.softDeleted++;
      continue;
    }
    summary.users++;
    const state = user.state;
    summary.byState[state.kind]++;
    if ('siteId' in state && state.siteId) bump(summary.bySite, state.siteId);
    if (state.kind === 'at-customer') bump(summary.unplaced, state.reason ?? 'not placed yet');
    if (state.kind === 'needs-attention') bump(summary.needsAttention, state.reason);
    if (state.kind === 'staged') summary.staged++;
    if (user.number) summary.withNumber++;
  }
  const now = new Date();
  const duplicates = new Set<string>();
  for (const { value } of await storage.numbers.listAll(customerId)) {
    summary.numbers.total++;
    bump(summary.numbers.byStatus, effectiveStatus(value, now));
    if (value.duplicate) duplicates.add(value.number);
    if (value.rangeId === undefined) summary.numbers.outsideRanges++;
  }
  summary.numbers.duplicates = duplicates.size;
  summary.numbers.duplicateNumbers = [...duplicates].sort().slice(0, 50);
  const p = summary.provisioning;
  for (const tx of await storage.transactions.listRecent(customerId, maxTransactions)) {
    p.transactionsRead++;
    if (tx.outcome === 'failed' && tx.steps.at(-1)?.name === DEAD_LETTERED_STEP) p.deadLettered++;
    for (const step of tx.steps) {
      if (step.name === 'licenses' && step.result === 'ok') p.licensesAssigned++;
      if (step.name !== 'number') continue;
      const detail = step.detail ?? '';
      if (step.result === 'ok' && / assigned$/.test(detail)) p.numbersAssigned++;
      if (step.result === 'ok' && /recorded in use/.test(detail)) p.numbersRecordedInUse++;
      if (step.result === 'ok' && /duplicate:/.test(detail)) p.duplicatesFlagged++;
      if (step.result === 'failed' && /prevent duplicate numbers is on/.test(detail)) p.duplicatesPrevented++;
      if (step.result === 'failed' && /no number available|no .*number.* available/i.test(detail)) p.noNumberAvailable++;
    }
  }
  return summary;
}
