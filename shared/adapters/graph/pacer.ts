/**
 * One pacer per app + tenant: spends Microsoft's per-app-per-tenant quotas evenly instead of bursting into
 * 429s, and holds every request of the tenant while Microsoft asks us to wait (Retry-After).
 *
 * Quotas are token buckets refilled continuously, kept in a ledger that every instance of the app shares
 * (./ledger.ts): the pacer leases a slice of each budget, spends it locally without a round trip, and
 * gives back what it did not spend within `sliceMs`. A bucket holds at most `burstMs` worth of quota so that
 * a window's allowance is spread over the window rather than spent at its start. The figures and their
 * sources are listed in docs/limits.md.
 */
import { randomUUID } from 'node:crypto';
import { InMemoryQuotaLedger, type BudgetRate, type LeaseGrant, type LeaseRequest, type QuotaLedger } from './ledger';

export interface QuotaWindow {
  /** Units Microsoft allows per window. */
  units: number;
  windowMs: number;
}

export interface PacerQuotas {
  /** Identity and access resource units per app + tenant. */
  resourceUnits: QuotaWindow;
  /** Identity and access writes per app + tenant. */
  writes: QuotaWindow;
  /** Requests to /admin/teams/* per app + tenant (no documented limit: assumed, docs/limits.md). */
  teamsAdmin: QuotaWindow;
  /** Requests in flight at once from this process for the tenant. */
  maxConcurrent: number;
  /** How much quota the shared bucket may hold, as a span of the refill rate. */
  burstMs: number;
  /**
   * How long a leased slice may wait to be spent before what is left goes back: bounds the extra burst
   * slices add to `burstMs`, and how late a Retry-After hold reached by another instance is seen here.
   */
  sliceMs: number;
}

export type TenantSize = 'S' | 'M' | 'L';

/** Microsoft's identity and access resource-unit quota per app + tenant, per 10 s, by tenant size (S < 50 users, M ≤ 500, L above). */
export const RESOURCE_UNITS_PER_10S: Record<TenantSize, number> = { S: 3_500, M: 5_000, L: 8_000 };

/** Microsoft's identity write quota per app + tenant. */
export const WRITES_PER_150S = 3_000;

/** Requests per second per app + tenant on Graph's Teams administration routes and on the bridge: assumed. */
export const TEAMS_ADMIN_REQUESTS_PER_SECOND = 30;

/**
 * Microsoft's documented identity figures, the assumed Teams rate; the tenant size picks the resource-unit
 * quota. Burst and slice together stay under one second of a per-second rate.
 */
export function microsoftQuotas(size: TenantSize = 'S'): PacerQuotas {
  return {
    resourceUnits: { units: RESOURCE_UNITS_PER_10S[size], windowMs: 10_000 },
    writes: { units: WRITES_PER_150S, windowMs: 150_000 },
    teamsAdmin: { units: TEAMS_ADMIN_REQUESTS_PER_SECOND, windowMs: 1_000 },
    maxConcurrent: 8,
    burstMs: 500,
    sliceMs: 250,
  };
}

export interface RequestCost {
  resourceUnits: number;
  writes: number;
  teamsAdmin: number;
}

export const NO_COST: RequestCost = { resourceUnits: 0, writes: 0, teamsAdmin: 0 };

export function addCosts(a: RequestCost, b: RequestCost): RequestCost {
  return { resourceUnits: a.resourceUnits + b.resourceUnits, writes: a.writes + b.writes, teamsAdmin: a.teamsAdmin + b.teamsAdmin };
}

/**
 * Microsoft's published cost of one request: GET users 2, subscribedSkus 3, group members 3, a user's
 * memberOf 2, other GETs 1; writes 1 + one write; `$select` −1, `$top` below 20 −1, `$expand` +1; at least
 * 1. Teams admin calls count against their own budget.
 */
export function costOf(method: string, url: string): RequestCost {
  const parsed = new URL(url, 'https://graph.invalid');
  const path = parsed.pathname.replace(/^\/(v1\.0|beta)(?=\/)/, '').toLowerCase();
  if (path.startsWith('/admin/teams')) return { resourceUnits: 0, writes: 0, teamsAdmin: 1 };
  const verb = method.toUpperCase();
  if (verb !== 'GET') return { resourceUnits: 1, writes: 1, teamsAdmin: 0 };
  let units = 1;
  if (/^\/users\/?(delta)?$/.test(path) || /^\/users\/delta\(\)$/.test(path)) units = 2;
  else if (/^\/subscribedskus\/?$/.test(path)) units = 3;
  else if (/^\/groups\/[^/]+\/members/.test(path)) units = 3;
  else if (/^\/(me|users\/[^/]+)\/memberof/.test(path)) units = 2;
  const query = parsed.searchParams;
  if (query.has('$select')) units -= 1;
  if (query.has('$expand')) units += 1;
  const top = Number(query.get('$top'));
  if (query.has('$top') && top < 20) units -= 1;
  return { resourceUnits: Math.max(1, units), writes: 0, teamsAdmin: 0 };
}

export interface Clock {
  now(): number;
  sleep(ms: number): Promise<void>;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, Math.max(0, ms))),
};

export interface PacerStats {
  requests: number;
  resourceUnits: number;
  writes: number;
  teamsAdmin: number;
  /** Total time requests spent waiting on the quotas or a Retry-After hold. */
  waitedMs: number;
  throttledResponses: number;
  /** Round trips to the shared ledger, and those that failed (the pacer then paces on its own). */
  leases: number;
  ledgerErrors: number;
}

type Budget = keyof RequestCost;
const BUDGETS: readonly Budget[] = ['resourceUnits', 'writes', 'teamsAdmin'];
/** Float dust: a slice that is short by less than this counts as enough. */
const EPSILON = 1e-9;
/** After the shared ledger fails, pace on this process's own buckets for this long before trying it again. */
const LEDGER_RETRY_MS = 10_000;

export interface PacerOptions {
  /** Where the budgets live; one private to this pacer when absent. */
  ledger?: QuotaLedger;
  /** The app + tenant (and service) the budgets belong to. */
  scope?: string;
  /** Told once when the shared ledger fails (the pacer goes on with its own buckets meanwhile). */
  onLedgerError?: (error: unknown) => void;
}

export class Pacer {
  private readonly rates: Record<Budget, BudgetRate>;
  private readonly sliceUnits: Record<Budget, number>;
  private readonly ledger: QuotaLedger;
  private readonly scope: string;
  private readonly fallback = new InMemoryQuotaLedger();
  private ledgerDownUntil = 0;
  /** This pacer among the scope's leasers. */
  private readonly leaser = randomUUID();
  /** How many pacers shared the budget at the last lease the ledger granted (this one included). */
  private sharers = 1;
  /** Units leased and not yet spent. */
  private readonly local: Record<Budget, number> = { resourceUnits: 0, writes: 0, teamsAdmin: 0 };
  /** Units of expired slices, given back with the next lease. */
  private readonly expired: Record<Budget, number> = { resourceUnits: 0, writes: 0, teamsAdmin: 0 };
  private sliceExpires = 0;
  private holdUntil = 0;
  private queue: Promise<void> = Promise.resolve();
  private inFlight = 0;
  private readonly slotWaiters: Array<() => void> = [];
  /** Units of the requests waiting here (for a slot or for the quotas), not yet spent. */
  private readonly queued: Record<Budget, number> = { resourceUnits: 0, writes: 0, teamsAdmin: 0 };
  readonly stats: PacerStats = { requests: 0, resourceUnits: 0, writes: 0, teamsAdmin: 0, waitedMs: 0, throttledResponses: 0, leases: 0, ledgerErrors: 0 };

  constructor(
    readonly quotas: PacerQuotas = microsoftQuotas(),
    private readonly clock: Clock = systemClock,
    private readonly options: PacerOptions = {},
  ) {
    this.ledger = options.ledger ?? new InMemoryQuotaLedger();
    this.scope = options.scope ?? 'local';
    const rate = (q: QuotaWindow): BudgetRate => {
      const ratePerMs = q.units / q.windowMs;
      // At least one request's worth, at most the whole window.
      return { ratePerMs, capacity: Math.min(q.units, Math.max(1, ratePerMs * quotas.burstMs)) };
    };
    this.rates = { resourceUnits: rate(quotas.resourceUnits), writes: rate(quotas.writes), teamsAdmin: rate(quotas.teamsAdmin) };
    const slice = (b: Budget) => Math.min(this.rates[b].capacity, Math.max(1, this.rates[b].ratePerMs * quotas.sliceMs));
    this.sliceUnits = { resourceUnits: slice('resourceUnits'), writes: slice('writes'), teamsAdmin: slice('teamsAdmin') };
  }

  /**
   * Waits for a concurrency slot and for the quotas to cover `cost`, in arrival order.
   * Returns the function that gives the slot back once the response is in.
   */
  async acquire(cost: RequestCost): Promise<() => void> {
    for (const b of BUDGETS) this.queued[b] += cost[b];
    await this.slot();
    const turn = this.queue.then(() => this.spend(cost));
    this.queue = turn.catch(() => undefined);
    try {
      await turn;
    } catch (error) {
      this.releaseSlot();
      throw error;
    } finally {
      for (const b of BUDGETS) this.queued[b] = Math.max(0, this.queued[b] - cost[b]);
    }
    let released = false;
    return () => {
      if (!released) {
        released = true;
        this.releaseSlot();
      }
    };
  }

  /**
   * Holds every request of the tenant until `epochMs` (a 429 or 503 with Retry-After): here at once, in
   * every other instance from its next lease.
   */
  holdUntilTime(epochMs: number): void {
    if (epochMs <= this.holdUntil) return;
    this.holdUntil = epochMs;
    void this.lease({ holdUntil: epochMs }).catch(() => undefined);
  }

  /**
   * How long a request arriving now would wait here for the quotas: the units already queued beyond what
   * is leased, at each budget's rate, plus any Retry-After hold. The bucket's refill is not counted: an
   * estimate for deciding whether more work should join the queue, not a promise.
   */
  backlogMs(now = this.clock.now()): number {
    const queuedMs = Math.max(0, ...BUDGETS.map((b) => (this.queued[b] - this.local[b]) / this.rates[b].ratePerMs));
    return queuedMs + Math.max(0, this.holdUntil - now);
  }

  /** The quota time the requests spent here have used: the most used budget's units ÷ its rate. */
  quotaMsSpent(): number {
    return Math.max(...BUDGETS.map((b) => this.stats[b] / this.rates[b].ratePerMs));
  }

  noteThrottled(): void {
    this.stats.throttledResponses += 1;
  }

  /** Gives back what this process leased and did not spend (an instance shutting down). */
  async close(): Promise<void> {
    await this.queue;
    await this.returnLeftovers();
  }

  private async spend(cost: RequestCost): Promise<void> {
    // A slice not spent in time goes back (with the next lease, not a round trip of its own).
    if (this.clock.now() >= this.sliceExpires) this.expireSlice();
    for (;;) {
      const now = this.clock.now();
      if (this.holdUntil > now) {
        await this.wait(this.holdUntil - now);
        continue;
      }
      const short = BUDGETS.filter((b) => cost[b] > 0 && this.local[b] + EPSILON < cost[b]);
      if (short.length === 0) break;
      const want: Partial<Record<Budget, number>> = {};
      for (const b of short) want[b] = Math.max(cost[b], this.sliceUnits[b]) - this.local[b];
      const grant = await this.lease({ want });
      for (const b of short) this.local[b] += grant.granted[b] ?? 0;
      this.sliceExpires = this.clock.now() + this.quotas.sliceMs;
      const still = short.filter((b) => this.local[b] + EPSILON < cost[b]);
      if (still.length === 0) continue; // re-check the hold the lease may have brought
      // Wait for a whole slice to refill rather than one request's worth: fewer round trips to the ledger
      // for the same rate.
      const waitMs = Math.max(
        ...still.map((b) => {
          const wanted = Math.max(cost[b], this.sliceUnits[b]) - this.local[b];
          return (Math.min(wanted, this.rates[b].capacity) - (grant.left[b] ?? 0)) / this.rates[b].ratePerMs;
        }),
      );
      await this.wait(Math.max(1, waitMs));
    }
    for (const b of BUDGETS) {
      this.local[b] = Math.max(0, this.local[b] - cost[b]);
      this.stats[b] += cost[b];
    }
    this.stats.requests += 1;
  }

  private async wait(ms: number): Promise<void> {
    // Whole milliseconds: a fractional sleep could leave float rounding short of the need forever.
    const whole = Math.ceil(ms);
    this.stats.waitedMs += whole;
    await this.clock.sleep(whole);
  }

  private expireSlice(): void {
    for (const b of BUDGETS) {
      this.expired[b] += this.local[b];
      this.local[b] = 0;
    }
  }

  private async returnLeftovers(): Promise<void> {
    this.expireSlice();
    if (BUDGETS.some((b) => this.expired[b] > EPSILON)) await this.lease({}).catch(() => undefined);
  }

  /**
   * One round trip to the ledger, carrying back what expired; on failure this process paces on its own
   * buckets for a while.
   */
  private async lease(parts: { want?: Partial<Record<Budget, number>>; holdUntil?: number }): Promise<LeaseGrant> {
    const now = this.clock.now();
    const giveBack: Partial<Record<Budget, number>> = {};
    for (const b of BUDGETS) {
      if (this.expired[b] > EPSILON) giveBack[b] = this.expired[b];
      this.expired[b] = 0;
    }
    const request = { scope: this.scope, budgets: this.rates, now, giveBack, leaser: this.leaser, ...parts } as Parameters<QuotaLedger['lease']>[0];
    this.stats.leases += 1;
    let grant: LeaseGrant;
    if (now < this.ledgerDownUntil) grant = await this.fallback.lease(this.ownShare(request));
    else {
      try {
        grant = await this.ledger.lease(request);
        this.sharers = grant.sharers;
      } catch (error) {
        this.stats.ledgerErrors += 1;
        if (this.stats.ledgerErrors === 1) this.options.onLedgerError?.(error);
        this.ledgerDownUntil = now + LEDGER_RETRY_MS;
        grant = await this.fallback.lease(this.ownShare(request));
      }
    }
    if (grant.holdUntil > this.holdUntil) this.holdUntil = grant.holdUntil;
    return grant;
  }

  /**
   * Without the ledger, this pacer spends only its share of each budget (the budget ÷ the pacers that shared
   * it last time the ledger answered): the instances that lost it together, or that still have it, stay
   * within Microsoft's quota. A share holds at least one request's worth.
   */
  private ownShare(request: LeaseRequest): LeaseRequest {
    if (this.sharers <= 1) return request;
    const budgets: Record<string, BudgetRate> = {};
    for (const [name, rate] of Object.entries(request.budgets)) {
      budgets[name] = { ratePerMs: rate.ratePerMs / this.sharers, capacity: Math.max(rate.capacity / this.sharers, Math.min(rate.capacity, 1)) };
    }
    return { ...request, budgets };
  }

  private slot(): Promise<void> {
    if (this.inFlight < this.quotas.maxConcurrent) {
      this.inFlight += 1;
      return Promise.resolve();
    }
    return new Promise((resolve) => this.slotWaiters.push(resolve));
  }

  private releaseSlot(): void {
    const next = this.slotWaiters.shift();
    if (next) next();
    else this.inFlight -= 1;
  }
}

export interface RetryPolicy {
  /** Attempts after the first. */
  maxRetries: number;
  /** First backoff when Microsoft gives no Retry-After. */
  baseDelayMs: number;
  maxDelayMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { maxRetries: 6, baseDelayMs: 1_000, maxDelayMs: 60_000 };

/** Retry-After as seconds (fractional allowed) or an HTTP date; undefined when absent or unreadable. */
export function parseRetryAfter(value: string | null | undefined, now: number): number | undefined {
  if (value == null || value.trim() === '') return undefined;
  const trimmed = value.trim();
  if (/^\d+(\.\d+)?$/.test(trimmed)) return Math.round(Number(trimmed) * 1000);
  const date = Date.parse(trimmed);
  if (Number.isNaN(date)) return undefined;
  return Math.max(0, date - now);
}

/** Exponential backoff with jitter: between half and all of base·2^attempt, capped. */
export function backoffDelay(attempt: number, policy: RetryPolicy, random: () => number = Math.random): number {
  const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** attempt);
  return ceiling / 2 + random() * (ceiling / 2);
}
