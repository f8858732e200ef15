/**
 * Background work that gives way to requests answered by the same process. A Node process answers HTTP
 * and runs queue handlers on one event loop; when handlers keep it busy, every request waits its turn and
 * Graph, which wants a webhook's answer within 3 s and slows down endpoints that are late, sees the delay.
 * The gate admits handlers up to a limit that follows the loop's delay, as TCP's congestion window follows
 * loss: halved when the loop ran late over the last window, one more when it ran on time and handlers were
 * waiting. Messages held at the gate keep their locks (the trigger renews them); at least one handler always
 * runs, so the queue drains however busy the process is.
 */
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';

/** The share of a window the loop must have spent working for its lateness to count as its own. */
const BUSY_UTILIZATION = 0.5;

export interface LoopGateOptions {
  /** The most handlers at once (the trigger's own limit is the real ceiling). */
  maxConcurrent: number;
  /** The loop delay (99th percentile over a window) above which the limit is halved. */
  lateMs: number;
  /** How often the limit is reconsidered. */
  windowMs: number;
}

export interface LoopGateStatus {
  limit: number;
  running: number;
  waiting: number;
  /** Times the limit was halved. */
  decreases: number;
}

export class LoopGate {
  private limit: number;
  private running = 0;
  private decreases = 0;
  private readonly waiting: Array<() => void> = [];
  private readonly delay: IntervalHistogram;
  private readonly timer: NodeJS.Timeout;
  private lastTick = performance.now();
  private utilization = performance.eventLoopUtilization();

  constructor(private readonly options: LoopGateOptions) {
    this.limit = options.maxConcurrent;
    this.delay = monitorEventLoopDelay({ resolution: 10 });
    this.delay.enable();
    // Never keeps a process alive.
    this.timer = setInterval(() => this.adjust(), options.windowMs).unref();
  }

  async run<T>(work: () => Promise<T>): Promise<T> {
    if (this.running >= this.limit) await new Promise<void>((admit) => this.waiting.push(admit));
    else this.running++;
    try {
      return await work();
    } finally {
      this.running--;
      this.admit();
    }
  }

  status(): LoopGateStatus {
    return { limit: this.limit, running: this.running, waiting: this.waiting.length, decreases: this.decreases };
  }

  stop(): void {
    clearInterval(this.timer);
    this.delay.disable();
  }

  private admit(): void {
    while (this.running < this.limit && this.waiting.length > 0) {
      this.running++;
      this.waiting.shift()!();
    }
  }

  private adjust(): void {
    // How late the histogram's own 10 ms timer ran, or this tick when the loop was held throughout: the
    // wait a request arriving meanwhile saw.
    const now = performance.now();
    const tickLateMs = now - this.lastTick - this.options.windowMs;
    this.lastTick = now;
    const lateMs = Math.max(tickLateMs, this.delay.count > 0 ? this.delay.percentile(99) / 1e6 : 0);
    this.delay.reset();
    // Late ticks on a loop that was mostly idle come from other processes on the machine: holding this
    // process's handlers back would not make its answers faster.
    const busy = performance.eventLoopUtilization(this.utilization).utilization > BUSY_UTILIZATION;
    this.utilization = performance.eventLoopUtilization();
    if (busy && lateMs > this.options.lateMs) {
      if (this.limit > 1) {
        this.limit = Math.max(1, Math.floor(this.limit / 2));
        this.decreases++;
      }
    } else if ((!busy || lateMs < this.options.lateMs / 2) && this.waiting.length > 0 && this.limit < this.options.maxConcurrent) {
      this.limit++;
      this.admit();
    }
  }
}
