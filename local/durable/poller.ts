/**
 * A queue's polling loop as DurableTask.AzureStorage runs it: receive at once while messages come,
 * otherwise wait a randomized exponential backoff from 50 ms up to `maxQueuePollingInterval`; adding a
 * message to a queue in the same process wakes its poller (as `AddMessageAsync` resets the backoff).
 */
export class Backoff {
  private exponent = 0;
  private signaled = false;
  private wakeUp?: () => void;

  constructor(
    private readonly minMs: number,
    private readonly maxMs: number,
  ) {}

  /** Resolves after the current interval, or at once when woken (now or since the last wait). */
  async wait(): Promise<void> {
    if (this.signaled) {
      this.signaled = false;
      this.exponent = 0;
      return;
    }
    const delay = this.exponent === 0 ? this.minMs : Math.min(this.maxMs, this.minMs * 2 ** (this.exponent - 1) * (0.8 + 0.4 * Math.random()));
    const woken = await new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => {
        this.wakeUp = undefined;
        resolve(false);
      }, delay);
      this.wakeUp = () => {
        clearTimeout(timer);
        this.wakeUp = undefined;
        resolve(true);
      };
    });
    this.signaled = false;
    this.exponent = woken ? 0 : Math.min(this.exponent + 1, 30);
  }

  /** Something was received: poll again at once. */
  reset(): void {
    this.exponent = 0;
  }

  wake(): void {
    if (this.wakeUp) this.wakeUp();
    else this.signaled = true;
  }
}

export const MIN_POLLING_DELAY_MS = 50;
