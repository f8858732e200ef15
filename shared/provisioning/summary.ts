/**
 * A customer at a glance: where its users are and in what state, with the reasons for those that stayed
 * at customer level or need attention, and what provisioning did (numbers, duplicates, licenses), read
 * from the users and their transactions.
 */
import type { UserState } from '../domain';
import type { Storage } from '../ports/storage';

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
  /** From the most recent transactions (up to `transactionsRead`). */
  provisioning: {
    transactionsRead: number;
    numbersAssigned: number;
    numbersRecordedInUse: number;
    duplicatesFlagged: number;
    duplicatesPrevented: number;
    licensesAssigned: number;
    noNumberAvailable: number;
  };
}

export async function customerSummary(storage: Storage, customerId: string, maxTransactions = 50_000): Promise<CustomerSummary> {
  const summary: CustomerSummary = {
    customerId,
    users: 0,
    byState: { 'at-customer': 0, 'at-site': 0, provisioned: 0, staged: 0, 'needs-attention': 0 },
    bySite: {},
    unplaced: {},
    needsAttention: {},
    staged: 0,
    withNumber: 0,
    softDeleted: 0,
    provisioning: { transactionsRead: 0, numbersAssigned: 0, numbersRecordedInUse: 0, duplicatesFlagged: 0, duplicatesPrevented: 0, licensesAssigned: 0, noNumberAvailable: 0 },
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
  const p = summary.provisioning;
  for (const tx of await storage.transactions.listRecent(customerId, maxTransactions)) {
    p.transactionsRead++;
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
