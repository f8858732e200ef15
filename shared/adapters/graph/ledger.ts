/**
 * The shared side of the pacer: one set of token buckets per app + tenant (a scope), kept where every
 * process of the app sees it. A process leases a slice of a budget, spends it without asking anyone, and
 * gives back what it did not spend; Microsoft's quota is therefore one budget however many instances run.
 *
 * The bucket arithmetic is one pure function (`settle`), so the in-memory ledger (one process, tests) and
 * the Table Storage ledger (every instance) grant exactly alike.
 */

/** A budget's refill rate and the most it may hold. */
export interface BudgetRate {
  ratePerMs: number;
  capacity: number;
}

export interface LeaseRequest {
  /** The app + tenant (and service) whose budgets these are. */
  scope: string;
  /** Each budget's rate, so the bucket can be refilled; budgets not named are left alone. */
  budgets: Readonly<Record<string, BudgetRate>>;
  /** Units wanted per budget. */
  want?: Readonly<Record<string, number>>;
  /** Units leased earlier and not spent, returned. */
  giveBack?: Readonly<Record<string, number>>;
  /** Microsoft asked to wait: every process holds the scope until this epoch ms. */
  holdUntil?: number;
  now: number;
  /** Who leases (one id per pacer, so per process and tenant): counted among the scope's sharers. */
  leaser?: string;
}

export interface LeaseGrant {
  /** Units granted per budget (at most what was wanted; zero when the bucket was empty). */
  granted: Record<string, number>;
  /** Units left in the shared bucket after the grant, per budget. */
  left: Record<string, number>;
  /** The scope's hold (0 when none). */
  holdUntil: number;
  /**
   * How many leasers leased in the last SHARERS_WINDOW_MS, this one included (at least 1): what a process
   * that loses the ledger divides the budget by, so that the instances still sharing it never exceed it.
   */
  sharers: number;
}

/** A leaser that has not leased for this long no longer counts as sharing the budget. */
export const SHARERS_WINDOW_MS = 60_000;

export interface QuotaLedger {
  lease(request: LeaseRequest): Promise<LeaseGrant>;
}

/** What a ledger keeps per scope. */
export interface LedgerState {
  buckets: Record<string, { tokens: number; at: number }>;
  holdUntil: number;
  /** Each recent leaser and when it last leased (epoch ms). */
  leasers?: Record<string, number>;
}

export function emptyLedgerState(): LedgerState {
  return { buckets: {}, holdUntil: 0 };
}

/**
 * Applies a lease to a scope's state: refill each named bucket to `now`, take back returned units, grant
 * what is there up to what is wanted, raise the hold. A bucket starts full. Time never runs backwards for a
 * bucket (another instance's clock may be a little behind).
 */
export function settle(state: LedgerState, request: LeaseRequest): { state: LedgerState; grant: LeaseGrant } {
  const buckets = { ...state.buckets };
  const granted: Record<string, number> = {};
  const left: Record<string, number> = {};
  for (const [name, rate] of Object.entries(request.budgets)) {
    const before = buckets[name] ?? { tokens: rate.capacity, at: request.now };
    const at = Math.max(before.at, request.now);
    let tokens = Math.min(rate.capacity, before.tokens + (at - before.at) * rate.ratePerMs);
    tokens = Math.min(rate.capacity, tokens + Math.max(0, request.giveBack?.[name] ?? 0));
    const wanted = Math.max(0, request.want?.[name] ?? 0);
    const grant = Math.max(0, Math.min(wanted, tokens));
    tokens -= grant;
    buckets[name] = { tokens, at };
    granted[name] = grant;
    left[name] = tokens;
  }
  const holdUntil = Math.max(state.holdUntil, request.holdUntil ?? 0);
  const leasers: Record<string, number> = {};
  for (const [id, at] of Object.entries(state.leasers ?? {})) if (at > request.now - SHARERS_WINDOW_MS) leasers[id] = at;
  if (request.leaser !== undefined) leasers[request.leaser] = Math.max(leasers[request.leaser] ?? 0, request.now);
  const sharers = Math.max(1, Object.keys(leasers).length);
  return { state: { buckets, holdUntil, leasers }, grant: { granted, left, holdUntil, sharers } };
}

/** One process's ledger: the budgets live in memory. */
export class InMemoryQuotaLedger implements QuotaLedger {
  private readonly scopes = new Map<string, LedgerState>();

  async lease(request: LeaseRequest): Promise<LeaseGrant> {
    const { state, grant } = settle(this.scopes.get(request.scope) ?? emptyLedgerState(), request);
    this.scopes.set(request.scope, state);
    return grant;
  }
}
