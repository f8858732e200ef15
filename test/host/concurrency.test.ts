import { describe, expect, it } from 'vitest';
import { DynamicConcurrency, EventLoopHealth, type HealthProbe } from '../../local/host/concurrency';

/** A probe the test switches, and a clock it moves. */
function world(maximum = 500) {
  const probe = { unhealthy: false as boolean, throttled() { return this.unhealthy; }, stop() {} } satisfies HealthProbe & { unhealthy: boolean };
  let now = 0;
  const dc = new DynamicConcurrency({ maximumFunctionConcurrency: maximum, now: () => now }, probe, 250);
  const fn = dc.forFunction('f');
  return {
    probe,
    fn,
    /** Moves the clock in health windows, asking at each (as a listener polls). */
    advance(ms: number) {
      for (let t = 0; t < ms; t += 250) {
        now += 250;
        fn.available();
      }
    },
    /** Runs every slot it is given, each invocation taking `latencyMs`, for `ms`. */
    saturate(ms: number, latencyMs = 10) {
      for (let t = 0; t < ms; t += 250) {
        now += 250;
        const room = fn.available();
        for (let i = 0; i < room; i++) fn.started();
        for (let i = 0; i < room; i++) fn.completed(latencyMs);
      }
    },
  };
}

describe('dynamic concurrency (the host adapts each function to its health)', () => {
  it('starts at one and grows while the host is healthy and every slot is used, faster on a run', () => {
    const w = world();
    expect(w.fn.status().current).toBe(1);
    w.saturate(2_000);
    expect(w.fn.status().current).toBe(1); // the first adjustment waits its interval
    w.saturate(20_000);
    const s = w.fn.status();
    expect(s.increases).toBeGreaterThanOrEqual(5);
    // Steps of 1, 2, 3, … (a run): after n increases it is well past n + 1.
    expect(s.current).toBeGreaterThan(s.increases + 1);
  });

  it('does not grow on a trickle that never uses every slot', () => {
    const w = world();
    w.saturate(10_000);
    w.advance(6_000); // the slots used before the pause count for one more adjustment at most
    const before = w.fn.status().current;
    expect(before).toBeGreaterThan(1);
    w.advance(30_000); // healthy, no work
    expect(w.fn.status().current).toBe(before);
  });

  it('takes no new work while the host is throttled, and comes down after three unhealthy checks', () => {
    const w = world();
    w.saturate(15_000);
    const high = w.fn.status().current;
    w.probe.unhealthy = true;
    w.advance(250);
    // One at a time while nothing runs (never starved), nothing more while one does.
    expect(w.fn.available()).toBe(1);
    w.fn.started();
    expect(w.fn.available()).toBe(0);
    w.fn.completed(10);
    w.advance(10_000);
    const s = w.fn.status();
    expect(s.current).toBeLessThan(high);
    expect(s.decreases).toBeGreaterThan(0);
    expect(s.throttledAsks).toBeGreaterThan(0);
    // Never below one.
    w.advance(120_000);
    expect(w.fn.status().current).toBe(1);
  });

  it('waits a quiet window after a decrease before growing again, and stops at the maximum', () => {
    const w = world(4);
    w.saturate(10_000);
    w.probe.unhealthy = true;
    w.advance(6_000);
    const low = w.fn.status().current;
    w.probe.unhealthy = false;
    w.saturate(9_000); // inside the quiet window (10 s + 10 × latency)
    expect(w.fn.status().current).toBe(low);
    w.saturate(60_000);
    expect(w.fn.status().current).toBe(4);
  });

  it('the event loop canary reports a blocked loop as unhealthy', async () => {
    const probe = new EventLoopHealth(15, 10);
    try {
      await new Promise((resolve) => setTimeout(resolve, 50));
      probe.throttled(); // start a fresh window
      const until = performance.now() + 120;
      while (performance.now() < until) {
        // the loop is held
      }
      expect(probe.throttled()).toBe(true);
    } finally {
      probe.stop();
    }
  });
});
