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
    // 3,000 writes per 150 s = 20 per second; one second of burst.
    const pacer = new Pacer(microsoftQuotas('L'), clock);
    for (let i = 0; i < 100; i++) (await pacer.acquire(write))();
    // The first 20 ride the burst; the other 80 need 4 s of refill at 20/s.
    expect(clock.elapsed()).toBeGreaterThanOrEqual(3_999);
    expect(clock.elapsed()).toBeLessThan(4_100);
    expect(pacer.stats.writes).toBe(100);
  });

  it('lets reads through at the resource-unit rate of the tenant size', async () => {
    const clock = virtualClock();
    const pacer = new Pacer(microsoftQuotas('S'), clock); // 3,500 RU per 10 s = 350 per second
    for (let i = 0; i < 1_050; i++) (await pacer.acquire({ resourceUnits: 1, writes: 0, teamsAdmin: 0 }))();
    expect(clock.elapsed()).toBeGreaterThanOrEqual(1_999);
    expect(clock.elapsed()).toBeLessThan(2_100);
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
