/**
 * One pacer per app + tenant: spends Microsoft's per-app-per-tenant quotas evenly instead of bursting into
 * 429s, and holds every request of the tenant while Microsoft asks us to wait (Retry-After).
 *
 * Quotas are token buckets refilled continuously; a bucket holds at most `burstMs` worth of quota so that a
 * window's allowance is spread over the window rather than spent at its start.
 */

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
  /** Requests to /admin/teams/* (no documented limit: the Teams service's 30 rps per app per tenant). */
  teamsAdmin: QuotaWindow;
  /** Requests in flight at once for the tenant. */
  maxConcurrent: number;
  /** How much quota may be spent at once, as a span of the refill rate. */
  burstMs: number;
}

export type TenantSize = 'S' | 'M' | 'L';

/** Microsoft's identity and access resource-unit quota per app + tenant, per 10 s, by tenant size (S < 50 users, M ≤ 500, L above). */
export const RESOURCE_UNITS_PER_10S: Record<TenantSize, number> = { S: 3_500, M: 5_000, L: 8_000 };

/** Microsoft's documented figures; the tenant size picks the resource-unit quota. */
export function microsoftQuotas(size: TenantSize = 'S'): PacerQuotas {
  return {
    resourceUnits: { units: RESOURCE_UNITS_PER_10S[size], windowMs: 10_000 },
    writes: { units: 3_000, windowMs: 150_000 },
    teamsAdmin: { units: 30, windowMs: 1_000 },
    maxConcurrent: 8,
    burstMs: 1_000,
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
 * Microsoft's published cost of one request: GET users 2, subscribedSkus 3, group members 3, other GETs 1;
 * writes 1 + one write; `$select` −1, `$top` below 20 −1, `$expand` +1; at least 1. Teams admin calls count
 * against their own budget.
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

class TokenBucket {
  private tokens: number;
  private last: number;
  private readonly ratePerMs: number;
  private readonly capacity: number;

  constructor(quota: QuotaWindow, burstMs: number, now: number) {
    this.ratePerMs = quota.units / quota.windowMs;
    // At least one request's worth, at most the whole window.
    this.capacity = Math.min(quota.units, Math.max(1, this.ratePerMs * burstMs));
    this.tokens = this.capacity;
    this.last = now;
  }

  private refill(now: number): void {
    this.tokens = Math.min(this.capacity, this.tokens + (now - this.last) * this.ratePerMs);
    this.last = now;
  }

  /** ms until `units` can be taken (a cost above capacity waits for a full bucket and goes into debt). */
  waitFor(units: number, now: number): number {
    if (units <= 0) return 0;
    this.refill(now);
    const needed = Math.min(units, this.capacity);
    return this.tokens >= needed ? 0 : (needed - this.tokens) / this.ratePerMs;
  }

  take(units: number, now: number): void {
    this.refill(now);
    this.tokens -= units;
  }
}

export interface PacerStats {
  requests: number;
  resourceUnits: number;
  writes: number;
  teamsAdmin: number;
  /** Total time requests spent waiting on the quotas or a Retry-After hold. */
  waitedMs: number;
  throttledResponses: number;
}

export class Pacer {
  private readonly resourceUnits: TokenBucket;
  private readonly writes: TokenBucket;
  private readonly teamsAdmin: TokenBucket;
  private holdUntil = 0;
  private queue: Promise<void> = Promise.resolve();
  private inFlight = 0;
  private readonly slotWaiters: Array<() => void> = [];
  readonly stats: PacerStats = { requests: 0, resourceUnits: 0, writes: 0, teamsAdmin: 0, waitedMs: 0, throttledResponses: 0 };

  constructor(
    readonly quotas: PacerQuotas = microsoftQuotas(),
    private readonly clock: Clock = systemClock,
  ) {
    const now = clock.now();
    this.resourceUnits = new TokenBucket(quotas.resourceUnits, quotas.burstMs, now);
    this.writes = new TokenBucket(quotas.writes, quotas.burstMs, now);
    this.teamsAdmin = new TokenBucket(quotas.teamsAdmin, quotas.burstMs, now);
  }

  /**
   * Waits for a concurrency slot and for the quotas to cover `cost`, in arrival order.
   * Returns the function that gives the slot back once the response is in.
   */
  async acquire(cost: RequestCost): Promise<() => void> {
    await this.slot();
    const turn = this.queue.then(() => this.spend(cost));
    this.queue = turn.catch(() => undefined);
    try {
      await turn;
    } catch (error) {
      this.releaseSlot();
      throw error;
    }
    let released = false;
    return () => {
      if (!released) {
        released = true;
        this.releaseSlot();
      }
    };
  }

  /** Holds every request of the tenant until `epochMs` (a 429 or 503 with Retry-After). */
  holdUntilTime(epochMs: number): void {
    if (epochMs > this.holdUntil) this.holdUntil = epochMs;
  }

  noteThrottled(): void {
    this.stats.throttledResponses += 1;
  }

  private async spend(cost: RequestCost): Promise<void> {
    for (;;) {
      const now = this.clock.now();
      const wait = Math.max(
        this.holdUntil - now,
        this.resourceUnits.waitFor(cost.resourceUnits, now),
        this.writes.waitFor(cost.writes, now),
        this.teamsAdmin.waitFor(cost.teamsAdmin, now),
      );
      if (wait <= 0) break;
      // Whole milliseconds: a fractional sleep could leave float rounding short of the need forever.
      const ms = Math.ceil(wait);
      this.stats.waitedMs += ms;
      await this.clock.sleep(ms);
    }
    const now = this.clock.now();
    this.resourceUnits.take(cost.resourceUnits, now);
    this.writes.take(cost.writes, now);
    this.teamsAdmin.take(cost.teamsAdmin, now);
    this.stats.requests += 1;
    this.stats.resourceUnits += cost.resourceUnits;
    this.stats.writes += cost.writes;
    this.stats.teamsAdmin += cost.teamsAdmin;
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
