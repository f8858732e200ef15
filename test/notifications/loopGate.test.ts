import { afterEach, describe, expect, it } from 'vitest';
import { LoopGate } from '../../shared/app/loopGate';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** Holds the event loop, as a handler's CPU-bound stretch does. */
const hold = (ms: number) => {
  const until = performance.now() + ms;
  while (performance.now() < until);
};

describe('the loop gate: background handlers give way to requests on the same event loop', () => {
  let gate: LoopGate | undefined;
  afterEach(() => gate?.stop());

  it('admits up to its limit while the loop runs on time, and queues the rest', async () => {
    gate = new LoopGate({ maxConcurrent: 4, lateMs: 20, windowMs: 50 });
    let peak = 0;
    let running = 0;
    await Promise.all(
      Array.from({ length: 20 }, () =>
        gate!.run(async () => {
          peak = Math.max(peak, ++running);
          await sleep(20);
          running--;
        }),
      ),
    );
    expect(peak).toBe(4);
    expect(gate.status()).toMatchObject({ limit: 4, running: 0, waiting: 0, decreases: 0 });
  });

  it('halves its limit down to one while handlers keep the loop late, finishes every handler, and opens up again once the loop is on time', async () => {
    gate = new LoopGate({ maxConcurrent: 16, lateMs: 20, windowMs: 50 });
    let done = 0;
    let peakWhileLate = 0;
    let running = 0;
    const late = Array.from({ length: 40 }, () =>
      gate!.run(async () => {
        running++;
        await sleep(1);
        hold(40);
        peakWhileLate = Math.max(peakWhileLate, running);
        running--;
        done++;
      }),
    );
    await Promise.all(late);
    expect(done).toBe(40);
    expect(gate.status().decreases).toBeGreaterThan(0);
    expect(gate.status().limit).toBeLessThan(16);
    // On time again, with handlers waiting: the limit grows back one window at a time.
    let lowest = gate.status().limit;
    const watch = setInterval(() => (lowest = Math.min(lowest, gate!.status().limit)), 5);
    await Promise.all(Array.from({ length: 400 }, () => gate!.run(() => sleep(5))));
    clearInterval(watch);
    expect(gate.status().limit).toBeGreaterThan(lowest);
  });
});
