/**
 * Time as the local host sees it. Production code never reads this: it is how timers and the Durable
 * driver are scheduled, so tests can move time instead of waiting for it.
 */
export interface Clock {
  now(): number;
  /** Calls `callback` once the clock reaches `at` (epoch ms). Returns a cancel function. */
  schedule(at: number, callback: () => void): () => void;
}

/** setTimeout caps delays at about 24.8 days; longer waits are chained. */
const MAX_TIMEOUT = 2 ** 31 - 1;

export class SystemClock implements Clock {
  now(): number {
    return Date.now();
  }

  schedule(at: number, callback: () => void): () => void {
    let handle: NodeJS.Timeout;
    const arm = (): void => {
      const delay = at - Date.now();
      if (delay <= 0) {
        handle = setTimeout(callback, 0);
        return;
      }
      handle = setTimeout(delay > MAX_TIMEOUT ? arm : callback, Math.min(delay, MAX_TIMEOUT));
    };
    arm();
    return () => clearTimeout(handle);
  }
}

interface Pending {
  at: number;
  seq: number;
  callback: () => void;
}

/** A clock that moves only when told to; callbacks due in a step run in time order. */
export class VirtualClock implements Clock {
  private current: number;
  private seq = 0;
  private pending: Pending[] = [];

  constructor(start: Date | number = Date.UTC(2026, 0, 1)) {
    this.current = typeof start === 'number' ? start : start.getTime();
  }

  now(): number {
    return this.current;
  }

  schedule(at: number, callback: () => void): () => void {
    const entry: Pending = { at, seq: this.seq++, callback };
    this.pending.push(entry);
    return () => {
      this.pending = this.pending.filter((p) => p !== entry);
    };
  }

  /**
   * Moves to `target`, firing each due callback at its own time and letting the work it starts
   * settle before the next one fires.
   */
  async advanceTo(target: Date | number): Promise<void> {
    const end = typeof target === 'number' ? target : target.getTime();
    for (;;) {
      this.pending.sort((a, b) => a.at - b.at || a.seq - b.seq);
      const next = this.pending[0];
      if (!next || next.at > end) break;
      this.pending.shift();
      this.current = Math.max(this.current, next.at);
      next.callback();
      await settle();
    }
    this.current = Math.max(this.current, end);
  }

  async advance(ms: number): Promise<void> {
    await this.advanceTo(this.current + ms);
  }
}

/** Lets promise chains and I/O started by a callback run before time moves on. */
export async function settle(rounds = 5): Promise<void> {
  for (let i = 0; i < rounds; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}
