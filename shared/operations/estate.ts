/**
 * The estate: every customer on one page, as an operator opens it each morning. Per customer its last sync
 * run, its users per state, held deletions and dead-lettered provisioning messages. Users are counted from
 * the customer's user records, so the figures are exact; customers are read a few at a time.
 */
import type { UserStateKind } from '../domain';
import type { SyncRun } from '../sync/model';
import type { OperationsDeps } from './ports';

export interface EstateCustomer {
  customerId: string;
  name: string;
  lastRun?: Pick<SyncRun, 'runId' | 'kind' | 'mode' | 'status' | 'startedAt' | 'finishedAt' | 'heldReason'> & {
    /** Adds, changes, deletions and held deletions over every entity type. */
    totals: { added: number; changed: number; unchanged: number; deleted: number; held: number };
  };
  users: number;
  byState: Record<UserStateKind, number>;
  needsAttention: number;
  heldDeletions: number;
  deadLetters: number;
}

export interface Estate {
  customers: EstateCustomer[];
  /** Dead-lettered provisioning messages in all, including those naming no known customer. */
  deadLetters: number;
  /** True when the dead-letter queue holds more than were read (the count is then a lower bound). */
  deadLettersMore: boolean;
}

/** How many dead-lettered messages are read to count them per customer. */
export const ESTATE_DEAD_LETTERS_READ = 250;
const CONCURRENCY = 4;

export async function estate(deps: OperationsDeps, queueName: string): Promise<Estate> {
  const [customers, dead] = await Promise.all([deps.storage.customers.list(), deps.deadLetters.peek(queueName, ESTATE_DEAD_LETTERS_READ)]);
  const deadByCustomer = new Map<string, number>();
  for (const m of dead) {
    const id = customerOf(m.body);
    if (id) deadByCustomer.set(id, (deadByCustomer.get(id) ?? 0) + 1);
  }
  const out: EstateCustomer[] = new Array(customers.length);
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < customers.length; i = next++) {
      const c = customers[i].value;
      out[i] = { ...(await customerFigures(deps, c.id)), name: c.name, deadLetters: deadByCustomer.get(c.id) ?? 0 };
    }
  };
  await Promise.all(Array.from({ length: Math.min(CONCURRENCY, customers.length) }, worker));
  return { customers: out.sort((a, b) => a.name.localeCompare(b.name)), deadLetters: dead.length, deadLettersMore: dead.length >= ESTATE_DEAD_LETTERS_READ };
}

async function customerFigures(deps: OperationsDeps, customerId: string): Promise<Omit<EstateCustomer, 'name' | 'deadLetters'>> {
  const byState: Record<UserStateKind, number> = { 'at-customer': 0, 'at-site': 0, provisioning: 0, provisioned: 0, staged: 0, 'needs-attention': 0 };
  let users = 0;
  const [runs, held] = await Promise.all([
    deps.runs.list(customerId, 1),
    deps.pending.list(customerId, { held: true }),
    (async () => {
      for await (const { value } of deps.storage.users.list(customerId)) {
        if (value.removed) continue;
        users++;
        byState[value.state.kind]++;
      }
    })(),
  ]);
  const run = runs[0];
  return {
    customerId,
    ...(run ? { lastRun: lastRunOf(run) } : {}),
    users,
    byState,
    needsAttention: byState['needs-attention'],
    heldDeletions: held.length,
  };
}

function lastRunOf(run: SyncRun): NonNullable<EstateCustomer['lastRun']> {
  const totals = { added: 0, changed: 0, unchanged: 0, deleted: 0, held: 0 };
  for (const c of Object.values(run.counts)) {
    if (!c) continue;
    totals.added += c.added;
    totals.changed += c.changed;
    totals.unchanged += c.unchanged;
    totals.deleted += c.deleted;
    totals.held += c.held;
  }
  return {
    runId: run.runId,
    kind: run.kind,
    mode: run.mode,
    status: run.status,
    startedAt: run.startedAt,
    ...(run.finishedAt ? { finishedAt: run.finishedAt } : {}),
    ...(run.heldReason ? { heldReason: run.heldReason } : {}),
    totals,
  };
}

function customerOf(body: unknown): string | undefined {
  if (typeof body !== 'object' || body === null) return undefined;
  const id = (body as { customerId?: unknown }).customerId;
  return typeof id === 'string' ? id : undefined;
}
