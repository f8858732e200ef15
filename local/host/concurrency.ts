/**
 * The Functions host's dynamic concurrency (host.json `concurrency.dynamicConcurrencyEnabled`), for the
 * local host's Service Bus triggers, after the WebJobs SDK's ConcurrencyManager and ConcurrencyStatus:
 * - each function starts at one invocation at a time and its listener asks, before each receive, how many
 *   new messages it may take (`available()`): none while a throttle is on or all its slots are busy;
 * - adjustments are spaced by min(2 s + the average invocation time, 5 s); concurrency goes up only when the
 *   host has been healthy for 5 checks in a row and the function used every slot it had since the last
 *   adjustment, and not within min(10 s + 10 × the average invocation time, 30 s) of a decrease; it goes down
 *   after 3 unhealthy checks in a row, never below 1; moves in the same direction within 10 s of each other
 *   grow by one each time, up to 6 at once;
 * - `maximumFunctionConcurrency` caps it (Azure's default 500).
 * Azure's throttles are thread-pool starvation (a 100 ms canary timer missing more than half its ticks) and
 * CPU. A Node host runs its functions on one thread, so the local throttle is that thread's own canary: the
 * event loop's delay while the loop is busy with the host's own work (`EventLoopHealth`). The throttle is
 * read on every ask rather than only when an adjustment is due, so that new work stops within one health
 * window (an assumption of this host: the request path shares the thread the consumer runs on, and Graph
 * wants its answers fast). While throttled a function still runs one invocation at a time when it has
 * none running, so a machine busy with other processes slows the consumers down without stopping them.
 */
export interface HealthProbe {
  /** Whether the host is too busy to take more work now (reads a window of samples). */
  throttled(): boolean;
  stop(): void;
}

export interface ConcurrencyOptions {
  maximumFunctionConcurrency: number;
  now?: () => number;
}

const ADJUST_MIN_MS = 2_000;
const ADJUST_DEFAULT_MS = 5_000;
const DECREASE_QUIET_MIN_MS = 10_000;
const DECREASE_QUIET_DEFAULT_MS = 30_000;
const RUN_WINDOW_MS = 10_000;
const MAX_ADJUSTMENT_DELTA = 5;
const MIN_CONSECUTIVE_HEALTHY = 5;
const MIN_CONSECUTIVE_UNHEALTHY = 3;
export const DEFAULT_MAXIMUM_FUNCTION_CONCURRENCY = 500;

/** What a function's concurrency did, for logs and tests. */
export interface ConcurrencyReport {
  current: number;
  outstanding: number;
  /** The highest concurrency it reached. */
  peak: number;
  increases: number;
  decreases: number;
  /** Asks answered with no room because a throttle was on. */
  throttledAsks: number;
}

/** One function's concurrency on one instance. */
export class FunctionConcurrency {
  private current = 1;
  private outstanding = 0;
  private maxSinceAdjustment = 0;
  private invocationsSinceAdjustment = 0;
  private invocationMsSinceAdjustment = 0;
  private lastAdjustment: number;
  private lastDecrease?: number;
  private runDirection = 0;
  private runCount = 0;
  private readonly report = { peak: 1, increases: 0, decreases: 0, throttledAsks: 0 };

  constructor(
    private readonly health: HostHealth,
    private readonly maximum: number,
    private readonly now: () => number,
  ) {
    // The first adjustment waits a full interval, as Azure's does.
    this.lastAdjustment = now();
  }

  /** How many new invocations may start now; adjusts the concurrency first when an adjustment is due. */
  available(): number {
    const throttled = this.health.check();
    if (this.canAdjust()) {
      if (!throttled && this.health.healthyStreak >= MIN_CONSECUTIVE_HEALTHY && this.canIncrease()) this.adjust(+1);
      else if (throttled && this.health.unhealthyStreak >= MIN_CONSECUTIVE_UNHEALTHY && this.current > 1) this.adjust(-1);
    }
    if (throttled) {
      this.report.throttledAsks++;
      return this.outstanding === 0 ? 1 : 0;
    }
    return Math.max(0, this.current - this.outstanding);
  }

  started(): void {
    this.outstanding++;
    this.maxSinceAdjustment = Math.max(this.maxSinceAdjustment, this.outstanding);
  }

  completed(latencyMs: number): void {
    this.outstanding = Math.max(0, this.outstanding - 1);
    this.invocationsSinceAdjustment++;
    this.invocationMsSinceAdjustment += latencyMs;
  }

  status(): ConcurrencyReport {
    return { current: this.current, outstanding: this.outstanding, ...this.report };
  }

  private averageLatencyMs(): number | undefined {
    return this.invocationsSinceAdjustment > 0 ? this.invocationMsSinceAdjustment / this.invocationsSinceAdjustment : undefined;
  }

  /** Faster functions adjust more often, so their concurrency breaks away from slow ones'. */
  private latencyAdjusted(minMs: number, defaultMs: number, multiplier: number): number {
    const avg = this.averageLatencyMs();
    return avg === undefined ? defaultMs : Math.min(minMs + multiplier * avg, defaultMs);
  }

  private canAdjust(): boolean {
    return this.now() - this.lastAdjustment > this.latencyAdjusted(ADJUST_MIN_MS, ADJUST_DEFAULT_MS, 1);
  }

  private canIncrease(): boolean {
    if (this.lastDecrease !== undefined && this.now() - this.lastDecrease < this.latencyAdjusted(DECREASE_QUIET_MIN_MS, DECREASE_QUIET_DEFAULT_MS, 10)) return false;
    // Only when every slot was in use: a trickle of work never raises it.
    if (this.maxSinceAdjustment < this.current) return false;
    return this.current < this.maximum;
  }

  private adjust(direction: 1 | -1): void {
    const now = this.now();
    if ((this.runDirection !== 0 && this.runDirection !== direction) || now - this.lastAdjustment > RUN_WINDOW_MS) this.runCount = 0;
    const speed = Math.min(MAX_ADJUSTMENT_DELTA, this.runCount);
    this.runCount++;
    this.runDirection = direction;
    const next = Math.min(this.maximum, Math.max(1, this.current + direction * (1 + speed)));
    if (direction < 0) {
      this.lastDecrease = now;
      this.report.decreases++;
    } else this.report.increases++;
    this.lastAdjustment = now;
    this.current = next;
    this.report.peak = Math.max(this.report.peak, next);
    this.maxSinceAdjustment = 0;
    this.invocationsSinceAdjustment = 0;
    this.invocationMsSinceAdjustment = 0;
  }
}

/** The host's health, shared by every function's concurrency: throttle state and its streaks. */
export class HostHealth {
  healthyStreak = 0;
  unhealthyStreak = 0;
  private last = false;
  private lastCheck = -Infinity;

  constructor(
    private readonly probe: HealthProbe,
    /** A probe's window: asks within it reuse the last answer instead of counting as another check. */
    private readonly windowMs: number,
    private readonly now: () => number,
  ) {}

  check(): boolean {
    const now = this.now();
    if (now - this.lastCheck < this.windowMs) return this.last;
    this.lastCheck = now;
    this.last = this.probe.throttled();
    if (this.last) {
      this.unhealthyStreak++;
      this.healthyStreak = 0;
    } else {
      this.healthyStreak++;
      this.unhealthyStreak = 0;
    }
    return this.last;
  }

  stop(): void {
    this.probe.stop();
  }
}

/**
 * The event loop's canary: a timer every `tickMs` records how late each tick ran. A window is unhealthy when
 * its ticks ran late by more than `maxDelayMs` on average (or none ran: the loop was blocked throughout)
 * while the loop was busy more than `minUtilization` of the time: late ticks on an idle loop mean the
 * machine is busy with other processes, which holding this host's work back would not help. Unref'd: it
 * never keeps a process alive.
 */
export class EventLoopHealth implements HealthProbe {
  private lateMs = 0;
  private ticks = 0;
  private windowStart = performance.now();
  private expected = performance.now();
  private readonly timer: NodeJS.Timeout;
  private utilization = performance.eventLoopUtilization();

  constructor(
    private readonly maxDelayMs = 15,
    private readonly tickMs = 10,
    private readonly minUtilization = 0.5,
  ) {
    this.expected = performance.now() + tickMs;
    this.timer = setInterval(() => {
      const now = performance.now();
      this.lateMs += Math.max(0, now - this.expected);
      this.ticks++;
      this.expected = now + tickMs;
    }, tickMs);
    this.timer.unref();
  }

  throttled(): boolean {
    const now = performance.now();
    // A tick that has not run yet is late by now - expected.
    const pending = Math.max(0, now - this.expected);
    const elapsed = now - this.windowStart;
    const samples = this.ticks + (pending > 0 ? 1 : 0);
    const mean = samples === 0 ? 0 : (this.lateMs + pending) / samples;
    const blocked = this.ticks === 0 && elapsed > 4 * this.tickMs;
    const busy = performance.eventLoopUtilization(this.utilization).utilization;
    this.utilization = performance.eventLoopUtilization();
    this.lateMs = 0;
    this.ticks = 0;
    this.windowStart = now;
    return blocked || (mean > this.maxDelayMs && busy > this.minUtilization);
  }

  stop(): void {
    clearInterval(this.timer);
  }
}

/** Dynamic concurrency for a host: one health probe, one `FunctionConcurrency` per function. */
export class DynamicConcurrency {
  private readonly health: HostHealth;
  private readonly functions = new Map<string, FunctionConcurrency>();
  private readonly now: () => number;

  constructor(
    private readonly options: ConcurrencyOptions,
    probe: HealthProbe = new EventLoopHealth(),
    windowMs = 250,
  ) {
    this.now = options.now ?? (() => performance.now());
    this.health = new HostHealth(probe, windowMs, this.now);
  }

  forFunction(name: string): FunctionConcurrency {
    let status = this.functions.get(name);
    if (!status) {
      status = new FunctionConcurrency(this.health, this.options.maximumFunctionConcurrency, this.now);
      this.functions.set(name, status);
    }
    return status;
  }

  report(): Record<string, ConcurrencyReport> {
    return Object.fromEntries([...this.functions].map(([name, f]) => [name, f.status()]));
  }

  stop(): void {
    this.health.stop();
  }
}
