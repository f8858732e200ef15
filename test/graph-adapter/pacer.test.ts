import { describe, expect, it } from 'vitest';
import {
  DEFAULT_RETRY,
  Pacer,
  backoffDelay,
  costOf,
  microsoftQuotas,
  parseRetryAfter,
  type Clock,
} from '../../shared/adapters/graph/pacer';
import { InMemoryQuotaLedger } from '../../shared/adapters/graph/ledger';
import { TURN_BACKLOG_MS, TenantTurns } from '../../shared/adapters/graph/turns';

/** Virtual time: sleeping advances the clock at once, so the test measures quota arithmetic, not wall time. */
function virtualClock(): Clock & { elapsed(): number } {
  let now = 1_000_000;
  const start = now;
  return {
    now: () => now,
    sleep: async (ms) => {
      now += Math.max(0, ms);
    },
    elapsed: () => now - start,
  };
}

const write = { resourceUnits: 1, writes: 1, teamsAdmin: 0 };

describe('request cost (Microsoft identity and access table)', () => {
  it('charges users reads 2, less 1 for $select', () => {
    expect(costOf('GET', 'https://graph.microsoft.com/v1.0/users?$select=id,displayName&$top=999').resourceUnits).toBe(1);
    expect(costOf('GET', 'https://graph.microsoft.com/v1.0/users').resourceUnits).toBe(2);
    expect(costOf('GET', '/users?$top=5').resourceUnits).toBe(1);
    expect(costOf('GET', '/users/delta?$select=id').resourceUnits).toBe(1);
  });

  it('charges subscribedSkus 3, other reads 1, never below 1', () => {
    expect(costOf('GET', '/v1.0/subscribedSkus').resourceUnits).toBe(3);
    expect(costOf('GET', '/v1.0/subscribedSkus?$select=skuId').resourceUnits).toBe(2);
    expect(costOf('GET', '/v1.0/users/abc?$select=id').resourceUnits).toBe(1);
    expect(costOf('GET', '/v1.0/groups/g1/members').resourceUnits).toBe(3);
  });

  it('charges every write one resource unit and one write; Teams admin calls their own budget', () => {
    expect(costOf('POST', '/v1.0/users/u/assignLicense')).toEqual({ resourceUnits: 1, writes: 1, teamsAdmin: 0 });
    expect(costOf('PATCH', '/v1.0/users/u')).toEqual({ resourceUnits: 1, writes: 1, teamsAdmin: 0 });
    expect(costOf('POST', '/v1.0/admin/teams/telephoneNumberManagement/numberAssignments/assignNumber')).toEqual({ resourceUnits: 0, writes: 0, teamsAdmin: 1 });
  });
});

describe('pacer', () => {
  it('spreads writes over the write quota instead of bursting', async () => {
    const clock = virtualClock();
    // 3,000 writes per 150 s = 20 per second; half a second of burst.
    const pacer = new Pacer(microsoftQuotas('L'), clock);
    for (let i = 0; i < 100; i++) (await pacer.acquire(write))();
    // The first 10 ride the burst; the other 90 need 4.5 s of refill at 20/s (slices of 250 ms).
    expect(clock.elapsed()).toBeGreaterThanOrEqual(4_499);
    expect(clock.elapsed()).toBeLessThan(4_500 + 260);
    expect(pacer.stats.writes).toBe(100);
  });

  it('lets reads through at the resource-unit rate of the tenant size', async () => {
    const clock = virtualClock();
    const pacer = new Pacer(microsoftQuotas('S'), clock); // 3,500 RU per 10 s = 350 per second
    for (let i = 0; i < 1_050; i++) (await pacer.acquire({ resourceUnits: 1, writes: 0, teamsAdmin: 0 }))();
    // 175 ride the burst; 875 need 2.5 s of refill, taken in slices of 250 ms (the last one whole).
    expect(clock.elapsed()).toBeGreaterThanOrEqual(2_499);
    expect(clock.elapsed()).toBeLessThan(2_500 + 260);
  });

  it('holds every request of the tenant until a Retry-After has passed', async () => {
    const clock = virtualClock();
    const pacer = new Pacer(microsoftQuotas(), clock);
    pacer.holdUntilTime(clock.now() + 2_500);
    (await pacer.acquire({ resourceUnits: 1, writes: 0, teamsAdmin: 0 }))();
    expect(clock.elapsed()).toBeGreaterThanOrEqual(2_500);
  });

  it('keeps no more requests in flight than allowed', async () => {
    const pacer = new Pacer({ ...microsoftQuotas('L'), maxConcurrent: 2 });
    let inFlight = 0;
    let peak = 0;
    await Promise.all(
      Array.from({ length: 10 }, async () => {
        const release = await pacer.acquire({ resourceUnits: 1, writes: 0, teamsAdmin: 0 });
        inFlight += 1;
        peak = Math.max(peak, inFlight);
        await new Promise((r) => setImmediate(r));
        inFlight -= 1;
        release();
      }),
    );
    expect(peak).toBe(2);
    expect(pacer.stats.requests).toBe(10);
  });

  it('serves requests in arrival order', async () => {
    const clock = virtualClock();
    const pacer = new Pacer({ ...microsoftQuotas(), writes: { units: 2, windowMs: 1_000 }, burstMs: 500 }, clock);
    const order: number[] = [];
    await Promise.all(Array.from({ length: 6 }, (_, i) => pacer.acquire(write).then((release) => (order.push(i), release()))));
    expect(order).toEqual([0, 1, 2, 3, 4, 5]);
  });
});

/** Time that moves only when the test moves it: requests stay queued until then. */
function manualClock(): Clock & { advance(ms: number): Promise<void> } {
  let now = 1_000_000;
  let sleepers: Array<{ until: number; wake: () => void }> = [];
  const settle = () => new Promise((r) => setImmediate(r));
  return {
    now: () => now,
    sleep: (ms) => new Promise<void>((wake) => sleepers.push({ until: now + Math.max(0, ms), wake })),
    async advance(ms) {
      const end = now + ms;
      for (;;) {
        await settle();
        const next = sleepers.filter((s) => s.until <= end).sort((a, b) => a.until - b.until)[0];
        if (!next) break;
        now = Math.max(now, next.until);
        sleepers = sleepers.filter((s) => s !== next);
        next.wake();
      }
      now = end;
      await settle();
    },
  };
}

describe('how far a tenant is spoken for', () => {
  const teams = { resourceUnits: 0, writes: 0, teamsAdmin: 1 };

  it('tells how long a new request would wait for the quota, and how much quota time was spent', async () => {
    const clock = manualClock();
    // 10 Teams admin requests per second: 20 queued are about two seconds of quota.
    const pacer = new Pacer({ ...microsoftQuotas(), teamsAdmin: { units: 10, windowMs: 1_000 } }, clock);
    expect(pacer.backlogMs()).toBe(0);
    const done = Promise.all(Array.from({ length: 20 }, () => pacer.acquire(teams).then((release) => release())));
    await clock.advance(0);
    expect(pacer.backlogMs()).toBeGreaterThan(1_400);
    expect(pacer.backlogMs()).toBeLessThanOrEqual(2_000);
    await clock.advance(3_000);
    await done;
    expect(pacer.backlogMs()).toBe(0);
    expect(pacer.quotaMsSpent()).toBe(2_000);
    // A Retry-After hold is waiting too.
    pacer.holdUntilTime(clock.now() + 5_000);
    expect(pacer.backlogMs()).toBe(5_000);
  });

  it('gives a user a later turn once the quota is spoken for, spaced by the quota time a user takes', () => {
    let backlog = 0;
    const pacer = { backlogMs: () => backlog, quotaMsSpent: () => 400 };
    const bridge = { backlogMs: () => 0, quotaMsSpent: () => 100 };
    let now = 5_000;
    const turns = new TenantTurns([pacer, bridge], { now: () => now, sleep: async () => undefined });
    // Four users start at once (the quota is not spoken for): 400 ms of quota time, 100 ms a user.
    for (let i = 0; i < 4; i++) expect(turns.turnAt()).toBeUndefined();
    backlog = TURN_BACKLOG_MS + 750;
    expect(turns.turnAt()).toBe(now + 1_000);
    expect(turns.turnAt()).toBe(now + 1_100);
    expect(turns.turnAt()).toBe(now + 1_200);
    // Later, with the backlog as long, turns start from the backlog again or follow the last one.
    now += 1_150;
    expect(turns.turnAt()).toBe(5_000 + 2_150);
    backlog = TURN_BACKLOG_MS;
    expect(turns.turnAt()).toBeUndefined();
    // A user back from its first turn tolerates twice the backlog, from its second three times.
    backlog = TURN_BACKLOG_MS * 2;
    expect(turns.turnAt(0)).toBeDefined();
    expect(turns.turnAt(1)).toBeUndefined();
    backlog = TURN_BACKLOG_MS * 3;
    expect(turns.turnAt(1)).toBeDefined();
    expect(turns.turnAt(2)).toBeUndefined();
  });
});

describe('Retry-After and backoff', () => {
  it('reads seconds, fractional seconds and HTTP dates', () => {
    const now = Date.parse('2026-05-01T10:00:00Z');
    expect(parseRetryAfter('2', now)).toBe(2_000);
    expect(parseRetryAfter('2.128', now)).toBe(2_128);
    expect(parseRetryAfter('Fri, 01 May 2026 10:00:05 GMT', now)).toBe(5_000);
    expect(parseRetryAfter('Fri, 01 May 2026 09:00:00 GMT', now)).toBe(0);
    expect(parseRetryAfter('soon', now)).toBeUndefined();
    expect(parseRetryAfter(null, now)).toBeUndefined();
  });

  it('backs off exponentially with jitter, capped', () => {
    const policy = { ...DEFAULT_RETRY, baseDelayMs: 100, maxDelayMs: 1_000 };
    expect(backoffDelay(0, policy, () => 0)).toBe(50);
    expect(backoffDelay(0, policy, () => 1)).toBe(100);
    expect(backoffDelay(3, policy, () => 1)).toBe(800);
    expect(backoffDelay(10, policy, () => 1)).toBe(1_000);
    const jittered = backoffDelay(2, policy, () => 0.5);
    expect(jittered).toBeGreaterThanOrEqual(200);
    expect(jittered).toBeLessThanOrEqual(400);
  });
});

/**
 * Virtual time for several pacers at once: a sleep wakes when the driver advances the clock to it, so
 * concurrent pacers interleave as they would in real time.
 */
function scheduler(): Clock & { run(until: number): Promise<void>; at(): number } {
  let now = 0;
  const timers: Array<{ at: number; wake: () => void }> = [];
  const settle = () => new Promise<void>((r) => setImmediate(r));
  return {
    now: () => now,
    at: () => now,
    sleep: (ms) => new Promise<void>((wake) => timers.push({ at: now + Math.max(0, ms), wake })),
    async run(until) {
      for (;;) {
        await settle();
        timers.sort((a, b) => a.at - b.at);
        const next = timers[0];
        if (!next || next.at > until) {
          now = until;
          return;
        }
        timers.shift();
        now = next.at;
        next.wake();
      }
    },
  };
}

describe('one budget shared by several pacers (one per instance)', () => {
  const teamsOnly = { resourceUnits: 0, writes: 0, teamsAdmin: 1 };
  const quotas = { ...microsoftQuotas('L'), teamsAdmin: { units: 10, windowMs: 1_000 } };

  /** A pacer that sends Teams requests back to back until stopped, recording when each went. */
  function worker(pacer: Pacer, sent: number[], clock: Clock) {
    let running = true;
    const done = (async () => {
      while (running) {
        const release = await pacer.acquire(teamsOnly);
        if (!running) return release();
        sent.push(clock.now());
        release();
      }
    })();
    return { stop: async () => { running = false; await done; } };
  }

  it('keeps the total rate of three instances within one quota, and lets the others take a stopped one\'s share', async () => {
    const clock = scheduler();
    const ledger = new InMemoryQuotaLedger();
    const sent: number[][] = [[], [], []];
    const pacers = sent.map(() => new Pacer(quotas, clock, { ledger, scope: 'app|tenant' }));
    const workers = pacers.map((p, i) => worker(p, sent[i], clock));
    await clock.run(10_000);
    const stopping = workers[0].stop();
    await clock.run(20_000);
    await stopping;
    await Promise.race([Promise.all(workers.slice(1).map((w) => w.stop())), clock.run(21_000)]);

    const all = sent.flat().sort((a, b) => a - b);
    // Within any window, no more than the rate plus the burst (half a second) and one slice (a quarter).
    for (let i = 0; i < all.length; i++) {
      const inSecond = all.filter((t) => t >= all[i] && t < all[i] + 1_000).length;
      expect(inSecond).toBeLessThanOrEqual(10 + 5 + 3);
    }
    const inFirst = all.filter((t) => t < 10_000).length;
    expect(inFirst).toBeGreaterThanOrEqual(95);
    expect(inFirst).toBeLessThanOrEqual(100 + 5 + 3);
    // After the first instance stopped, the other two still spend the whole quota.
    const after = [...sent[1], ...sent[2]].filter((t) => t >= 11_000 && t < 20_000).length;
    expect(after).toBeGreaterThanOrEqual(85);
    expect(after).toBeLessThanOrEqual(90 + 3);
    expect(sent[1].length).toBeGreaterThan(0);
    expect(sent[2].length).toBeGreaterThan(0);
  });

  it('holds every instance once one of them is asked to wait', async () => {
    const clock = scheduler();
    const ledger = new InMemoryQuotaLedger();
    const a = new Pacer(quotas, clock, { ledger, scope: 's' });
    const b = new Pacer(quotas, clock, { ledger, scope: 's' });
    (await a.acquire(teamsOnly))();
    a.holdUntilTime(clock.now() + 3_000);
    await clock.run(1);
    let bWentAt = -1;
    const going = b.acquire(teamsOnly).then((release) => {
      bWentAt = clock.now();
      release();
    });
    await clock.run(5_000);
    await going;
    expect(bWentAt).toBeGreaterThanOrEqual(3_000);
  });

  it('gives back what an instance leased and did not spend', async () => {
    const clock = virtualClock();
    const ledger = new InMemoryQuotaLedger();
    const budgets = { teamsAdmin: { ratePerMs: 0.01, capacity: 5 } };
    const a = new Pacer(quotas, clock, { ledger, scope: 's' });
    (await a.acquire(teamsOnly))();
    const before = await ledger.lease({ scope: 's', budgets, now: clock.now() });
    await a.close();
    const after = await ledger.lease({ scope: 's', budgets, now: clock.now() });
    expect(after.left.teamsAdmin).toBeGreaterThan(before.left.teamsAdmin);
    expect(after.left.teamsAdmin).toBeCloseTo(4, 5); // a full bucket of 5 less the one request spent
  });

  it('keeps three instances within one quota when they lose the shared ledger: each paces on its share', async () => {
    const clock = scheduler();
    const shared = new InMemoryQuotaLedger();
    // The ledger answers for five seconds, then fails for everyone (storage unreachable, or every instance
    // losing its races past the deadline).
    const ledger = { lease: (request: Parameters<InMemoryQuotaLedger['lease']>[0]) => (clock.now() < 5_000 ? shared.lease(request) : Promise.reject(new Error('storage unreachable'))) };
    const sent: number[][] = [[], [], []];
    const pacers = sent.map(() => new Pacer(quotas, clock, { ledger, scope: 'app|tenant' }));
    const workers = pacers.map((p, i) => worker(p, sent[i], clock));
    await clock.run(15_000);
    await Promise.race([Promise.all(workers.map((w) => w.stop())), clock.run(16_000)]);
    expect(pacers.every((p) => p.stats.ledgerErrors > 0)).toBe(true);
    const all = sent.flat().sort((a, b) => a - b);
    // Without the ledger, 10 a second in all (each instance 10 ÷ 3, after a burst of its share of the bucket).
    const without = all.filter((t) => t >= 6_000 && t < 15_000).length;
    expect(without).toBeLessThanOrEqual(90 + 3 * 3);
    expect(without).toBeGreaterThanOrEqual(80);
    for (const own of sent) expect(own.filter((t) => t >= 6_000 && t < 15_000).length).toBeGreaterThan(20);
  });

  it('paces on its own when the shared ledger fails, and says so once', async () => {
    const clock = virtualClock();
    const errors: unknown[] = [];
    const broken = { lease: async () => Promise.reject(new Error('storage unreachable')) };
    const pacer = new Pacer(quotas, clock, { ledger: broken, scope: 's', onLedgerError: (e) => errors.push(e) });
    for (let i = 0; i < 30; i++) (await pacer.acquire(teamsOnly))();
    expect(errors).toHaveLength(1);
    expect(pacer.stats.ledgerErrors).toBe(1);
    // Still paced: 30 requests at 10 per second after a burst of 5.
    expect(clock.elapsed()).toBeGreaterThanOrEqual(2_400);
  });
});
